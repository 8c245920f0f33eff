"""Photo input handling, the crop, and (with the optional ``photo`` extra, mediapipe) person detection.

Detection tests need ``pip install 'dinar[photo]'`` (mediapipe 0.10.21) and are skipped without it:
the extra is optional, the core install and the body fitter work without it.
"""

import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dinar.fitting.photo import (
    BLAZEPOSE_TO_COCO,
    CropBox,
    MissingPhotoExtraError,
    PhotoError,
    load_photo,
    square_crop,
)

DATA = Path(__file__).parent / "data"


def write_png16(path: Path, array: np.ndarray) -> None:
    """A 16-bit PNG (grey ``[H, W]`` or RGB ``[H, W, 3]``) written by hand: PIL cannot write 16-bit RGB."""
    h, w = array.shape[:2]
    colour = 2 if array.ndim == 3 else 0
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# Loading ---------------------------------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red as stored
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    photo = load_photo(tmp_path / "rotated.jpg")
    assert photo.image.shape == (40, 20, 3)  # displayed upright: portrait
    top, bottom = photo.image[:15].mean((0, 1)), photo.image[25:].mean((0, 1))
    assert top[0] > 200 and bottom[0] < 60  # the stored left half is now on top


def test_rgba_keeps_alpha_and_composites_over_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[2:6, 2:6, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    photo = load_photo(tmp_path / "cutout.png")
    assert photo.image.dtype == np.uint8 and photo.image.shape == (8, 8, 3)
    assert photo.alpha is not None and photo.alpha[3, 3] == 1 and photo.alpha[0, 0] == 0
    assert tuple(photo.image[0, 0]) == (255, 255, 255) and tuple(photo.image[3, 3]) == (200, 0, 0)


def test_16_bit_grey_and_rgb_pngs(tmp_path):
    grey = np.array([[0, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    photo = load_photo(tmp_path / "grey16.png")
    assert photo.image.dtype == np.uint8 and photo.image.shape == (1, 3, 3)
    assert photo.image[0, :, 0].tolist() == [0, 128, 255]
    rgb = np.zeros((2, 2, 3), np.uint16)
    rgb[0, 0] = (65535, 0, 32896)
    write_png16(tmp_path / "rgb16.png", rgb)
    photo = load_photo(tmp_path / "rgb16.png")
    assert photo.image.dtype == np.uint8 and abs(int(photo.image[0, 0, 2]) - 128) <= 1 and photo.image[0, 0, 0] == 255


@pytest.mark.parametrize("mode", ["L", "P", "LA", "CMYK", "1"])
def test_other_modes_become_rgb(tmp_path, mode):
    Image.new("RGB", (6, 4), (10, 120, 240)).convert(mode).save(tmp_path / "x.png" if mode != "CMYK" else tmp_path / "x.jpg")
    photo = load_photo(tmp_path / ("x.png" if mode != "CMYK" else "x.jpg"))
    assert photo.image.shape == (4, 6, 3) and photo.image.dtype == np.uint8


def test_arrays_and_bad_inputs(tmp_path):
    assert load_photo(np.full((4, 5), 0.5, np.float32)).image[0, 0].tolist() == [128, 128, 128]
    assert load_photo(np.zeros((4, 5, 3), np.uint16) + 65535).image.max() == 255
    with pytest.raises(FileNotFoundError):
        load_photo(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(PhotoError, match="not an image"):
        load_photo(tmp_path / "notes.jpg")


def test_shipped_real_photo_loads_as_rgb():
    photo = load_photo(DATA / "cameraman_cc0.jpg")  # a greyscale JPEG
    assert photo.image.shape == (384, 384, 3) and (photo.image[..., 0] == photo.image[..., 2]).all()


# The crop --------------------------------------------------------------------------------------


def test_crop_maps_points_and_cameras_both_ways():
    from dinar.geometry.camera import intrinsics

    crop = CropBox(x0=-20.0, y0=30.0, size=400.0, out_size=512)
    pts = np.array([[0.0, 0.0], [123.4, 456.7]])
    assert np.allclose(crop.crop_to_photo(crop.photo_to_crop(pts)), pts)
    K = intrinsics(800.0, 640, 480)[0]
    X = torch.tensor([[0.3, -0.2, 3.0], [-0.5, 0.4, 2.0]])
    photo_px = (X @ K.T)[:, :2] / X[:, 2:]
    Kc = crop.crop_intrinsics(K)
    crop_px = (X @ Kc.T)[:, :2] / X[:, 2:]
    assert np.allclose(crop.photo_to_crop(photo_px.numpy()), crop_px.numpy(), atol=1e-3)
    assert torch.allclose(crop.photo_intrinsics(Kc), K, atol=1e-4)


def test_crop_pads_outside_the_photo_and_squares_the_person():
    image = np.full((100, 60, 3), 200, np.uint8)
    crop = square_crop(np.array([[10.0, 10.0], [50.0, 90.0]]), out_size=64, margin=0.1)
    assert math.isclose(crop.size, 80 * 1.2) and math.isclose(crop.x0 + crop.size / 2, 30.0)
    out = crop.apply(image)
    assert out.shape == (64, 64, 3)
    assert out[32, 0].max() == 0 and out[32, 32].min() == 200  # padded left, photo in the middle
    mask = crop.apply(np.ones((100, 60), np.float32))
    assert mask.shape == (64, 64) and mask[32, 32] == 1 and mask[32, 0] == 0


def test_blazepose_to_coco_mapping():
    from dinar.fitting.photo import BLAZEPOSE_LANDMARKS
    from dinar.fitting.points import COCO_KEYPOINTS

    for coco, blaze in zip(COCO_KEYPOINTS, BLAZEPOSE_TO_COCO):
        if blaze >= 0 and "toe" not in coco:
            assert BLAZEPOSE_LANDMARKS[blaze] == coco
    assert sum(b < 0 for b in BLAZEPOSE_TO_COCO) == 2  # the small toes


def test_missing_mediapipe_says_how_to_install(monkeypatch):
    from dinar.fitting import detection
    from dinar.fitting.observe import observe_person

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    detection._pose_detector.cache_clear()
    try:
        with pytest.raises(MissingPhotoExtraError, match=r"pip install 'dinar\[photo\]'"):
            observe_person(load_photo(np.zeros((32, 32, 3), np.uint8)))
        assert not detection.mediapipe_available()
    finally:
        detection._pose_detector.cache_clear()


# Detection: the optional photo extra -------------------------------------------------------------


def render_person(body, pose_name="walking", azimuth=0.0, size=(512, 512), shift=0.0, distance=3.0):
    """A rendered 'photo' of Anny (flat skin colour on a grey-blue background), its camera and mask."""
    from dinar.body.poses import pose_tensor
    from dinar.fitting.photo_fit import render_shaded
    from dinar.geometry.camera import Camera, intrinsics, look_at

    W, H = size
    a = math.radians(azimuth)
    eye = torch.tensor([[-distance * math.sin(a) + shift, -distance * math.cos(a), 0.3]], dtype=torch.float32)
    R, t = look_at(eye, torch.tensor([[shift, 0.0, 0.0]]))
    cam = Camera(intrinsics(1.2 * max(W, H), W, H), R, t, W, H)
    pose = pose_tensor(pose_name, list(body.skeleton.names))[None]
    params = {"pose": pose, "shape": body.neutral_shape(), "global_orient": torch.zeros(1, 3), "transl": torch.zeros(1, 3), "camera": cam}
    rgb, mask = render_shaded(body, params, part_colours=False)
    background = np.array([0.35, 0.42, 0.5]) * np.linspace(0.85, 1.1, H)[:, None, None]
    image = (np.where(mask[..., None], rgb, background).clip(0, 1) * 255).astype(np.uint8)
    return image, cam, mask, pose


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe")


@pytest.mark.parametrize("azimuth", [0, 180])
def test_detects_a_rendered_person_front_and_back(body, mediapipe, azimuth):
    from dinar.fitting.observe import observe_person
    from dinar.fitting.points import fit_points_for

    image, cam, mask, pose = render_person(body, azimuth=azimuth, size=(384, 512))
    obs = observe_person(load_photo(image))
    assert obs.num_people == 1 and obs.mask.shape == (512, 384)
    iou = ((obs.mask >= 0.5) & mask).sum() / ((obs.mask >= 0.5) | mask).sum()
    true = cam.project(fit_points_for(body)(pose, body.neutral_shape(), torch.zeros(1, 3), torch.zeros(1, 3)).keypoints)[0][0].numpy()
    kp, _ = obs.coco_keypoints()
    limbs = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # shoulders ... ankles
    err = np.linalg.norm(kp[limbs] - true[limbs], axis=1)
    print(f"azimuth {azimuth}: mask IoU {iou:.3f}, limb keypoint error median {np.median(err):.1f} px, max {err.max():.1f} px")
    assert iou > 0.8 and np.median(err) < 15
    # the crop holds the whole person with a margin, and maps back to the photo
    rows, cols = np.nonzero(mask)
    corners = obs.crop.photo_to_crop(np.array([[cols.min(), rows.min()], [cols.max(), rows.max()]], dtype=float))
    assert (corners > 0).all() and (corners < obs.crop.out_size).all()
    assert obs.crop_image().shape == (512, 512, 3)


def test_several_people_need_an_index_or_a_box(body, mediapipe):
    from dinar.fitting.observe import observe_person
    from dinar.fitting.photo import SeveralPeopleError

    left, *_ = render_person(body, "walking", size=(768, 512), shift=0.7, distance=4.0)
    right, _, mask_r, _ = render_person(body, "arms_crossed", size=(768, 512), shift=-0.7, distance=4.0)
    image = np.where(mask_r[..., None], right, left)
    photo = load_photo(image)
    with pytest.raises(SeveralPeopleError, match="found 2 people") as err:
        observe_person(photo)
    assert err.value.count == 2
    second = observe_person(photo, person_index=1)
    assert second.landmarks[23, 0] > 384 and second.person_index == 1  # the right-hand person's hip
    boxed = observe_person(photo, box=(0, 0, 384, 512))
    assert boxed.landmarks[23, 0] < 384
    with pytest.raises(PhotoError, match="out of range"):
        observe_person(photo, person_index=5)


def test_no_person_and_cut_off_body_are_clear_errors(body, mediapipe):
    from dinar.fitting.observe import observe_person
    from dinar.fitting.photo import BodyCutOffError, NoPersonError

    with pytest.raises(NoPersonError):
        observe_person(load_photo(np.full((256, 256, 3), 127, np.uint8)))
    image, *_ = render_person(body, "a_pose", size=(512, 512), distance=2.0)
    with pytest.raises(BodyCutOffError, match="both knees"):
        observe_person(load_photo(image[:300]))  # head to the thighs only


def test_fit_command_on_a_rendered_photo(body, mediapipe, tmp_path):
    import argparse
    from dataclasses import replace

    from dinar.commands.fit import add_arguments, run
    from dinar.data.layout import read_params
    from dinar.fitting.agreement import fit_errors
    from dinar.fitting.fitter import FitResult

    image, cam, _, pose = render_person(body, "walking", azimuth=20, size=(384, 512))
    Image.fromarray(image).save(tmp_path / "person.png")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "person.png"), "-o", str(tmp_path / "fit.json"), "--preset", "fast"])
    assert run(args) == 0
    assert (tmp_path / "fit.overlay.png").exists()
    record = read_params(tmp_path / "fit.json", body_model="anny", num_joints=body.num_joints)
    assert record.extra["source"]["width"] == 384 and record.fit.camera.width == 512
    agreement = record.extra["fit_agreement"]  # the fit against its own detections, also printed
    assert agreement["keypoints_rel"] < 0.03 and agreement["silhouette_iou"] > 0.75
    # map the fit back to the photo with photo_camera and compare with the truth
    pc = record.extra["photo_camera"]
    from dinar.geometry.camera import Camera

    photo_cam = Camera.from_state({"K": [pc["K"]], "R": [pc["R"]], "t": [pc["t"]], "width": pc["width"], "height": pc["height"]})
    fit = record.fit
    result = FitResult("anny", fit.pose[None], fit.shape[None], fit.global_orient[None], fit.transl[None], photo_cam, torch.zeros(23, 2))
    errors = fit_errors(body, replace(result), pose, body.neutral_shape(), cam)
    print(f"rendered photo through mediapipe: {errors.as_dict()}")
    assert errors.keypoints_px < 15 and errors.silhouette_iou > 0.75
