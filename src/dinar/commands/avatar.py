"""``dinar avatar`` / ``dinar render`` / ``dinar export``: photos → avatar file → videos and a rigged GLB.

Thin entry points: they parse options, read the inputs a user has (photos with or without fits) and
call :class:`dinar.pipeline.AvatarPipeline`, :meth:`dinar.avatar.Avatar.render_video` and
:func:`dinar.export.gltf.export_glb`. Cheap to import: torch loads when a command runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VIEWS = ("turntable", "front")


# ---------------------------------------------------------------------------------------------------
# Shared options
# ---------------------------------------------------------------------------------------------------
def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--device``, shared by every command that runs the networks."""
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR",
                        help="model folder (stage1/ vq/ diffusion/, see recipes/tiny.sh); default: the shipped tiny model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")


def add_pipeline_switches(parser: argparse.ArgumentParser) -> None:
    """The pipeline's switches (paper Table 2's ablations) and its seed."""
    parser.add_argument("--no-inpainting", action="store_true", help="skip VQ + diffusion: the renderer alone fills the unseen texels")
    parser.add_argument("--no-occlusion", action="store_true", help="keep the occlusion band when sampling the photo")
    parser.add_argument("--no-rgb-tuning", action="store_true", help="skip the 64 steps of RGB texel tuning")
    parser.add_argument("--no-color-adjust", action="store_true", help="skip the colour matching of the restored texels (eq. 7)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default="paper",
                        help="paper: L2 + LPIPS + adversarial (default); l2: L2 alone, cleaner on real photos with the shipped model")
    parser.add_argument("--texture", choices=("both", "rgb", "neural"),
                        help="texture mode; must be the checkpoint's (train one per mode for the ablation)")
    parser.add_argument("--diffusion-steps", type=int, default=25, help="DDIM steps of the inpainting (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diffusion noise (same seed, same avatar)")


def pipeline_options(args: argparse.Namespace):
    """:class:`PipelineOptions` from the switches of :func:`add_pipeline_switches`."""
    from dinar.pipeline import PipelineOptions

    return PipelineOptions(
        occlusion=not args.no_occlusion, rgb_tuning=not args.no_rgb_tuning, inpainting=not args.no_inpainting,
        color_adjust=not args.no_color_adjust, texture=args.texture, diffusion_steps=args.diffusion_steps, seed=args.seed,
        rgb_tuning_loss=args.rgb_tuning_loss,
    )


# ---------------------------------------------------------------------------------------------------
# Inputs: photos with or without fits
# ---------------------------------------------------------------------------------------------------
def _layout_mask(image_path: Path) -> Path | None:
    """``…/segm/<stem>.png`` beside ``…/rgb/<stem>.png`` (the dataset layout), if it exists."""
    if image_path.parent.name != "rgb":
        return None
    candidate = image_path.parent.parent / "segm" / f"{image_path.stem}.png"
    return candidate if candidate.is_file() else None


def _silhouette(fit, body):
    """The fitted body's own silhouette at the fit camera's size, [H, W] float: the mask of last resort."""
    import torch

    from dinar.geometry.raster import rasterize

    with torch.no_grad():
        out = body(pose=fit.pose[None], shape=fit.shape[None], global_orient=fit.global_orient[None], transl=fit.transl[None])
        return rasterize(out.vertices, body.faces, fit.camera, body.face_uvs).mask[0, 0].numpy()


def read_fitted_photo(image_path: Path, fit_path: Path, mask_path: Path | None, body) -> tuple[Any, Any, Any]:
    """(image, mask, FitParams) of a photo whose fit is given.

    The fit is a ``params/<stem>.json`` of the dataset layout (camera = this image's) or the output of
    ``dinar fit`` for the whole photo: then the person's square crop that the fit was made in is cut
    from the photo (and from ``mask_path``), so the avatar sees the person at the framing the model
    was trained on however small they are in the photo (a file with a ``photo_camera`` but no ``crop``
    is used with the photo camera). The mask is ``mask_path``, the dataset layout's
    ``segm/<stem>.png``, or else the fitted body's silhouette (with a warning).
    """
    import json

    import numpy as np

    from dinar.data.layout import FitParams, read_mask, read_params, read_rgb

    image = read_rgb(image_path)
    height, width = image.shape[:2]
    record = read_params(fit_path, body_model=body.name, num_joints=body.num_joints)
    fit = record.fit
    doc = json.loads(fit_path.read_text())
    photo_camera = doc.get("photo_camera")  # `dinar fit` output: the fit's camera is its crop's, this is the photo's
    source = (doc.get("source") or {}).get("photo")
    is_source_photo = bool(source) and Path(source).resolve() == image_path.resolve()
    crop = None
    if photo_camera and (is_source_photo or (fit.camera.width, fit.camera.height) != (width, height)):
        if (photo_camera["width"], photo_camera["height"]) != (width, height):
            raise ValueError(f"{fit_path}: made for a {photo_camera['width']}x{photo_camera['height']} photo, "
                             f"but {image_path} is {width}x{height}")
        if doc.get("crop"):
            from dinar.fitting.photo import CropBox

            crop = CropBox.from_state(doc["crop"])
            image = crop.apply(image)
        else:
            fit = FitParams.from_json({**fit.to_json(), "camera": photo_camera}, fit_path)
    elif (fit.camera.width, fit.camera.height) != (width, height):
        raise ValueError(
            f"{fit_path}: its camera is {fit.camera.width}x{fit.camera.height} but {image_path} is {width}x{height}; "
            "give the image the fit was made for (the crop of `dinar fit --layout`, or the original photo)"
        )
    mask_path = mask_path or _layout_mask(image_path)
    if mask_path is not None:
        mask = read_mask(mask_path)
        if crop is not None:
            if mask.shape != (height, width):
                raise ValueError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]}, the photo {image_path} is {width}x{height}")
            mask = np.clip(crop.apply(mask.astype(np.float32)), 0, 255).round().astype(np.uint8)
    else:
        log.warning("%s: no person mask (--mask or segm/); using the fitted body's silhouette, so hair and loose "
                    "clothes outside the body are not sampled", image_path)
        mask = (_silhouette(fit, body) * 255).astype(np.uint8)
    return image, mask, fit


