"""The Avatar (dinar.avatar): the file round trip, load errors, checkpoint identity, rendering and video.

A random-init ``tiny`` stage-1 model exported to a model folder, and an avatar on it with a random
texture (what the texture holds does not matter to the file or to the renderer's plumbing).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dinar.avatar import (
    AVATAR_FORMAT,
    Avatar,
    CheckpointIdentity,
    file_sha256,
    framing_cameras,
    state_digest,
)
from dinar.geometry.camera import orbit_cameras
from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
from dinar.nn.config import preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(body, seed: int):
    torch.manual_seed(seed)
    return avatar_model_from_body(AvatarModelConfig(networks=preset("tiny")), body).eval()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, body) -> dict[str, Path]:
    """Two different stage-1 checkpoints, as `dinar train avatar` exports them."""
    from dinar.train.stage1 import export_avatar_model

    root = tmp_path_factory.mktemp("checkpoints")
    dirs = {"a": root / "a", "b": root / "b"}
    export_avatar_model(_tiny(body, 0), dirs["a"] / "stage1")
    export_avatar_model(_tiny(body, 1), dirs["b"])  # a bare run folder works too
    return dirs


@pytest.fixture(scope="module")
def avatar(model_dirs, body) -> Avatar:
    from dinar.avatar import load_stage1

    model, identity = load_stage1(model_dirs["a"], body=body)
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(21, 64, 64, generator=g) * 2 - 1
    meta = {"texture_mode": "both", "image_size": 128, "sources": [{"sha256": "0" * 64, "width": 128, "height": 128}],
            "options": {"seed": 0}, "dinar_version": "0.1.0"}
    return Avatar(texture=texture, shape=body.neutral_shape()[0], body_model="anny", atlas="front", checkpoint=identity,
                  metadata=meta).bind(model, body=body)


def test_round_trip_is_bitwise(avatar, tmp_path, model_dirs):
    path = avatar.save(tmp_path / "me.avatar")
    back = Avatar.load(path)
    assert torch.equal(back.texture, avatar.texture) and back.texture.dtype == torch.float32
    assert torch.equal(back.shape, avatar.shape)
    assert back.metadata == avatar.metadata and back.checkpoint == avatar.checkpoint
    assert (back.body_model, back.atlas) == ("anny", "front") and not back.is_bound
    assert avatar.checkpoint.weights_sha256 == file_sha256(model_dirs["a"] / "stage1" / "model.safetensors")
    assert not list(tmp_path.glob(".*"))  # the atomic write left no temporary file


def _write(path: Path, tensors: dict, meta: dict) -> Path:
    save_file(tensors, str(path), metadata=meta)
    return path


def _parts(avatar: Avatar):
    tensors = {"texture": avatar.texture.contiguous(), "shape": avatar.shape.contiguous()}
    return tensors, {"format": AVATAR_FORMAT, "avatar": json.dumps(avatar.header())}


def test_load_refuses_broken_files_naming_them(avatar, tmp_path):
    tensors, meta = _parts(avatar)
    cases = {
        "other.st": (tensors, {**meta, "format": "something-else/1"}, "not a dinar avatar"),
        "newer.st": (tensors, {**meta, "format": "dinar-avatar/2"}, "upgrade"),
        "names.st": ({**tensors, "extra": torch.zeros(1)}, meta, "avatar tensors are"),
        "dtype.st": ({**tensors, "texture": tensors["texture"].half()}, meta, "torch.float16"),
        "shape.st": ({**tensors, "texture": tensors["texture"][:20]}, meta, r"expected \[21, S, S\]"),
        "meta.st": (tensors, {"format": AVATAR_FORMAT, "avatar": "{not json"}, "malformed"),
    }
    for name, (t, m, message) in cases.items():
        path = _write(tmp_path / name, t, m)
        with pytest.raises(ValueError, match=message) as err:
            Avatar.load(path)
        assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such avatar file"):
        Avatar.load(tmp_path / "missing.st")


def test_load_refuses_truncated_and_corrupt_files(avatar, tmp_path):
    good = avatar.save(tmp_path / "good.avatar").read_bytes()
    truncated = tmp_path / "truncated.avatar"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        Avatar.load(truncated)
    corrupt = tmp_path / "corrupt.avatar"
    flipped = bytearray(good)
    flipped[-100] ^= 0xFF  # inside the texture's float data
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        Avatar.load(corrupt)


def test_binding_refuses_another_checkpoint(avatar, tmp_path, model_dirs, body):
    path = avatar.save(tmp_path / "me.avatar")
    with pytest.raises(ValueError, match=r"was made with stage-1 checkpoint .* pass --checkpoint <that model dir>") as err:
        Avatar.load(path, model_dir=model_dirs["b"], body=body)
    assert avatar.checkpoint.short in str(err.value) and str(path) in str(err.value)
    with pytest.raises(ValueError, match="was made with stage-1 checkpoint"):
        Avatar.load(path, renderer=_tiny(body, 1), body=body)
    bound = Avatar.load(path, model_dir=model_dirs["a"], body=body)
    assert bound.is_bound
    same = _tiny(body, 0)  # the same weights in memory bind too
    assert Avatar.load(path, renderer=same, body=body).is_bound
    with pytest.raises(RuntimeError, match="not bound"):
        Avatar.load(path).render(torch.zeros(1, body.num_joints, 3), orbit_cameras(1, size=128))


def test_identity_is_the_content_not_the_file(body):
    a, b = _tiny(body, 0), _tiny(body, 0)
    assert state_digest(a.state_dict()) == state_digest(b.state_dict())
    assert CheckpointIdentity.of_model(a).matches(CheckpointIdentity.of_model(b))
    with torch.no_grad():
        next(b.parameters()).add_(1e-6)
    assert not CheckpointIdentity.of_model(a).matches(CheckpointIdentity.of_model(b))


@pytest.mark.parametrize("batch", [1, 4])
def test_render_shapes_and_ranges(avatar, body, batch):
    pose = torch.zeros(batch, body.num_joints, 3)
    pose[:, :, 0] = torch.linspace(0, 0.2, batch)[:, None] * (torch.rand(body.num_joints) > 0.9)
    vertices = body(pose=pose, shape=avatar.shape[None].expand(batch, -1)).vertices
    cameras = framing_cameras(vertices, batch, 128)
    frames = avatar.render(pose, cameras)
    assert frames.image.shape == (batch, 3, 128, 128) and frames.mask.shape == (batch, 1, 128, 128)
    assert frames.image.min() >= 0 and frames.image.max() <= 1 and frames.mask.min() >= 0 and frames.mask.max() <= 1
    assert (frames.mask == 1).float().mean() > 0.05  # the body is in view (θ's mask is 1 on the body)
    black = avatar.render(pose, cameras[0] if batch == 1 else cameras, background=(0.0, 0.0, 0.0))
    torch.testing.assert_close(frames.image - black.image, (1 - frames.mask).expand(-1, 3, -1, -1))  # composited over white
    one_camera = avatar.render(pose, cameras[0])
    assert one_camera.image.shape == (batch, 3, 128, 128)
    torch.testing.assert_close(one_camera.image[:1], frames.image[:1])
    bigger = avatar.render(pose[:1], dataclasses.replace(cameras[0], K=cameras.K[:1] * torch.tensor([[2.0], [2.0], [1.0]]), width=256, height=256))
    assert bigger.image.shape == (1, 3, 256, 256)


def test_framing_cameras_see_the_whole_body_from_every_side(body):
    vertices = body(pose=torch.zeros(1, body.num_joints, 3), shape=body.neutral_shape()).vertices
    cams = framing_cameras(vertices, 4, 128)
    for i in range(4):
        pix, z = cams[i].project(vertices)
        assert (z > 0).all() and pix.min() > 0 and pix.max() < 128
        span = pix.amax(1) - pix.amin(1)
        assert span.max() > 0.6 * 128  # and fills most of the frame
    front = cams.center[0] - vertices[0].mean(0)
    assert front[1] < 0 and abs(float(front[0])) < 0.05 * abs(float(front[1]))  # azimuth 0: in front of the subject (-Y)
    assert math.isclose(float(cams.center[1].sub(vertices[0].mean(0))[0]), -float(front.norm()), rel_tol=0.1)


def test_render_video_writes_mp4_and_png_frames(avatar, body, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as imageio

    from dinar.motion.core import Motion

    T = 5
    pose = torch.zeros(T, body.num_joints, 3)
    motion = Motion(pose=pose, global_orient=torch.zeros(T, 3), transl=torch.zeros(T, 3), fps=10.0, name="still")
    path = avatar.render_video(motion, "turntable", tmp_path / "turn.mp4", batch_size=2, frames_dir=tmp_path / "frames")
    reader = imageio.get_reader(str(path), format="FFMPEG")
    frames = [f for f in reader]
    assert reader.get_meta_data()["fps"] == 10.0
    reader.close()
    assert len(frames) == T and frames[0].shape == (128, 128, 3)
    pngs = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:05d}.png" for i in range(T)]
    assert not np.array_equal(imageio.imread(pngs[0]), imageio.imread(pngs[2]))  # the camera turned
    front = avatar.render_video(motion, "front", tmp_path / "front.mp4", fps=5)
    assert front.is_file()
    with pytest.raises(ValueError, match="body model"):
        avatar.render_video(dataclasses.replace(motion, body_model="smplx"), "front", tmp_path / "x.mp4")
