"""Procedural appearance of a synthetic person, painted in UV space on the body model's atlas.

A person's look is first *sampled* (:func:`sample_appearance`: skin tone, eye and hair colour, hair
style, a top, a bottom and shoes, each garment with a pattern and colours) and then *painted*
(:func:`paint_points`) on any set of surface points described by :class:`SurfacePoints` — the
texels of the UV atlas (:func:`bake_person_texture`) or the mesh vertices (to decide which vertices a
garment covers, for the ground-truth geometry of :mod:`dinar.data.render_gt`).

Where things go is decided from each point's rest-pose position (A-pose, the person's own shape),
its body part and landmarks from the skeleton and the face segmentation that ships with Anny
(eyeballs, mouth cavity). Garment patterns live in "cloth coordinates" ``(cu, cv)`` in metres: the
torso unrolled around its vertical axis, each limb unrolled around its bone axis, so stripes run
round the body and checks stay square. Fronts and backs differ on purpose: a print on the chest
only, and often a back panel of another colour or a number on the back.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from dinar.body.base import BodyModel

# Point labels: what covers a surface point.
SKIN, HAIR, TOP, BOTTOM, SHOES, EYE, MOUTH = range(7)
LABEL_NAMES = ["skin", "hair", "top", "bottom", "shoes", "eye", "mouth"]

TOPS = ("tshirt", "long_sleeve", "tank", "jacket")
BOTTOMS = ("trousers", "wide_trousers", "shorts", "skirt")
PATTERNS = ("solid", "stripes", "checks", "dots", "gradient")
HAIR_STYLES = ("short", "medium", "long", "buzz")

# sRGB in [0, 1]. Skin tones span very light to very dark (Fitzpatrick I-VI, roughly).
SKIN_TONES = np.array([
    [0.98, 0.85, 0.76], [0.94, 0.78, 0.66], [0.87, 0.69, 0.56], [0.78, 0.58, 0.44],
    [0.66, 0.46, 0.33], [0.52, 0.35, 0.24], [0.40, 0.26, 0.18], [0.28, 0.18, 0.13],
])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.04], [0.14, 0.09, 0.06], [0.28, 0.18, 0.10], [0.45, 0.30, 0.16],
    [0.72, 0.56, 0.32], [0.86, 0.74, 0.52], [0.50, 0.18, 0.08], [0.62, 0.62, 0.62], [0.88, 0.88, 0.86],
])
EYE_COLOURS = np.array([[0.25, 0.15, 0.08], [0.40, 0.26, 0.12], [0.30, 0.42, 0.55], [0.35, 0.45, 0.30], [0.12, 0.08, 0.05]])
GARMENT_PALETTE = np.array([
    [0.95, 0.95, 0.93], [0.10, 0.10, 0.11], [0.45, 0.45, 0.47], [0.75, 0.75, 0.74], [0.12, 0.18, 0.38],
    [0.20, 0.35, 0.65], [0.50, 0.70, 0.88], [0.10, 0.45, 0.45], [0.20, 0.40, 0.20], [0.45, 0.55, 0.25],
    [0.70, 0.10, 0.12], [0.90, 0.30, 0.25], [0.95, 0.55, 0.20], [0.95, 0.80, 0.25], [0.80, 0.70, 0.50],
    [0.55, 0.40, 0.25], [0.35, 0.22, 0.15], [0.45, 0.20, 0.45], [0.75, 0.55, 0.80], [0.95, 0.65, 0.70],
    [0.85, 0.20, 0.50], [0.30, 0.30, 0.20], [0.60, 0.15, 0.20], [0.25, 0.55, 0.75], [0.98, 0.90, 0.75],
])


@dataclass
class Garment:
    """One garment: its kind, pattern and colours (sRGB), and what its back looks like."""

    kind: str
    pattern: str
    colours: list[list[float]]  # [main, second, third]
    scale: float  # pattern period in metres
    angle: float  # pattern rotation in radians (stripes, checks)
    back: str = "same"  # "same", "panel" (another colour on the upper back) or "number"
    print_text: str = ""  # chest print (tops), empty for none
    print_shape: str = ""  # "circle", "triangle", "bar" or "" (drawn behind the text)
    length: float = 1.0  # fraction of the limb it covers (sleeves, legs) or skirt length in metres


@dataclass
class Appearance:
    """Everything :func:`paint_points` needs to paint a person; JSON-ready via :meth:`to_json`."""

    skin: list[float]
    skin_variation: float
    hair: list[float]
    hair_style: str
    eyes: list[float]
    lips: list[float]
    top: Garment
    bottom: Garment
    shoes: list[float]
    sole: list[float]
    noise_seed: int  # phases and directions of the low-frequency skin and cloth variation
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A garment colour: from the palette, jittered, or (a third of the time) any hue."""
    if rng.random() < 0.67:
        c = GARMENT_PALETTE[rng.integers(len(GARMENT_PALETTE))] + rng.normal(0, 0.03, 3)
    else:
        import colorsys

        c = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.95)))
    return np.clip(c, 0.02, 0.98)


