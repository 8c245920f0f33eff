"""A small procedural body written in the SMPL-X ``.npz`` model format, for tests.

The real SMPL-X files are licensed per user and cannot be in the repository. This writes a file with
every array ``smplx.SMPLX`` reads (``v_template``, ``f``, ``shapedirs``, ``posedirs``,
``J_regressor``, ``weights``, ``kintree_table``, ``hands_components{l,r}``, ``hands_mean{l,r}``,
``lmk_faces_idx``, ``lmk_bary_coords``, ``dynamic_lmk_faces_idx``, ``dynamic_lmk_bary_coords``) and
the shapes of the official files, but on a coarse body: one box per bone (SMPL-X's 55 joints in a
T-pose; Y up, facing +Z, +X the subject's left), 8 vertices each.

- box ``j`` starts at joint ``j`` (its 4 near corners average exactly to the joint, and
  ``J_regressor`` row ``j`` averages them) and runs towards the joint's main child;
- the near corners are skinned to joint ``j`` only, the far corners 0.7 to ``j`` and 0.3 to the child
  (rigid where the bone is a leaf);
- ``posedirs`` of joint ``j``'s 9 rotation features move only box ``j``'s vertices (local
  correctives), ``shapedirs`` move whole boxes (plus a little per-vertex noise).

``smplx.SMPLX.forward`` also picks extra keypoints at fixed SMPL-X vertex indices (up to 9929); with
this small body, patch ``smplx.vertex_ids.vertex_ids["smplx"]`` (see :func:`small_vertex_ids`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
           20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
           21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]  # fmt: skip

# T-pose joint positions of the subject's centre line and left side; the right side mirrors X.
_CENTRE = {
    "pelvis": (0.0, -0.30, 0.02),
    "spine1": (0.0, -0.19, 0.0),
    "spine2": (0.0, -0.06, 0.01),
    "spine3": (0.0, 0.0, 0.01),
    "neck": (0.0, 0.21, -0.02),
    "head": (0.0, 0.36, 0.0),
    "jaw": (0.0, 0.34, 0.03),
}
_LEFT = {
    "hip": (0.06, -0.39, 0.0), "knee": (0.10, -0.77, 0.0), "ankle": (0.09, -1.17, -0.04),
    "foot": (0.12, -1.23, 0.08), "collar": (0.07, 0.12, -0.01), "shoulder": (0.17, 0.15, -0.02),
    "elbow": (0.43, 0.13, -0.04), "wrist": (0.69, 0.13, -0.04), "eye_smplhf": (0.03, 0.43, 0.09),
    "index1": (0.78, 0.14, 0.0), "middle1": (0.785, 0.14, -0.025), "ring1": (0.775, 0.135, -0.05),
    "pinky1": (0.76, 0.13, -0.07), "thumb1": (0.72, 0.12, 0.02), "thumb2": (0.745, 0.11, 0.045),
    "thumb3": (0.77, 0.105, 0.065),
}  # fmt: skip
_FINGER_STEP = (0.035, 0.0, 0.0)
_HALF_WIDTH = {"pelvis": 0.1, "spine": 0.1, "neck": 0.04, "head": 0.08, "jaw": 0.03, "eye": 0.01, "hip": 0.06,
               "knee": 0.05, "ankle": 0.04, "foot": 0.03, "collar": 0.04, "shoulder": 0.045, "elbow": 0.035,
               "wrist": 0.03}  # fmt: skip


def joint_positions() -> np.ndarray:
    """Rest joints ``[55, 3]`` of the procedural body, in ``smplx.joint_names.JOINT_NAMES`` order."""
    from smplx.joint_names import JOINT_NAMES

    joints = np.zeros((55, 3))
    for j, name in enumerate(JOINT_NAMES[:55]):
        side, _, rest = name.partition("_")
        if name in _CENTRE:
            joints[j] = _CENTRE[name]
            continue
        if rest in _LEFT:
            pos = np.array(_LEFT[rest])
        else:  # index2, middle3, ...: one step along +X from the previous phalanx
            pos = joints[j - 1] + np.array(_FINGER_STEP) * (1 if side == "left" else -1)
            joints[j] = pos
            continue
        joints[j] = pos if side == "left" else pos * np.array([-1.0, 1.0, 1.0])
    return joints


def _main_child(j: int, names: list[str]) -> int | None:
    children = [c for c, p in enumerate(PARENTS) if p == j]
    preferred = {
        "pelvis": "spine1",
        "spine3": "neck",
        "head": None,
        "left_wrist": "left_middle1",
        "right_wrist": "right_middle1",
    }
    if names[j] in preferred:
        return names.index(preferred[names[j]]) if preferred[names[j]] else None
    return children[0] if len(children) == 1 else None


def _box(start: np.ndarray, end: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """8 corners (near 4 then far 4) and 12 outward counter-clockwise triangles of a box along a segment."""
    axis = (end - start) / np.linalg.norm(end - start)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    square = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    corners = np.array([c + half_width * (a * e1 + b * e2) for c in (start, end) for a, b in square])
    quads = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    faces = []
    centre = corners.mean(0)
    for a, b, c, d in quads:
        for tri in ((a, b, c), (a, c, d)):
            n = np.cross(corners[tri[1]] - corners[tri[0]], corners[tri[2]] - corners[tri[0]])
            faces.append(tri if n @ (corners[tri[0]] - centre) > 0 else tri[::-1])
    return corners, np.array(faces)


def make_smplx_arrays(num_shape_components: int = 400, seed: int = 0, with_vt: bool = False) -> dict[str, np.ndarray]:
    """The arrays of a procedural SMPL-X model file (``num_shape_components``: 400 like v1.1, 20 like v1.0)."""
    from smplx.joint_names import JOINT_NAMES

    rng = np.random.default_rng(seed)
    names = list(JOINT_NAMES[:55])
    joints = joint_positions()
    verts, faces, weights, regressor = [], [], np.zeros((55 * 8, 55)), np.zeros((55, 55 * 8))
    for j, name in enumerate(names):
        child = _main_child(j, names)
        if child is not None:
            end = joints[child]
        elif name == "head":
            end = joints[j] + np.array([0.0, 0.2, 0.0])
        else:  # a leaf: continue the parent's direction
            direction = joints[j] - joints[PARENTS[j]]
            end = joints[j] + 0.6 * direction
        key = next((k for k in _HALF_WIDTH if k in name), "finger")
        corners, box_faces = _box(joints[j], end, _HALF_WIDTH.get(key, 0.008))
        base = 8 * j
        verts.append(corners)
        faces.append(box_faces + base)
        regressor[j, base : base + 4] = 0.25
        weights[base : base + 4, j] = 1.0
        if child is None:
            weights[base + 4 : base + 8, j] = 1.0
        else:
            weights[base + 4 : base + 8, j] = 0.7
            weights[base + 4 : base + 8, child] = 0.3
    v_template = np.concatenate(verts)
    f = np.concatenate(faces)
    num_vertices, num_faces = len(v_template), len(f)
    posedirs = np.zeros((num_vertices, 3, 54 * 9))
    for j in range(1, 55):  # pose features of joint j correct only box j
        posedirs[8 * j : 8 * j + 8, :, 9 * (j - 1) : 9 * j] = rng.normal(scale=0.005, size=(8, 3, 9))
    # Shape moves whole boxes (1 cm per unit) plus 1 mm of per-vertex noise, so no box folds over.
    shapedirs = np.repeat(rng.normal(scale=0.01, size=(55, 3, num_shape_components)), 8, axis=0)
    shapedirs += rng.normal(scale=0.001, size=shapedirs.shape)
    components = rng.normal(size=(2, 45, 45))
    arrays = {
        "v_template": v_template,
        "f": f.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array([[4294967295] + PARENTS[1:], list(range(55))], dtype=np.int64),
        "hands_componentsl": np.linalg.qr(components[0])[0],
        "hands_componentsr": np.linalg.qr(components[1])[0],
        "hands_meanl": rng.normal(scale=0.1, size=45),
        "hands_meanr": rng.normal(scale=0.1, size=45),
        "lmk_faces_idx": rng.integers(0, num_faces, size=51).astype(np.int64),
        "lmk_bary_coords": rng.dirichlet(np.ones(3), size=51),
        "dynamic_lmk_faces_idx": rng.integers(0, num_faces, size=(79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": rng.dirichlet(np.ones(3), size=(79, 17)),
        "joint2num": np.array(
            {n: i for i, n in enumerate(names)}, dtype=object
        ),  # a pickled entry, like the real files
    }
    if with_vt:
        arrays["vt"], arrays["ft"] = face_grid_uvs(num_faces)
    return arrays


def face_grid_uvs(num_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A trivial atlas: face ``i`` gets its own little triangle in a grid cell, 3 ``vt`` per face."""
    grid = int(np.ceil(np.sqrt(num_faces)))
    cell = np.arange(num_faces)
    origin = np.stack([cell % grid, cell // grid], 1) / grid
    corners = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]) / grid
    vt = (origin[:, None] + corners[None]).reshape(-1, 2)
    return vt, np.arange(3 * num_faces).reshape(num_faces, 3)


