"""``dinar avatar PHOTO… -o NAME.avatar``: photos (with or without fits) -> an avatar file
(:func:`dinar.pipeline.files.make_avatar`). Cheap to import: torch loads when the command runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dinar.commands.options import (
    add_model_arguments,
    add_pipeline_switches,
    bounded_float,
    bounded_int,
    check_box,
    check_input,
    check_output,
    pipeline_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", type=Path, nargs="+", metavar="PHOTO", help="one or more photos of the same person")
    parser.add_argument("--fit", type=Path, nargs="+", metavar="FIT.json",
                        help="one body fit per photo (dataset-layout params JSON or `dinar fit` output); "
                             "without it the photos are fitted here (needs the photo extra)")
    parser.add_argument("--mask", type=Path, nargs="+", metavar="MASK.png", help="one person mask per photo (with --fit)")
    parser.add_argument("--person-index", type=bounded_int(0, 999), metavar="I", help="without --fit: which person when a photo shows several (0 = leftmost)")
    parser.add_argument("--box", type=bounded_float(-1e5, 1e5), nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="without --fit: the person's box in photo pixels")
    parser.add_argument("--capture", type=Path, metavar="PERSON_DIR",
                        help="a person folder of `dinar data capture`: PHOTO... are then camera names (or view indices) of one "
                             "instant, merged with their shared fit and exact cameras (eq. 5); the first is the main input")
    parser.add_argument("--frame", type=bounded_int(0, 10**7), metavar="I", help="with --capture: the instant (default: the first imported)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="NAME.avatar", help="avatar file to write (safetensors)")
    add_model_arguments(parser)
    add_pipeline_switches(parser)


def run(args: argparse.Namespace) -> int:
    """``dinar avatar``: make an avatar file from photos."""
    from dinar.pipeline.files import make_avatar

    if args.capture is not None:
        from dinar.pipeline.capture_views import capture_files

        if args.fit or args.mask or args.person_index is not None or args.box:
            raise ValueError("--capture brings each view's fit and mask: leave out --fit, --mask, --person-index and --box")
        args.photos, args.fit = capture_files(args.capture, [str(p) for p in args.photos], args.frame)
    elif args.frame is not None:
        raise ValueError("--frame picks an instant of --capture; give --capture PERSON_DIR too")
    for photo in args.photos:
        check_input(photo, "photo")
    for fit in args.fit or ():
        check_input(fit, "fit file")
    for mask in args.mask or ():
        check_input(mask, "mask")
    box = check_box(args.box)
    check_output(args.output, (*args.photos, *(args.fit or ()), *(args.mask or ())), (".avatar",), "avatar file")
    start = time.perf_counter()
    make_avatar(args.photos, args.fit, args.mask, args.checkpoint, args.device, pipeline_options(args), args.output,
                person_index=args.person_index, box=box)
    print(f"avatar written to {args.output} ({time.perf_counter() - start:.1f} s)")
    return 0
