"""Checks, statistics and drawings of atlases (``dinar info --atlas``): flips, overlaps, area
distortion, seam lengths, and a picture of each atlas beside the body."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dinar.body.atlas.build import front_cut_atlas, native_atlas
from dinar.body.atlas.mesh import (
    UVAtlas,
    _areas_3d,
    _axes,
    _boundary_segments,
    _chart_ids,
    _count_overlaps,
    _EdgeTopology,
    _rest_mesh,
    _seam_mask,
    _signed_areas,
)
from dinar.body.base import BodyModel


# 6. Checks and statistics ---------------------------------------------------------------------------
def atlas_stats(body: BodyModel, atlas: UVAtlas) -> dict:
    """How good an atlas is on the body's rest pose.

    - ``area_distortion_mean`` / ``_p95``: area-weighted mean and 95th percentile over faces of
      ``|log(uv area share / 3D area share)|`` (0: every face gets texels in proportion to its area;
      Anny's charts give the face more on purpose, which counts here too);
    - ``area_distortion_in_charts``: the same mean with shares taken within each chart, i.e. the
      flattening alone, without the texel density chosen per chart;
    - ``uv_coverage``: the fraction of the unit square covered by charts;
    - ``charts``; ``seam_length_m``: summed 3D length of the edges whose sides have different UVs;
      ``seam_length_back_m``: the part of it on back-facing surface (mean normal of the two faces
      . back > 0.3); ``seam_length_back_torso_m``: of that, edges between torso vertices (torso
      membership > 0.5) — what the front cut is for;
    - ``flipped``: faces with non-positive signed UV area; ``overlaps``: crossing chart borders plus
      nested charts; ``in_unit_square``: all UVs in [0, 1].
    """
    vertices, faces = _rest_mesh(body)
    uv = atlas.face_uvs.detach().double().cpu().numpy()
    topo = _EdgeTopology.of(faces)
    signed = _signed_areas(torch.from_numpy(uv)).numpy()
    area = _areas_3d(vertices, faces)
    share_3d = area / area.sum()
    share_uv = np.abs(signed) / np.abs(signed).sum()
    log_ratio = np.abs(np.log(np.maximum(share_uv, 1e-300) / np.maximum(share_3d, 1e-300)))
    order = np.argsort(log_ratio)
    cumulative = np.cumsum(share_3d[order])
    p95 = log_ratio[order][min(np.searchsorted(cumulative, 0.95), len(order) - 1)]
    seam = _seam_mask(topo, uv)
    length = np.linalg.norm(vertices[topo.edges[:, 0]] - vertices[topo.edges[:, 1]], axis=1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    edge_normal = normals[topo.faces[:, 0]] + normals[topo.faces[:, 1].clip(min=0)]
    edge_normal /= np.linalg.norm(edge_normal, axis=1, keepdims=True).clip(min=1e-12)
    back = -_axes(body)[0]
    on_back = seam & (edge_normal @ back > 0.3)
    torso = body.parts.weights[:, body.parts.names.index("torso")].cpu().numpy() > 0.5
    charts = _chart_ids(topo, uv)
    chart_uv = np.bincount(charts, np.abs(signed))[charts]
    chart_3d = np.bincount(charts, area)[charts]
    in_charts = np.abs(np.log(np.maximum(np.abs(signed) / chart_uv, 1e-300) / np.maximum(area / chart_3d, 1e-300)))
    return {
        "name": atlas.name,
        "area_distortion_mean": float((share_3d * log_ratio).sum()),
        "area_distortion_p95": float(p95),
        "area_distortion_in_charts": float((share_3d * in_charts).sum()),
        "uv_coverage": float(np.abs(signed).sum()),
        "charts": int(charts.max() + 1),
        "seam_length_m": float(length[seam].sum()),
        "seam_length_back_m": float(length[on_back].sum()),
        "seam_length_back_torso_m": float(length[on_back & torso[topo.edges[:, 0]] & torso[topo.edges[:, 1]]].sum()),
        "flipped": int((signed <= 0).sum()),
        "overlaps": _count_overlaps(topo, uv, charts),
        "in_unit_square": bool((uv >= 0).all() and (uv <= 1).all()),
    }


# 7. Drawings -----------------------------------------------------------------------------------------
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _uv_panel(face_uvs: np.ndarray, fill: np.ndarray, seams: np.ndarray, size: int):
    """Faces of ``face_uvs [F, 3, 2]`` filled with ``fill [F, 3]`` (uint8), chart borders ``seams [K, 2, 2]`` in black."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    px = np.stack([face_uvs[..., 0] * size, (1 - face_uvs[..., 1]) * size], -1)
    for corners, color in zip(px.tolist(), fill.tolist()):
        draw.polygon([tuple(c) for c in corners], fill=tuple(color))
    sx = np.stack([seams[..., 0] * size, (1 - seams[..., 1]) * size], -1)
    for (a, b) in sx.tolist():
        draw.line([tuple(a), tuple(b)], fill=(0, 0, 0), width=1)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(128, 128, 128))
    return image


