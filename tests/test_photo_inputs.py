"""Photos as people take them: rotated by EXIF, 16-bit, two people side by side, people cut off.

Made from the real test photos (tests/data): crops, pastes and re-encodings of them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dinar.cli import main

DATA = Path(__file__).parent / "data"
ASSETS = Path(__file__).resolve().parents[1] / "src" / "dinar" / "assets" / "demo"
FAST = ["--no-rgb-tuning", "--diffusion-steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe")


def test_an_exif_rotated_photo_is_fitted_and_made_into_an_avatar(mediapipe, tmp_path):
    """A phone photo stored sideways with an EXIF orientation: `dinar fit` and `dinar avatar` both read it upright."""
    upright = Image.open(DATA / "sports2d_jumping_jack.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the pixels are stored turned 90 degrees counter-clockwise
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    assert main(["fit", str(tmp_path / "phone.jpg"), "-o", str(tmp_path / "fit.json"), "--preset", "fast"]) == 0
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert (doc["source"]["width"], doc["source"]["height"]) == upright.size  # fitted upright: 700 x 620
    assert main(["avatar", str(tmp_path / "phone.jpg"), "--fit", str(tmp_path / "fit.json"), *FAST, "-o", str(tmp_path / "me.avatar")]) == 0


def test_a_16_bit_grey_photo_keeps_its_grey_levels(tmp_path):
    """16-bit PNGs are scaled to 8 bits (65535 -> 255), not clipped to white: the avatar's colours are the photo's."""
    from dinar.avatar import Avatar

    grey = np.asarray(Image.open(ASSETS / "photo.png").convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    shutil.copy(ASSETS / "photo.mask.png", tmp_path / "mask.png")
    shutil.copy(ASSETS / "photo.params.json", tmp_path / "fit.json")
    out = tmp_path / "me.avatar"
    assert main(["avatar", str(tmp_path / "wide.png"), "--fit", str(tmp_path / "fit.json"), "--mask", str(tmp_path / "mask.png"),
                 "--no-inpainting", *FAST, "-o", str(out)]) == 0
    rgb = Avatar.load(out).texture[16:19]
    sampled = Avatar.load(out).texture[19] > 0.5  # B_smp: texels taken from the photo
    texture_grey = float(((rgb[:, sampled] + 1) * 127.5).mean())
    person_grey = float(grey[np.asarray(Image.open(ASSETS / "photo.mask.png")) > 127].mean())
    assert abs(texture_grey - person_grey) < 25, (texture_grey, person_grey)  # a white ghost would be ~255


def _person(name: str, box: tuple[int, int, int, int], height: int) -> Image.Image:
    crop = Image.open(DATA / name).convert("RGB").crop(box)
    return crop.resize((round(crop.width * height / crop.height), height))


def test_two_whole_people_side_by_side_are_both_found(mediapipe):
    """Two people of equal size standing side by side (crops of two real photos pasted into one image)."""
    from dinar.fitting.detection import detect_people
    from dinar.fitting.photo import load_photo

    left = _person("sports2d_jumping_jack.jpg", (100, 80, 400, 520), 440)
    right = _person("pose2sim_lab_two_people.jpg", (180, 240, 560, 1280), 440)
    canvas = Image.new("RGB", (left.width + right.width + 40, 500), (128, 128, 128))
    canvas.paste(left, (10, 30))
    canvas.paste(right, (left.width + 30, 30))
    people = detect_people(load_photo(np.asarray(canvas)))
    assert len(people) == 2, [p.box for p in people]
    assert people[0].box[2] < people[1].box[2]  # numbered left to right


@pytest.mark.parametrize(
    ("keep", "part"),
    [(0.45, "both knees"), (0.6, None)],  # cut at the hips / at mid-thigh
)
def test_people_cut_off_are_reported_as_cut_off(mediapipe, tmp_path, keep, part, capsys):
    """A person cut off at the waist or the thighs is named as cut off (which part), never fitted."""
    jack = Image.open(DATA / "sports2d_jumping_jack.jpg")
    jack.crop((0, 0, jack.width, int(jack.height * keep))).save(tmp_path / "cut.jpg")
    assert main(["fit", str(tmp_path / "cut.jpg"), "-o", str(tmp_path / "fit.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cut off" in err and len(err.splitlines()) == 1, err
    if part:
        assert part in err
    assert not (tmp_path / "fit.json").exists()


def test_a_man_cut_off_at_the_thighs_is_not_fitted(mediapipe, tmp_path, capsys):
    """tests/data/cameraman_cc0.jpg: one knee inside the photo, both ankles outside: no leg to fit."""
    assert main(["fit", str(DATA / "cameraman_cc0.jpg"), "-o", str(tmp_path / "fit.json")]) == 2
    err = capsys.readouterr().err
    assert "cut off" in err and "both lower legs" in err
    assert not (tmp_path / "fit.json").exists()


def test_two_people_cut_off_at_the_thighs_are_reported(mediapipe, tmp_path, capsys):
    jack = Image.open(DATA / "sports2d_jumping_jack.jpg")
    half = jack.crop((0, 0, jack.width, int(jack.height * 0.6)))
    two = Image.new("RGB", (2 * half.width, half.height))
    two.paste(half, (0, 0))
    two.paste(half, (half.width, 0))
    two.save(tmp_path / "two.jpg")
    assert main(["fit", str(tmp_path / "two.jpg"), "-o", str(tmp_path / "fit.json")]) == 2
    err = capsys.readouterr().err
    assert "cut off" in err and "no person found" not in err
