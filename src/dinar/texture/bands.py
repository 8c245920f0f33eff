"""A texture's colours split into a coarse band and the detail above it, and the two put back together from
different sources; and two textures' colours mixed.

``low_N(T)`` is what an ``N``² texture holds of T's colours: the means of its (S/N)² blocks, grown back
bilinearly; the detail is ``T − low_N(T)``. The back's inpainting (docs/back.md) keeps the diffusion's
band, where its colours are better than any fill's, and takes shares of simple fills' detail above it, where a
fill's continuation of what the photo shows beats what the 64² denoiser can hold (the default: ``a`` of the
part-nearest fill's, ``b`` of the mirrored front's, :func:`with_details`)::

    T_rgb = low_N(T_diffusion) + a · (T_nearest_part − low_N(T_nearest_part)) + b · (T_mirror − low_N(T_mirror))

Before that, its colours may be shrunk towards a simple fill's (:func:`mixed_colours`): ``(1 − w) · T_diffusion
+ w · T_fill``, and, first of all, each body part's colours moved towards what the photo shows of that part
(:func:`shifted_to_seen`): ``T_diffusion + s · (mean_seen − mean_unseen(T_diffusion))`` per part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.texture.channels import RGB
from dinar.texture.resize import grow_texture


def low_band(rgb: Tensor, size: int, inside: Tensor | None = None) -> Tensor:
    """What a ``size``² texture holds of ``[B, C, S, S]`` colours: the block means grown back bilinearly; ``size``
    must divide S. ``inside`` (``[S, S]``, the texels inside a UV chart): the means over those texels alone, the
    background between the charts left out (block sums over chart texels over their count, both grown back), so a
    chart's border keeps its own colours instead of drifting towards whatever lies outside it."""
    s = rgb.shape[-1]
    if size < 1 or s % size:
        raise ValueError(f"a {s}² texture has no {size}² band (it must divide {s})")
    if inside is None:
        return grow_texture(F.avg_pool2d(rgb, s // size), s)
    weight = inside.to(rgb)[None, None]
    total = grow_texture(F.avg_pool2d(rgb * weight, s // size), s)
    count = grow_texture(F.avg_pool2d(weight, s // size), s)
    return total / count.clamp_min(1e-6)


def fine_detail(texture: Tensor, size: int, amount: float = 1.0, grey: bool = False, inside: Tensor | None = None) -> Tensor:
    """``amount`` times what ``texture``'s T_rgb holds above its ``size``² band (over the ``inside`` texels alone,
    if given: :func:`low_band`); ``grey``: only its luminance (Rec. 601 weights), one channel that broadcasts over
    the three, so the edges come without their colours."""
    detail = texture[:, RGB] - low_band(texture[:, RGB], size, inside)
    if grey:
        detail = (detail * detail.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    return amount * detail


def with_details(base: Tensor, parts: list[tuple[Tensor, float, bool, Tensor | None]], size: int,
                 inside: Tensor | None = None) -> Tensor:
    """``base`` (``[B, 21, S, S]``) whose T_rgb keeps its own ``size``² band plus the sum of each (texture, amount,
    grey, where)'s :func:`fine_detail`, times ``where`` (``[S, S]``, 0 to 1: how much of it each texel takes; None:
    all of it everywhere); ``inside``: every band over the chart texels alone (:func:`low_band`); T_gen and the
    masks stay the base's."""
    out = base.clone()
    out[:, RGB] = low_band(base[:, RGB], size, inside)
    for texture, amount, grey, where in parts:
        detail = fine_detail(texture, size, amount, grey, inside)
        out[:, RGB] += detail if where is None else detail * where.to(detail)
    return out


def pattern_strength(rgb: Tensor, seen: Tensor, part: Tensor, fine: int, coarse: int) -> dict[int, float]:
    """How much print each body part's seen texels show: for each label of ``part`` (``[S, S]``, −1 outside the charts)
    with seen texels, the median over them of the colour length (L2 over the channels) of ``low_fine − low_coarse``
    of ``rgb`` (``[1, 3, S, S]``), both bands over the ``seen`` texels (``[S, S]`` bool) alone (:func:`low_band`).

    Between the two bands lie the patterns a garment's print repeats (stripes, checks, dots of a few texels and more);
    below ``fine`` lies the photo's noise, above ``coarse`` the body's shading. The median leaves out the few texels
    where one garment meets another: a synthetic person's plain garment scores low whatever its edges. A real photo's
    folds and noise score too (a plain grey T-shirt as high as a synthetic print, docs/back.md)."""
    band = low_band(rgb, fine, seen) - low_band(rgb, coarse, seen)
    length = band[0].pow(2).sum(0).sqrt()
    out = {}
    for p in part[seen].unique().tolist():
        if p >= 0:
            out[p] = float(length[seen & (part == p)].median())
    return out


def mixed_colours(base: Tensor, other: Tensor, share: float) -> Tensor:
    """``base`` (``[B, 21, S, S]``) whose T_rgb is ``1 − share`` of its own plus ``share`` of ``other``'s; T_gen and
    the masks stay the base's."""
    out = base.clone()
    out[:, RGB] = (1 - share) * base[:, RGB] + share * other[:, RGB]
    return out


def shifted_to_seen(base: Tensor, known: Tensor, seen: Tensor, part: Tensor, share: float,
                    parts: list[int] | None = None, height: Tensor | None = None, slabs: int = 1) -> Tensor:
    """``base`` (``[B, 21, S, S]``) whose T_rgb on each body part is moved by ``share`` of the gap between the
    part's seen colour and its restored colour: the mean of ``known``'s T_rgb over the part's ``seen`` texels
    (``[S, S]`` bool) less the mean of ``base``'s over its other texels (``part``: ``[S, S]`` labels, −1 outside the
    charts). The restored structure stays, and no seam appears at the seen texels' border. Only the labels in
    ``parts`` (None: every part); a part seen nowhere or everywhere keeps its colours. T_gen and the masks stay the
    base's.

    ``slabs`` > 1 (with ``height``, ``[S, S]``, each texel's height on the body): each part is cut into that many
    slabs of equal height and the gap is measured in each, then drawn linearly in height between the slabs' middles,
    so a part that holds two garments (a torso with a shirt above the trousers' waist) moves each towards the
    front of the same height; a slab seen nowhere or everywhere takes the whole part's gap."""
    out = base.clone()
    labels = part.unique().tolist() if parts is None else parts
    for p in labels:
        of_part = part == p
        have, todo = of_part & seen, of_part & ~seen
        if p < 0 or not have.any() or not todo.any():
            continue
        gap = _gap(known, base, have, todo)
        if slabs > 1 and height is not None:
            out[:, RGB][..., of_part] += share * _gap_in_slabs(known, base, have, todo, gap, height, of_part, slabs)
        else:
            out[:, RGB] += share * gap[..., None, None] * of_part.to(base)
    return out


def _gap(known: Tensor, base: Tensor, have: Tensor, todo: Tensor) -> Tensor:
    """``[B, 3]``: the mean of ``known``'s T_rgb over the ``have`` texels less the mean of ``base``'s over ``todo``."""
    return known[:, RGB][..., have].mean(-1) - base[:, RGB][..., todo].mean(-1)


def _gap_in_slabs(known: Tensor, base: Tensor, have: Tensor, todo: Tensor, gap: Tensor, height: Tensor, of_part: Tensor,
                  slabs: int) -> Tensor:
    """``[B, 3, M]``, one gap per texel of ``of_part`` (M of them): :func:`_gap` in each of ``slabs`` slabs of equal
    height (``gap``, the part's, where a slab lacks seen or unseen texels), drawn linearly in height between the slabs'
    middles (constant beyond the first and the last)."""
    h = height[of_part]
    low, high = h.min(), h.max()
    edges = low + (high - low) * torch.arange(slabs + 1, dtype=h.dtype, device=h.device) / slabs
    slab = torch.bucketize(height, edges[1:-1])  # [S, S], 0 .. slabs − 1
    gaps = []
    for k in range(slabs):
        k_have, k_todo = have & (slab == k), todo & (slab == k)
        gaps.append(_gap(known, base, k_have, k_todo) if k_have.any() and k_todo.any() else gap)
    middles = (edges[:-1] + edges[1:]) / 2
    t = ((h - middles[0]) / (middles[1] - middles[0]).clamp_min(1e-12)).clamp(0, slabs - 1)  # in slab middles
    below = t.floor().long().clamp(max=slabs - 2)
    w = (t - below).to(base)
    stacked = torch.stack(gaps, -1)  # [B, 3, slabs]
    return stacked[..., below] * (1 - w) + stacked[..., below + 1] * w
