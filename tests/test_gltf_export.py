"""GLB export: read the file back with pygltflib and trimesh, skin it by the glTF spec, compare with the body."""

from __future__ import annotations

import io

import imageio.v3 as iio
import numpy as np
import pygltflib
import pytest
import torch

from dinar.body.atlas import load_atlas
from dinar.export.gltf import export_glb
from dinar.motion.core import Motion

SHAPE = torch.tensor([0.3, 0.7, 0.6, 0.6, 0.4, 0.55])
ANNY_TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Anny (Z up, faces -Y) -> glTF (Y up, faces +Z)
_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@pytest.fixture(scope="module")
def motion(body) -> Motion:
    g = torch.Generator().manual_seed(0)
    frames = 3
    pose = 0.35 * torch.randn(frames, body.num_joints, 3, generator=g)
    pose[0] = 0.0  # frame 0: dinar's zero pose (not exactly the rest pose for Anny)
    return Motion(
        pose=pose,
        global_orient=0.6 * torch.randn(frames, 3, generator=g),
        transl=0.3 * torch.randn(frames, 3, generator=g),
        fps=25.0,
        name="test motion",
    )


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(48, 80, 3), dtype=np.uint8)  # not square: catches transposes


@pytest.fixture(scope="module")
def glb(body, motion, texture, tmp_path_factory):
    path = tmp_path_factory.mktemp("glb") / "avatar.glb"
    assert export_glb(body, SHAPE, texture, path, motion=motion) == path
    gltf = pygltflib.GLTF2().load(str(path))
    return path, gltf, gltf.binary_blob()


def _read(gltf: pygltflib.GLTF2, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    assert view.byteStride in (None, 0)
    dtype = np.dtype(_DTYPES[acc.componentType])
    width = _WIDTH[acc.type]
    start = view.byteOffset + (acc.byteOffset or 0)
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start)
    return data.reshape(acc.count, width) if width > 1 else data


def _attr(glb, name: str) -> np.ndarray:
    _, gltf, blob = glb
    return _read(gltf, blob, getattr(gltf.meshes[0].primitives[0].attributes, name))


def _source_vertices(glb, body) -> np.ndarray:
    """The body vertex of each glTF vertex, from the index buffer (faces keep the body's order)."""
    _, gltf, blob = glb
    indices = _read(gltf, blob, gltf.meshes[0].primitives[0].indices).astype(np.int64).reshape(-1, 3)
    faces = body.faces.cpu().numpy()
    assert indices.shape == faces.shape
    source = np.full(indices.max() + 1, -1)
    source[indices.ravel()] = faces.ravel()
    assert (source[indices] == faces).all() and (source >= 0).all()
    return source


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """glTF rotation (x, y, z, w) -> 3x3, written out from the spec, independent of the exporter's library."""
    x, y, z, w = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _skin_frame(glb, frame: int | None) -> np.ndarray:
    """Vertices ``[N, 3]`` of the GLB skinned by the glTF rules at animation frame ``frame`` (None: no animation)."""
    _, gltf, blob = glb
    trs = {
        i: [np.array(n.translation or [0, 0, 0], float), np.array(n.rotation or [0, 0, 0, 1], float)]
        for i, n in enumerate(gltf.nodes)
    }
    if frame is not None:
        anim = gltf.animations[0]
        for ch in anim.channels:
            sampler = anim.samplers[ch.sampler]
            assert sampler.interpolation == "LINEAR"
            value = _read(gltf, blob, sampler.output)[frame].astype(float)
            trs[ch.target.node][0 if ch.target.path == "translation" else 1] = value
    parent = {c: i for i, n in enumerate(gltf.nodes) for c in n.children or []}
    world: dict[int, np.ndarray] = {}

    def world_of(i: int) -> np.ndarray:
        if i not in world:
            local = np.eye(4)
            local[:3, :3] = _quat_to_matrix(trs[i][1])
            local[:3, 3] = trs[i][0]
            world[i] = (world_of(parent[i]) @ local) if i in parent else local
        return world[i]

    skin = gltf.skins[0]
    ibm = _read(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1).astype(float)  # column-major
    mats = np.stack([world_of(node) @ ibm[j] for j, node in enumerate(skin.joints)])
    pos = _attr(glb, "POSITION").astype(float)
    joints, weights = _attr(glb, "JOINTS_0").astype(np.int64), _attr(glb, "WEIGHTS_0").astype(float)
    blend = np.einsum("vk,vkab->vab", weights, mats[joints])
    return np.einsum("vab,vb->va", blend[:, :3, :3], pos) + blend[:, :3, 3]


