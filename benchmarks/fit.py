"""Body fitting: seconds per photo and fit errors on held-out synthetic people, front / side / back.

Each person is an Anny body in a library pose with a random perturbation and a random shape, seen by
a photo-like camera (focal 1.2 x the longer side) from the front, the side and the back (azimuth
0 / 90 / 180 degrees, +-15 jitter, random height). The fitter gets either the true body's projected
keypoints and mask (``--source truth``: the fitter alone) or what BlazePose finds in a rendered
image of it (``--source mediapipe``: the whole ``dinar fit`` path; needs the ``photo`` extra).
Errors: mean 2D keypoint error (pixels of the 512-pixel crop, or of the photo for mediapipe),
silhouette IoU, PA-MPJPE (mm).

Usage: python benchmarks/fit.py [--people 4] [--source truth|mediapipe|both] [--preset default|fast] [--seed 0]
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

import numpy as np
import torch

from dinar.body import load_body_model
from dinar.body.fit import BodyFitter, FitConfig, FitTarget
from dinar.body.fit_eval import fit_errors
from dinar.body.fit_model import fit_points_for
from dinar.data.photo_fit import library_prior, render_shaded
from dinar.data.poses import perturb_pose, pose_names, pose_tensor
from dinar.geometry.camera import Camera, intrinsics, look_at
from dinar.geometry.raster import rasterize

VIEWS = {"front": 0.0, "side": 90.0, "back": 180.0}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=4, help="people per view")
    parser.add_argument("--source", choices=["truth", "mediapipe", "both"], default="both")
    parser.add_argument("--preset", choices=["default", "fast"], default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    body = load_body_model()
    fitter = BodyFitter(body, FitConfig.preset(args.preset), prior_poses=library_prior(body))
    sources = ["truth", "mediapipe"] if args.source == "both" else [args.source]
    if "mediapipe" in sources:
        from dinar.data.photo import mediapipe_available

        if not mediapipe_available():
            print("mediapipe is not installed (pip install 'dinar[photo]'): benchmarking the fitter on true keypoints only")
            sources = [s for s in sources if s != "mediapipe"]
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
        per_view = {}
        for view, azimuth in VIEWS.items():
            errs, times = [], []
            for i in range(args.people):
                pose, shape, cam = make_case(body, rng, names[(i + len(per_view)) % len(names)], azimuth, (512, 512) if source == "truth" else (384, 512))
                start = time.perf_counter()
                if source == "truth":
                    fit = fitter(truth_target(body, pose, shape, cam))
                else:
                    from dinar.data.photo_fit import fit_photo

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
