"""Where a synthetic person's looks go on the body: landmarks from the skeleton and Anny's face
segmentation, surface points, cloth coordinates (torso and limbs unrolled, in metres) and the label of
every point (skin, hair, top, bottom, shoes, eye, mouth, cap)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.data import appearance
from dinar.data.appearance import BOTTOM, EYE, HAIR, MOUTH, SHOES, SKIN, TOP, Appearance


# Landmarks and surface points -------------------------------------------------------------------
@dataclass
class Landmarks:
    """Where things are on the rest-pose body of one shape (metres, world frame)."""

    joints: dict[str, Tensor]  # bone name -> [3] head position
    eye_l: Tensor  # [3] front pole of the left eyeball
    eye_r: Tensor  # [3]
    eye_radius: float  # eyeball radius (front pole to centre)
    mouth: Tensor  # [3] front centre of the mouth opening
    head_top: float  # z of the top of the head
    torso_axis: Tensor  # [2] (x, y) of the torso's vertical axis
    waist_z: float
    chest_z: float
    feet_z: float  # z of the soles

    @property
    def scale(self) -> float:
        """Body size relative to an average adult (hip-to-neck length / 0.52 m): prints and skirts follow it."""
        hip_z = float(self.joints["upperleg01.L"][2] + self.joints["upperleg01.R"][2]) / 2
        return (float(self.joints["neck01"][2]) - hip_z) / 0.52


@functools.lru_cache(maxsize=2)
def _face_region_vertices(body_id: int, body: BodyModel) -> dict[str, Tensor]:
    """Vertex ids of Anny's eyeballs and mouth cavity (from the segmentation Anny ships)."""
    from anny.face_segmentation import get_face_segmentation_mask

    out = {}
    groups = {"eye.L": ["eye_front.L", "eye_back.L"], "eye.R": ["eye_front.R", "eye_back.R"], "mouth": ["mouth_cavity", "tongue"]}
    for key, labels in groups.items():
        mask = get_face_segmentation_mask(body._anny, labels).cpu()
        out[key] = body.faces.cpu()[mask].unique()
    return out


def face_regions(body: BodyModel) -> dict[str, Tensor]:
    """Vertex ids of the eyeballs (``eye.L``, ``eye.R``) and the mouth cavity (``mouth``); empty without."""
    if getattr(body, "name", "") != "anny":
        return {}
    return _face_region_vertices(id(body), body)


def landmarks(body: BodyModel, rest_vertices: Tensor, rest_joints: Tensor) -> Landmarks:
    """Landmarks of one shape from its rest-pose vertices ``[V, 3]`` and joints ``[J, 3]``."""
    names = body.skeleton.names
    joints = {n: rest_joints[i] for i, n in enumerate(names)}
    regions = face_regions(body)
    v = rest_vertices
    if regions:
        eyes = []
        for side in ("eye.L", "eye.R"):
            ev = v[regions[side]]
            pole = ev[ev[:, 1].argmin()]
            eyes.append((ev.mean(0) * torch.tensor([1.0, 0.0, 1.0]) + pole * torch.tensor([0.0, 1.0, 0.0]), float(ev[:, 0].amax() - ev[:, 0].amin()) / 2))
        mv = v[regions["mouth"]]
        front = mv[mv[:, 1] < mv[:, 1].amin() + 0.012]
        mouth = front.mean(0)
        eye_l, eye_r, radius = eyes[0][0], eyes[1][0], eyes[0][1]
    else:  # no face segmentation: place them from the head joint
        h = joints.get("head", v[v[:, 2].argmax()])
        eye_l, eye_r, radius = h + torch.tensor([0.03, -0.1, 0.04]), h + torch.tensor([-0.03, -0.1, 0.04]), 0.012
        mouth = h + torch.tensor([0.0, -0.1, -0.02])
    torso = v[body.parts.labels == body.parts.names.index("torso")]
    hip_z = float((joints["upperleg01.L"][2] + joints["upperleg01.R"][2]) / 2)
    neck_z = float(joints["neck01"][2])
    return Landmarks(
        joints=joints, eye_l=eye_l, eye_r=eye_r, eye_radius=radius, mouth=mouth, head_top=float(v[:, 2].amax()),
        torso_axis=torso[:, :2].mean(0), waist_z=hip_z + 0.32 * (neck_z - hip_z), chest_z=hip_z + 0.72 * (neck_z - hip_z),
        feet_z=float(v[:, 2].amin()),
    )