def test_trimesh_reads_mesh_and_texture(glb, texture):
    import trimesh

    path, gltf, _ = glb
    scene = trimesh.load(path, process=False)
    (mesh,) = scene.geometry.values()
    assert len(mesh.vertices) == gltf.accessors[gltf.meshes[0].primitives[0].attributes.POSITION].count
    image = mesh.visual.material.baseColorTexture
    assert image.size == (texture.shape[1], texture.shape[0])
    assert mesh.visual.uv.shape == (len(mesh.vertices), 2)


def test_accessors(glb, body):
    _, gltf, _ = glb
    attrs = gltf.meshes[0].primitives[0].attributes
    n = gltf.accessors[attrs.POSITION].count
    assert n >= body.num_vertices  # split at UV seams
    for name, comp, typ in [("POSITION", 5126, "VEC3"), ("NORMAL", 5126, "VEC3"), ("TEXCOORD_0", 5126, "VEC2"), ("WEIGHTS_0", 5126, "VEC4")]:
        acc = gltf.accessors[getattr(attrs, name)]
        assert (acc.count, acc.componentType, acc.type) == (n, comp, typ), name
    joints_acc = gltf.accessors[attrs.JOINTS_0]
    assert joints_acc.componentType in (5121, 5123) and joints_acc.type == "VEC4" and joints_acc.count == n
    pos = _attr(glb, "POSITION")
    pos_acc = gltf.accessors[attrs.POSITION]
    np.testing.assert_allclose(pos_acc.min, pos.min(0), atol=1e-6)
    np.testing.assert_allclose(pos_acc.max, pos.max(0), atol=1e-6)
    weights, joints = _attr(glb, "WEIGHTS_0"), _attr(glb, "JOINTS_0")
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    assert (weights >= 0).all() and (joints < body.num_joints).all()
    np.testing.assert_allclose(np.linalg.norm(_attr(glb, "NORMAL"), axis=1), 1.0, atol=1e-5)
    assert gltf.accessors[gltf.meshes[0].primitives[0].indices].count == 3 * body.faces.shape[0]


def test_skin_and_node_hierarchy(glb, body):
    _, gltf, _ = glb
    skin = gltf.skins[0]
    assert len(skin.joints) == body.num_joints
    assert gltf.accessors[skin.inverseBindMatrices].count == body.num_joints
    node_to_joint = {node: j for j, node in enumerate(skin.joints)}
    parents = [-1] * body.num_joints
    for node in skin.joints:
        for child in gltf.nodes[node].children or []:
            parents[node_to_joint[child]] = node_to_joint[node]
    assert parents == body.skeleton.parents.tolist()
    assert [gltf.nodes[node].name for node in skin.joints] == body.skeleton.names
    roots = [skin.joints[j] for j, p in enumerate(parents) if p < 0]
    assert set(roots) <= set(gltf.scenes[gltf.scene].nodes)
    mesh_node = gltf.nodes[gltf.scenes[gltf.scene].nodes[0]]
    assert mesh_node.mesh == 0 and mesh_node.skin == 0
    material = gltf.materials[gltf.meshes[0].primitives[0].material]
    assert material.doubleSided is False
    assert material.pbrMetallicRoughness.baseColorTexture.index == 0
    assert gltf.samplers[gltf.textures[0].sampler].magFilter == 9729


def test_texture_roundtrips_exactly(glb, texture):
    _, gltf, blob = glb
    image = gltf.images[gltf.textures[0].source]
    view = gltf.bufferViews[image.bufferView]
    assert image.mimeType == "image/png"
    png = iio.imread(io.BytesIO(blob[view.byteOffset : view.byteOffset + view.byteLength]), extension=".png")
    np.testing.assert_array_equal(png, texture)


def test_uvs_follow_the_atlas_with_v_flipped(glb, body):
    _, gltf, blob = glb
    face_uvs = load_atlas(body, "front").face_uvs.cpu().numpy()
    indices = _read(gltf, blob, gltf.meshes[0].primitives[0].indices).astype(np.int64).reshape(-1, 3)
    uv = _attr(glb, "TEXCOORD_0")[indices]  # [F, 3, 2]
    np.testing.assert_array_equal(uv[..., 0], face_uvs[..., 0])
    np.testing.assert_allclose(uv[..., 1], 1.0 - face_uvs[..., 1], atol=1e-7)
    _source_vertices(glb, body)  # one body vertex per glTF vertex