def fit_photos(paths: list[Path], body, overlay_dir: Path | None = None, person_index: int | None = None,
               box: tuple[float, float, float, float] | None = None) -> list[tuple[Any, Any, Any]]:
    """(crop, mask, FitParams) per photo from the built-in preprocessing (person mask, keypoints, body
    fit); ``person_index`` or ``box`` choose the person in every photo that shows several."""
    import numpy as np

    from dinar.fitting.fitter import BodyFitter, FitConfig
    from dinar.fitting.photo_fit import fit_photo, library_prior, overlay_image

    fitter = BodyFitter(body, FitConfig.preset("default"), prior_poses=library_prior(body))
    out = []
    for path in paths:
        start = time.perf_counter()
        fit = fit_photo(path, fitter=fitter, person_index=person_index, box=box)
        obs = fit.observation
        mask = (np.clip(obs.crop_mask(), 0, 1) * 255).round().astype(np.uint8)
        out.append((obs.crop_image(), mask, fit.record().fit))
        print(f"fitted {path} in {time.perf_counter() - start:.1f} s")
        if overlay_dir is not None:
            from dinar.data.layout import write_png

            write_png(overlay_dir / f"{path.stem}.fit.png", overlay_image(body, fit))
    return out


# ---------------------------------------------------------------------------------------------------
# dinar avatar
# ---------------------------------------------------------------------------------------------------
def add_avatar_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", type=Path, nargs="+", metavar="PHOTO", help="one or more photos of the same person")
    parser.add_argument("--fit", type=Path, nargs="+", metavar="FIT.json",
                        help="one body fit per photo (dataset-layout params JSON or `dinar fit` output); "
                             "without it the photos are fitted here (needs the photo extra)")
    parser.add_argument("--mask", type=Path, nargs="+", metavar="MASK.png", help="one person mask per photo (with --fit)")
    parser.add_argument("--person-index", type=int, metavar="I", help="without --fit: which person when a photo shows several (0 = leftmost)")
    parser.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="without --fit: the person's box in photo pixels")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="NAME.avatar", help="avatar file to write (safetensors)")
    add_model_arguments(parser)
    add_pipeline_switches(parser)


def make_avatar(photos: list[Path], fits: list[Path] | None, masks: list[Path] | None, checkpoint: Path | None,
                device: str, options, output: Path, overlay_dir: Path | None = None, person_index: int | None = None,
                box: tuple[float, float, float, float] | None = None):
    """Photos (+ fits) → avatar file; returns the bound :class:`~dinar.avatar.Avatar`."""
    from dinar.pipeline import AvatarPipeline

    for path in photos:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such photo")
    if fits is not None and len(fits) != len(photos):
        raise ValueError(f"{len(photos)} photos but {len(fits)} --fit files: give one fit per photo")
    if masks is not None and (fits is None or len(masks) != len(photos)):
        raise ValueError("--mask needs --fit, and one mask per photo")
    if fits is not None and (person_index is not None or box is not None):
        raise ValueError("--person-index and --box choose whom to fit: with --fit the fit already says (use them with `dinar fit`)")
    pipe = AvatarPipeline.from_pretrained(checkpoint, device=device)
    body = pipe.body
    if fits is None:
        inputs = fit_photos(photos, body, overlay_dir, person_index, box)
    else:
        inputs = [read_fitted_photo(p, f, masks[i] if masks else None, body) for i, (p, f) in enumerate(zip(photos, fits))]
    images, person_masks, params = (list(x) for x in zip(*inputs))
    avatar = pipe(images, person_masks, params, options=options)
    avatar.metadata["source_paths"] = [str(p) for p in photos]
    avatar.save(output)
    return avatar


def cli_avatar(args: argparse.Namespace) -> int:
    """``dinar avatar``: make an avatar file from photos."""
    start = time.perf_counter()
    make_avatar(args.photos, args.fit, args.mask, args.checkpoint, args.device, pipeline_options(args), args.output,
                person_index=args.person_index, box=tuple(args.box) if args.box else None)
    print(f"avatar written to {args.output} ({time.perf_counter() - start:.1f} s)")
    return 0


