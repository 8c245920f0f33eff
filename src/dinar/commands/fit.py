"""``dinar fit PHOTO -o FIT.json``: the thin entry point (argparse only; the work is :func:`dinar.data.photo_files.fit_photo_file`).

Cheap to import, so the top-level parser can register the command without loading torch or mediapipe.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dinar.commands.options import (
    bounded_float,
    bounded_int,
    check_box,
    check_input,
    check_output,
    check_output_dir,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar fit``."""
    parser.add_argument("photo", type=Path, help="a photo of one person, whole body in view (JPEG, PNG, ...)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FIT.json", help="parameter file to write (dataset-layout JSON)")
    parser.add_argument("--overlay", type=Path, metavar="PNG", help="overlay to check the fit (default: FIT.overlay.png beside the JSON; 'none' to skip)")
    parser.add_argument("--layout", type=Path, metavar="DIR", help="also write the crop as a one-image dataset: DIR/<photo name>/{rgb,segm,params}/photo.*")
    parser.add_argument("--person-index", type=bounded_int(0, 999), metavar="I", help="which person when the photo shows several (0 = leftmost)")
    parser.add_argument("--box", type=bounded_float(-1e5, 1e5), nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="the person's box in photo pixels")
    parser.add_argument("--focal", type=bounded_float(0.0, 1e6, low_open=True), metavar="PX", help="focal length in photo pixels (default 1.2 x the longer side)")
    parser.add_argument("--crop-size", type=bounded_int(64, 2048), default=512, help="side of the square crop the fit and the avatar use (default 512, the paper's)")
    parser.add_argument("--preset", choices=["default", "fast"], default="default", help="fitter iterations (fast: about half)")
    parser.add_argument("--body-model", default="anny", help="body model (default anny)")
    parser.add_argument("--body-model-path", type=Path, help="folder with your SMPL-X model files (for --body-model smplx)")


def run(args: argparse.Namespace) -> int:
    """``dinar fit``: find the person, fit the body, write FIT.json and its overlay PNG."""
    from dinar.data.photo_files import fit_photo_file

    if args.overlay is None:
        overlay = args.output.with_suffix(".overlay.png")
    else:
        overlay = None if str(args.overlay).lower() == "none" else args.overlay
    check_input(args.photo, "photo")
    box = check_box(args.box)
    check_output(args.output, (args.photo,), (".json",), "parameter file")
    if overlay is not None:
        check_output(Path(overlay), (args.photo, args.output), (".png",), "overlay")
    if args.layout is not None:
        check_output_dir(args.layout, (args.photo,), "layout folder")
    start = time.perf_counter()
    fit, person_dir = fit_photo_file(args.photo, args.output, overlay=overlay, layout=args.layout, person_index=args.person_index,
                         box=box, focal=args.focal, crop_size=args.crop_size,
                         preset=args.preset, body_model=args.body_model, body_model_path=args.body_model_path)
    seconds = time.perf_counter() - start
    print(f"fit written to {args.output}" + (f", overlay {overlay}" if overlay else ""))
    if args.layout:
        print(f"crop, mask and parameters written under {person_dir}")
    losses = ", ".join(f"{k} {v:.3g}" for k, v in fit.result.losses.items())
    print(f"{fit.observation.num_people} person(s) in the photo; {seconds:.1f} s; losses: {losses}")
    a = fit.agreement
    print(
        f"agreement with the photo: keypoints {a.keypoints_px:.1f} px ({100 * a.keypoints_rel:.1f}% of the person's height), silhouette IoU {a.silhouette_iou:.3f}"
        " (check the overlay: this cannot catch a wrong detection)"
    )
    return 0
