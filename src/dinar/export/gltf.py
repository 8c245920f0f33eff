"""GLB export: a rigged, textured body that Blender, Unity and three.js open as they are.

What travels: the body mesh in the avatar's shape and the model's rest pose (Anny: the A-pose),
split at UV seams, with normals, one UV set, a skin (four influences per vertex) on a joint node
hierarchy that mirrors :attr:`Skeleton.parents`, an unlit-looking PBR material (metallic 0,
roughness 1) whose base colour is the avatar's RGB texture, embedded as PNG, and optionally one
animation made from a :class:`~dinar.motion.core.Motion`. Only the RGB part of a DINAR neural
texture can travel in a GLB: the 16 neural channels of ``T_gen`` (paper eq. 2) mean something only
to dinar's renderer network, which no glTF viewer runs; the GLB shows the colour texture as a plain
texture.

Frames. glTF is Y up and a character faces +Z, with +X its left. The body model's frame is mapped
onto that from its :attr:`BodyModel.up_axis` and :attr:`BodyModel.front_axis` (Anny: ``(x, y, z)
-> (x, z, -y)``); the data are written in the glTF frame, so no node carries a correction rotation.
UVs: dinar's ``v`` points up, glTF's down, so ``TEXCOORD_0 = (u, 1 - v)`` and the texture image is
stored as is (its row ``(1 - v) * H`` is glTF's ``v * H``).

Rig. Every joint node rests at its bone head with the identity rotation, so the node pose without
animation is the bind pose and the inverse bind matrices are pure translations. Everything is
derived from the :class:`BodyModel` interface, nothing model-specific: the body at zero pose gives
the per-bone skinning transforms ``T_c`` (rest mesh -> posed) and posed bone heads, from which the
rest mesh (each vertex's blended transform inverted) and the rest bone heads ``h_c`` follow
exactly. A posed frame's joint world matrix is ``J_c = T_c [I | h_c]``, so
``J_c @ inverseBindMatrix_c = T_c``: glTF skinning of the rest mesh reproduces the body model's
own linear blend skinning. The local node rotation is ``R(T_p)^T R(T_c)``; a child's local
translation stays its rest offset (its head moves with its parent's transform), so only the root
gets a translation channel (others get one only where a body model moves heads off their parents).
Anny's ``local-ref`` pose (per-bone rotations in world-aligned reference axes, relative to the
A-pose, composed with reference orientations that differ by a few degrees from the rest ones) is
thereby converted through its forward kinematics rather than by re-deriving its algebra.

Two differences from dinar's renders: glTF holds four influences per vertex, and Anny has up to
nine, so the four largest are kept and renormalised (Anny: 0.5 % of the weight dropped on
average, 22 % at worst, mostly on the spine; in random poses of 0.1 / 0.35 rad per bone the
surface moves 0.08 / 0.25 mm on average, 9 / 27 mm at worst, against sub-micrometre with the same
four weights); and Anny's zero pose is not exactly its rest pose (bones' reference orientations
differ from their rest ones by up to ~4 degrees, ~1.5 cm on the surface), so the GLB without
animation shows the rest A-pose, while an animation frame of zero pose shows dinar's zero pose.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.geometry.normals import vertex_normals
from dinar.motion.core import Motion
from dinar.utils import atomic_path

logger = logging.getLogger(__name__)

MAX_INFLUENCES = 4  # one JOINTS_0/WEIGHTS_0 set: what every glTF viewer supports
_FRAME_CHUNK = 32  # motion frames per body forward: bounds memory for long motions
_MOVING_HEAD_TOL = 1e-4  # metres: a child head further than this from its rest offset gets a translation channel

# glTF constants (spec 2.0, section 5)
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _CLAMP_TO_EDGE = 9729, 33071
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_COMPONENT = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UBYTE, np.dtype(np.uint16): _USHORT, np.dtype(np.uint32): _UINT}


def gltf_axes(body: BodyModel) -> Tensor:
    """The rotation ``[3, 3]`` from the body model's frame to glTF's (Y up, subject facing +Z).

    Rows are the glTF axes written in body coordinates: ``X = up x front`` (the subject's left),
    ``Y = up``, ``Z = front``.
    """
    up = torch.tensor(body.up_axis, dtype=torch.float64)
    front = torch.tensor(body.front_axis, dtype=torch.float64)
    if abs(float(up @ front)) > 1e-6:
        raise ValueError(f"{body.name}: up_axis {body.up_axis} and front_axis {body.front_axis} are not orthogonal")
    return torch.stack([torch.linalg.cross(up, front), up, front])


def rest_rig(body: BodyModel, shape: Tensor) -> tuple[Tensor, Tensor]:  # shape: [S]
    """Rest mesh ``[V, 3]`` and rest bone heads ``[J, 3]`` of ``shape``, in the body's frame, float64.

    From the body at zero pose: each vertex's blended skinning matrix (the skeleton's full weights)
    and each bone's transform are inverted, so this works for any :class:`BodyModel`, whether or
    not its zero pose is its rest pose (Anny's is ~1.5 cm off).
    """
    with torch.no_grad():
        out = body(shape=shape[None])
    T = out.bone_transforms[0].double()  # [J, 4, 4]
    weights = _dense_weights(body).double()  # [V, J]
    blend = torch.einsum("vj,jab->vab", weights, T[:, :3])  # [V, 3, 4]
    verts = torch.linalg.solve(blend[..., :3], (out.vertices[0].double() - blend[..., 3])[..., None])[..., 0]
    heads = torch.linalg.solve(T[:, :3, :3], (out.joints[0].double() - T[:, :3, 3])[..., None])[..., 0]
    return verts, heads


def skin_influences(body: BodyModel, k: int = MAX_INFLUENCES) -> tuple[Tensor, Tensor]:
    """The ``k`` largest skin influences per vertex, renormalised: joints ``[V, k]`` int64, weights ``[V, k]``.

    Repeated bone indices in the skeleton's sparse weights are summed first; unused slots get
    joint 0 with weight 0.
    """
    weights, joints = _dense_weights(body).topk(k, dim=1)
    weights = weights / weights.sum(1, keepdim=True)
    return torch.where(weights > 0, joints, torch.zeros_like(joints)), weights


def split_uv_seams(faces: Tensor, face_uvs: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # [F, 3], [F, 3, 2]
    """One glTF vertex per distinct (mesh vertex, uv) pair.

    Returns ``source [N]`` (the mesh vertex of each glTF vertex), ``uv [N, 2]`` (dinar's convention,
    v up) and ``indices [F, 3]`` into the N vertices, faces in the mesh's order.
    """
    vid = faces.reshape(-1).cpu().numpy().astype(np.int64)
    uv = face_uvs.reshape(-1, 2).detach().cpu().numpy().astype(np.float32)
    key = np.empty(len(vid), dtype=[("v", np.int64), ("u", np.float32), ("w", np.float32)])
    key["v"], key["u"], key["w"] = vid, uv[:, 0], uv[:, 1]
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return unique["v"].copy(), uv[first], inverse.reshape(-1, 3)


def motion_local_transforms(
    body: BodyModel, shape: Tensor, motion: Motion, heads: Tensor  # shape [S], heads [J, 3] (body frame)
) -> tuple[Tensor, Tensor]:
    """Per-frame local joint rotations ``[T, J, 4]`` (unit quaternions xyzw) and translations ``[T, J, 3]``, glTF frame.

    ``T_c`` are the body's bone transforms of each frame (rest mesh -> posed, global orient and
    translation included), taken to glTF axes: ``T'_c = C T_c C^T``. A joint rests at ``[I | h_c]``,
    so its posed world matrix is ``J_c = T'_c [I | h_c]``: rotation ``R'_c``, origin ``T'_c h_c``
    (the posed bone head). Local: ``L_c = J_p^-1 J_c``; the root's local is its world matrix.
    Quaternions are made sign-continuous over time so that interpolation takes the short way.
    """
    C = gltf_axes(body).to(heads.device)
    parents = body.skeleton.parents.tolist()
    h = heads @ C.T  # [J, 3] glTF frame
    rotations, origins = [], []
    with torch.no_grad():
        for start in range(0, motion.num_frames, _FRAME_CHUNK):
            sl = slice(start, start + _FRAME_CHUNK)
            pose = motion.pose[sl].to(body.faces.device)
            out = body(
                pose=pose,
                shape=shape[None].expand(pose.shape[0], -1),
                global_orient=motion.global_orient[sl].to(pose),
                transl=motion.transl[sl].to(pose),
            )
            T = out.bone_transforms.double().to(heads.device)
            R = C @ T[..., :3, :3] @ C.T  # [t, J, 3, 3]
            t = T[..., :3, 3] @ C.T
            rotations.append(roma.special_procrustes(R))  # float32 skinning matrices: re-orthonormalise
            origins.append((R @ h[..., None])[..., 0] + t)
    R, o = torch.cat(rotations), torch.cat(origins)  # [T, J, 3, 3], [T, J, 3]
    parent = torch.tensor([max(p, 0) for p in parents], device=R.device)
    Rp_t = R[:, parent].transpose(-1, -2)
    local_R = Rp_t @ R
    local_t = (Rp_t @ (o - o[:, parent])[..., None])[..., 0]
    local_R[:, 0], local_t[:, 0] = R[:, 0], o[:, 0]
    quat = roma.rotmat_to_unitquat(local_R)  # xyzw, glTF's order
    sign = torch.sign((quat[1:] * quat[:-1]).sum(-1, keepdim=True))
    sign = torch.cat([torch.ones_like(sign[:1]), torch.where(sign == 0, torch.ones_like(sign), sign)]).cumprod(0)
    return quat * sign, local_t


def export_glb(
    body: BodyModel,
    shape: Tensor,  # [S] (or [1, S])
    texture_rgb: np.ndarray,  # [H, W, 3] uint8 base colour, the atlas' layout: row (1 - v) * H
    path: str | Path,
    face_uvs: Tensor | None = None,  # [F, 3, 2] per-corner UVs, v up; default: the front-cut atlas
    motion: Motion | None = None,
    name: str = "dinar avatar",
) -> Path:
    """Write the body in ``shape`` as a rigged, textured GLB (with ``motion`` as an animation); returns ``path``.

    The file appears atomically: a failure leaves no partial file and any old file untouched.
    """
    import pygltflib as gl

    # 1. Check inputs
    device = body.faces.device
    shape = _check_shape(body, shape).to(device)
    _check_texture(texture_rgb)
    if face_uvs is None:
        from dinar.body.atlas import load_atlas

        face_uvs = load_atlas(body, "front").face_uvs
    if face_uvs.shape != (body.faces.shape[0], 3, 2):
        raise ValueError(f"face_uvs must be [{body.faces.shape[0]}, 3, 2] for {body.name}, got {tuple(face_uvs.shape)}")
    if motion is not None:
        _check_motion(body, motion)

    # 2. Rest mesh and rig of this shape, in glTF axes
    C = gltf_axes(body).to(device)
    rest_verts, heads = rest_rig(body, shape)
    normals = vertex_normals(rest_verts[None], body.faces)[0]
    joints, weights = skin_influences(body)
    source, uv, indices = split_uv_seams(body.faces, face_uvs)
    positions = _f32(rest_verts @ C.T)[source]
    normals = _f32(normals @ C.T)[source]
    heads_gl = (heads @ C.T).cpu().numpy()
    num_joints = body.num_joints
    joint_type = np.uint8 if num_joints <= 256 else np.uint16
    parents = body.skeleton.parents.tolist()
    parent_heads = np.where(np.array(parents)[:, None] >= 0, heads_gl[np.maximum(parents, 0)], 0.0)
    offsets = heads_gl - parent_heads  # [J, 3] each joint's rest translation: its head relative to its parent's

    # 3. Binary chunk: vertex attributes, indices, skin, texture
    buf = _Buffer()
    attributes = gl.Attributes(
        POSITION=buf.accessor(positions, _ARRAY_BUFFER, bounds=True),
        NORMAL=buf.accessor(normals, _ARRAY_BUFFER),
        TEXCOORD_0=buf.accessor(np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1).astype(np.float32), _ARRAY_BUFFER),
        JOINTS_0=buf.accessor(joints.cpu().numpy()[source].astype(joint_type), _ARRAY_BUFFER),
        WEIGHTS_0=buf.accessor(_f32(weights)[source], _ARRAY_BUFFER),
    )
    index_type = np.uint16 if len(source) < 65535 else np.uint32
    index_accessor = buf.accessor(indices.reshape(-1).astype(index_type), _ELEMENT_ARRAY_BUFFER)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (num_joints, 1, 1))
    inverse_bind[:, :3, 3] = -heads_gl
    ibm_accessor = buf.accessor(inverse_bind.transpose(0, 2, 1).reshape(num_joints, 16))  # column-major
    image_view = buf.view(_png_bytes(texture_rgb))

    # 4. Nodes: the skinned mesh, then one node per joint (node 1 + j is joint j)
    nodes = [gl.Node(name=name, mesh=0, skin=0)]
    for j, bone in enumerate(body.skeleton.names):
        children = [1 + c for c, p in enumerate(parents) if p == j]
        nodes.append(gl.Node(name=bone, translation=offsets[j].tolist(), children=children))
    roots = [1 + j for j, p in enumerate(parents) if p < 0]

    # 5. Animation: per-joint rotation channels, root translation, LINEAR, times = frame / fps
    animations = [] if motion is None else [_animation(buf, body, shape, motion, heads, offsets)]

    # 6. Assemble and write atomically
    skin = gl.Skin(name="skeleton", joints=[1 + j for j in range(num_joints)], skeleton=roots[0], inverseBindMatrices=ibm_accessor)
    primitive = gl.Primitive(attributes=attributes, indices=index_accessor, material=0)
    gltf = _document(buf, name, body, shape, nodes, roots, gl.Mesh(name=name, primitives=[primitive]), skin, image_view, animations)
    gltf.set_binary_blob(bytes(buf.data))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(gltf.save_to_bytes()))
    return path


def _animation(buf: _Buffer, body: BodyModel, shape: Tensor, motion: Motion, heads: Tensor, offsets: np.ndarray):
    """The glTF animation of ``motion``: a rotation channel per joint, translation for the root and for
    joints that move off their rest offsets, LINEAR, times = frame / fps."""
    import pygltflib as gl

    parents = body.skeleton.parents.tolist()
    quat, local_t = motion_local_transforms(body, shape, motion, heads)
    times = buf.accessor(np.arange(motion.num_frames, dtype=np.float32) / np.float32(motion.fps), bounds=True)
    rest_offsets = torch.as_tensor(offsets, dtype=local_t.dtype, device=local_t.device)
    moving = (local_t - rest_offsets).norm(dim=-1).amax(0) > _MOVING_HEAD_TOL  # [J]
    samplers, channels = [], []

    def channel(joint: int, target: str, values: np.ndarray) -> None:
        samplers.append(gl.AnimationSampler(input=times, output=buf.accessor(values), interpolation="LINEAR"))
        target_node = gl.AnimationChannelTarget(node=1 + joint, path=target)
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=target_node))

    for j in range(body.num_joints):
        channel(j, "rotation", _f32(quat[:, j]))
        if parents[j] < 0 or bool(moving[j]):
            channel(j, "translation", _f32(local_t[:, j]))
    moving_children = int((moving & (body.skeleton.parents.to(moving.device) >= 0)).sum())
    if moving_children:
        logger.info("GLB export: %d non-root joints move off their rest offsets; they get translation channels", moving_children)
    return gl.Animation(name=motion.name, samplers=samplers, channels=channels)


def _document(buf: _Buffer, name: str, body: BodyModel, shape: Tensor, nodes: list, roots: list[int], mesh, skin,
              image_view: int, animations: list):
    """The glTF document: one scene, the skinned mesh, its unlit-looking textured material, the animations."""
    import pygltflib as gl

    material = gl.Material(
        name=f"{name} texture",
        pbrMetallicRoughness=gl.PbrMetallicRoughness(baseColorTexture=gl.TextureInfo(index=0), metallicFactor=0.0, roughnessFactor=1.0),
        doubleSided=False,
    )
    return gl.GLTF2(
        asset=gl.Asset(generator="dinar", version="2.0", extras={"body_model": body.name, "shape": dict(zip(body.shape_names, shape.tolist()))}),
        scene=0,
        scenes=[gl.Scene(name=name, nodes=[0, *roots])],
        nodes=nodes,
        meshes=[mesh],
        skins=[skin],
        materials=[material],
        textures=[gl.Texture(sampler=0, source=0)],
        samplers=[gl.Sampler(magFilter=_LINEAR, minFilter=_LINEAR, wrapS=_CLAMP_TO_EDGE, wrapT=_CLAMP_TO_EDGE)],
        images=[gl.Image(bufferView=image_view, mimeType="image/png")],
        animations=animations,
        accessors=buf.accessors,
        bufferViews=buf.views,
        buffers=[gl.Buffer(byteLength=len(buf.data))],
    )


# Helpers ----------------------------------------------------------------------------------------


class _Buffer:
    """The GLB's binary chunk, its buffer views and accessors, built up in order (4-byte aligned)."""

    def __init__(self) -> None:
        import pygltflib as gl

        self._gl = gl
        self.data = bytearray()
        self.views: list = []
        self.accessors: list = []

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        self.views.append(
            self._gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(payload), target=target)
        )
        self.data.extend(payload)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """An accessor over ``array`` ``[N]`` or ``[N, C]``; ``bounds`` writes min/max (POSITION and animation inputs need them)."""
        array = np.ascontiguousarray(array)
        columns = 1 if array.ndim == 1 else array.shape[1]
        view = self.view(array.tobytes(), target)
        flat = array.reshape(len(array), columns)
        self.accessors.append(
            self._gl.Accessor(
                bufferView=view,
                componentType=_COMPONENT[array.dtype],
                count=len(array),
                type=_TYPES[columns],
                min=flat.min(0).tolist() if bounds else None,
                max=flat.max(0).tolist() if bounds else None,
            )
        )
        return len(self.accessors) - 1


