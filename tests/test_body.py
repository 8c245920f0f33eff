"""The Anny backend behind the BodyModel interface."""

import math

import roma
import torch

from dinar.body.base import BodyOutput


def test_output_shapes_and_dtypes(body):
    out = body(pose=torch.zeros(2, body.num_joints, 3), shape=body.neutral_shape(2))
    assert isinstance(out, BodyOutput)
    V, J = body.num_vertices, body.num_joints
    assert out.vertices.shape == (2, V, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (2, J, 3) and out.normals.shape == (2, V, 3)
    assert out.bone_transforms.shape == (2, J, 4, 4)
    assert torch.allclose(out.normals.norm(dim=-1), torch.ones(2, V), atol=1e-4)
    assert body.faces.shape == (27420, 3) and V == 13718 and J == 104
    assert body.face_uvs.shape == (27420, 3, 2)
    assert body.skeleton.parents[0] == -1 and (body.skeleton.parents[1:] < torch.arange(1, J)).all()
    assert torch.allclose(body.skeleton.skin_weights.sum(1), torch.ones(V), atol=1e-4)


def test_anny_frame_z_up_facing_minus_y(body):
    out = body()
    v = out.vertices[0]
    head = body.parts.names.index("head")
    assert v[body.parts.labels == head, 2].mean() > v[:, 2].mean() + 0.5  # Z up
    # Normals of the torso front point to -Y on average: the subject faces -Y.
    torso = body.parts.labels == body.parts.names.index("torso")
    front = torso & (v[:, 1] < v[torso, 1].mean())
    assert out.normals[0, front, 1].mean() < -0.3
    # +X is the subject's left.
    assert v[body.parts.labels == body.parts.names.index("hand.L"), 0].mean() > 0.3


def test_skinning_transforms_reproduce_vertices(body):
    torch.manual_seed(0)
    pose = torch.randn(1, body.num_joints, 3) * 0.2
    pose[:, 0] = 0
    out = body(pose=pose)
    rest = body._anny(phenotype_kwargs=body.neutral_shape())["rest_vertices"][0]
    T = out.bone_transforms[0]
    idx, w = body.skeleton.skin_indices, body.skeleton.skin_weights
    vh = torch.cat([rest, torch.ones(len(rest), 1)], 1)
    lbs = (w[..., None] * (T[idx] @ vh[:, None, :, None])[..., :3, 0]).sum(1)
    assert torch.allclose(lbs, out.vertices[0], atol=1e-5)


def test_elbow_rotation_moves_only_forearm_and_hand(body):
    names = body.skeleton.names
    pose = torch.zeros(1, body.num_joints, 3)
    pose[0, names.index("lowerarm01.L")] = torch.tensor([0.0, 0.0, 1.0])
    rest, bent = body().vertices[0], body(pose=pose).vertices[0]
    moved = (bent - rest).norm(dim=-1) > 1e-4
    parts = set(body.parts.labels[moved].tolist())
    allowed = {body.parts.names.index(p) for p in ("lowerarm.L", "hand.L", "upperarm.L")}
    assert parts <= allowed
    assert moved[body.parts.labels == body.parts.names.index("hand.L")].all()


def test_global_orient_and_transl_rotate_about_origin(body):
    rot = torch.tensor([[0.0, 0.0, math.pi / 2]])
    tr = torch.tensor([[0.1, -0.2, 0.3]])
    base = body().vertices
    moved = body(global_orient=rot, transl=tr).vertices
    expected = base @ roma.rotvec_to_rotmat(rot).transpose(1, 2) + tr[:, None]
    assert torch.allclose(moved, expected, atol=1e-5)


def test_shape_changes_height(body):
    short = body(shape=torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.0, 0.5]])).vertices[0, :, 2]
    tall = body(shape=torch.tensor([[0.5, 0.5, 0.5, 0.5, 1.0, 0.5]])).vertices[0, :, 2]
    assert (tall.max() - tall.min()) > (short.max() - short.min()) + 0.1
    assert body.shape_names[4] == "height"


def test_bad_shapes_raise_clear_errors(body):
    import pytest

    with pytest.raises(ValueError, match="pose must be"):
        body(pose=torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="shape must be"):
        body(shape=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="batch size"):
        body(pose=torch.zeros(2, body.num_joints, 3), shape=body.neutral_shape(3))
