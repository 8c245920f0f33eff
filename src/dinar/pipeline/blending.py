"""Step 6: keep what the photos show (paper 3.4, eq. 6), with a soft border.

``T = T_res · (1 − m) + T^j · m`` with ``m = B_fill ⊙ blur(erode(B_fill))``: the photo's texels
survive exactly inside the known region, the restored ones outside it, and across the last texel or
two of its edge — Algorithm 1's gap-filled ring, where sampling and fit are least reliable — the two
blend instead of meeting at a hard seam. Multiplying by B_fill keeps ``m`` inside the known region
whatever the radii, so nothing of T^j's unknown (zero) texels leaks into the restored ones.
:func:`dinar.texture.merging.keep_known_texels` erodes and blurs; values within 1e-6 of 0 or 1 are
snapped to them (a normalized Gaussian kernel sums to 1 only up to rounding), so the interior
survives bit for bit.

Why no erosion by default. A one-photo B_fill is not a few large regions but many thin ones (the atlas
has many charts, and a photo covers each only partly). Measured on synthetic front views, fraction of
B_fill's weight that eq. 6 still takes from the photo (``sum m / sum B_fill``)::

    texture (photo)   erode 0, blur 1   erode 1, blur 1   erode 2, blur 2   erode 0, blur 2
    64²  (128²)            0.95              0.55              0.20              0.87
    128² (256²)            0.96              0.66              0.39              0.90
    256² (512²)            0.98              0.77              0.58              0.93

Eroding by "a few texels" would throw away most of what the photo shows — the details eq. 6 exists to
keep — so the default blurs only (radius 1 up to 128² textures, 2 at 256²,
:meth:`PipelineOptions.blend_radii`); ``blend_erode`` is there for photos with unreliable edges.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dinar.texture.merging import keep_known_texels

SNAP = 1e-6


def known_mask(filled: Tensor, erode: int, blur: int) -> Tensor:
    """``m`` of eq. 6, ``[B, 1, S, S]`` in [0, 1], zero outside B_fill (module docstring)."""
    known = (filled > 0.5).to(filled.dtype)
    m = keep_known_texels(torch.zeros_like(known), torch.ones_like(known), known, erode=erode, blur=blur) * known
    return torch.where(m > 1 - SNAP, 1.0, torch.where(m < SNAP, 0.0, m))


def blend_known(
    restored: Tensor,  # [B, 21, S, S] T_res
    known: Tensor,  # [B, 21, S, S] T^j (or the merge of several photos)
    filled: Tensor,  # [B, 1, S, S] B_fill^j (or the union)
    erode: int = 0,
    blur: int = 1,
) -> Tensor:
    """Eq. 6 with the soft border of :func:`known_mask`: ``[B, 21, S, S]``."""
    m = known_mask(filled, erode, blur)
    return restored * (1 - m) + known * m
