"""`dinar demo` end to end with the shipped weights: the files a new user gets, read back."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pygltflib

from dinar.cli import main
from dinar.data.layout import read_rgb
from dinar.demo import SHEET_CELL


def test_demo_makes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for name in ("person.avatar", "turntable.mp4", "walk.mp4", "person.glb", "front_back.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in printed  # the demo says where each file is
    turntable = np.stack(list(iio.imiter(out / "turntable.mp4")))
    assert turntable.shape[0] > 10 and turntable.shape[-1] == 3
    assert np.abs(turntable[0].astype(int) - turntable[len(turntable) // 2].astype(int)).mean() > 1  # it turns
    sheet = read_rgb(out / "front_back.png")
    c = SHEET_CELL
    assert sheet.shape[1] == 4 * c
    gltf = pygltflib.GLTF2().load(str(out / "person.glb"))
    assert gltf.skins and gltf.animations and gltf.images
    # the avatar's front is the person's: on the person's pixels of the photo (neither the white
    # background nor the crop's black padding), the front render is far closer to the photo than a
    # blank white image or the back render (shipped model: 28 vs 124 and 97 grey levels)
    photo = sheet[18:, :c].astype(float)
    front, back = sheet[18:, c : 2 * c].astype(float), sheet[18:, 2 * c : 3 * c].astype(float)
    total = photo.sum(-1)
    person = (total > 60) & (total < 700)
    assert person.mean() > 0.05
    error = np.abs(front - photo)[person].mean()
    assert error < 0.5 * np.abs(255.0 - photo)[person].mean()
    assert error < 0.6 * np.abs(back - photo)[person].mean()
