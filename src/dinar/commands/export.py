"""``dinar export NAME.avatar -o out.glb``: a rigged, skinned, textured GLB of an avatar
(:func:`dinar.export.avatar_glb.export_avatar`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dinar.commands.options import bounded_int, check_input, check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("avatar", type=Path, metavar="NAME.avatar", help="avatar file (dinar avatar -o)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.glb", help="GLB file to write")
    parser.add_argument("--motion", help="also store a motion as a glTF animation (builtin:NAME, .npz or .bvh)")
    parser.add_argument("--texture-scale", type=bounded_int(1, 16), default=4,
                        help="upsample the RGB texture by this factor (bilinear) for viewers, 1..16 (default 4); the GLB texture is at least 512²")
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR",
                        help="the model folder that made the avatar (its UV atlas lays out the texture); default: the shipped model")


def run(args: argparse.Namespace) -> int:
    """``dinar export``: a rigged, skinned GLB of the avatar for Blender, Unity or three.js."""
    from dinar.export.avatar_glb import export_avatar

    check_input(args.avatar, "avatar file")
    check_output(args.output, (args.avatar,), (".glb",), "GLB file")
    path = export_avatar(args.avatar, args.output, args.motion, args.texture_scale, args.checkpoint)
    print(f"GLB written to {path} ({path.stat().st_size / 2**20:.2f} MiB); only the RGB texture travels, "
          "the neural channels need dinar's renderer")
    return 0
