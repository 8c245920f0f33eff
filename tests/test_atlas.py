"""UV atlases (the paper's front cut, 3.1) and the body-part colormap (3.5) on Anny."""

import pytest
import torch

from dinar.body.atlas import (
    UVAtlas,
    front_cut_atlas,
    load_atlas,
    native_atlas,
)
from dinar.body.atlas import build as atlas_build
from dinar.body.atlas import mesh as atlas_mesh
from dinar.body.atlas.report import atlas_stats, write_atlas_report
from dinar.body.colormap import (
    PART_COLORS,
    dilate_texture,
    part_color_texture,
    part_colors,
)


@pytest.fixture(scope="module")
def front(body):
    return load_atlas(body, "front")


@pytest.fixture(scope="module")
def native(body):
    return native_atlas(body)


@pytest.fixture(scope="module")
def mesh(body):
    """Rest-pose vertices, edges [E, 2], the mean unit normal of the two faces beside each edge, edge lengths."""
    with torch.no_grad():
        vertices = body().vertices[0]
    faces = body.faces
    topo = atlas_mesh._EdgeTopology.of(faces.numpy())
    n = torch.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]], dim=1)
    n = torch.nn.functional.normalize(n, dim=1)
    edge_faces = torch.from_numpy(topo.faces)
    edge_normal = torch.nn.functional.normalize(n[edge_faces[:, 0]] + n[edge_faces[:, 1]], dim=1)
    edges = torch.from_numpy(topo.edges)
    length = (vertices[edges[:, 0]] - vertices[edges[:, 1]]).norm(dim=1)
    return vertices, edges, edge_normal, length


def _front(body) -> torch.Tensor:
    return torch.tensor(body.front_axis)  # Anny: -y


def _seam_mask(body, atlas: UVAtlas) -> torch.Tensor:
    topo = atlas_mesh._EdgeTopology.of(body.faces.numpy())
    return torch.from_numpy(atlas_mesh._seam_mask(topo, atlas.face_uvs.double().numpy()))


# Atlas validity ----------------------------------------------------------------------------------
def test_front_atlas_is_valid(body, front):
    assert front.face_uvs.shape == body.face_uvs.shape
    assert front.face_uvs.min() >= 0 and front.face_uvs.max() <= 1
    assert (front.signed_areas() > 0).all(), "flipped or degenerate triangles"  # same orientation as native
    stats = atlas_stats(body, front)
    assert stats["flipped"] == 0 and stats["overlaps"] == 0 and stats["in_unit_square"]
    assert stats["charts"] == int(native_atlas(body).charts(body.faces).max()) + 1  # one chart re-cut, none added


def test_overlap_check_finds_overlaps(body, front):
    """The overlap count is not vacuous: shifting one chart onto another is caught."""
    charts = front.charts(body.faces)
    uv = front.face_uvs.clone()
    hand = charts == charts[body.parts.labels[body.faces[:, 0]] == body.parts.names.index("hand.L")][0]
    body_chart = torch.bincount(charts).argmax()
    uv[hand] += uv[charts == body_chart].reshape(-1, 2).mean(0) - uv[hand].reshape(-1, 2).mean(0)
    assert atlas_stats(body, UVAtlas("moved", uv))["overlaps"] > 0


def test_front_atlas_is_less_distorted_than_native(body, front, native):
    f, n = atlas_stats(body, front), atlas_stats(body, native)
    assert f["area_distortion_in_charts"] < n["area_distortion_in_charts"]
    assert f["area_distortion_mean"] < n["area_distortion_mean"]
    assert f["uv_coverage"] > 0.5


# Where the seams are -----------------------------------------------------------------------------
def test_back_of_torso_has_no_seam(body, front, native, mesh):
    """Seam edges between torso vertices (membership > 0.5) on back-facing surface (normal . back > 0.3)."""
    _, edges, edge_normal, length = mesh
    torso = body.parts.weights[:, body.parts.names.index("torso")] > 0.5
    on_back_torso = torso[edges[:, 0]] & torso[edges[:, 1]] & (edge_normal @ -_front(body) > 0.3)
    assert length[_seam_mask(body, native) & on_back_torso].sum() > 0.5  # Anny cuts along the spine
    assert length[_seam_mask(body, front) & on_back_torso].sum() < 0.01
    # Arms and legs too: no seam on their back-facing side except at Anny's wrist and ankle charts.
    limbs = [body.parts.names.index(p) for p in ("upperarm.L", "upperarm.R", "upperleg.L", "upperleg.R")]
    limb = torch.isin(body.parts.labels, torch.tensor(limbs))
    on_back_limb = limb[edges[:, 0]] & limb[edges[:, 1]] & (edge_normal @ -_front(body) > 0.3)
    assert length[_seam_mask(body, front) & on_back_limb].sum() < 0.01


