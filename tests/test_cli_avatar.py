"""`dinar avatar` → `dinar render` → `dinar export` on a tiny random-init model folder and a synthetic
person in the dataset layout: the files a user gets, read back with independent readers."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pygltflib
import pytest
from test_pipeline import model_dir  # noqa: F401  (module fixture: a tiny random-init model folder)

from dinar.avatar import Avatar
from dinar.cli import main
from dinar.data.layout import list_people

FAST = ["--diffusion-steps", "2", "--no-rgb-tuning", "--no-color-adjust"]


@pytest.fixture(scope="module")
def person_dir(tmp_path_factory):
    from dinar.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("cli_person")
    generate(SynthConfig(people=1, poses=1, views=4, size=128, seed=3), root, progress=False)
    return list_people(root)[0]


@pytest.fixture(scope="module")
def avatar_file(person_dir, model_dir, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("cli_avatar") / "person.avatar"
    stem = "pose000_view000"
    code = main(["avatar", str(person_dir / "rgb" / f"{stem}.png"), "--fit", str(person_dir / "params" / f"{stem}.json"),
                 "--checkpoint", str(model_dir), "--device", "cpu", "-o", str(out), *FAST])
    assert code == 0
    return out


def test_avatar_command_writes_a_loadable_avatar(avatar_file, person_dir):
    avatar = Avatar.load(avatar_file)
    assert avatar.texture.shape == (21, 64, 64) and avatar.body_model == "anny"
    assert avatar.metadata["source_paths"] == [str(person_dir / "rgb" / "pose000_view000.png")]
    assert avatar.metadata["options"]["rgb_tuning"] is False  # the switches are recorded


def test_avatar_command_errors_are_one_line(person_dir, model_dir, tmp_path, capsys):  # noqa: F811
    image = person_dir / "rgb" / "pose000_view000.png"
    code = main(["avatar", str(image), str(image), "--fit", str(person_dir / "params" / "pose000_view000.json"),
                 "--checkpoint", str(model_dir), "-o", str(tmp_path / "a.avatar")])
    assert code == 2 and "one fit per photo" in capsys.readouterr().err
    assert not (tmp_path / "a.avatar").exists()
    code = main(["render", str(tmp_path / "missing.avatar"), "-o", str(tmp_path / "x.mp4")])
    assert code == 2 and "no such avatar file" in capsys.readouterr().err


def test_render_command_writes_an_mp4_and_frames(avatar_file, model_dir, tmp_path):  # noqa: F811
    video, frames = tmp_path / "wave.mp4", tmp_path / "frames"
    code = main(["render", str(avatar_file), "--motion", "builtin:wave", "--fps", "4", "--views", "turntable",
                 "--checkpoint", str(model_dir), "--device", "cpu", "--frames-dir", str(frames), "-o", str(video)])
    assert code == 0
    pngs = sorted(frames.glob("*.png"))
    decoded = iio.imread(video, plugin="pyav") if _has_pyav() else np.stack(list(iio.imiter(video)))
    assert len(decoded) == len(pngs) > 1
    assert decoded.shape[1:] == (128, 128, 3)
    # a turntable: the first and a middle frame differ (the camera moved)
    assert np.abs(decoded[0].astype(int) - decoded[len(decoded) // 2].astype(int)).mean() > 1


def test_render_refuses_another_checkpoint(avatar_file, tmp_path, capsys):
    other = tmp_path / "other"
    import shutil

    shutil.copytree(avatar_file.parent, other)  # no model folder here: stage1/ is missing
    code = main(["render", str(avatar_file), "--checkpoint", str(other), "-o", str(tmp_path / "x.mp4")])
    assert code == 2


def test_export_command_writes_a_rigged_textured_glb(avatar_file, model_dir, tmp_path):  # noqa: F811
    out = tmp_path / "person.glb"
    assert main(["export", str(avatar_file), "--motion", "builtin:squat", "--texture-scale", "2", "--checkpoint", str(model_dir),
                 "-o", str(out)]) == 0
    gltf = pygltflib.GLTF2().load(str(out))
    assert len(gltf.skins) == 1 and len(gltf.skins[0].joints) == 104
    assert len(gltf.animations) == 1 and gltf.animations[0].channels
    image = gltf.images[0]
    blob = gltf.binary_blob()
    view = gltf.bufferViews[image.bufferView]
    png = iio.imread(blob[view.byteOffset : view.byteOffset + view.byteLength], extension=".png")
    assert png.shape == (512, 512, 3)  # 64² RGB texture x 2 = 128², raised to the 512² a GLB always gets
    # the texture is the avatar's RGB channels: its mean colour is close to theirs
    avatar = Avatar.load(avatar_file)
    rgb = avatar.texture[16:19]
    known = rgb.abs().sum(0) > 0
    expected = ((rgb[:, known].mean(1) + 1) * 127.5).numpy()
    assert np.all(np.abs(png.reshape(-1, 3).mean(0) - expected) < 40)
    assert json.loads(json.dumps(gltf.asset.extras))["body_model"] == "anny"


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_dinar_fit_file_for_the_whole_photo_uses_its_photo_camera(person_dir, model_dir, avatar_file, tmp_path):  # noqa: F811
    """`dinar fit` writes the crop's camera plus ``photo_camera``; given the original photo (here of the same
    size as the crop, so sizes cannot tell them apart) the avatar must be made with the photo camera."""
    stem = "pose000_view000"
    image = person_dir / "rgb" / f"{stem}.png"
    doc = json.loads((person_dir / "params" / f"{stem}.json").read_text())
    crop_camera = json.loads(json.dumps(doc["camera"]))
    crop_camera["K"][0][2] += 9.0  # a crop's principal point: another camera of the same size
    fit_doc = {**doc, "camera": crop_camera, "photo_camera": doc["camera"], "source": {"photo": str(image)}}
    fit_path = tmp_path / "fit.json"
    fit_path.write_text(json.dumps(fit_doc))
    out = tmp_path / "from_fit.avatar"
    assert main(["avatar", str(image), "--fit", str(fit_path), "--checkpoint", str(model_dir), "--device", "cpu",
                 "-o", str(out), *FAST]) == 0
    assert Avatar.load(out).texture.equal(Avatar.load(avatar_file).texture)


def test_a_dinar_fit_file_with_a_crop_cuts_the_person_out_of_the_photo(person_dir, model_dir, tmp_path):  # noqa: F811
    """Given the original photo, a `dinar fit` file's crop is cut from it (and from its mask) and the
    crop's camera used: the same avatar as from the crop itself, however small the person in the photo."""
    from PIL import Image

    from dinar.data.layout import read_mask, read_rgb
    from dinar.fitting.photo import CropBox
    from dinar.geometry.camera import Camera

    stem = "pose000_view000"
    image, mask = person_dir / "rgb" / f"{stem}.png", person_dir / "segm" / f"{stem}.png"
    doc = json.loads((person_dir / "params" / f"{stem}.json").read_text())
    crop = CropBox(x0=-10.0, y0=8.0, size=112.0, out_size=128)  # reaches past the left edge: padded black
    photo_camera = Camera.from_state({k: [v] if k in ("K", "R", "t") else v for k, v in doc["camera"].items()})
    K = crop.crop_intrinsics(photo_camera.K[0])
    crop_camera = {**doc["camera"], "K": K.tolist(), "width": 128, "height": 128}
    fit_doc = {**doc, "camera": crop_camera, "photo_camera": doc["camera"], "crop": crop.state(), "source": {"photo": str(image)}}
    (tmp_path / "fit.json").write_text(json.dumps(fit_doc))
    Image.fromarray(crop.apply(read_rgb(image))).save(tmp_path / "crop.png")
    cut_mask = np.clip(crop.apply(read_mask(mask).astype(np.float32)), 0, 255).round().astype(np.uint8)
    Image.fromarray(cut_mask).save(tmp_path / "crop_mask.png")
    (tmp_path / "crop_fit.json").write_text(json.dumps({**doc, "camera": crop_camera}))
    common = ["--checkpoint", str(model_dir), "--device", "cpu", *FAST]
    assert main(["avatar", str(image), "--fit", str(tmp_path / "fit.json"), "--mask", str(mask), "-o", str(tmp_path / "a.avatar"), *common]) == 0
    assert main(["avatar", str(tmp_path / "crop.png"), "--fit", str(tmp_path / "crop_fit.json"), "--mask", str(tmp_path / "crop_mask.png"),
                 "-o", str(tmp_path / "b.avatar"), *common]) == 0
    a, b = Avatar.load(tmp_path / "a.avatar"), Avatar.load(tmp_path / "b.avatar")
    assert a.texture.equal(b.texture)
    full = main(["avatar", str(image), "--fit", str(person_dir / "params" / f"{stem}.json"), "-o", str(tmp_path / "c.avatar"), *common])
    assert full == 0 and not Avatar.load(tmp_path / "c.avatar").texture.equal(a.texture)  # the crop made a difference


def test_person_index_goes_with_fitting_not_with_a_fit(person_dir, model_dir, tmp_path, capsys):  # noqa: F811
    stem = "pose000_view000"
    code = main(["avatar", str(person_dir / "rgb" / f"{stem}.png"), "--fit", str(person_dir / "params" / f"{stem}.json"),
                 "--person-index", "1", "--checkpoint", str(model_dir), "-o", str(tmp_path / "x.avatar")])
    assert code != 0 and "--person-index" in capsys.readouterr().err
    assert not (tmp_path / "x.avatar").exists()
