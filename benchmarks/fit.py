"""Body fitting: seconds per photo and fit errors on held-out synthetic people, front / side / back.

Each person is an Anny body in a library pose with a random perturbation and a random shape, seen by
a photo-like camera (focal 1.2 x the longer side) from the front, the side and the back (azimuth
0 / 90 / 180 degrees, +-15 jitter, random height). The fitter gets either the true body's projected
keypoints and mask (``--source truth``: the fitter alone) or what BlazePose finds in a rendered
image of it (``--source mediapipe``: the whole ``dinar fit`` path; needs the ``photo`` extra).
Errors: mean 2D keypoint error (pixels of the 512-pixel crop, or of the photo for mediapipe),
silhouette IoU, PA-MPJPE (mm).

``--source real`` runs ``dinar fit``'s path on the real photos in ``tests/data`` (README there: source
and licence of each). They have no ground truth: it prints how well each fit agrees with the detected
keypoints and mask, and ``--sheet PATH`` writes their overlays in one image for a person to judge.

Usage: python benchmarks/fit.py [--people 4] [--source truth|mediapipe|both|real|all] [--preset default|fast] [--seed 0] [--sheet PATH]
The last line printed is JSON: {"bench": "fit", "seconds_per_photo": ..., "views": {...}, ...}.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dinar.body import load_body_model
from dinar.body.poses import perturb_pose, pose_names, pose_tensor
from dinar.fitting.agreement import fit_errors
from dinar.fitting.fitter import BodyFitter, FitConfig, FitTarget
from dinar.fitting.photo_fit import library_prior, render_shaded
from dinar.fitting.points import fit_points_for
from dinar.geometry.camera import Camera, intrinsics, look_at
from dinar.geometry.raster import rasterize

VIEWS = {"front": 0.0, "side": 90.0, "back": 180.0}
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
REAL_PHOTOS = [  # file in tests/data, --person-index
    ("sports2d_walk_two_people.jpg", 0),
    ("sports2d_walk_two_people.jpg", 1),
    ("pose2sim_lab_two_people.jpg", 0),
    ("pose2sim_lab_two_people.jpg", 1),
    ("sports2d_jumping_jack.jpg", None),
    ("loc_furnace_worker.jpg", None),
]


def make_case(body, rng: np.random.Generator, name: str, azimuth: float, size: tuple[int, int]):
    """A perturbed library pose, a random shape and a camera looking at it from ``azimuth``."""
    bones = list(body.skeleton.names)
    pose = perturb_pose(pose_tensor(name, bones), bones, rng)[None]
    shape = torch.tensor(rng.uniform(0.2, 0.8, (1, 6)), dtype=torch.float32)
    a = math.radians(azimuth + rng.uniform(-15, 15))
    W, H = size
    with torch.no_grad():
        z = body(pose=pose, shape=shape).vertices[0, :, 2]
    centre = torch.tensor([[0.0, 0.0, float(z.max() + z.min()) / 2]])
    distance = 1.2 * max(W, H) * float(z.max() - z.min()) / (0.8 * H)  # the body fills ~80% of the height
    eye = centre + torch.tensor([[-distance * math.sin(a), -distance * math.cos(a), rng.uniform(-0.3, 0.5)]], dtype=torch.float32)
    R, t = look_at(eye, centre)
    return pose, shape, Camera(intrinsics(1.2 * max(W, H), W, H), R, t, W, H)


def truth_target(body, pose, shape, cam) -> FitTarget:
    points = fit_points_for(body)(pose, shape, torch.zeros(1, 3), torch.zeros(1, 3))
    kp, _ = cam.project(points.keypoints)
    mask = rasterize(body(pose=pose, shape=shape).vertices, body.faces, cam).mask[0, 0]
    return FitTarget(kp[0], torch.ones(kp.shape[1]), cam.width, cam.height, mask, cam.K[0])


def photo_of(body, pose, shape, cam, rng) -> np.ndarray:
    params = {"pose": pose, "shape": shape, "global_orient": torch.zeros(1, 3), "transl": torch.zeros(1, 3), "camera": cam}
    rgb, mask = render_shaded(body, params, part_colours=False)
    rgb = rgb * rng.uniform(0.8, 1.1, 3)  # skin tone variation
    background = rng.uniform(0.2, 0.7, 3) * np.linspace(0.85, 1.1, cam.height)[:, None, None]
    return (np.where(mask[..., None], rgb, background).clip(0, 1) * 255).astype(np.uint8)


def real_photos(body, fitter: BodyFitter, sheet: Path | None) -> tuple[list[dict], list[float]]:
    """Fit each of :data:`REAL_PHOTOS`; their agreement with the detections, and the seconds each took."""
    from PIL import Image

    from dinar.fitting.photo_fit import fit_photo, overlay_image

    rows, times, overlays = [], [], []
    for name, index in REAL_PHOTOS:
        start = time.perf_counter()
        fit = fit_photo(DATA / name, person_index=index, fitter=fitter)
        times.append(time.perf_counter() - start)
        row = {"photo": name, "person_index": index, "people": fit.observation.num_people, "seconds": round(times[-1], 2), **fit.agreement.as_dict()}
        print(f"real      {name} person {index}: {row}", flush=True)
        rows.append(row)
        if sheet is not None:
            overlays.append(overlay_image(body, fit))
    if sheet is not None:
        width = 1200
        scaled = [Image.fromarray(o).resize((width, round(o.shape[0] * width / o.shape[1])), Image.Resampling.LANCZOS) for o in overlays]
        canvas = Image.new("RGB", (width, sum(im.height for im in scaled)), "white")
        y = 0
        for im in scaled:
            canvas.paste(im, (0, y))
            y += im.height
        sheet.parent.mkdir(parents=True, exist_ok=True)
        tmp = sheet.with_name(sheet.stem + ".tmp" + sheet.suffix)
        canvas.save(tmp, quality=88) if sheet.suffix.lower() in (".jpg", ".jpeg") else canvas.save(tmp)
        tmp.replace(sheet)
        print(f"overlays of the real photos written to {sheet}")
    return rows, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=4, help="people per view")
    parser.add_argument("--source", choices=["truth", "mediapipe", "both", "real", "all"], default="both", help="both: truth + mediapipe; all: both + real")
    parser.add_argument("--sheet", type=Path, help="with real photos: write their fit overlays, stacked, to this image")
    parser.add_argument("--preset", choices=["default", "fast"], default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    body = load_body_model()
    fitter = BodyFitter(body, FitConfig.preset(args.preset), prior_poses=library_prior(body))
    sources = {"both": ["truth", "mediapipe"], "all": ["truth", "mediapipe", "real"]}.get(args.source, [args.source])
    if "mediapipe" in sources or "real" in sources:
        from dinar.fitting.detection import mediapipe_available

        if not mediapipe_available():
            print("mediapipe is not installed (pip install 'dinar[photo]'): benchmarking the fitter on true keypoints only")
            sources = [s for s in sources if s == "truth"]
    rng = np.random.default_rng(args.seed)
    names = [n for n in pose_names() if n != "a_pose"]
    result = {
        "bench": "fit",
        "device": "cpu",
        "torch_threads": fitter.config.num_threads or torch.get_num_threads(),
        "preset": args.preset,
        "people_per_view": args.people,
    }
    seconds: list[float] = []
    for source in sources:
        if source == "real":
            result["real_photos"], times = real_photos(body, fitter, args.sheet)
            seconds += times
            continue
        per_view = {}
        for view, azimuth in VIEWS.items():
            errs, times = [], []
            for i in range(args.people):
                pose, shape, cam = make_case(body, rng, names[(i + len(per_view)) % len(names)], azimuth, (512, 512) if source == "truth" else (384, 512))
                start = time.perf_counter()
                if source == "truth":
                    fit = fitter(truth_target(body, pose, shape, cam))
                else:
                    from dinar.fitting.photo_fit import fit_photo

                    photo_fit = fit_photo(photo_of(body, pose, shape, cam, rng), fitter=fitter)
                    fit = replace(photo_fit.result, camera=photo_fit.photo_camera())
                times.append(time.perf_counter() - start)
                errs.append(fit_errors(body, fit, pose, shape, cam))
                print(f"{source:9s} {view:5s} person {i}: {times[-1]:.1f} s, {errs[-1].as_dict()}", flush=True)
            per_view[view] = {
                "keypoints_px": round(statistics.mean(e.keypoints_px for e in errs), 2),
                "silhouette_iou": round(statistics.mean(e.silhouette_iou for e in errs), 3),
                "pa_mpjpe_mm": round(statistics.mean(e.pa_mpjpe_mm for e in errs), 1),
                "seconds": round(statistics.mean(times), 2),
            }
            seconds += times
            print(f"{source:9s} {view:5s} mean: {per_view[view]}")
        result[f"views_{source}"] = per_view
    result["seconds_per_photo"] = round(statistics.mean(seconds), 2)
    result["seconds_per_photo_max"] = round(max(seconds), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
