"""Packing UV charts into the unit square without overlaps, each at its own texel density."""

from __future__ import annotations

import numpy as np
import torch

from dinar.body.atlas.mesh import _signed_areas

_CHART_MARGIN = 0.01  # UV gap between packed charts: 2.5 texels of a 256^2 texture


# 4. Packing ------------------------------------------------------------------------------------------
def _outline(face_uvs: np.ndarray) -> np.ndarray:
    """The outer border of one chart ``[F_c, 3, 2]`` as a polygon ``[K, 2]`` (holes are ignored)."""
    import igl

    points, index = np.unique(face_uvs.reshape(-1, 2).round(9), axis=0, return_inverse=True)
    loops = igl.boundary_loop_all(index.reshape(-1, 3).astype(np.int64))
    perimeter = [np.linalg.norm(np.diff(points[np.r_[loop, loop[:1]]], axis=0), axis=1).sum() for loop in loops]
    return points[loops[int(np.argmax(perimeter))]]


def _footprint(outline: np.ndarray, scale: float, resolution: int, margin_cells: int) -> np.ndarray:
    """Occupancy bitmap (row 0 at the bottom) of a chart outline scaled to grid cells, grown by the margin."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_dilation

    cells = outline * scale * resolution + margin_cells + 1
    width, height = (np.ceil(cells.max(0)) + margin_cells + 1).astype(int)
    image = Image.new("1", (int(width), int(height)), 0)
    ImageDraw.Draw(image).polygon([tuple(c) for c in cells.tolist()], fill=1, outline=1)
    mask = np.asarray(image, dtype=bool)
    return binary_dilation(mask, iterations=margin_cells) if margin_cells else mask


def _turn(points: np.ndarray) -> np.ndarray:
    """Rotate UV points ``[..., 2]`` by 90 degrees counter-clockwise (orientation kept), back to a zero lower-left corner."""
    turned = np.stack([-points[..., 1], points[..., 0]], -1)
    return turned - turned.reshape(-1, 2).min(0)


def _bitmap_pack(charts: list[np.ndarray], margin: float, resolution: int = 384) -> tuple[float, np.ndarray, np.ndarray]:
    """Pack ``charts`` (each ``[F_c, 3, 2]`` with a zero lower-left corner) into the unit square.

    Returns the largest common scale, lower-left offsets ``[C, 2]`` and which charts are turned by
    90 degrees ``[C]``. Each chart's outline is rasterized on a grid, grown by the margin; largest
    first, each goes to the lowest, then leftmost, free position (an FFT correlation finds them), so
    small charts fill the hollows of big ones. Charts with more than a tenth of the area (the body
    and the head) stay upright; the others may turn if that places them lower. Scale by bisection.
    """
    from scipy.signal import fftconvolve

    margin_cells = max(1, int(np.ceil(margin * resolution / 2)))
    outlines = [_outline(c) for c in charts]
    areas = np.array([np.abs(_signed_areas(torch.from_numpy(c)).numpy()).sum() for c in charts])
    order = np.argsort(-areas, kind="stable")
    may_turn = areas < 0.1 * areas.sum()

    def place(scale: float) -> tuple[np.ndarray, np.ndarray] | None:
        occupied = np.zeros((resolution, resolution), dtype=bool)
        offsets, turned = np.zeros((len(charts), 2)), np.zeros(len(charts), dtype=bool)
        for k in order:
            best = None
            for turn in (False, True) if may_turn[k] else (False,):
                foot = _footprint(_turn(outlines[k]) if turn else outlines[k], scale, resolution, margin_cells)
                h, w = foot.shape
                if h > resolution or w > resolution:
                    continue
                hits = fftconvolve(occupied.astype(np.float32), foot[::-1, ::-1].astype(np.float32), mode="valid") > 0.5
                free = np.argwhere(~hits)  # (row, col) of the footprint's lower-left cell; row 0 is v = 0
                if len(free):
                    row, col = free[np.lexsort((free[:, 1], free[:, 0]))[0]]
                    if best is None or (row, col) < best[:2]:
                        best = (row, col, turn, foot)
            if best is None:
                return None
            row, col, turned[k], foot = best
            occupied[row : row + foot.shape[0], col : col + foot.shape[1]] |= foot
            offsets[k] = (col + margin_cells + 1) / resolution, (row + margin_cells + 1) / resolution
        return offsets, turned

    lo, hi = 0.0, 1.0 / max(float(np.ptp(o, 0).max()) for o in outlines)
    best = None
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        placed = place(mid)
        if placed is None:
            hi = mid
        else:
            lo, best = mid, placed
    if best is None:
        raise RuntimeError("could not pack the charts into the unit square")
    return lo, best[0], best[1]


def _pack(face_uvs: np.ndarray, charts: np.ndarray, margin: float = _CHART_MARGIN) -> np.ndarray:
    """Move, turn and uniformly scale the charts of ``face_uvs`` so they tile the unit square."""
    ids = np.unique(charts)
    local = [face_uvs[charts == c] - face_uvs[charts == c].reshape(-1, 2).min(0) for c in ids]
    scale, offsets, turned = _bitmap_pack(local, margin)
    out = np.empty_like(face_uvs)
    for c, chart_uvs, offset, turn in zip(ids, local, offsets, turned):
        out[charts == c] = (_turn(chart_uvs) if turn else chart_uvs) * scale + offset
    return out