def _garment(kind: str, rng: np.random.Generator, is_top: bool) -> Garment:
    pattern = PATTERNS[rng.choice(len(PATTERNS), p=[0.4, 0.2, 0.15, 0.1, 0.15])]
    colours = [_colour(rng) for _ in range(3)]
    if np.abs(colours[0] - colours[1]).sum() < 0.3:  # keep patterns visible
        colours[1] = 1.0 - colours[0] * 0.8
    length = {"tshirt": rng.uniform(0.22, 0.38), "long_sleeve": rng.uniform(0.9, 0.97), "jacket": rng.uniform(0.93, 0.98), "tank": 0.0,
              "trousers": rng.uniform(0.9, 0.97), "wide_trousers": rng.uniform(0.95, 0.99), "shorts": rng.uniform(0.3, 0.5), "skirt": rng.uniform(0.35, 0.65)}[kind]
    g = Garment(
        kind=kind, pattern=pattern, colours=[c.round(4).tolist() for c in colours], scale=float(rng.uniform(0.03, 0.12)),
        angle=float(rng.choice([0.0, 0.0, math.pi / 2, math.pi / 4])), length=float(length),
    )
    if is_top:
        g.back = str(rng.choice(["same", "panel", "number"], p=[0.3, 0.4, 0.3]))
        if rng.random() < 0.7:
            letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
            g.print_text = "".join(letters[i] for i in rng.integers(len(letters), size=int(rng.integers(2, 6))))
        g.print_shape = str(rng.choice(["", "circle", "triangle", "bar"]))
        if not g.print_text and not g.print_shape:
            g.print_shape = "circle"
    return g


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random person's look (deterministic given the generator's state)."""
    t = rng.random() * (len(SKIN_TONES) - 1)
    i = int(t)
    skin = SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] * (t - i)
    skin = np.clip(skin * rng.uniform(0.95, 1.05) + rng.normal(0, 0.015, 3), 0.05, 1.0)
    hair = np.clip(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15), 0.02, 0.95)
    if rng.random() < 0.05:  # dyed
        hair = _colour(rng)
    lips = np.clip(skin * np.array([0.85, 0.62, 0.62]) + rng.normal(0, 0.02, 3), 0.05, 1.0)
    top_kind = TOPS[rng.choice(len(TOPS), p=[0.35, 0.25, 0.15, 0.25])]
    bottom_kind = BOTTOMS[rng.choice(len(BOTTOMS), p=[0.4, 0.15, 0.2, 0.25])]
    shoes = _colour(rng) * rng.uniform(0.5, 1.0)
    return Appearance(
        skin=skin.round(4).tolist(), skin_variation=float(rng.uniform(0.03, 0.08)), hair=hair.round(4).tolist(),
        hair_style=str(HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.35, 0.3, 0.25, 0.1])]),
        eyes=EYE_COLOURS[rng.integers(len(EYE_COLOURS))].tolist(), lips=lips.round(4).tolist(),
        top=_garment(top_kind, rng, True), bottom=_garment(bottom_kind, rng, False),
        shoes=shoes.round(4).tolist(), sole=([0.92, 0.92, 0.9] if rng.random() < 0.5 else (shoes * 0.4).round(4).tolist()),
        noise_seed=int(rng.integers(2**31)),
    )


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
    if t.kind == "tank":  # armholes and straps: bare shoulders
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
    labels[hair] = HAIR

    labels[pts.face_region == 1] = EYE
    labels[pts.face_region == 2] = MOUTH
    return labels


# Painting -------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _print_image(text: str, shape: str, fg: tuple, bg: tuple, number: bool) -> np.ndarray:
    """A chest print or back number, RGBA float ``[H, W, 4]`` (text drawn with Pillow's built-in font)."""
    w, h = (256, 160) if not number else (160, 200)
    im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    c_bg = tuple(int(255 * x) for x in bg) + (255,)
    c_fg = tuple(int(255 * x) for x in fg) + (255,)
    if shape == "circle":
        d.ellipse((w / 2 - 70, h / 2 - 70, w / 2 + 70, h / 2 + 70), fill=c_bg)
    elif shape == "triangle":
        d.polygon([(w / 2, 5), (w / 2 + 85, h - 5), (w / 2 - 85, h - 5)], fill=c_bg)
    elif shape == "bar":
        d.rectangle((5, h / 2 - 38, w - 5, h / 2 + 38), fill=c_bg)
    if text:
        font = ImageFont.load_default(size=150 if number else max(30, 230 // max(len(text), 1)))
        box = d.textbbox((0, 0), text, font=font)
        d.text(((w - (box[2] - box[0])) / 2 - box[0], (h - (box[3] - box[1])) / 2 - box[1]), text, font=font, fill=c_fg)
    return np.asarray(im, dtype=np.float32) / 255.0


def _luminance(c) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _contrasting(colour, ground) -> tuple:
    """``colour`` if it stands out from ``ground``, else white or near-black, whichever does."""
    if abs(_luminance(colour) - _luminance(ground)) > 0.3:
        return tuple(colour)
    return (0.97, 0.97, 0.95) if _luminance(ground) < 0.5 else (0.06, 0.06, 0.08)


def _fract(x: Tensor) -> Tensor:
    """``x - floor(x)`` in [0, 1) (``torch.frac`` keeps the sign, which breaks periodic patterns below 0)."""
    return x - torch.floor(x)


def _pattern(g: Garment, cu: Tensor, cv: Tensor, t01: Tensor) -> Tensor:
    """The garment's pattern colour at cloth coordinates, ``[N, 3]``; ``t01`` in [0, 1] drives gradients."""
    c0, c1, c2 = (torch.tensor(c, dtype=torch.float32) for c in g.colours)
    ca, sa = math.cos(g.angle), math.sin(g.angle)
    a = ca * cu + sa * cv
    b = -sa * cu + ca * cv
    if g.pattern == "stripes":
        w = (_fract(b / g.scale) < 0.45).float()
    elif g.pattern == "checks":
        w = ((torch.floor(a / g.scale) + torch.floor(b / g.scale)) % 2).float()
    elif g.pattern == "dots":
        fa, fb = _fract(a / g.scale) - 0.5, _fract(b / g.scale) - 0.5
        w = ((fa**2 + fb**2) < 0.09).float()
        return c0 * (1 - w[:, None]) + c2 * w[:, None]
    elif g.pattern == "gradient":
        w = t01.clamp(0, 1)
    else:
        w = torch.zeros_like(cu)
    return c0 * (1 - w[:, None]) + c1 * w[:, None]


def _paste(colour: Tensor, sel: Tensor, img: np.ndarray, px: Tensor, py: Tensor) -> None:
    """Alpha-blend an RGBA image onto ``colour[sel]`` at normalized image coordinates ``(px, py)`` in [0, 1]."""
    inside = sel & (px >= 0) & (px < 1) & (py >= 0) & (py < 1)
    if not inside.any():
        return
    grid = torch.stack([px[inside] * 2 - 1, py[inside] * 2 - 1], -1)[None, None]
    rgba = F.grid_sample(torch.from_numpy(img).permute(2, 0, 1)[None], grid, mode="bilinear", align_corners=False)[0, :, 0].T
    alpha = rgba[:, 3:]
    colour[inside] = colour[inside] * (1 - alpha) + rgba[:, :3] * alpha


def paint_points(pts: SurfacePoints, labels: Tensor, app: Appearance, lm: Landmarks, part_names: list[str]) -> Tensor:
    """sRGB albedo ``[N, 3]`` in [0, 1] of every point."""
    cu, cv, _, azimuth = _cloth_coords(pts, lm, part_names)
    pos, z = pts.pos, pts.pos[:, 2]
    n = pos.shape[0]
    colour = torch.zeros(n, 3)
    low = _sin_noise(pos, app.noise_seed, 3.0)  # [-1, 1], ~30 cm features
    fine = _sin_noise(pos, app.noise_seed + 1, 40.0, octaves=8)

    # Skin with low-frequency variation, a little redder on cheeks, hands and knees.
    skin = torch.tensor(app.skin).expand(n, 3) * (1 + app.skin_variation * low[:, None])
    colour[:] = skin

    # Face: brows and lips on the head's skin.
    eye_c = (lm.eye_l + lm.eye_r) / 2
    for eye in (lm.eye_l, lm.eye_r):
        dx = (pos[:, 0] - eye[0]) / 0.024
        dz = (z - eye[2] - 0.021 - 0.006 * (1 - dx.abs().clamp(max=1) ** 2)) / 0.0045
        brow = (dx.abs() < 1) & (dz.abs() < 1) & (pos[:, 1] < eye[1] + 0.03) & (labels == SKIN)
        colour[brow] = colour[brow] * 0.35 + torch.tensor(app.hair) * 0.65 * 0.8
    dx = (pos[:, 0] - lm.mouth[0]) / 0.024
    dz = (z - lm.mouth[2] - 0.001) / (0.0085 - 0.003 * dx.abs().clamp(max=1))
    lips = (dx**2 + dz**2 < 1) & (pos[:, 1] < lm.mouth[1] + 0.02) & (labels == SKIN)
    colour[lips] = colour[lips] * 0.4 + torch.tensor(app.lips) * 0.6
    cheeks = ((pos[:, 0].abs() - 0.045) ** 2 + (z - eye_c[2] + 0.035) ** 2 < 0.02**2) & (pos[:, 1] < eye_c[1] + 0.04)
    colour[cheeks & (labels == SKIN)] *= torch.tensor([1.015, 0.98, 0.98])

    # Eyes: sclera, iris and pupil around each eyeball's front pole.
    eye = (labels == EYE).nonzero()[:, 0]
    if eye.numel():
        epos = pos[eye]
        ecol = torch.empty(eye.numel(), 3)
        for pole in (lm.eye_l, lm.eye_r):
            near = (epos - pole).norm(dim=1) < 0.03
            r = torch.sqrt((epos[:, 0] - pole[0]) ** 2 + (epos[:, 2] - pole[2]) ** 2)
            c = torch.tensor([0.92, 0.9, 0.87]).expand(eye.numel(), 3).clone()
            c[r < 0.0055] = torch.tensor(app.eyes)
            c[r < 0.0024] = torch.tensor([0.03, 0.03, 0.03])
            c[epos[:, 1] > pole[1] + 0.01] = torch.tensor([0.5, 0.45, 0.45])
            ecol[near] = c[near]
        colour[eye] = ecol
    colour[labels == MOUTH] = torch.tensor([0.35, 0.1, 0.1])

    # Hair: its colour with fine strand-like streaks.
    hair = labels == HAIR
    streak = _sin_noise(pos * torch.tensor([1.0, 1.0, 0.15]), app.noise_seed + 3, 120.0)
    colour[hair] = torch.tensor(app.hair) * (1 + 0.15 * streak[hair, None] + 0.05 * low[hair, None])

    # Garments.
    for label, g in ((TOP, app.top), (BOTTOM, app.bottom)):
        sel = labels == label
        if not sel.any():
            continue
        zsel = z[sel]
        t01 = (zsel - zsel.amin()) / (zsel.amax() - zsel.amin()).clamp_min(1e-6)
        colour[sel] = _pattern(g, cu[sel], cv[sel], t01)
        front = torch.cos(azimuth)
        if label == TOP:
            neck_z = float(lm.joints["neck01"][2])
            torso = pts.part == part_names.index("torso")
            if g.back == "panel":  # a yoke of another colour across the upper back
                panel = sel & torso & (front < -0.3) & (z > lm.chest_z - 0.02)
                colour[panel] = torch.tensor(g.colours[2])
            if g.kind == "jacket":  # open front: the shirt underneath and a zip line
                opening = sel & torso & (front > 0) & ((pos[:, 0] - lm.torso_axis[0]).abs() < 0.03 + 0.03 * ((z - lm.waist_z) / (neck_z - lm.waist_z)).clamp(0, 1))
                colour[opening] = torch.tensor(g.colours[2]) * 0.3 + 0.65
                zip_ = sel & torso & (front > 0) & ((pos[:, 0] - lm.torso_axis[0]).abs() - 0.03 - 0.03 * ((z - lm.waist_z) / (neck_z - lm.waist_z)).clamp(0, 1)).abs().lt(0.004)
                colour[zip_] = torch.tensor([0.15, 0.15, 0.15])
            chest_sel = sel & torso & (front > 0.5)
            if g.print_text or g.print_shape:  # front print, on the chest only
                ground = g.colours[1] if g.print_shape else g.colours[0]
                img = _print_image(g.print_text, g.print_shape, _contrasting(g.colours[2], ground), tuple(g.colours[1]), False)
                w, h = 0.2 * lm.scale, 0.125 * lm.scale
                cx = float(lm.torso_axis[0]) + (0.07 if g.kind == "jacket" else 0.0)
                w, h = (0.4 * w, 0.4 * h) if g.kind == "jacket" else (w, h)
                _paste(colour, chest_sel, img, (pos[:, 0] - cx) / w + 0.5, (lm.chest_z - z) / h + 0.5)
            if g.back == "number":  # a number on the back
                ground = g.colours[2] if g.back == "panel" else g.colours[0]
                img = _print_image(str(abs(app.noise_seed) % 99 + 1), "", _contrasting(g.colours[1], ground), (0.0, 0.0, 0.0), True)
                back_sel = sel & torso & (front < -0.5)
                _paste(colour, back_sel, img, (-(pos[:, 0] - float(lm.torso_axis[0]))) / (0.16 * lm.scale) + 0.5, (lm.chest_z + 0.03 * lm.scale - z) / (0.2 * lm.scale) + 0.5)
        # cloth: fine weave noise and soft folds
        colour[sel] *= (1 + 0.03 * fine[sel, None] + 0.05 * low[sel, None])

    shoes = labels == SHOES
    colour[shoes] = torch.where((z[shoes] < lm.feet_z + 0.02)[:, None], torch.tensor(app.sole).expand(int(shoes.sum()), 3), torch.tensor(app.shoes).expand(int(shoes.sum()), 3))
    return colour.clamp(0, 1)


# The atlas ------------------------------------------------------------------------------------
@dataclass
class PersonTexture:
    """A painted person: the albedo texture and the per-vertex labels the ground-truth geometry needs."""

    texture: Tensor  # [1, 3, T, T] sRGB albedo in [0, 1] on the body's atlas (body.face_uvs)
    vertex_labels: Tensor  # [V] int64 SKIN / HAIR / TOP / ...
    vertex_colours: Tensor  # [V, 3] albedo at the vertices
    vertex_limb: Tensor  # [V] position along the vertex's limb: 0 at the shoulder / hip, 1 at the wrist / ankle
    landmarks: Landmarks


def _fill_outside(texture: Tensor, covered: Tensor) -> Tensor:
    """Give every texel outside the UV islands the colour of its nearest island texel.

    Bilinear lookups (and any downsampling) at island borders then never mix in background.
    """
    from scipy.ndimage import distance_transform_edt

    idx = distance_transform_edt(~covered.numpy(), return_distances=False, return_indices=True)
    rows, cols = torch.from_numpy(idx[0]), torch.from_numpy(idx[1])
    return texture[:, :, rows, cols]


def surface_points_of_vertices(body: BodyModel, rest_vertices: Tensor, rest_normals: Tensor) -> SurfacePoints:
    region = torch.zeros(body.num_vertices, dtype=torch.long)
    for key, ids in face_regions(body).items():
        region[ids] = 1 if key.startswith("eye") else 2
    return SurfacePoints(pos=rest_vertices, normal=rest_normals, part=body.parts.labels.cpu(), face_region=region)


def bake_person_texture(body: BodyModel, app: Appearance, rest_vertices: Tensor, rest_normals: Tensor, rest_joints: Tensor, size: int) -> PersonTexture:
    """Paint ``app`` on the body's atlas at ``size x size``, and label and colour its vertices.

    ``rest_vertices [V, 3]``, ``rest_normals [V, 3]`` and ``rest_joints [J, 3]`` are the person's shape in
    the rest pose (zero pose).
    """
    lm = landmarks(body, rest_vertices, rest_joints)
    names = body.parts.names
    vpts = surface_points_of_vertices(body, rest_vertices, rest_normals)
    vlabels = label_points(vpts, app, lm, names)
    vcolours = paint_points(vpts, vlabels, app, lm, names)

    layout = _cached_layout(body, size)
    index = layout.foreground_index  # covered texels, into T * T
    fid = layout.face_id.view(-1)[index]
    bary = layout.bary.permute(0, 2, 3, 1).reshape(-1, 3)[index]  # [M, 3]
    corners = body.faces.cpu()[fid]  # [M, 3]
    interp = lambda attr: torch.einsum("mkc,mk->mc", attr[corners], bary)
    nearest = corners.gather(1, bary.argmax(1, keepdim=True))[:, 0]  # the texel's closest vertex
    tpts = SurfacePoints(
        pos=interp(rest_vertices), normal=F.normalize(interp(rest_normals), dim=1),
        part=vpts.part[nearest], face_region=vpts.face_region[nearest],
    )
    tlabels = label_points(tpts, app, lm, names)
    tcol = paint_points(tpts, tlabels, app, lm, names)
    tex = torch.zeros(3, size * size)
    tex[:, index] = tcol.T
    covered = torch.zeros(size * size, dtype=torch.bool)
    covered[index] = True
    texture = _fill_outside(tex.view(1, 3, size, size), covered.view(size, size))
    return PersonTexture(texture=texture, vertex_labels=vlabels, vertex_colours=vcolours, vertex_limb=vpts.coords[2], landmarks=lm)


_LAYOUTS: dict = {}


def _cached_layout(body: BodyModel, size: int):
    """The atlas rasterized in texture space, once per (body model, size) in a process."""
    from dinar.geometry.texture_lookup import uv_layout

    key = (id(body), size)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = uv_layout(body.face_uvs.cpu(), size)
    return _LAYOUTS[key]