def test_front_midline_is_cut(body, front, native, mesh):
    """Edges on the sagittal plane (|x| < 0.1 mm) of the front of the torso are seams in the front cut only."""
    vertices, edges, edge_normal, _ = mesh
    torso = body.parts.weights[:, body.parts.names.index("torso")] > 0.5
    sagittal = vertices[:, 0].abs() < 1e-4
    midline = sagittal[edges[:, 0]] & sagittal[edges[:, 1]] & torso[edges[:, 0]] & torso[edges[:, 1]]
    front_midline = midline & (edge_normal @ _front(body) > 0.5)
    assert front_midline.sum() > 20
    assert _seam_mask(body, front)[front_midline].float().mean() > 0.95
    assert _seam_mask(body, native)[front_midline].float().mean() < 0.05
    back_midline = midline & (edge_normal @ -_front(body) > 0.5)
    assert _seam_mask(body, front)[back_midline].float().mean() < 0.05  # the spine is closed


def test_charts_keep_body_up(body, front):
    """The re-cut chart is upright: the head end of the torso has larger v than the crotch end."""
    with torch.no_grad():
        z = body().vertices[0][:, 2]
    charts = front.charts(body.faces)
    body_chart = charts == torch.bincount(charts).argmax()
    v = front.face_uvs[body_chart, :, 1].mean(1)
    fz = z[body.faces[body_chart]].mean(1)
    assert torch.corrcoef(torch.stack([v, fz]))[0, 1] > 0.9


# Cache ------------------------------------------------------------------------------------------
def test_cache_round_trip(body, front, tmp_path, monkeypatch):
    """Computed once, written atomically as safetensors, read back identical."""
    monkeypatch.setenv("DINAR_CACHE_DIR", str(tmp_path))
    calls = []

    def compute(b):  # stands in for the ~5 s computation
        calls.append(b)
        return front.face_uvs.double().numpy()

    monkeypatch.setattr(atlas_build, "_compute_front_cut", compute)
    atlas_build._read_cached.cache_clear()
    computed = front_cut_atlas(body)
    files = list((tmp_path / "atlas").iterdir())
    assert [f.suffix for f in files] == [".safetensors"]  # no temporary file left behind
    assert files[0].name.startswith(f"{body.name}-{atlas_build.ATLAS_VERSION}-")
    loaded = front_cut_atlas(body)
    assert len(calls) == 1
    assert torch.equal(computed.face_uvs, loaded.face_uvs) and torch.equal(loaded.face_uvs, front.face_uvs)
    atlas_build._read_cached.cache_clear()


def test_load_atlas_names(body):
    assert load_atlas(body, "native").name == "native"
    assert torch.equal(load_atlas(body, "native").face_uvs, body.face_uvs)
    with pytest.raises(ValueError, match="front"):
        load_atlas(body, "back")


# Colormap (paper 3.5) -----------------------------------------------------------------------------
def test_part_colors_are_smooth_on_the_surface(body, mesh):
    """No hard colour edge anywhere on the mesh: inside limbs and across joints colours change slowly."""
    _, edges, _, length = mesh
    colors = part_colors(body)
    assert colors.shape == (body.num_vertices, 3) and colors.min() >= 0 and colors.max() <= 1
    gradient = (colors[edges[:, 0]] - colors[edges[:, 1]]).abs().amax(1) / length.clamp_min(1e-6)  # per metre
    assert gradient.max() < 15.0  # a full 0 -> 1 step takes at least ~7 cm


def test_part_colors_are_distinct(body):
    """Parts keep their palette colour away from joints; parts that overlap in photos differ strongly."""
    colors = part_colors(body)
    names = body.parts.names
    palette = torch.tensor([PART_COLORS[n] for n in names])
    for p, name in enumerate(names):
        core = body.parts.weights[:, p] > 0.99
        assert (colors[core] - palette[p]).abs().amax(1).median() < 0.15, name
    linf = (palette[:, None] - palette[None]).abs().amax(-1)
    assert linf[~torch.eye(len(names), dtype=torch.bool)].min() >= 0.5  # every pair: a clear Canny step

    def d(a, b):
        return linf[names.index(a), names.index(b)]

    for side in ("L", "R"):
        for limb in ("upperarm", "lowerarm", "hand"):
            assert d(f"{limb}.{side}", "torso") >= 1.0 and d(f"{limb}.{side}", "head") >= 0.5
    for a in ("upperleg", "lowerleg"):
        for b in ("upperleg", "lowerleg"):
            assert d(f"{a}.L", f"{b}.R") >= 1.0  # crossed legs
    for side in ("L", "R"):
        assert d(f"hand.{side}", "upperleg.L") >= 1.0 and d(f"hand.{side}", "upperleg.R") >= 1.0


