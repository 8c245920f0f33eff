"""Painting a synthetic person's albedo on labelled surface points: skin and face, eyes, hair, garment
patterns, prints on the chest, back panels and numbers, shoes."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from dinar.data.appearance import (
    BOTTOM,
    CAP,
    EYE,
    HAIR,
    MOUTH,
    SHOES,
    SKIN,
    TOP,
    Appearance,
    Garment,
)
from dinar.data.body_regions import Landmarks, SurfacePoints, _cloth_coords, _sin_noise


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


def _paint_face(colour: Tensor, pos: Tensor, labels: Tensor, app: Appearance, lm: Landmarks) -> None:
    """Brows and lips on the head's skin, rosy cheeks, then the eyes (sclera, iris, pupil) and the mouth, in place."""
    z = pos[:, 2]
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
        ecol = torch.zeros(eye.numel(), 3)  # eyeball points near neither pole lie inside the head, unseen: black
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


def _paint_top_details(colour: Tensor, sel: Tensor, pts: SurfacePoints, g: Garment, app: Appearance, lm: Landmarks,
                       part_names: list[str], front: Tensor) -> None:
    """A top's back panel, a jacket's open front and zip, the chest print and the back number, in place
    (``sel``: the top's points; ``front``: cos of each point's azimuth, 1 straight ahead)."""
    pos, z = pts.pos, pts.pos[:, 2]
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

    _paint_face(colour, pos, labels, app, lm)

    # Hair: its colour with fine strand-like streaks.
    hair = labels == HAIR
    streak = _sin_noise(pos * torch.tensor([1.0, 1.0, 0.15]), app.noise_seed + 3, 120.0)
    colour[hair] = torch.tensor(app.hair) * (1 + 0.15 * streak[hair, None] + 0.05 * low[hair, None])
    cap = labels == CAP  # a cap: one colour, shaded a little like cloth
    if cap.any():
        colour[cap] = torch.tensor(app.cap) * (1 + 0.05 * low[cap, None])

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
            _paint_top_details(colour, sel, pts, g, app, lm, part_names, front)
        # cloth: fine weave noise and soft folds
        colour[sel] *= (1 + 0.03 * fine[sel, None] + 0.05 * low[sel, None])

    shoes = labels == SHOES
    colour[shoes] = torch.where((z[shoes] < lm.feet_z + 0.02)[:, None], torch.tensor(app.sole).expand(int(shoes.sum()), 3), torch.tensor(app.shoes).expand(int(shoes.sum()), 3))
    return colour.clamp(0, 1)
