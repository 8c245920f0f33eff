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

import dataclasses
import math
from dataclasses import asdict, dataclass, field

import numpy as np

# Point labels: what covers a surface point.
SKIN, HAIR, TOP, BOTTOM, SHOES, EYE, MOUTH, CAP = range(8)
LABEL_NAMES = ["skin", "hair", "top", "bottom", "shoes", "eye", "mouth", "cap"]

TOPS = ("tshirt", "long_sleeve", "tank", "jacket")
BARE = "none"  # the top kind of a bare torso (:func:`bare_torso`)
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
    cap: list[float] = field(default_factory=list)  # a close-fitting cap's colour (sRGB), empty for none (:func:`with_cap`)
    hair_front: bool = False  # long hair falls over the front of the shoulders too (:func:`with_front_hair`)
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


def bare_torso(app: Appearance) -> Appearance:
    """``app`` without its top: the torso and arms are skin, as for swimmers and athletes (the men of the real capture,
    the Pose2Sim lab photo and the Sports2D jumping jack in ``tests/data``); everything else stays as sampled."""
    top = dataclasses.replace(app.top, kind=BARE, back="same", print_text="", print_shape="", length=0.0)
    return dataclasses.replace(app, top=top)


def plain_clothes(app: Appearance) -> Appearance:
    """``app`` in plain clothes: the top and the bottom each in its main colour alone (no stripes, checks, dots or
    gradient), no print on the chest and the same at the back. The woman of the second real capture
    (``tests/data/pose2sim_two_people``) wears a plain T-shirt and jeans; the sampled tops always carry a print. A bare
    torso stays bare; everything else stays as sampled."""
    top = app.top if app.top.kind == BARE else dataclasses.replace(app.top, pattern="solid", back="same", print_text="", print_shape="")
    return dataclasses.replace(app, top=top, bottom=dataclasses.replace(app.bottom, pattern="solid", back="same"))


def with_front_hair(app: Appearance) -> Appearance:
    """``app`` with its long hair falling over the sides of the neck and the front of the shoulders as well as down the
    upper back, as long hair does: a front photo then shows whether the hair is long. Without it a sampled person's
    long hair lies on the back alone, so the front of a long-haired person looks like a short-haired one's and an
    inpainter trained on such people paints hair down the back of anyone by chance. Short hair is left as it is."""
    return dataclasses.replace(app, hair_front=app.hair_style == "long")


def with_cap(app: Appearance, rng: np.random.Generator) -> Appearance:
    """``app`` with a close-fitting cap (a swim cap, a beanie) over the scalp, all round down to the ears and the nape,
    in one garment colour drawn from ``rng``: the man of the real capture (``tests/data/pose2sim_static_trial``) wears
    one, and a cap is the same colour at the front and the back of the head, where hair often is not seen from the
    front. Everything else stays as sampled (the brows keep the hair's colour)."""
    return dataclasses.replace(app, cap=_colour(rng).round(4).tolist())