def _canny_inside(image, mask):
    """Canny edges of ``image [B, 3, H, W]`` (per channel, OR-ed) more than 4 px inside the silhouette,
    with the thresholds of the occlusion detector (paper 3.5) that consumes the colormap. Without
    hysteresis (slow on a CPU) every pixel above the low threshold counts: stricter than the detector."""
    import inspect

    import kornia

    from dinar.texture.occlusion import detect_occlusions

    defaults = inspect.signature(detect_occlusions).parameters
    B, C, H, W = image.shape
    _, edges = kornia.filters.canny(
        (image * mask).reshape(B * C, 1, H, W),
        low_threshold=defaults["low_threshold"].default,
        high_threshold=defaults["high_threshold"].default,
        hysteresis=False,
    )
    inner = -torch.nn.functional.max_pool2d(-mask, 9, stride=1, padding=4)  # the mask eroded by 4 px
    return (edges.view(B, C, H, W).amax(1, keepdim=True) > 0) & (inner > 0.5)


def test_colormap_edges_only_where_parts_overlap(body, front):
    """Rest pose: no edge inside the body, drawn from vertex colours or through the front atlas (its
    seams do not show). A forearm across the belly: edges along it."""
    from dinar.geometry.camera import orbit_cameras
    from dinar.geometry.raster import interpolate_vertex_attr, rasterize
    from dinar.geometry.texture_lookup import sample_texture

    camera = orbit_cameras(1, radius=3.6, size=384, target=(0.0, 0.0, -0.05))
    colors = part_colors(body)
    texture = part_color_texture(body, front, 256)
    assert texture.shape == (3, 256, 256) and texture.min() >= 0 and texture.max() <= 1

    raster = rasterize(body().vertices, body.faces, camera, front.face_uvs)
    by_vertex = interpolate_vertex_attr(raster, body.faces, colors[None])
    by_texture = sample_texture(texture[None], raster.uv) * raster.mask
    assert (by_texture - by_vertex).abs().amax(1)[raster.mask[:, 0] > 0].quantile(0.99) < 0.05

    pose = torch.zeros(1, body.num_joints, 3)
    names = body.skeleton.names
    pose[0, names.index("upperarm01.R")] = torch.tensor([-0.2482, -0.7808, 0.1028])
    pose[0, names.index("lowerarm01.R")] = torch.tensor([0.5073, -0.7940, 0.6658])
    posed = rasterize(body(pose=pose).vertices, body.faces, camera)
    by_vertex_posed = interpolate_vertex_attr(posed, body.faces, colors[None])

    images = torch.cat([by_vertex, by_texture, by_vertex_posed])
    edges = _canny_inside(images, torch.cat([raster.mask, raster.mask, posed.mask])).flatten(1).sum(1)
    assert edges[0] == 0 and edges[1] == 0  # rest pose, by vertex and through the atlas
    assert edges[2] > 30  # the forearm in front of the belly


def test_texture_padding_fills_around_charts():
    texture = torch.zeros(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    texture[..., 3:5, 3:5] = torch.tensor([0.2, 0.4, 0.6])[:, None, None]
    mask[..., 3:5, 3:5] = 1
    out = dilate_texture(texture, mask, 2)
    assert torch.allclose(out[0, :, 1, 1], torch.tensor([0.2, 0.4, 0.6]))
    assert out[0, :, 0, 0].abs().sum() == 0  # beyond the padding
    assert torch.equal(out[..., 3:5, 3:5], texture[..., 3:5, 3:5])


# Report -----------------------------------------------------------------------------------------
def test_write_atlas_report(body, tmp_path):
    from PIL import Image

    path = tmp_path / "atlas.png"
    stats = write_atlas_report(path, body, size=256)
    assert set(stats) == {"native", "front"}
    assert stats["front"]["seam_length_back_torso_m"] < 0.01 < stats["native"]["seam_length_back_torso_m"]
    with Image.open(path) as image:
        assert image.width == 2 * 256 and image.height > 3 * 256