@dataclass
class SurfacePoints:
    """Surface points to paint: texels of the atlas or mesh vertices, all at the rest pose."""

    pos: Tensor  # [N, 3] rest-pose position
    normal: Tensor  # [N, 3] rest-pose unit normal
    part: Tensor  # [N] body-part index (argmax of the soft part weights)
    face_region: Tensor  # [N] 0 body, 1 eyeball, 2 mouth cavity
    coords: tuple | None = None  # cache of :func:`_cloth_coords`


_LIMBS = {  # part prefix -> (start bone, end bone, radius for unrolling in metres)
    "upperarm": ("upperarm01", "wrist", 0.045), "lowerarm": ("upperarm01", "wrist", 0.045), "hand": ("upperarm01", "wrist", 0.045),
    "upperleg": ("upperleg01", "foot", 0.07), "lowerleg": ("upperleg01", "foot", 0.07), "foot": ("upperleg01", "foot", 0.07),
}


def _cloth_coords(pts: SurfacePoints, lm: Landmarks, part_names: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if pts.coords is None:
        pts.coords = _compute_cloth_coords(pts, lm, part_names)
    return pts.coords


def _compute_cloth_coords(pts: SurfacePoints, lm: Landmarks, part_names: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cloth coordinates ``(cu, cv)`` in metres, limb parameter ``s`` (0 at the limb root, 1 at its end) and the azimuth.

    Torso and head: unrolled around the torso's vertical axis (``cu`` = angle x 0.15 m, ``cv`` = z).
    Limbs: unrolled around the bone axis (``cv`` = distance along the limb).
    Azimuth (radians, 0 = facing -Y, the front) is measured around the torso axis for every point.
    """
    rel = pts.pos[:, :2] - lm.torso_axis
    azimuth = torch.atan2(rel[:, 0], -rel[:, 1])
    cu = azimuth * 0.15
    cv = pts.pos[:, 2].clone()
    s = torch.zeros_like(cv)
    for pi, pname in enumerate(part_names):
        prefix, _, side = pname.partition(".")
        if prefix not in _LIMBS:
            continue
        sel = pts.part == pi
        if not sel.any():
            continue
        start, end, radius = _LIMBS[prefix]
        a, b = lm.joints[f"{start}.{side}"], lm.joints[f"{end}.{side}"]
        axis = b - a
        length = axis.norm()
        axis = axis / length
        d = pts.pos[sel] - a
        along = d @ axis
        s[sel] = along / length
        perp = d - along[:, None] * axis
        ref = torch.nn.functional.normalize(torch.cross(axis, torch.tensor([0.0, 1.0, 0.0]), dim=0), dim=0)
        ref2 = torch.cross(axis, ref, dim=0)
        cu[sel] = torch.atan2(perp @ ref2, perp @ ref) * radius
        cv[sel] = -along
    return cu, cv, s, azimuth


def _sin_noise(pos: Tensor, seed: int, freq: float, octaves: int = 6) -> Tensor:
    """Smooth pseudo-random noise in [-1, 1]: a sum of random plane waves (deterministic in ``seed``)."""
    g = np.random.default_rng(seed)
    dirs = torch.tensor(g.normal(size=(octaves, 3)), dtype=torch.float32)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    freqs = torch.tensor(freq * g.uniform(0.6, 1.6, octaves), dtype=torch.float32)
    phases = torch.tensor(g.uniform(0, 2 * math.pi, octaves), dtype=torch.float32)
    waves = torch.sin(pos @ (dirs * freqs[:, None] * 2 * math.pi).T + phases)
    return waves.mean(1) * math.sqrt(2.0)


def label_points(pts: SurfacePoints, app: Appearance, lm: Landmarks, part_names: list[str]) -> Tensor:
    """What covers each point (``SKIN``, ``HAIR``, ``TOP``, ...): ``[N]`` int64."""
    labels = torch.full((pts.pos.shape[0],), SKIN, dtype=torch.long)
    _, _, s, azimuth = _cloth_coords(pts, lm, part_names)
    prefix = [n.partition(".")[0] for n in part_names]
    is_part = lambda *names: torch.isin(pts.part, torch.tensor([i for i, p in enumerate(prefix) if p in names]))
    z = pts.pos[:, 2]
    neck_z = float(lm.joints["neck01"][2])
    hip_z = float((lm.joints["upperleg01.L"][2] + lm.joints["upperleg01.R"][2]) / 2)
    front = torch.cos(azimuth)  # 1 at the front centre, -1 at the back centre

    # Bottom: from the waist down, over the legs to the chosen length.
    b = app.bottom
    pelvis = is_part("torso") & (z < lm.waist_z)
    if b.kind == "skirt":  # the skirt itself is extra geometry; under it, the hips are covered
        bottom = pelvis | (is_part("upperleg") & (s < 0.12))
    else:
        bottom = pelvis | (is_part("upperleg", "lowerleg") & (s < b.length))
    labels[bottom] = BOTTOM

    # Top: torso from the hem to the neckline, sleeves to the chosen length.
    t = app.top
    hem = hip_z + (0.05 if t.kind == "jacket" else 0.12) * (neck_z - hip_z)
    neck_depth = 0.02 + 0.05 * front.clamp_min(0) ** 2 * (2.0 if t.kind == "tank" else 1.0)
    torso_top = is_part("torso") & (z > hem) & (z < neck_z - neck_depth + 0.015)
    if t.kind == appearance.BARE:  # no top at all
        torso_top = torch.zeros_like(bottom)
        sleeves = torch.zeros_like(bottom)
    elif t.kind == "tank":  # armholes and straps: bare shoulders
        shoulder_x = float(lm.joints["upperarm01.L"][0] - lm.joints["upperarm01.R"][0]) / 2
        torso_top &= ~((pts.pos[:, 0] - lm.torso_axis[0]).abs() > 0.55 * shoulder_x) | (z < lm.chest_z - 0.02)
        sleeves = torch.zeros_like(torso_top)
    else:
        sleeves = is_part("upperarm", "lowerarm") & (s < t.length)
    if t.kind in ("jacket", "long_sleeve", "tshirt"):
        torso_top |= is_part("head") & (z < neck_z + 0.02) & (front < 0.3)  # collar at the back of the neck
    labels[torso_top | sleeves] = TOP

    # Shoes: the feet and the lowest part of the legs.
    labels[is_part("foot") | (is_part("lowerleg") & (s > 0.98))] = SHOES

    # Hair on the scalp: the hairline is high at the forehead, above the ears at the sides, low at the nape.
    head = is_part("head")
    eye_z = float((lm.eye_l[2] + lm.eye_r[2]) / 2)
    head_rel = pts.pos[:, :2] - (lm.eye_l[:2] + lm.eye_r[:2]) / 2 - torch.tensor([0.0, 0.09])
    head_az = torch.atan2(head_rel[:, 0], -head_rel[:, 1])
    c = torch.cos(head_az)
    nape = {"buzz": 0.0, "short": -0.03, "medium": -0.07, "long": -0.09}[app.hair_style]
    hairline = torch.where(c > 0, eye_z + 0.045 * c + 0.015 * (1 - c), eye_z + 0.015 * (1 + c) + nape * (-c))
    hairline = hairline + 0.006 * _sin_noise(pts.pos, app.noise_seed + 7, 25.0)
    hair = head & (z > hairline)
    if app.hair_style == "long":  # hair falling on the upper back
        hair |= (is_part("torso") | head) & (front < -0.2) & (z > lm.chest_z - 0.04)
    if app.hair_front:  # and down the sides of the neck and in two locks over the front of the shoulders
        side = (pts.pos[:, 0] - lm.torso_axis[0]).abs()
        shoulder_x = float(lm.joints["upperarm01.L"][0] - lm.joints["upperarm01.R"][0]) / 2
        hair |= head & (c < 0.5) & (z < eye_z)
        hair |= is_part("torso") & (z > lm.chest_z + 0.02) & (side > 0.2 * shoulder_x) & (side < 0.6 * shoulder_x)
    labels[hair] = HAIR
    if app.cap:  # a cap over the scalp: above the brows at the front, down to the ears at the sides and the nape at the back
        capline = eye_z + 0.012 + 0.035 * c + 0.002 * _sin_noise(pts.pos, app.noise_seed + 11, 25.0)
        labels[head & (z > capline)] = appearance.CAP

    labels[pts.face_region == 1] = EYE
    labels[pts.face_region == 2] = MOUTH
    return labels
