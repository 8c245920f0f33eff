"""``dinar data capture CALIB --videos DIR -o DATA``: a calibrated multi-camera capture -> the dataset layout,
with one body fit per time instant shared by all views (:func:`dinar.data.capture.import_capture`).

Cheap to import: torch, the body model and mediapipe load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dinar.commands.options import bounded_int, check_input, check_output_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar data capture``."""
    parser.add_argument("calibration", type=Path, metavar="CALIB",
                        help="calibration file: Pose2Sim Calib_*.toml, Qualisys .qca.txt, or OpenCV .yml/.yaml/.json (K, dist, R or rvec, t)")
    parser.add_argument("--videos", type=Path, nargs="+", required=True, metavar="PATH",
                        help="a folder of videos / frame folders named after the cameras (cam01.mp4 for cam_01), or one video or "
                             "frame folder per camera")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DATA", help="dataset folder to write (rgb/ segm/ params/ per person)")
    parser.add_argument("--name", metavar="PERSON_ID", help="person folder name (default: the calibration's folder name)")
    parser.add_argument("--frames", type=bounded_int(0, 10**7), nargs="+", metavar="I", help="frame indices to import (default: all)")
    parser.add_argument("--every", type=bounded_int(1, 10**6), default=1, metavar="N", help="with no --frames: every N-th frame (default 1)")
    parser.add_argument("--cameras", nargs="+", metavar="NAME", help="calibrated cameras to use (default: all of them)")
    parser.add_argument("--extrinsics", type=Path, metavar="FILE", help="OpenCV extrinsics file beside OpenCV intrinsics (R or rvec, t per camera)")
    parser.add_argument("--binning", type=bounded_int(1, 8), default=1, help="Qualisys pixel binning (2 when filming 540p on a 1080p sensor)")
    parser.add_argument("--crop-size", type=bounded_int(64, 2048), default=512, help="side of each view's square person crop (default 512)")
    parser.add_argument("--size-tolerance", type=bounded_int(0, 64), default=16,
                        help="frames less than this many pixels off the calibrated size are the same pixel grid cut or padded at the "
                             "right/bottom, as video encoders do (default 16; 0: sizes must match exactly)")
    parser.add_argument("--preset", choices=["default", "fast"], default="default", help="fitter iterations (fast: about half)")
    parser.add_argument("--box", nargs=5, action="append", metavar=("CAM", "X0", "Y0", "X1", "Y1"), default=[],
                        help="the person to import in camera CAM: the one inside this region (frame pixels); for frames that show "
                             "several people (default: the largest); repeat per camera")


def run(args: argparse.Namespace) -> int:
    """``dinar data capture``: read, check, undistort, detect, fit all views together, write; print the reprojection error per camera."""
    from dinar.data.capture import capture_config, import_capture
    from dinar.data.capture_sources import match_sources
    from dinar.fitting.detection import mediapipe_available
    from dinar.fitting.photo import MissingPhotoExtraError
    from dinar.geometry.calibration import read_calibration

    check_input(args.calibration, "calibration file")
    if args.extrinsics is not None:
        check_input(args.extrinsics, "extrinsics file")
    for path in args.videos:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such video or folder")
    boxes = [(camera, _box_numbers(camera, numbers)) for camera, *numbers in args.box]
    check_output_dir(args.output, (args.calibration, *args.videos), "dataset folder")
    if not mediapipe_available():
        raise MissingPhotoExtraError()  # the person finder; before any work
    frames = args.frames
    if frames is None and args.every > 1:
        cameras = read_calibration(args.calibration, extrinsics=args.extrinsics, binning=args.binning)
        _, count = match_sources(cameras, args.videos[0] if len(args.videos) == 1 else args.videos, args.cameras, args.size_tolerance,
                                 str(args.calibration))
        frames = list(range(0, count, args.every))
    config = capture_config(calibration=args.calibration, sources=args.videos, output_dir=args.output, name=args.name, frames=frames,
                            cameras=args.cameras, crop_size=args.crop_size, fit_preset=args.preset, binning=args.binning,
                            extrinsics=args.extrinsics, size_tolerance=args.size_tolerance, boxes=boxes,
                            progress=sys.stderr.isatty())
    start = time.perf_counter()
    result = import_capture(config)
    seconds = time.perf_counter() - start
    print(f"{len(result.instants)} instant(s) x {len(result.cameras)} cameras written to {result.person_dir} ({seconds:.1f} s)")
    print("multi-view fit, reprojection error of the detected keypoints (mean over instants, frame pixels):")
    ious = {c: sum(i.silhouette_iou[c] for i in result.instants) / len(result.instants) for c in result.cameras}
    for camera, px in result.mean_reprojection_px().items():
        print(f"  {camera:12s} {px:7.1f} px   silhouette IoU {ious[camera]:.3f}")
    print(f"check the fit: {result.person_dir / 'fit_overlay.png'}; summary: {result.person_dir / 'capture.json'}")
    return 0


def _box_numbers(camera: str, numbers: list[str]) -> tuple[float, float, float, float]:
    """``--box CAM X0 Y0 X1 Y1``'s four numbers (the import checks the region against the camera's frame)."""
    try:
        x0, y0, x1, y1 = (float(n) for n in numbers)
    except ValueError:
        raise ValueError(f"--box {camera} {' '.join(numbers)}: X0 Y0 X1 Y1 must be numbers (frame pixels)") from None
    return x0, y0, x1, y1