def test_bind_mesh_is_the_rest_mesh_upright_facing_plus_z(glb, body):
    anny = body._anny
    eye = torch.eye(4).expand(1, body.num_joints, 4, 4)
    rest = anny(pose_parameters=eye, phenotype_kwargs=SHAPE[None])["rest_vertices"][0].double().numpy()
    source = _source_vertices(glb, body)
    expected = rest[source] @ ANNY_TO_GLTF.T
    np.testing.assert_allclose(_attr(glb, "POSITION"), expected, atol=1e-5)
    np.testing.assert_allclose(_skin_frame(glb, None), expected, atol=1e-5)  # node rest pose == bind pose
    # orientation without the exporter's maths: head up, toes forward (+Z), subject's left at +X
    _, gltf, _ = glb
    parent = {c: i for i, nd in enumerate(gltf.nodes) for c in nd.children or []}
    joint_pos = {}
    for node in gltf.skins[0].joints:  # world positions from the node hierarchy at rest (no rotations there)
        assert gltf.nodes[node].rotation in (None, [0, 0, 0, 1])
        p, n = np.array(gltf.nodes[node].translation, float), node
        while n in parent:
            n = parent[n]
            p += np.array(gltf.nodes[n].translation or [0, 0, 0])
        joint_pos[gltf.nodes[node].name] = p
    names = body.skeleton.names
    head = joint_pos[next(n for n in names if n.startswith("head"))]
    feet = [joint_pos[n] for n in names if n.startswith("foot")]
    toes = [joint_pos[n] for n in names if n.startswith("toe")]
    assert all(head[1] > f[1] + 1.0 for f in feet)
    assert np.mean([t[2] for t in toes]) > np.mean([f[2] for f in feet]) + 0.05
    assert np.mean([p[0] for n, p in joint_pos.items() if n.endswith(".L")]) > 0.1
    assert np.mean([p[0] for n, p in joint_pos.items() if n.endswith(".R")]) < -0.1


def test_animation_skins_like_the_body(glb, body, motion):
    _, gltf, blob = glb
    anim = gltf.animations[0]
    times = _read(gltf, blob, anim.samplers[0].input)
    np.testing.assert_allclose(times, np.arange(motion.num_frames) / motion.fps, rtol=1e-6)
    assert gltf.accessors[anim.samplers[0].input].max == pytest.approx([(motion.num_frames - 1) / motion.fps])
    source = _source_vertices(glb, body)
    with torch.no_grad():
        shape = SHAPE[None].expand(motion.num_frames, -1)
        out = body(pose=motion.pose, shape=shape, global_orient=motion.global_orient, transl=motion.transl)
    pos = _attr(glb, "POSITION").astype(float) @ ANNY_TO_GLTF  # back to Anny axes (rest mesh)
    joints, weights = _attr(glb, "JOINTS_0").astype(np.int64), _attr(glb, "WEIGHTS_0").astype(float)
    for k in range(motion.num_frames):
        skinned = _skin_frame(glb, k)
        # the same 4 weights with dinar's own bone transforms: the conversion itself must be exact
        T = out.bone_transforms[k].double().numpy()
        blend = np.einsum("vk,vkab->vab", weights, T[joints])
        lbs4 = (np.einsum("vab,vb->va", blend[:, :3, :3], pos) + blend[:, :3, 3]) @ ANNY_TO_GLTF.T
        assert np.abs(skinned - lbs4).max() < 1e-4, f"frame {k}: glTF skinning != dinar's bone transforms"
        # against the body's own vertices (all of Anny's up to 9 influences): only truncation differs
        err = np.linalg.norm(skinned - out.vertices[k].double().numpy()[source] @ ANNY_TO_GLTF.T, axis=1)
        assert err.mean() < 2e-3 and err.max() < 5e-2, f"frame {k}: mean {err.mean():.4f} m, max {err.max():.4f} m"


def test_quaternions_are_sign_continuous(glb):
    _, gltf, blob = glb
    anim = gltf.animations[0]
    for ch in anim.channels:
        if ch.target.path == "rotation":
            q = _read(gltf, blob, anim.samplers[ch.sampler].output)
            np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
            assert ((q[1:] * q[:-1]).sum(1) >= 0).all()


def test_bad_inputs_are_clear_errors(body, texture, motion, tmp_path):
    path = tmp_path / "bad.glb"
    with pytest.raises(ValueError, match="uint8"):
        export_glb(body, SHAPE, texture.astype(np.float32), path)
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        export_glb(body, SHAPE, texture[..., :2].copy(), path)
    with pytest.raises(ValueError, match="shape must be"):
        export_glb(body, SHAPE[:4], texture, path)
    other = Motion(motion.pose, motion.global_orient, motion.transl, motion.fps, body_model="smplx")
    with pytest.raises(ValueError, match="smplx"):
        export_glb(body, SHAPE, texture, path, motion=other)
    with pytest.raises(ValueError, match="joints"):
        short = Motion(motion.pose[:, :10], motion.global_orient, motion.transl, motion.fps)
        export_glb(body, SHAPE, texture, path, motion=short)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_write_is_atomic(glb):
    path = glb[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it
