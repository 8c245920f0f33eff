"""A photo's fit on disk: the parameter file ``FIT.json`` (the dataset layout's ``dinar-params/1``:
body model, pose ``[J, 3]``, shape, global orientation, translation and the camera of the crop, plus
``crop`` (the square of the photo it was cut from), ``photo_camera`` (the same camera for the whole
photo), the keypoints used, the fit's losses and its agreement with the detections), its overlay PNG,
and the crop as a one-image dataset (``dinar fit --layout``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from dinar.body.base import BodyModel
from dinar.data.layout import (
    FitParams,
    ImageRecord,
    read_mask,
    read_params,
    read_rgb,
    write_json,
    write_sample,
)
from dinar.fitting.photo_fit import PhotoFit, overlay_image
from dinar.fitting.points import COCO_KEYPOINTS
from dinar.images import write_png

log = logging.getLogger(__name__)


def fit_record(fit: PhotoFit, person_id: str | None = None) -> ImageRecord:
    """The dataset-layout parameter record (``params/<stem>.json``, ``FIT.json``) of a photo's fit."""
    res, obs = fit.result, fit.observation
    kp, conf = obs.coco_keypoints()
    photo_cam = fit.photo_camera().state()
    extra = {
        "source": {"photo": obs.photo.path, "width": obs.photo.width, "height": obs.photo.height},
        "crop": obs.crop.state(),
        "photo_camera": {
            "K": photo_cam["K"][0],
            "R": photo_cam["R"][0],
            "t": photo_cam["t"][0],
            "width": photo_cam["width"],
            "height": photo_cam["height"],
        },
        "keypoints": {"names": COCO_KEYPOINTS, "photo_px": np.round(kp, 2).tolist(), "confidence": np.round(conf, 3).tolist()},
        "people_in_photo": obs.num_people,
        "fit_losses": res.losses,
    }
    if fit.agreement is not None:
        extra["fit_agreement"] = fit.agreement.as_dict()
    if obs.person_index is not None:
        extra["person_index"] = obs.person_index
    params = FitParams(pose=res.pose[0], shape=res.shape[0], global_orient=res.global_orient[0], transl=res.transl[0], camera=res.camera)
    stem = person_id or (Path(obs.photo.path).stem if obs.photo.path else "photo")
    return ImageRecord(body_model=res.body_model, person_id=stem, pose_id=0, view=0, fit=params, extra=extra)


def write_fit(fit: PhotoFit, json_path: str | Path, body: BodyModel | None = None, overlay_path: str | Path | None = None) -> None:
    """Write the parameter file and, given ``body`` and ``overlay_path``, the overlay PNG."""
    write_json(Path(json_path), fit_record(fit).to_json())
    if overlay_path is not None and body is not None:
        write_png(Path(overlay_path), overlay_image(body, fit))


def write_layout(fit: PhotoFit, directory: str | Path, stem: str = "photo") -> Path:
    """Write the crop as a one-image dataset (``rgb/ segm/ params/``) that the dataset readers load."""
    obs = fit.observation
    mask = (np.clip(obs.crop_mask(), 0, 1) * 255).round().astype(np.uint8)
    record = fit_record(fit)
    person_dir = Path(directory) / record.person_id
    write_sample(person_dir, stem, obs.crop_image(), mask, record)
    return person_dir


def fit_photo_file(
    photo: str | Path,
    output: str | Path,
    overlay: str | Path | None = None,
    layout: str | Path | None = None,
    person_index: int | None = None,
    box: tuple[float, float, float, float] | None = None,
    focal: float | None = None,
    crop_size: int = 512,
    preset: str = "default",
    body_model: str = "anny",
    body_model_path: str | Path | None = None,
) -> tuple[PhotoFit, Path | None]:
    """``dinar fit``: fit the body model to the person in ``photo`` and write ``output`` (FIT.json),
    the ``overlay`` PNG and, given ``layout``, the crop as a one-image dataset; returns the fit and
    the dataset's person folder (None without ``layout``)."""
    from dinar.body import load_body_model
    from dinar.fitting.fitter import BodyFitter, FitConfig
    from dinar.fitting.photo_fit import fit_photo, library_prior

    body = load_body_model(body_model, body_model_path)
    fitter = BodyFitter(body, FitConfig.preset(preset), prior_poses=library_prior(body))
    fit = fit_photo(photo, person_index=person_index, box=box, focal=focal, crop_size=crop_size, fitter=fitter)
    write_fit(fit, output, body, overlay)
    return fit, (write_layout(fit, layout) if layout is not None else None)


# Photos with or without fits, as the avatar pipeline takes them --------------------------------------
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
    image = read_rgb(image_path)
    height, width = image.shape[:2]
    record = read_params(fit_path, body_model=body.name, num_joints=body.num_joints)
    fit = record.fit
    doc = json.loads(fit_path.read_text())
    photo_camera = doc.get("photo_camera")  # `dinar fit` output: the fit's camera is its crop's, this is the photo's
    source = (doc.get("source") or {}).get("photo")
    is_source_photo = bool(source) and Path(source).resolve() == image_path.resolve()
    recorded_crop = None
    if doc.get("crop") is not None:  # checked whether or not it is used: a damaged fit file is refused either way
        from dinar.fitting.photo import CropBox

        try:
            recorded_crop = CropBox.from_state(doc["crop"])
        except ValueError as err:
            raise ValueError(f"{fit_path}: {err}") from None
    if photo_camera is not None:
        FitParams.from_json({**fit.to_json(), "camera": photo_camera}, f"{fit_path} (photo_camera)")
    crop = None
    if photo_camera and (is_source_photo or (fit.camera.width, fit.camera.height) != (width, height)):
        if (photo_camera["width"], photo_camera["height"]) != (width, height):
            raise ValueError(f"{fit_path}: made for a {photo_camera['width']}x{photo_camera['height']} photo, "
                             f"but {image_path} is {width}x{height}")
        if recorded_crop is not None:
            crop = recorded_crop
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
        if mask.shape != (height, width):
            raise ValueError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]}, the photo {image_path} is {width}x{height}; "
                             "give the mask made for that photo")
        if crop is not None:
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
    from dinar.fitting.fitter import BodyFitter, FitConfig
    from dinar.fitting.photo_fit import fit_photo, library_prior

    fitter = BodyFitter(body, FitConfig.preset("default"), prior_poses=library_prior(body))
    out = []
    for path in paths:
        fit = fit_photo(path, fitter=fitter, person_index=person_index, box=box)
        obs = fit.observation
        mask = (np.clip(obs.crop_mask(), 0, 1) * 255).round().astype(np.uint8)
        out.append((obs.crop_image(), mask, fit_record(fit).fit))
        if overlay_dir is not None:
            write_png(overlay_dir / f"{path.stem}.fit.png", overlay_image(body, fit))
    return out
