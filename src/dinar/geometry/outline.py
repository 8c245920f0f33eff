"""A mask's outline: its pixels with a 4-neighbour outside it (or past the image's edge).

One definition for everything that compares or draws outlines: the fit's silhouette target (its contour points),
the fit overlays, and the silhouette error that sizes the occlusion band.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion


def outline(mask: np.ndarray) -> np.ndarray:
    """The outline pixels of ``mask`` (``[H, W]``, bool, or numbers where ``>= 0.5`` is inside), ``[H, W]`` bool. A
    mask pixel on the image's border counts as outline: past the edge is outside."""
    inside = mask if mask.dtype == bool else mask >= 0.5
    return inside & ~binary_erosion(inside, border_value=0)