def _dense_weights(body: BodyModel) -> Tensor:
    """The skeleton's sparse skin weights as ``[V, J]`` (repeated indices summed)."""
    sk = body.skeleton
    dense = torch.zeros(sk.skin_indices.shape[0], body.num_joints, device=sk.skin_weights.device)
    return dense.scatter_add_(1, sk.skin_indices.long(), sk.skin_weights.float())


def _f32(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32)


def _png_bytes(image: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", image, extension=".png")


def _check_shape(body: BodyModel, shape: Tensor) -> Tensor:
    shape = torch.as_tensor(shape, dtype=torch.float32)
    if shape.dim() == 2 and shape.shape[0] == 1:
        shape = shape[0]
    if shape.shape != (body.num_shape,):
        names = ", ".join(body.shape_names)
        raise ValueError(f"shape must be [{body.num_shape}] for {body.name} ({names}), got {tuple(shape.shape)}")
    if not torch.isfinite(shape).all():
        raise ValueError(f"shape has non-finite values: {shape.tolist()}")
    return shape


def _check_texture(texture: np.ndarray) -> None:
    if not isinstance(texture, np.ndarray) or texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3:
        got = f"{texture.dtype} {texture.shape}" if isinstance(texture, np.ndarray) else type(texture).__name__
        raise ValueError(f"texture_rgb must be a uint8 numpy array [H, W, 3], got {got}")
    if texture.shape[0] == 0 or texture.shape[1] == 0:
        raise ValueError(f"texture_rgb is empty: {texture.shape}")


def _check_motion(body: BodyModel, motion: Motion) -> None:
    if motion.body_model != body.name:
        raise ValueError(f"motion {motion.name!r} is for body model {motion.body_model!r}, not {body.name!r}")
    if motion.pose.shape[1] != body.num_joints:
        raise ValueError(f"motion {motion.name!r} has {motion.pose.shape[1]} joints, {body.name} has {body.num_joints}")
    if motion.num_frames < 1:
        raise ValueError(f"motion {motion.name!r} has no frames")
