"""SMPL-X behind the :class:`BodyModel` interface, from the user's own model files.

The SMPL-X model files are licensed per user (free registration at https://smpl-x.is.tue.mpg.de) and
may not be redistributed, so ``dinar`` never ships them: pass the folder that holds
``SMPLX_NEUTRAL.npz`` (``SMPLX_MALE.npz``, ``SMPLX_FEMALE.npz`` for the gendered models). Only the
``.npz`` files are read, with ``allow_pickle=False``: the ``.pkl`` files of the same download are
pickles and are never opened.

Frame (SMPL-X's own): metres, Y up, the subject faces +Z, +X is the subject's left; the rest pose is
a T-pose with flat hands. Shape is the first ``num_betas`` betas (0 is the average body); an optional
``expression`` (the first ``num_expression`` expression coefficients) is accepted by :meth:`forward`.

Pose is axis-angle ``[B, 55, 3]`` for SMPL-X's 55 joints in the smplx package's order
(``smplx.joint_names.JOINT_NAMES[:55]``: pelvis, 21 body joints, jaw, two eyes, 15 left-hand and
15 right-hand joints), each a rotation of its bone about its head, relative to the flat-hand T-pose.
Bone 0 (pelvis) rotates about the pelvis joint like SMPL-X's ``global_orient``; leave it zero and use
``global_orient``, which -- unlike the smplx package -- rotates about the world origin (see
:mod:`dinar.body.base`). :meth:`SMPLXBody.transl_from_smplx` and :meth:`SMPLXBody.transl_to_smplx`
convert translations between the two conventions; add :attr:`SMPLXBody.pose_mean` to a pose taken from
the smplx package with ``flat_hand_mean=False`` (its default).

The maths are the smplx package's (``smplx.lbs``: shape blend shapes, joint regressor, pose
correctives, forward kinematics, linear blend skinning); the tests check the result against
``smplx.SMPLX`` itself. The model is not wrapped as an ``smplx.SMPLX`` module because that class
unpickles its files, holds batch-sized parameters and does not expose the bone transforms.

UVs (the official atlas is the separate ``smplx_uv.obj`` of the "SMPL-X UV" download), first found
wins:
1. ``uv_path``, an OBJ with ``vt`` lines and ``f v/vt ...`` faces on the SMPL-X topology;
2. ``vt``/``ft`` arrays inside the model ``.npz``, where a file has them;
3. ``smplx_uv.obj`` (or ``smplx_uv/smplx_uv.obj``) next to the model file or in ``model_dir``;
4. a fallback atlas made here (a warning is logged): one cylindrical chart per body part (the 14
   parts of :mod:`dinar.body.parts`) around the part's principal axis, seam at the back, charts
   tiled on a 4 x 4 grid. Each part is one chart, cut once, which is enough to run the pipeline,
   but it distorts hands, feet and the head badly: use the official atlas for real work.
:attr:`SMPLXBody.uv_source` says which one was used.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel, BodyOutput, BodyParts, Skeleton
from dinar.body.parts import PART_NAMES, parts_from_skinning
from dinar.geometry.normals import vertex_normals

try:
    from smplx.joint_names import JOINT_NAMES
    from smplx.lbs import batch_rigid_transform, blend_shapes, vertices2joints
except ImportError as error:  # an optional extra
    raise ImportError("The smplx body model needs the smplx package: pip install 'dinar[smplx]'") from error

logger = logging.getLogger(__name__)

NUM_JOINTS = 55
GENDERS = ("neutral", "male", "female")
SKIN_INFLUENCES = 4  # K of Skeleton.skin_indices: what a GLB skin holds per vertex (one JOINTS_0 set)
_DOWNLOAD_HINT = (
    "SMPL-X model files are licensed per user and cannot ship with dinar: register (free) at "
    "https://smpl-x.is.tue.mpg.de, download 'SMPL-X v1.1 (NPZ+PKL)' and pass the folder holding "
    "SMPLX_NEUTRAL.npz (and SMPLX_MALE.npz / SMPLX_FEMALE.npz for --gender male/female). For the UV "
    "atlas also download 'SMPL-X UV' and put smplx_uv.obj in the same folder."
)
_SEARCH_SUBDIRS = (".", "smplx", "models/smplx", "models_smplx_v1_1/models/smplx")

# Bone -> coarse part (dinar.body.parts.PART_NAMES). A bone's skin region is the segment from its
# joint to its child, so "left_elbow" skins the forearm. Collars go with the upper arm, like Anny's
# clavicle bones ("shoulder01"), and the neck with the head.
_BONE_PART = {
    "pelvis": "torso", "spine1": "torso", "spine2": "torso", "spine3": "torso",
    "neck": "head", "head": "head", "jaw": "head", "left_eye_smplhf": "head", "right_eye_smplhf": "head",
    "collar": "upperarm", "shoulder": "upperarm", "elbow": "lowerarm", "wrist": "hand",
    "hip": "upperleg", "knee": "lowerleg", "ankle": "foot", "foot": "foot",
}  # fmt: skip


def _bone_part(name: str) -> int:
    """Index in PART_NAMES of the part that bone ``name`` (an SMPL-X joint name) belongs to."""
    if name in _BONE_PART:
        return PART_NAMES.index(_BONE_PART[name])
    side, _, rest = name.partition("_")
    suffix = {"left": ".L", "right": ".R"}[side]
    part = _BONE_PART.get(rest, "hand")  # index1 ... thumb3: fingers
    return PART_NAMES.index(part + suffix)


def find_smplx_model_file(model_path: str | Path, gender: str = "neutral") -> Path:
    """The ``SMPLX_<GENDER>.npz`` for ``model_path`` (the file itself or a folder that holds it)."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    path = Path(model_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"SMPL-X model path {path} does not exist. {_DOWNLOAD_HINT}")
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"{path} is not an .npz SMPL-X model file (dinar never opens pickles). {_DOWNLOAD_HINT}")
        return path
    names = [f"SMPLX_{gender.upper()}.npz"] + (["SMPLX_NEUTRAL_2020.npz"] if gender == "neutral" else [])
    searched = [path / sub / name for sub in _SEARCH_SUBDIRS for name in names]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    pickles = sorted(p.name for sub in _SEARCH_SUBDIRS for p in (path / sub).glob("SMPLX_*.pkl"))
    note = (
        f" Found {', '.join(pickles)}: dinar reads only the .npz files of the same download (no pickles)."
        if pickles
        else ""
    )
    raise FileNotFoundError(
        f"No SMPL-X model file for gender {gender!r} under {path}; looked for "
        f"{', '.join(str(p.relative_to(path)) for p in searched)}.{note} {_DOWNLOAD_HINT}"
    )


