"""The SMPL-X backend behind the BodyModel interface, on a procedural model file (smplx_fixture)."""

import logging

import numpy as np
import pytest
import roma
import torch

from dinar.body import load_body_model
from dinar.body.base import BodyOutput

smplx = pytest.importorskip("smplx")

from smplx_fixture import (
    make_smplx_arrays,
    small_vertex_ids,
    write_smplx_model,
    write_uv_obj,
)

from dinar.body.smplx_body import SMPLXBody


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smplx_models")
    write_smplx_model(folder)
    return folder


@pytest.fixture(scope="module")
def smplx_body(model_dir):
    return load_body_model("smplx", model_path=model_dir)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _random_pose(body, batch, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(batch, body.num_joints, 3, generator=g) * scale
    pose[:, 0] = 0
    return pose


def test_interface_shapes_and_dtypes(smplx_body):
    body = smplx_body
    V, J, F = body.num_vertices, body.num_joints, body.faces.shape[0]
    assert body.name == "smplx" and J == 55 and body.num_shape == 10 and V == 55 * 8
    assert body.faces.dtype == torch.int64 and body.faces.shape == (F, 3)
    assert body.face_uvs.shape == (F, 3, 2) and body.face_uvs.dtype == torch.float32
    assert body.face_uvs.min() >= 0 and body.face_uvs.max() <= 1
    skel = body.skeleton
    assert skel.names[0] == "pelvis" and skel.names[18] == "left_elbow" and len(skel.names) == J
    assert skel.parents.dtype == torch.int64 and skel.parents[0] == -1
    assert (skel.parents[1:] < torch.arange(1, J)).all()
    assert skel.rest_joints.shape == (J, 3)
    assert skel.skin_indices.shape == skel.skin_weights.shape == (V, 4)
    assert torch.allclose(skel.skin_weights.sum(1), torch.ones(V))
    assert body.parts.labels.shape == (V,) and body.parts.weights.shape == (V, len(body.parts.names))
    assert torch.allclose(body.parts.weights.sum(1), torch.ones(V))
    assert body.neutral_shape(3).shape == (3, 10)

    out = body(pose=_random_pose(body, 2), shape=torch.randn(2, 10) * 0.5)
    assert isinstance(out, BodyOutput)
    assert out.vertices.shape == (2, V, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (2, J, 3) and out.normals.shape == (2, V, 3)
    assert out.bone_transforms.shape == (2, J, 4, 4)
    assert torch.allclose(out.normals.norm(dim=-1), torch.ones(2, V), atol=1e-4)


def test_parts_follow_smplx_joints(smplx_body):
    body = smplx_body
    names, labels = body.parts.names, body.parts.labels
    # Box j starts at joint j; its near corners are skinned only to j.
    expect = {"pelvis": "torso", "head": "head", "left_collar": "upperarm.L", "left_shoulder": "upperarm.L",
              "left_elbow": "lowerarm.L", "right_wrist": "hand.R", "left_thumb3": "hand.L",
              "left_hip": "upperleg.L", "right_knee": "lowerleg.R", "left_foot": "foot.L"}  # fmt: skip
    for joint, part in expect.items():
        j = body.skeleton.names.index(joint)
        assert (labels[8 * j : 8 * j + 4] == names.index(part)).all(), joint


def test_zero_pose_is_the_template(smplx_body, model_dir):
    body = smplx_body
    v_template = torch.as_tensor(np.load(model_dir / "SMPLX_NEUTRAL.npz")["v_template"], dtype=torch.float32)
    out = body()
    assert torch.allclose(out.vertices[0], v_template, atol=1e-6)
    assert torch.allclose(out.joints[0], body.skeleton.rest_joints, atol=1e-6)
    assert torch.allclose(out.bone_transforms, torch.eye(4).expand(1, 55, 4, 4), atol=1e-6)
    t = torch.tensor([[0.5, -1.0, 2.0]])
    moved = body(transl=t, shape=body.neutral_shape())
    assert torch.allclose(moved.vertices[0], v_template + t, atol=1e-6)


def test_bone_transforms_reproduce_vertices_and_joints(smplx_body):
    body = smplx_body
    pose, shape = _random_pose(body, 1), torch.randn(1, 10) * 0.5
    go, t = torch.tensor([[0.3, -1.2, 0.4]]), torch.tensor([[0.1, 0.2, -0.3]])
    out = body(pose=pose, shape=shape, global_orient=go, transl=t)
    v_shaped, rest_joints = body.shaped_rest(shape, torch.zeros(1, body.num_expression))
    T = out.bone_transforms[0]
    joints = (T[:, :3, :3] @ rest_joints[0, :, :, None])[..., 0] + T[:, :3, 3]
    assert torch.allclose(joints, out.joints[0], atol=1e-5)  # a bone's head moves with its transform
    # Where pose correctives vanish (rigid leaf boxes have none for a zero-pose bone), LBS = bones.
    pose2 = torch.zeros_like(pose)
    pose2[0, 18] = torch.tensor([0.0, 0.0, 1.0])
    out2 = body(pose=pose2, shape=shape, global_orient=go, transl=t)
    W = body.lbs_weights
    vh = torch.cat([v_shaped[0], torch.ones(body.num_vertices, 1)], 1)
    lbs = torch.einsum("vj,jab,vb->va", W, out2.bone_transforms[0], vh)[:, :3]
    unaffected = torch.ones(body.num_vertices, dtype=torch.bool)
    unaffected[8 * 18 : 8 * 19] = False  # box 18 carries the elbow's pose correctives
    assert torch.allclose(lbs[unaffected], out2.vertices[0, unaffected], atol=1e-5)


def test_elbow_rotation_moves_only_forearm_and_hand(smplx_body):
    body = smplx_body
    names, part_names, labels = body.skeleton.names, body.parts.names, body.parts.labels
    elbow = names.index("left_elbow")
    pose = torch.zeros(1, body.num_joints, 3)
    pose[0, elbow] = torch.tensor([0.0, 1.2, 0.0])
    rest, bent = body(), body(pose=pose)
    moved = (bent.vertices[0] - rest.vertices[0]).norm(dim=-1) > 1e-5
    subtree = {elbow}
    for j in range(elbow + 1, body.num_joints):
        if int(body.skeleton.parents[j]) in subtree:
            subtree.add(j)
    skinned = body.lbs_weights[:, sorted(subtree)].sum(1) > 0
    assert torch.equal(moved, skinned)
    allowed = {part_names.index(p) for p in ("upperarm.L", "lowerarm.L", "hand.L")}
    assert set(labels[moved].tolist()) <= allowed
    for part in ("lowerarm.L", "hand.L"):
        assert moved[labels == part_names.index(part)].all()
    joint_moved = (bent.joints[0] - rest.joints[0]).norm(dim=-1) > 1e-6
    assert set(joint_moved.nonzero().flatten().tolist()) == subtree - {elbow}


def test_global_orient_rotates_about_world_origin(smplx_body):
    body = smplx_body
    pose, shape = _random_pose(body, 1, seed=1), torch.randn(1, 10) * 0.5
    go, t = torch.tensor([[0.0, 0.0, 0.7]]), torch.tensor([[1.0, 2.0, 3.0]])
    local = body(pose=pose, shape=shape)
    world = body(pose=pose, shape=shape, global_orient=go, transl=t)
    R = roma.rotvec_to_rotmat(go)[0]
    assert torch.allclose(world.vertices[0], local.vertices[0] @ R.T + t, atol=1e-5)
    assert torch.allclose(world.joints[0], local.joints[0] @ R.T + t, atol=1e-5)
    assert torch.allclose(world.normals[0], local.normals[0] @ R.T, atol=1e-3)  # float32, 1.6 cm boxes
    assert torch.allclose(world.bone_transforms[0, :, :3, :3], R @ local.bone_transforms[0, :, :3, :3], atol=1e-5)
    # The pelvis is not at the origin, so it moves under a pure rotation (unlike smplx's convention).
    assert local.joints[0, 0].norm() > 0.1
    spun = body(pose=pose, shape=shape, global_orient=go)
    assert torch.allclose(spun.joints[0, 0], R @ local.joints[0, 0], atol=1e-5)


def test_batching_matches_single_calls(smplx_body):
    body = smplx_body
    pose, shape = _random_pose(body, 3, seed=2), torch.randn(3, 10) * 0.5
    go, t = torch.randn(3, 3), torch.randn(3, 3)
    expr = torch.randn(3, body.num_expression) * 0.5
    batched = body(pose=pose, shape=shape, global_orient=go, transl=t, expression=expr)
    for i in range(3):
        single = body(
            pose=pose[i : i + 1],
            shape=shape[i : i + 1],
            global_orient=go[i : i + 1],
            transl=t[i : i + 1],
            expression=expr[i : i + 1],
        )
        assert torch.allclose(batched.vertices[i], single.vertices[0], atol=1e-5)
        assert torch.allclose(batched.bone_transforms[i], single.bone_transforms[0], atol=1e-5)


def test_matches_smplx_package(smplx_body, model_dir, monkeypatch):
    """Same vertices and joints as smplx.SMPLX, after converting global_orient's centre of rotation."""
    body = smplx_body
    monkeypatch.setitem(smplx.vertex_ids.vertex_ids, "smplx", small_vertex_ids(body.num_vertices))
    batch = 2
    reference = smplx.SMPLX(
        str(model_dir), gender="neutral", ext="npz", num_betas=10, num_expression_coeffs=10,
        use_pca=False, flat_hand_mean=True, batch_size=batch,
    )  # fmt: skip
    pose, shape = _random_pose(body, batch, seed=3), torch.randn(batch, 10) * 0.5
    expr = torch.randn(batch, 10) * 0.5
    go, t = torch.randn(batch, 3), torch.randn(batch, 3)
    ours = body(pose=pose, shape=shape, global_orient=go, transl=t, expression=expr)
    theirs = reference(
        betas=shape, expression=expr, global_orient=go, body_pose=pose[:, 1:22].reshape(batch, -1),
        jaw_pose=pose[:, 22], leye_pose=pose[:, 23], reye_pose=pose[:, 24],
        left_hand_pose=pose[:, 25:40].reshape(batch, -1), right_hand_pose=pose[:, 40:55].reshape(batch, -1),
        transl=body.transl_to_smplx(go, t, shape, expr),
    )  # fmt: skip
    assert torch.allclose(ours.vertices, theirs.vertices, atol=1e-5)
    assert torch.allclose(ours.joints, theirs.joints[:, :55], atol=1e-5)
    assert torch.allclose(
        body.transl_from_smplx(go, body.transl_to_smplx(go, t, shape, expr), shape, expr), t, atol=1e-6
    )
    # smplx's default hand convention: its pose + pose_mean is ours.
    reference_mean = smplx.SMPLX(str(model_dir), ext="npz", use_pca=False, flat_hand_mean=False, batch_size=1)
    hands = _random_pose(body, 1, seed=4)
    theirs = reference_mean(
        left_hand_pose=hands[:, 25:40].reshape(1, -1), right_hand_pose=hands[:, 40:55].reshape(1, -1)
    )  # fmt: skip
    ours_pose = torch.zeros(1, 55, 3)
    ours_pose[:, 25:] = hands[:, 25:]
    ours = body(pose=ours_pose + body.pose_mean)
    assert torch.allclose(ours.vertices, theirs.vertices, atol=1e-5)


def test_gradients_flow(smplx_body):
    body = smplx_body
    pose = torch.zeros(1, 55, 3, requires_grad=True)
    shape = torch.zeros(1, 10, requires_grad=True)
    go = torch.zeros(1, 3, requires_grad=True)
    vertices = body(pose=pose, shape=shape, global_orient=go).vertices
    (vertices * torch.randn_like(vertices)).sum().backward()  # not a norm: rotations keep those
    for p in (pose, shape, go):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_wrong_shapes_raise(smplx_body):
    body = smplx_body
    with pytest.raises(ValueError, match=r"pose must be \[B, 55, 3\]"):
        body(pose=torch.zeros(1, 21, 3))
    with pytest.raises(ValueError, match="10 betas"):
        body(shape=torch.zeros(1, 300))
    with pytest.raises(ValueError, match="batch size"):
        body(pose=torch.zeros(2, 55, 3), shape=torch.zeros(3, 10))
    with pytest.raises(ValueError, match="global_orient"):
        body(global_orient=torch.zeros(1, 3, 3))


def test_missing_or_invalid_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="smpl-x.is.tue.mpg.de"):
        load_body_model("smplx", model_path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz"):
        SMPLXBody(tmp_path / "empty")
    (tmp_path / "pkl").mkdir()
    (tmp_path / "pkl" / "SMPLX_NEUTRAL.pkl").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no pickles"):
        SMPLXBody(tmp_path / "pkl")
    with pytest.raises(ValueError, match="gender"):
        SMPLXBody(tmp_path / "empty", gender="other")
    bad = make_smplx_arrays()
    del bad["J_regressor"]
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **bad)
    with pytest.raises(ValueError, match="J_regressor"):
        SMPLXBody(tmp_path)
    smpl_like = make_smplx_arrays()
    smpl_like["weights"] = smpl_like["weights"][:, :24]
    np.savez(tmp_path / "empty" / "SMPLX_NEUTRAL.npz", **smpl_like)
    with pytest.raises(ValueError, match="55 joints"):
        SMPLXBody(tmp_path / "empty")


def test_model_file_layouts_and_v10_components(tmp_path):
    # The smplx package's layout (<root>/smplx/SMPLX_MALE.npz) and a v1.0 file (10 + 10 components).
    write_smplx_model(tmp_path / "smplx", gender="male", num_shape_components=20)
    body = SMPLXBody(tmp_path, gender="male", num_expression=10)
    assert body.model_file.name == "SMPLX_MALE.npz" and body.num_shape == 10
    with pytest.raises(ValueError, match="num_betas"):
        SMPLXBody(tmp_path, gender="male", num_betas=11)


def test_uv_sources(tmp_path, caplog):
    arrays = make_smplx_arrays()
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **arrays)
    with caplog.at_level(logging.WARNING, logger="dinar.body.smplx_body"):
        fallback = SMPLXBody(tmp_path)
    assert fallback.uv_source == "cylindrical fallback" and "smplx_uv.obj" in caplog.text
    uv = fallback.face_uvs
    assert uv.min() >= 0 and uv.max() <= 1
    # Charts stay inside one tile per part: no face spans the atlas.
    assert (uv.amax(1) - uv.amin(1)).max() < 0.25

    expected = torch.from_numpy(write_uv_obj(tmp_path / "atlas.obj", arrays))
    from_obj = SMPLXBody(tmp_path, uv_path=tmp_path / "atlas.obj")
    assert from_obj.uv_source.startswith("obj:") and torch.allclose(from_obj.face_uvs, expected, atol=1e-6)

    write_uv_obj(tmp_path / "smplx_uv.obj", arrays, shuffle_seed=None)  # found next to the model file
    found = SMPLXBody(tmp_path)
    assert found.uv_source == f"obj:{tmp_path / 'smplx_uv.obj'}" and torch.allclose(found.face_uvs, expected, atol=1e-6)
    (tmp_path / "root" / "smplx").mkdir(parents=True)  # or in the folder given, above the model file
    (tmp_path / "SMPLX_NEUTRAL.npz").rename(tmp_path / "root" / "smplx" / "SMPLX_NEUTRAL.npz")
    (tmp_path / "smplx_uv.obj").rename(tmp_path / "root" / "smplx_uv.obj")
    assert SMPLXBody(tmp_path / "root").uv_source == f"obj:{tmp_path / 'root' / 'smplx_uv.obj'}"

    (tmp_path / "npz").mkdir()
    write_smplx_model(tmp_path / "npz", with_vt=True)
    in_npz = SMPLXBody(tmp_path / "npz")
    assert in_npz.uv_source.startswith("npz:") and torch.allclose(in_npz.face_uvs, expected, atol=1e-6)

    with pytest.raises(FileNotFoundError, match="smplx_uv.obj"):
        SMPLXBody(tmp_path, uv_path=tmp_path / "missing.obj")


def test_moves_with_the_module(smplx_body):
    body = SMPLXBody(smplx_body.model_file).double()
    out = body(pose=_random_pose(body, 1).double())
    assert out.vertices.dtype == torch.float64 and body.skeleton.rest_joints.dtype == torch.float64
    assert body.faces.dtype == torch.int64 and body.skeleton.skin_indices.dtype == torch.int64
    assert body.state_dict() == {}  # assets are not checkpointed
