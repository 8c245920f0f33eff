"""The dataset layout (round trip, clear errors) and the torch loaders."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dinar.data.datasets import (
    FramePairDataset,
    OfficialDinarDataset,
    PersonViewsDataset,
    SingleImageDataset,
)
from dinar.data.layout import (
    DatasetError,
    FitParams,
    ImageRecord,
    image_stem,
    parse_stem,
    read_mask,
    read_params,
    read_rgb,
    write_sample,
)
from dinar.geometry.camera import orbit_cameras


def _record(pid: str, pose_id: int, view: int, seed: int = 0, body_model: str = "anny") -> ImageRecord:
    g = torch.Generator().manual_seed(seed)
    cam = orbit_cameras(1, size=16, start_azimuth_deg=30.0 * view)
    fit = FitParams(pose=torch.randn(104, 3, generator=g) * 0.1, shape=torch.rand(6, generator=g), global_orient=torch.randn(3, generator=g),
                    transl=torch.randn(3, generator=g), camera=cam)
    return ImageRecord(body_model=body_model, person_id=pid, pose_id=pose_id, view=view, fit=fit)


def _make(root: Path, people: int = 2, poses: int = 2, views: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for p in range(people):
        pid = f"person{p}"
        for q in range(poses):
            for v in range(views):
                rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                mask = (rng.random((16, 16)) > 0.5).astype(np.uint8) * 255
                write_sample(root / pid, image_stem(q, v), rgb, mask, _record(pid, q, v, seed=p * 100 + q * 10 + v))
    (root / "splits.json").write_text(json.dumps({"train": ["person0"], "val": ["person1"], "test": []}))
    return root


def test_round_trip(tmp_path):
    rec = _record("x", 1, 2, seed=5)
    rec.exact = _record("x", 1, 2, seed=6).fit
    rgb = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    mask = np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))
    write_sample(tmp_path / "x", image_stem(1, 2), rgb, mask, rec)
    assert parse_stem("pose001_view002") == (1, 2)
    assert np.array_equal(read_rgb(tmp_path / "x/rgb/pose001_view002.png"), rgb)
    assert np.array_equal(read_mask(tmp_path / "x/segm/pose001_view002.png"), mask)
    back = read_params(tmp_path / "x/params/pose001_view002.json", "anny", 104)
    assert (back.person_id, back.pose_id, back.view, back.body_model) == ("x", 1, 2, "anny")
    for a, b in ((back.fit, rec.fit), (back.exact, rec.exact)):
        for key in ("pose", "shape", "global_orient", "transl"):
            assert torch.allclose(getattr(a, key), getattr(b, key), atol=1e-6)
        for key in ("K", "R", "t"):
            assert torch.allclose(getattr(a.camera, key), getattr(b.camera, key), atol=1e-5)
        assert (a.camera.width, a.camera.height) == (16, 16)
    assert not list((tmp_path / "x").rglob(".*"))  # atomic writes leave no temporaries


def test_single_and_pairs_and_views(tmp_path):
    root = _make(tmp_path / "ds")
    single = SingleImageDataset(root)
    assert len(single) == 12
    item = single[0]
    assert item["rgb"].shape == (3, 16, 16) and item["rgb"].min() >= -1 and item["rgb"].max() <= 1
    assert item["mask"].shape == (1, 16, 16) and set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    assert item["pose"].shape == (104, 3) and item["K"].shape == (3, 3)

    pairs = FramePairDataset(root)
    assert len(pairs) == 2 * 6 * 3  # per person: each of 6 frames with the 3 frames of the other pose
    for k in range(len(pairs)):
        p = pairs[k]
        assert p["input"]["person_id"] == p["target"]["person_id"]
        assert p["input"]["pose_id"] != p["target"]["pose_id"]
    any_pairs = FramePairDataset(root, different_pose=False)
    assert len(any_pairs) == 2 * 6 * 5

    views = PersonViewsDataset(root)
    assert len(views) == 4
    g = views[1]
    assert g["rgb"].shape == (3, 3, 16, 16) and g["view"].tolist() == [0, 1, 2]
    assert len({s.split("_")[0] for s in g["stem"]}) == 1

    batch = torch.utils.data.default_collate([pairs[0], pairs[1]])
    assert batch["input"]["rgb"].shape == (2, 3, 16, 16)

    train = SingleImageDataset(root, split="train")
    assert {single.frames[0].person_dir.name} == {f.person_dir.name for f in train.frames}


def test_loaders_read_the_generator_output(tmp_path, body):
    from dinar.data.synth import SynthConfig, generate

    root = tmp_path / "s"
    generate(SynthConfig(people=1, poses=2, views=2, size=32, seed=1, texture_size=256), root, progress=False)
    pairs = FramePairDataset(root)
    p = pairs[0]
    # the fit reprojects the body onto the mask: the body's projected joints land inside the person
    out = body(pose=p["target"]["pose"][None], shape=p["target"]["shape"][None], global_orient=p["target"]["global_orient"][None], transl=p["target"]["transl"][None])
    from dinar.geometry.camera import Camera

    cam = Camera(K=p["target"]["K"][None], R=p["target"]["R"][None], t=p["target"]["t"][None], width=32, height=32)
    pix, _ = cam.project(out.vertices)
    cols, rows = pix[0, :, 0].long().clamp(0, 31), pix[0, :, 1].long().clamp(0, 31)
    assert (p["target"]["mask"][0, rows, cols] > 0).float().mean() > 0.9


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "person0/segm/pose000_view001.png").unlink(), "segm/pose000_view001.png: missing"),
    (lambda d: shutil.copy(d / "person0/params/pose001_view000.json", d / "person0/params/other.json"), "other.json: no matching rgb"),
    (lambda d: (d / "person1/rgb/pose000_view000.png").write_bytes(b"not a png"), "rgb/pose000_view000.png: unreadable image"),
    (lambda d: (d / "person1/params/pose000_view002.json").write_text((d / "person1/params/pose000_view002.json").read_text().replace('"anny"', '"smplx"')),
     "pose000_view002.json: parameters are for body model 'smplx'"),
    (lambda d: shutil.rmtree(d / "person1/segm"), "person1/segm: folder missing"),
])
def test_clear_errors_name_the_file(tmp_path, breakage, message):
    root = _make(tmp_path / "bad")
    breakage(root)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ds = SingleImageDataset(root, num_joints=104)
        for i in range(len(ds)):
            ds[i]


def test_official_layout(tmp_path):
    root = tmp_path / "official"
    for d in ("rgb", "segm", "smplx"):
        (root / d).mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((20, 10, 3), np.uint8)).save(root / "rgb/000.png")
    Image.fromarray(np.full((20, 10), 255, np.uint8)).save(root / "segm/000.png")
    np.savez(root / "smplx/000.npz", betas=np.zeros(10, np.float32), body_pose=np.ones(63, np.float32) * 0.1,
             global_orient=np.zeros(3, np.float32), camera_translation=np.array([0, 0, 10], np.float32))
    ds = OfficialDinarDataset(root)
    item = ds[0]
    assert item["pose"].shape == (55, 3) and torch.allclose(item["pose"][1:22], torch.full((21, 3), 0.1))
    assert item["K"][0, 0] == 5000 and item["K"][0, 2] == 5 and item["rgb"].shape == (3, 20, 10)
    (root / "smplx/000.npz").unlink()
    (root / "smplx/000.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(DatasetError, match="never unpickles"):
        OfficialDinarDataset(root)