# ---------------------------------------------------------------------------------------------------
# dinar render
# ---------------------------------------------------------------------------------------------------
def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("avatar", type=Path, metavar="NAME.avatar", help="avatar file (dinar avatar -o)")
    parser.add_argument("--motion", default="builtin:walk",
                        help="builtin:turntable|walk|wave|squat|dance, an AMASS/SMPL-X .npz or a .bvh (default builtin:walk)")
    parser.add_argument("--views", choices=VIEWS, default="front", help="camera: front (static) or turntable (one orbit over the motion)")
    parser.add_argument("--fps", type=float, help="frames per second (default: the motion's)")
    parser.add_argument("--frames-dir", type=Path, metavar="DIR", help="also write every frame as a PNG here")
    parser.add_argument("--batch-size", type=int, default=16, help="frames rendered at once (default 16)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4", help="video to write (H.264)")
    add_model_arguments(parser)


def render_avatar_video(avatar, motion_spec: str, views: str, output: Path, fps: float | None = None,
                        frames_dir: Path | None = None, batch_size: int = 16) -> tuple[Path, int]:
    """Render a bound avatar moving: (video path, frame count)."""
    from dinar.motion import load_motion

    motion = load_motion(motion_spec, avatar.body)
    path = avatar.render_video(motion, views, output, fps=fps, batch_size=batch_size, frames_dir=frames_dir, progress=True)
    return path, motion.num_frames


def cli_render(args: argparse.Namespace) -> int:
    """``dinar render``: an MP4 of the avatar performing a motion."""
    from dinar.avatar import Avatar
    from dinar.utils import resolve_device

    start = time.perf_counter()
    if not args.avatar.is_file():
        raise FileNotFoundError(f"{args.avatar}: no such avatar file")
    avatar = Avatar.load(args.avatar)
    avatar.bind(args.checkpoint, device=resolve_device(args.device))
    path, frames = render_avatar_video(avatar, args.motion, args.views, args.output, args.fps, args.frames_dir, args.batch_size)
    print(f"{frames} frames written to {path} ({time.perf_counter() - start:.1f} s)")
    return 0


# ---------------------------------------------------------------------------------------------------
# dinar export
# ---------------------------------------------------------------------------------------------------
def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("avatar", type=Path, metavar="NAME.avatar", help="avatar file (dinar avatar -o)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.glb", help="GLB file to write")
    parser.add_argument("--motion", help="also store a motion as a glTF animation (builtin:NAME, .npz or .bvh)")
    parser.add_argument("--texture-scale", type=int, default=4,
                        help="upsample the RGB texture by this factor (bilinear) for viewers (default 4)")
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR",
                        help="the model folder that made the avatar (its UV atlas lays out the texture); default: the shipped model")


def avatar_rgb_texture(avatar, scale: int = 1):
    """The RGB part of the avatar's texture as uint8 [S, S, 3] (padded past the UV charts' edges)."""
    import torch
    import torch.nn.functional as F

    from dinar.body.colormap import dilate_texture
    from dinar.nn.config import TEXTURE_GEN_CHANNELS

    texture = avatar.texture.detach().float().cpu()[None]
    rgb = texture[:, TEXTURE_GEN_CHANNELS : TEXTURE_GEN_CHANNELS + 3]
    known = (rgb.abs().sum(1, keepdim=True) > 0).float()  # texels the pipeline gave a colour (else exactly 0)
    rgb = dilate_texture(rgb, known, iterations=4) if known.any() else rgb
    if scale > 1:
        rgb = F.interpolate(rgb, scale_factor=scale, mode="bilinear", align_corners=False)
    return ((rgb[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def export_avatar(avatar_path: Path, output: Path, motion_spec: str | None = None, texture_scale: int = 4,
                  checkpoint: Path | None = None) -> Path:
    """Avatar file → rigged GLB with the RGB texture (and a motion)."""
    from dinar.avatar import Avatar
    from dinar.export.gltf import export_glb
    from dinar.motion import load_motion

    if not avatar_path.is_file():
        raise FileNotFoundError(f"{avatar_path}: no such avatar file")
    avatar = Avatar.load(avatar_path).bind(checkpoint)  # the texture is laid out in its model's atlas
    body, face_uvs = avatar.body, avatar.model.face_uvs
    motion = load_motion(motion_spec, body) if motion_spec else None
    return export_glb(body, avatar.shape, avatar_rgb_texture(avatar, texture_scale), output, face_uvs=face_uvs, motion=motion,
                      name=avatar_path.stem)


def cli_export(args: argparse.Namespace) -> int:
    """``dinar export``: a rigged, skinned GLB of the avatar for Blender, Unity or three.js."""
    path = export_avatar(args.avatar, args.output, args.motion, args.texture_scale, args.checkpoint)
    print(f"GLB written to {path} ({path.stat().st_size / 2**20:.2f} MiB); only the RGB texture travels, "
          "the neural channels need dinar's renderer")
    return 0
