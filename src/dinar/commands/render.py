"""``dinar render NAME.avatar --motion SPEC -o out.mp4``: an MP4 of an avatar performing a motion
(:func:`dinar.export.video.render_avatar_file`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dinar.commands.options import (
    add_model_arguments,
    bounded_float,
    bounded_int,
    check_input,
    check_output,
    check_output_dir,
)

VIEWS = ("turntable", "front")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("avatar", type=Path, metavar="NAME.avatar", help="avatar file (dinar avatar -o)")
    parser.add_argument("--motion", default="builtin:walk",
                        help="builtin:turntable|walk|wave|squat|dance, an AMASS/SMPL-X .npz or a .bvh (default builtin:walk)")
    parser.add_argument("--views", choices=VIEWS, default="front", help="camera: front (static) or turntable (one orbit over the motion)")
    parser.add_argument("--fps", type=bounded_float(0.0, 240.0, low_open=True), help="frames per second, up to 240 (default: the motion's)")
    parser.add_argument("--frames-dir", type=Path, metavar="DIR", help="also write every frame as a PNG here")
    parser.add_argument("--batch-size", type=bounded_int(1, 256), default=16, help="frames rendered at once, 1..256 (default 16)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4", help="video to write (H.264)")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """``dinar render``: an MP4 of the avatar performing a motion."""
    from dinar.export.video import render_avatar_file

    check_input(args.avatar, "avatar file")
    check_output(args.output, (args.avatar,), (".mp4",), "video")
    if args.frames_dir is not None:
        check_output_dir(args.frames_dir, (args.avatar,), "frames folder")
    start = time.perf_counter()
    path, frames = render_avatar_file(args.avatar, args.motion, args.views, args.output, args.checkpoint, args.device,
                                      args.fps, args.frames_dir, args.batch_size)
    print(f"{frames} frames written to {path} ({time.perf_counter() - start:.1f} s)")
    return 0
