"""``dinar demo``: the main job in one command, on the bundled photo and the shipped model.

photo → body fit → avatar → turntable and walk MP4s → rigged GLB → a PNG sheet (input | avatar front |
avatar back | the true back, which the model never saw). No downloads, no data to prepare, no GPU.

The bundled photo (``dinar/assets/demo``) is a synthetic person made by ``dinar data synth --people 6
--poses 1 --views 4 --size 512 --seed 2026`` (person ``s2026p00000``, views 0 and 2): a seed no
training recipe uses, so the shipped model never saw this person. Its exact fit ships beside it; the
demo fits the photo itself when the photo extra (mediapipe) is installed and uses the exact fit otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets" / "demo"
PHOTO, PHOTO_MASK, PHOTO_PARAMS = ASSETS / "photo.png", ASSETS / "photo.mask.png", ASSETS / "photo.params.json"
BACK, BACK_PARAMS = ASSETS / "back.png", ASSETS / "back.params.json"
SHEET_CELL = 512
WALK_SECONDS = 1.2
"""The demo's walk video is one cycle (30 frames at 25 fps; it loops), so 512² videos fit the demo's minute."""


def bundled_photo(body):
    """(image uint8 HxWx3, mask uint8 HxW, exact FitParams) of the bundled demo photo."""
    from dinar.data.layout import read_mask, read_params, read_rgb

    fit = read_params(PHOTO_PARAMS, body_model=body.name, num_joints=body.num_joints).fit
    return read_rgb(PHOTO), read_mask(PHOTO_MASK), fit


def _fit(photo_copy: Path, out: Path, body, exact: bool):
    """(image, mask, FitParams, how) for the demo photo: fitted here when mediapipe is available."""
    from dinar.fitting.detection import mediapipe_available

    if not exact and mediapipe_available():
        from dinar.data.photo_files import fit_photos

        image, mask, fit = fit_photos([photo_copy], body, overlay_dir=out)[0]
        return image, mask, fit, f"fitted here (BlazePose + SMPLify-style fit), overlay {out / (photo_copy.stem + '.fit.png')}"
    how = "the bundled exact fit" + ("" if exact else " (install the photo extra to fit the photo itself)")
    return (*bundled_photo(body), how)


def _label(image, text: str):
    """``image`` (uint8 HxWx3) with a caption strip above it."""
    import numpy as np
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (image.shape[1], 18), "white")
    ImageDraw.Draw(strip).text((4, 3), text, fill=(0, 0, 0))
    return np.concatenate([np.asarray(strip), image], axis=0)


def _cell(image):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((SHEET_CELL, SHEET_CELL), Image.BICUBIC))


def orbit_camera(camera, centre, up, degrees: float):
    """``camera`` moved ``degrees`` about the ``up`` axis through ``centre`` (the same image of a world
    turned the other way): R' = R·Qᵀ, t' = t + R·c − R·Qᵀ·c."""
    import math

    import roma
    import torch

    from dinar.geometry.camera import Camera

    axis = torch.tensor(up, dtype=torch.float32)
    q = roma.rotvec_to_rotmat(axis / axis.norm() * math.radians(degrees))
    R, t = camera.R.float(), camera.t.float()
    R2 = R @ q.T
    t2 = t + (R @ centre) - (R2 @ centre)
    return Camera(K=camera.K, R=R2, t=t2, width=camera.width, height=camera.height)


def turned_views(avatar, fit, degrees: list[float]):
    """Renders ``[N, H, W, 3]`` uint8 of ``avatar`` in the pose of ``fit`` (a FitParams), seen by the fit's
    camera orbited about the body by each of ``degrees`` (0 = the photo's view, 180 = the back)."""
    import torch

    from dinar.avatar import scale_camera

    body = avatar.body
    with torch.no_grad():
        verts = body(pose=fit.pose[None], shape=avatar.shape[None].cpu(), global_orient=fit.global_orient[None],
                     transl=fit.transl[None]).vertices[0]
    centre = (verts.amin(0) + verts.amax(0)) / 2
    front = scale_camera(fit.camera, avatar.model.config.image_size)  # photos and crops are square
    cameras = [orbit_camera(front, centre, body.up_axis, d) for d in degrees]
    camera = cameras[0]
    for other in cameras[1:]:
        camera = _stack_cameras(camera, other)
    n = len(degrees)
    pose = fit.pose[None].expand(n, -1, -1)
    return avatar.render(pose, camera, fit.global_orient[None].expand(n, -1), fit.transl[None].expand(n, -1)).to_uint8()


def sheet_row(images, labels: list[str]):
    """One row of labelled, equally sized cells (uint8 HxWx3 each)."""
    import numpy as np

    return np.concatenate([_label(_cell(image), text) for image, text in zip(images, labels)], axis=1)


def front_back_sheet(avatar, fit, photo, path: Path) -> Path:
    """PNG: input photo | avatar front (the photo's camera) | avatar back (that camera orbited 180° about
    the body) | the true back view."""
    from dinar.data.layout import read_rgb, write_png

    frames = turned_views(avatar, fit, [0.0, 180.0])
    labels = ["input photo", "avatar, front", "avatar, back (invented)", "true back (never shown)"]
    write_png(path, sheet_row([photo, frames[0], frames[1], read_rgb(BACK)], labels))
    return path


def _stack_cameras(a, b):
    import torch

    from dinar.geometry.camera import Camera

    return Camera(K=torch.cat([a.K, b.K]), R=torch.cat([a.R, b.R]), t=torch.cat([a.t, b.t]), width=a.width, height=a.height)


@dataclass
class DemoResult:
    """What ``dinar demo`` made."""

    files: dict[str, Path]  # by name: avatar, turntable, walk, glb, sheet
    fit_source: str  # how the body fit was obtained


def run_demo(output: Path, checkpoint: Path | None = None, device: str = "auto", exact_fit: bool = False, seed: int = 0,
             on_step: Callable[[str], None] | None = None) -> DemoResult:
    """Run the whole demo into ``output``; ``on_step(name)`` is called as each step starts (load model,
    fit, avatar, videos, glb + sheet), so a caller can show progress or time the steps."""
    import shutil

    from dinar.export.avatar_glb import export_avatar
    from dinar.export.video import render_avatar_video
    from dinar.motion.builtin import builtin_motion
    from dinar.pipeline import AvatarPipeline, PipelineOptions

    step = on_step or (lambda name: None)
    output.mkdir(parents=True, exist_ok=True)
    photo_copy = output / "photo.png"
    shutil.copyfile(PHOTO, photo_copy)
    step("load model")
    pipe = AvatarPipeline.from_pretrained(checkpoint, device=device)
    step("fit")
    image, mask, fit, how = _fit(photo_copy, output, pipe.body, exact_fit)
    step("avatar")
    avatar = pipe([image], [mask], [fit], options=PipelineOptions(seed=seed))
    files = {"avatar": avatar.save(output / "person.avatar")}
    step("videos")
    files["turntable"], _ = render_avatar_video(avatar, "builtin:turntable", "turntable", output / "turntable.mp4")
    walk = builtin_motion("walk", pipe.body, seconds=WALK_SECONDS)  # one cycle: the video loops
    files["walk"] = avatar.render_video(walk, "front", output / "walk.mp4", progress=True)
    step("glb + sheet")
    files["glb"] = export_avatar(files["avatar"], output / "person.glb", motion_spec="builtin:walk", checkpoint=checkpoint)
    files["sheet"] = front_back_sheet(avatar, fit, image, output / "front_back.png")
    return DemoResult(files, how)