def _read_model_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an SMPL-X ``.npz`` that the body needs, checked against each other."""
    required = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
    optional = ("hands_meanl", "hands_meanr", "vt", "ft")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # zip or format errors: say which file and what was expected
        raise ValueError(f"Cannot read {path} as an SMPL-X .npz model file ({error}). {_DOWNLOAD_HINT}") from error
    with archive:
        missing = [key for key in required if key not in archive.files]
        if missing:
            raise ValueError(f"{path} is not an SMPL-X model file: it lacks {missing}. {_DOWNLOAD_HINT}")
        data = {}
        for key in required + optional:
            if key not in archive.files:
                continue
            try:
                data[key] = archive[key]
            except ValueError as error:  # an object array: would need unpickling
                raise ValueError(
                    f"{path}: array {key!r} is a pickled object, not a plain array; use the official .npz files."
                ) from error
    num_vertices = data["v_template"].shape[0]
    expected = {
        "v_template": (num_vertices, 3),
        "weights": (num_vertices, NUM_JOINTS),
        "J_regressor": (NUM_JOINTS, num_vertices),
        "kintree_table": (2, NUM_JOINTS),
    }
    for key, shape in expected.items():
        if tuple(data[key].shape) != shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(data[key].shape)}, expected {shape} for SMPL-X "
                f"({NUM_JOINTS} joints; SMPL and SMPL+H files are not supported)"
            )
    if data["f"].ndim != 2 or data["f"].shape[1] != 3:
        raise ValueError(f"{path}: f has shape {tuple(data['f'].shape)}, expected [F, 3] triangles")
    if data["shapedirs"].ndim != 3 or data["shapedirs"].shape[:2] != (num_vertices, 3):
        raise ValueError(
            f"{path}: shapedirs has shape {tuple(data['shapedirs'].shape)}, expected [{num_vertices}, 3, N]"
        )
    pose_basis = (NUM_JOINTS - 1) * 9
    if data["posedirs"].size != num_vertices * 3 * pose_basis:
        raise ValueError(
            f"{path}: posedirs has shape {tuple(data['posedirs'].shape)}, expected [{num_vertices}, 3, {pose_basis}]"
        )
    return data


def read_obj_uvs(path: Path, faces: Tensor) -> Tensor:
    """Per-corner UVs ``[F, 3, 2]`` for ``faces`` from an OBJ on the same vertices (``f v/vt ...``).

    Faces are matched by their vertex indices, so the OBJ may list them in another order or start a
    face at another corner; every model face must be there.
    """
    uv, obj_faces, obj_tex = [], [], []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            fields = line.split()
            if not fields:
                continue
            if fields[0] == "vt":
                uv.append((float(fields[1]), float(fields[2])))
            elif fields[0] == "f":
                corners = [c.split("/") for c in fields[1:]]
                if len(corners) != 3 or any(len(c) < 2 or not c[1] for c in corners):
                    raise ValueError(
                        f"{path}: only triangles with texture indices ('f v/vt v/vt v/vt') are supported, got {line.strip()!r}"
                    )
                obj_faces.append([int(c[0]) - 1 for c in corners])
                obj_tex.append([int(c[1]) - 1 for c in corners])
    if not uv or not obj_faces:
        raise ValueError(f"{path} holds no texture coordinates ('vt') or no faces ('f')")
    uv_table = torch.tensor(uv, dtype=torch.float32)
    obj_faces_t, obj_tex_t = torch.tensor(obj_faces), torch.tensor(obj_tex)
    model_faces = faces.cpu()
    if obj_faces_t.shape == model_faces.shape and torch.equal(obj_faces_t, model_faces):
        return uv_table[obj_tex_t]
    lookup = {}
    for vf, tf in zip(obj_faces, obj_tex):
        for r in range(3):  # the same triangle started at any corner
            lookup[tuple(vf[r:] + vf[:r])] = tf[r:] + tf[:r]
    try:
        tex = [lookup[tuple(face)] for face in model_faces.tolist()]
    except KeyError as error:
        raise ValueError(f"{path} is not a UV atlas of this model: it has no face {list(error.args[0])}") from error
    return uv_table[torch.tensor(tex)]


def cylindrical_part_atlas(
    vertices: Tensor,  # [V, 3] rest vertices (SMPL-X frame: Y up, facing +Z)
    faces: Tensor,  # [F, 3]
    labels: Tensor,  # [V] hard part label of each vertex
    num_parts: int,
) -> Tensor:
    """Fallback per-corner UVs ``[F, 3, 2]``: one cylindrical chart per part, tiled on a square grid.

    Each face goes to the part most of its corners belong to; its corners are projected on that
    part's cylinder (axis: the principal axis of the part's vertices, oriented up or away from the
    body; seam at the back). Faces that straddle the seam get their corners unwrapped to one side;
    faces around a chart's ends (near its axis) are stretched: this is a fallback, not an atlas.
    """
    vertices = vertices.detach().double().cpu()
    faces = faces.cpu()
    face_part = torch.mode(labels.cpu()[faces], dim=1).values
    grid = math.ceil(math.sqrt(num_parts))
    tile, margin = 1.0 / grid, 0.02
    face_uvs = torch.zeros(faces.shape[0], 3, 2, dtype=torch.float64)
    body_center = vertices.mean(0)
    up, front = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    for part in range(num_parts):
        chart = (face_part == part).nonzero().squeeze(1)
        if chart.numel() == 0:
            continue
        corners = vertices[faces[chart]]  # [Fp, 3, 3]
        points = corners.reshape(-1, 3)
        center = points.mean(0)
        axis = torch.linalg.eigh(torch.cov(points.T)).eigenvectors[:, -1]
        toward = up if abs(float(axis @ up)) > 0.5 else center - body_center
        axis = axis if float(axis @ toward) >= 0 else -axis
        # Chart's angle 0 faces the front (or up, for a part along Z), so the seam is at the back.
        e1 = front - (front @ axis) * axis
        if e1.norm() < 0.5:
            e1 = up - (up @ axis) * axis
        e1 = e1 / e1.norm()
        e2 = torch.linalg.cross(axis, e1)
        offset = corners - center
        u = (torch.atan2(offset @ e2, offset @ e1) + math.pi) / (2 * math.pi)  # seam at -e1: the back
        straddles = (u.max(1).values - u.min(1).values) > 0.5
        u = torch.where(straddles[:, None] & (u < 0.5), u + 1.0, u)
        u = u.clamp_max(1.05)  # faces round the cap (near the axis) would otherwise squeeze the chart
        u = u / u.max().clamp_min(1e-12)
        h = offset @ axis
        v = (h - h.min()) / (h.max() - h.min()).clamp_min(1e-12)
        col, row = part % grid, part // grid
        face_uvs[chart, :, 0] = (col + margin + u * (1 - 2 * margin)) * tile
        face_uvs[chart, :, 1] = 1.0 - (row + 1) * tile + (margin + v * (1 - 2 * margin)) * tile
    return face_uvs.float()


class SMPLXBody(BodyModel):
    """SMPL-X (user's model files) behind the :class:`BodyModel` interface, float32.

    Args:
        model_dir: the ``SMPLX_<GENDER>.npz`` file or a folder holding it (also looked for in its
            ``smplx/`` and ``models/smplx/`` subfolders).
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        num_betas: shape parameters S (SMPL-X has 10 in v1.0 files, 300 in v1.1 / 2020 files).
        num_expression: expression coefficients accepted by :meth:`forward` (10 or 100 at most).
        uv_path: an OBJ UV atlas on the SMPL-X topology (the official ``smplx_uv.obj``); see the
            module docstring for where UVs come from when it is not given.
    """

    name = "smplx"
    up_axis = (0.0, 1.0, 0.0)
    front_axis = (0.0, 0.0, 1.0)

    def __init__(
        self,
        model_dir: str | Path,
        gender: str = "neutral",
        num_betas: int = 10,
        num_expression: int = 10,
        uv_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.model_file = find_smplx_model_file(model_dir, gender)
        self.gender = gender
        data = _read_model_npz(self.model_file)
        shapedirs = data["shapedirs"]
        # Files with fewer than 400 components hold 10 betas then 10 expressions (SMPL-X v1.0);
        # the others 300 betas then 100 expressions (v1.1, 2020). Same rule as smplx.SMPLX.
        shape_space = 300 if shapedirs.shape[-1] >= 400 else 10
        expr_space = shapedirs.shape[-1] - shape_space
        if not 0 < num_betas <= shape_space:
            raise ValueError(f"num_betas must be in 1..{shape_space} for {self.model_file.name}, got {num_betas}")
        if not 0 <= num_expression <= expr_space:
            raise ValueError(
                f"num_expression must be in 0..{expr_space} for {self.model_file.name}, got {num_expression}"
            )
        self.shape_names = [f"beta{i}" for i in range(num_betas)]
        self.num_expression = num_expression
        blend = np.concatenate(
            [shapedirs[..., :num_betas], shapedirs[..., shape_space : shape_space + num_expression]], -1
        )

        def f32(array: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(array, dtype=np.float32))

        num_vertices = data["v_template"].shape[0]
        self.register_buffer("v_template", f32(data["v_template"]), persistent=False)  # [V, 3]
        self.register_buffer("shapedirs", f32(blend), persistent=False)  # [V, 3, S + E]
        self.register_buffer(
            "posedirs", f32(data["posedirs"]).reshape(-1, (NUM_JOINTS - 1) * 9).T.contiguous(), persistent=False
        )  # [486, V*3]
        self.register_buffer("J_regressor", f32(data["J_regressor"]), persistent=False)  # [J, V]
        self.register_buffer("lbs_weights", f32(data["weights"]), persistent=False)  # [V, J]
        parents = torch.as_tensor(data["kintree_table"][0].astype(np.int64))
        parents[0] = -1
        if not (parents[1:] < torch.arange(1, NUM_JOINTS)).all():
            raise ValueError(f"{self.model_file}: kintree_table does not list parents before children")
        self.register_buffer("parents", parents, persistent=False)  # [J]
        faces = torch.as_tensor(data["f"].astype(np.int64))
        if faces.min() < 0 or faces.max() >= num_vertices:
            raise ValueError(f"{self.model_file}: f indexes vertices outside 0..{num_vertices - 1}")
        self.register_buffer("faces", faces, persistent=False)  # [F, 3]
        hands_mean = [data.get(k, np.zeros(45)) for k in ("hands_meanl", "hands_meanr")]
        pose_mean = torch.cat([torch.zeros(25, 3), f32(np.concatenate(hands_mean)).reshape(30, 3)])
        self.register_buffer("pose_mean", pose_mean, persistent=False)  # [J, 3] smplx's mean hand pose

        # Rig: joint names and parents of the smplx package; K strongest skin weights per vertex.
        self.joint_names = list(JOINT_NAMES[:NUM_JOINTS])
        weights, indices = torch.topk(self.lbs_weights, SKIN_INFLUENCES, dim=1)
        self.register_buffer("skin_indices", indices, persistent=False)  # [V, K]
        self.register_buffer("skin_weights", weights / weights.sum(1, keepdim=True).clamp_min(1e-12), persistent=False)
        self.register_buffer("rest_joints", self.J_regressor @ self.v_template, persistent=False)  # [J, 3]
        # Parts from the full skin weights (exact soft membership, not the top-K approximation).
        all_bones = torch.arange(NUM_JOINTS).expand(num_vertices, NUM_JOINTS)
        parts = parts_from_skinning([_bone_part(n) for n in self.joint_names], all_bones, self.lbs_weights)
        self.part_names = parts.names
        self.register_buffer("part_labels", parts.labels, persistent=False)  # [V]
        self.register_buffer("part_weights", parts.weights, persistent=False)  # [V, P]

        face_uvs, self.uv_source = self._load_uvs(data, uv_path, Path(model_dir).expanduser())
        self.register_buffer("face_uvs", face_uvs, persistent=False)  # [F, 3, 2]

    def _load_uvs(self, data: dict[str, np.ndarray], uv_path: str | Path | None, model_dir: Path) -> tuple[Tensor, str]:
        """Per-corner UVs and where they came from (see the module docstring for the order)."""
        if uv_path is not None:
            uv_path = Path(uv_path).expanduser()
            if not uv_path.is_file():
                raise FileNotFoundError(
                    f"UV atlas {uv_path} does not exist (the official one is smplx_uv.obj of the 'SMPL-X UV' download)"
                )
            return read_obj_uvs(uv_path, self.faces), f"obj:{uv_path}"
        if "vt" in data and "ft" in data and data["ft"].shape == data["f"].shape:
            vt, ft = torch.as_tensor(data["vt"], dtype=torch.float32), torch.as_tensor(data["ft"].astype(np.int64))
            if vt.ndim == 2 and vt.shape[1] == 2 and ft.min() >= 0 and ft.max() < vt.shape[0]:
                return vt[ft], f"npz:{self.model_file}"
        folders = dict.fromkeys([self.model_file.parent, model_dir if model_dir.is_dir() else model_dir.parent])
        for candidate in (folder / name for folder in folders for name in ("smplx_uv.obj", "smplx_uv/smplx_uv.obj")):
            if candidate.is_file():
                return read_obj_uvs(candidate, self.faces), f"obj:{candidate}"
        logger.warning(
            "No SMPL-X UV atlas found next to %s (smplx_uv.obj from the 'SMPL-X UV' download at "
            "https://smpl-x.is.tue.mpg.de); using a per-part cylindrical fallback atlas.",
            self.model_file,
        )
        return cylindrical_part_atlas(
            self.v_template, self.faces, self.part_labels, len(self.part_names)
        ), "cylindrical fallback"

    # Interface ---------------------------------------------------------------------------------
    @property
    def skeleton(self) -> Skeleton:
        return Skeleton(
            names=list(self.joint_names),
            parents=self.parents,
            rest_joints=self.rest_joints,
            skin_indices=self.skin_indices,
            skin_weights=self.skin_weights,
        )

    @property
    def parts(self) -> BodyParts:
        return BodyParts(names=list(self.part_names), labels=self.part_labels, weights=self.part_weights)

    def neutral_shape(self, batch_size: int = 1) -> Tensor:
        return torch.zeros(batch_size, self.num_shape, device=self.faces.device, dtype=self.v_template.dtype)

    def _checked(self, name: str, value: Tensor | None, size: tuple[int, ...], batch: int) -> Tensor:
        """``value`` as a ``[batch, *size]`` tensor on the model's device and dtype (zeros if None)."""
        device, dtype = self.v_template.device, self.v_template.dtype
        if value is None:
            return torch.zeros(batch, *size, device=device, dtype=dtype)
        if tuple(value.shape[1:]) != size or value.ndim != len(size) + 1:
            raise ValueError(f"{name} must be [B, {', '.join(map(str, size))}], got {tuple(value.shape)}")
        return value.to(device=device, dtype=dtype)

    def shaped_rest(self, shape: Tensor, expression: Tensor) -> tuple[Tensor, Tensor]:
        """Rest-pose vertices ``[B, V, 3]`` and joints ``[B, J, 3]`` of a shape (SMPL-X: T + B_S + B_E, J(.))."""
        v_shaped = self.v_template + blend_shapes(torch.cat([shape, expression], 1), self.shapedirs)
        return v_shaped, vertices2joints(self.J_regressor, v_shaped)

    def forward(
        self,
        pose: Tensor | None = None,  # [B, 55, 3] axis-angle per joint; pose[:, 0] = 0, use global_orient
        shape: Tensor | None = None,  # [B, S] betas
        global_orient: Tensor | None = None,  # [B, 3] axis-angle about the world origin
        transl: Tensor | None = None,  # [B, 3]
        *,
        expression: Tensor | None = None,  # [B, E] expression coefficients, zeros if None
    ) -> BodyOutput:
        # 1. Check inputs
        batch = self._batch_size(pose, shape, global_orient, transl, expression)
        pose = self._checked("pose", pose, (self.num_joints, 3), batch)
        shape = self._checked(f"shape ({self.num_shape} betas)", shape, (self.num_shape,), batch)
        expression = self._checked("expression", expression, (self.num_expression,), batch)
        dtype = self.v_template.dtype
        # 2. Shape and expression blend shapes, joint regressor
        v_shaped, rest_joints = self.shaped_rest(shape, expression)
        # 3. Pose-corrective blend shapes from the 54 non-root rotations
        rot = roma.rotvec_to_rotmat(pose)  # [B, J, 3, 3]
        eye = torch.eye(3, device=rot.device, dtype=dtype)
        pose_feature = (rot[:, 1:] - eye).reshape(batch, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(batch, -1, 3)
        # 4. Forward kinematics (bone 0 about the pelvis) and linear blend skinning
        # joints [B, J, 3]: posed bone heads; transforms [B, J, 4, 4]: rest -> posed, per bone
        joints, transforms = batch_rigid_transform(rot, rest_joints, self.parents, dtype=dtype)
        per_vertex = (self.lbs_weights @ transforms.reshape(batch, self.num_joints, 16)).reshape(batch, -1, 4, 4)
        vertices = (per_vertex[..., :3, :3] @ v_posed[..., None])[..., 0] + per_vertex[..., :3, 3]
        # 5. Global rigid motion about the world origin: v_world = R(global_orient) v + transl
        if global_orient is not None or transl is not None:
            rigid = torch.eye(4, device=rot.device, dtype=dtype).repeat(batch, 1, 1)
            if global_orient is not None:
                rigid[:, :3, :3] = roma.rotvec_to_rotmat(self._checked("global_orient", global_orient, (3,), batch))
            if transl is not None:
                rigid[:, :3, 3] = self._checked("transl", transl, (3,), batch)
            vertices = vertices @ rigid[:, :3, :3].transpose(1, 2) + rigid[:, None, :3, 3]
            joints = joints @ rigid[:, :3, :3].transpose(1, 2) + rigid[:, None, :3, 3]
            transforms = rigid[:, None] @ transforms
        return BodyOutput(
            vertices=vertices,
            joints=joints,
            normals=vertex_normals(vertices, self.faces),
            bone_transforms=transforms,
        )

    # Conversions from and to the smplx package's convention ----------------------------------
    def _pelvis(self, shape: Tensor | None, expression: Tensor | None, batch: int) -> Tensor:
        shape = self._checked("shape", shape, (self.num_shape,), batch)
        expression = self._checked("expression", expression, (self.num_expression,), batch)
        return self.shaped_rest(shape, expression)[1][:, 0]

    def transl_from_smplx(
        self,
        global_orient: Tensor,  # [B, 3]
        transl: Tensor,  # [B, 3] smplx's transl (its global_orient turns about the pelvis)
        shape: Tensor | None = None,  # [B, S]
        expression: Tensor | None = None,  # [B, E]
    ) -> Tensor:
        """This interface's ``transl`` ``[B, 3]`` that places the body like smplx's ``(global_orient, transl)``.

        smplx rotates about the rest pelvis ``j0`` (it depends on the shape): ``R (v - j0) + j0 + t``;
        here ``R v + t'``, so ``t' = t + j0 - R j0``. The ``global_orient`` is the same in both.
        """
        batch = self._batch_size(global_orient, transl, shape, expression)
        j0 = self._pelvis(shape, expression, batch)
        rot = roma.rotvec_to_rotmat(global_orient.to(j0))
        return transl.to(j0) + j0 - (rot @ j0[..., None])[..., 0]

    def transl_to_smplx(
        self,
        global_orient: Tensor,  # [B, 3]
        transl: Tensor,  # [B, 3] this interface's transl
        shape: Tensor | None = None,  # [B, S]
        expression: Tensor | None = None,  # [B, E]
    ) -> Tensor:
        """smplx's ``transl`` ``[B, 3]`` for this interface's ``(global_orient, transl)``: ``t + R j0 - j0``."""
        batch = self._batch_size(global_orient, transl, shape, expression)
        j0 = self._pelvis(shape, expression, batch)
        rot = roma.rotvec_to_rotmat(global_orient.to(j0))
        return transl.to(j0) + (rot @ j0[..., None])[..., 0] - j0
