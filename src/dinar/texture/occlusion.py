"""The occlusion detector: paper 3.5 and appendix B (figure 9).

Where one body part overlaps another (a forearm in front of the belly), small body-fit errors make
Algorithm 1 copy the colours of one part into the other. The detector rasterizes the body with a
part colormap (one colour per limb, smooth gradients across joints so limbs show no seams), finds
its edges with Canny, takes the outer silhouette contour (from the binary rasterization) out of
them and widens what is left into a band; the band is then removed from the pixels Algorithm 1
uses, leaving those texels to the inpainting.
"""

from __future__ import annotations

import kornia
import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from dinar.geometry.outline import outline


def _square(radius: int, like: Tensor) -> Tensor:
    return torch.ones(2 * radius + 1, 2 * radius + 1, dtype=like.dtype, device=like.device)


def detect_occlusions(
    part_color_image: Tensor,  # [B, 3, H, W] the body rasterized with the part colormap, colours in [0, 1]
    mask: Tensor,  # [B, 1, H, W] the binary rasterization (1 on the body)
    band: int = 3,
    low_threshold: float = 0.6,
    high_threshold: float = 1.2,
    silhouette_margin: int = 2,
    hysteresis_reach: int = 2,
) -> Tensor:
    """Occlusion band (paper 3.5, fig. 9), bool ``[B, 1, H, W]``, inside the body mask.

    1. Canny edges of the part-colour image, run on each colour channel separately and OR-ed (a
       grayscale Canny would miss parts whose colours share a luminance); the image is set to 0 on
       the background so every silhouette edge is a strong, known edge. Hysteresis is bounded: a weak
       edge pixel is kept within ``hysteresis_reach`` pixels of a strong one (kornia's own hysteresis
       follows edges one pixel per pass until nothing changes: hundreds of passes over a 512² image,
       where the band, dilated by 3 pixels afterwards, needs none of that precision).
    2. The outer contour: the morphological gradient of the mask (dilation minus erosion, both sides
       of the silhouette), widened by ``silhouette_margin`` pixels so Canny's silhouette edges, which
       can sit one pixel either side, are removed completely.
    3. Edges minus contour, dilated by ``band`` pixels (a square of side ``2 band + 1``), within the mask.

    Thresholds are on kornia's Canny gradient magnitude (unnormalized Sobel after a sigma-1 blur): a
    colour step of height ``h`` reaches about ``2.6 h`` and a ramp of slope ``s`` per pixel ``8 s``. The
    defaults (0.6 / 1.2) keep steps above ~0.45 (weak edges above ~0.25 next to them) and drop ramps
    flatter than ~0.075 per pixel, so they assume part colours in [0, 1] that differ by about 0.5 or
    more between limbs and change slowly inside them. ``band = 3`` suits 512^2 images (the paper's).
    """
    B, C, H, W = part_color_image.shape
    if mask.shape != (B, 1, H, W):
        raise ValueError(f"expected mask [B, 1, H, W] for image {tuple(part_color_image.shape)}, got {tuple(mask.shape)}")
    body = (mask > 0.5).to(part_color_image.dtype)
    image = (part_color_image * body).reshape(B * C, 1, H, W)
    _, edges = kornia.filters.canny(image, low_threshold=low_threshold, high_threshold=high_threshold, hysteresis=False)
    strong = (edges > 0.75).to(body.dtype)  # kornia without hysteresis: 1 on strong edges, 0.5 on weak ones
    near_strong = kornia.morphology.dilation(strong, _square(hysteresis_reach, body)) > 0.5
    edges = (strong > 0.5) | ((edges > 0.25) & near_strong)
    edges = edges.view(B, C, H, W).amax(1, keepdim=True)

    one = _square(1, body)
    contour = kornia.morphology.dilation(body, one) - kornia.morphology.erosion(body, one)
    if silhouette_margin > 0:
        contour = kornia.morphology.dilation(contour, _square(silhouette_margin, body))
    occlusion = (edges & (contour < 0.5)).to(body.dtype)
    if band > 0:
        occlusion = kornia.morphology.dilation(occlusion, _square(band, body))
    return (occlusion > 0.5) & (body > 0.5)


def occlusion_free_mask(
    raster_mask: Tensor,  # [B, 1, H, W] float 0/1 foreground of the UV-render
    occlusion: Tensor,  # [B, 1, H, W] bool band from :func:`detect_occlusions`
) -> Tensor:
    """The pixels Algorithm 1 may use: foreground minus the occlusion band, ``[B, 1, H, W]`` float."""
    return raster_mask * (~occlusion.bool()).to(raster_mask.dtype)


def silhouette_error(body: Tensor, person: Tensor) -> list[float]:
    """How far a fit is off in its photo, per image: the median, over the outline pixels of the rasterized ``body``
    (``[B, 1, H, W]``, 1 on the body), of the distance in pixels to the nearest outline pixel of the ``person`` mask
    (``[B, 1, H, W]``, in [0, 1]). 0 where the two outlines coincide; an image where either is empty gives 0.

    Why: the occlusion band must be at least as wide as the fit's misalignment, or a limb's colours land on the part
    behind it. At 512² a synthetic person's exact fit is off by 1-3 px (by the clothes and hair the body does not
    hold), the fits of the real captures by 4-10 (docs/back.md)."""
    out = []
    for b, p in zip((body[:, 0] > 0.5).cpu().numpy(), (person[:, 0] > 0.5).cpu().numpy(), strict=True):
        b_edge, p_edge = outline(b), outline(p)
        out.append(float(np.median(distance_transform_edt(~p_edge)[b_edge])) if b_edge.any() and p_edge.any() else 0.0)
    return out