def write_smplx_model(folder: Path, gender: str = "neutral", **kwargs) -> Path:
    """Write ``folder/SMPLX_<GENDER>.npz`` (keyword arguments: :func:`make_smplx_arrays`); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"SMPLX_{gender.upper()}.npz"
    np.savez(path, **make_smplx_arrays(**kwargs))
    return path


def write_uv_obj(path: Path, arrays: dict[str, np.ndarray], shuffle_seed: int | None = 0) -> np.ndarray:
    """Write an OBJ atlas (:func:`face_grid_uvs`) for the model ``arrays``; return the expected ``[F, 3, 2]``.

    With ``shuffle_seed`` the faces are written in another order and each starts at another corner,
    like an atlas exported by a tool that does not keep SMPL-X's face order.
    """
    f = arrays["f"].astype(np.int64)
    vt, ft = face_grid_uvs(len(f))
    order, shift = np.arange(len(f)), np.zeros(len(f), dtype=int)
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        order, shift = rng.permutation(len(f)), rng.integers(0, 3, size=len(f))
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in arrays["v_template"]]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in vt]
    for i in order:
        corners = np.roll(np.arange(3), -shift[i])
        lines.append("f " + " ".join(f"{f[i, k] + 1}/{ft[i, k] + 1}" for k in corners))
    path.write_text("\n".join(lines) + "\n")
    return vt[ft].astype(np.float32)


def small_vertex_ids(num_vertices: int) -> dict[str, int]:
    """smplx's extra-keypoint vertex ids clamped into a small body (for ``smplx.SMPLX.forward``)."""
    from smplx.vertex_ids import vertex_ids

    return {name: index % num_vertices for name, index in vertex_ids["smplx"].items()}