def _body_view(
    vertices: np.ndarray,  # [V, 3]
    faces: np.ndarray,  # [F, 3]
    seam_edges: np.ndarray,  # [E_s, 2]
    fill: np.ndarray,  # [F, 3] uint8
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    from_back: bool,
    width: int,
    height: int,
):
    """Orthographic front or back view with seam edges in red, painter's algorithm.

    ``axes`` = (front, up, lateral) of the body. Faces and seam edges are drawn far to near; an
    edge counts 1 cm nearer than it is, so it lands on top of the faces beside it but under any
    limb in front of it.
    """
    from PIL import Image, ImageDraw

    front, up, lateral = axes
    toward = -front if from_back else front  # from the body towards the viewer
    x = vertices @ (-lateral if from_back else lateral)  # the subject's left is on the right from the front
    depth = -(vertices @ toward)  # larger is farther from the viewer
    z = vertices @ up
    scale = 0.92 * min(width / np.ptp(x), height / np.ptp(z))
    px = np.stack([(x - 0.5 * (x.max() + x.min())) * scale + width / 2, (0.5 * (z.max() + z.min()) - z) * scale + height / 2], 1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    toward_viewer = normals @ toward
    shade = 0.45 + 0.55 * toward_viewer.clip(0, 1)
    visible = np.nonzero(toward_viewer > 0)[0]
    items = [(depth[faces[f]].mean(), 0, int(f)) for f in visible]
    items += [(depth[e].mean() - 0.01, 1, k) for k, e in enumerate(seam_edges)]
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for _, kind, k in sorted(items, key=lambda item: -item[0]):
        if kind == 0:
            draw.polygon([tuple(px[i]) for i in faces[k]], fill=tuple(int(c * shade[k]) for c in fill[k]))
        else:
            a, b = seam_edges[k]
            draw.line([tuple(px[a]), tuple(px[b])], fill=(230, 0, 0), width=2)
    return image


def draw_atlas(body: BodyModel, atlases: list[UVAtlas], path: str | Path, size: int = 1024) -> None:
    """PNG with one column per atlas: part colours in UV, front/back facing in UV, the body's seams in 3D.

    Row 1: faces filled with the part colormap (:mod:`dinar.body.colormap`), chart borders in black.
    Row 2: faces by where they face: red front (normal . front > 0), blue back; a front-cut atlas
    shows its borders running through red only on the torso. Row 3: the rest-pose body from the
    front and from the back with every seam in red.
    """
    from PIL import Image, ImageDraw

    from dinar.body.colormap import part_colors

    vertices, faces = _rest_mesh(body)
    topo = _EdgeTopology.of(faces)
    colors = part_colors(body).cpu().numpy()
    part_fill = (255 * colors[faces].mean(1)).round().astype(np.uint8)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    facing = normals @ _axes(body)[0]
    red, blue = np.array([235, 70, 50]), np.array([40, 90, 230])
    t = (0.5 + 0.5 * facing)[:, None]
    facing_fill = (t * red + (1 - t) * blue).round().astype(np.uint8)
    grey = np.full_like(part_fill, 215)
    band = max(16, size // 28)  # a title band above each row
    sheet = Image.new("RGB", (size * len(atlases), 3 * (size + band)), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(int(band * 0.7))
    for i, atlas in enumerate(atlases):
        uv = atlas.face_uvs.detach().double().cpu().numpy()
        seam = _seam_mask(topo, uv)
        borders = _boundary_segments(topo, uv)
        x = i * size
        panels = [
            (f"{atlas.name}: body parts", _uv_panel(uv, part_fill, borders, size)),
            (f"{atlas.name}: faces facing front (red) or back (blue)", _uv_panel(uv, facing_fill, borders, size)),
        ]
        for row, (title, panel) in enumerate(panels):
            draw.text((x + 8, row * (size + band) + band // 8), title, fill=(0, 0, 0), font=font)
            sheet.paste(panel, (x, row * (size + band) + band))
        draw.text((x + 8, 2 * (size + band) + band // 8), f"{atlas.name}: seams (red), front and back", fill=(0, 0, 0), font=font)
        for j, back in enumerate((False, True)):
            view = _body_view(vertices, faces, topo.edges[seam], grey, _axes(body), back, size // 2, size)
            sheet.paste(view, (x + j * (size // 2), 2 * (size + band) + band))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def write_atlas_report(path: str | Path, body: BodyModel | None = None, size: int = 1024) -> dict:
    """Draw the native and the front-cut atlas to ``path`` (PNG); return ``{name: atlas_stats}`` (``dinar info --atlas``)."""
    if body is None:
        from dinar.body import load_body_model

        body = load_body_model()
    atlases = [native_atlas(body), front_cut_atlas(body)]
    draw_atlas(body, atlases, path, size)
    return {atlas.name: atlas_stats(body, atlas) for atlas in atlases}
