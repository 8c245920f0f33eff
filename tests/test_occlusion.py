"""The occlusion detector (paper 3.5, appendix B fig. 9): a synthetic bar over a disc, and a forearm in
front of the belly with a simulated body-fit error."""

import os

import torch

from dinar.body.colormap import part_colors
from dinar.geometry.camera import orbit_cameras
from dinar.geometry.raster import interpolate_vertex_attr, rasterize
from dinar.geometry.texture_lookup import bake_vertex_attr, sample_texture, uv_layout
from dinar.texture import detect_occlusions, occlusion_free_mask, sample_rgb_texture
from dinar.texture.occlusion import silhouette_error

DEBUG_DIR = os.environ.get("DINAR_DEBUG_DIR", "/tmp")


def _bar_over_disc(size=64):
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    disc = (xx - 32) ** 2 + (yy - 32) ** 2 <= 24 ** 2
    bar = (yy >= 28) & (yy < 36) & (xx >= 4) & (xx < 60)  # crosses the disc and sticks out both sides
    image = torch.zeros(1, 3, size, size)
    image[0, :, disc] = torch.tensor([0.2, 0.3, 0.8])[:, None]
    image[0, :, bar] = torch.tensor([0.3, 0.9, 0.3])[:, None]
    return image, (disc | bar)[None, None].float(), disc, bar


def test_bar_over_disc_marks_the_inner_boundary_not_the_silhouette():
    image, mask, _, bar = _bar_over_disc()
    occ = detect_occlusions(image, mask, band=2)[0, 0]
    assert occ.dtype == torch.bool and not occ[mask[0, 0] == 0].any()
    # The bar's long edges inside the disc (rows 27/28 and 35/36) are marked, away from the silhouette.
    for col in range(18, 47):
        assert occ[26:30, col].any() and occ[34:38, col].any()
    # The outer silhouette (disc rim, the bar's ends outside the disc) is not marked.
    yy, xx = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    rim = ((xx - 32) ** 2 + (yy - 32) ** 2).sqrt().sub(24).abs() < 1.5
    assert not occ[rim & ~bar & ((yy - 32).abs() > 8)].any()
    assert not occ[:, :6].any() and not occ[:, 58:].any()  # the bar's ends stick out of the disc
    # Pixels far from the bar are kept, and the free mask removes exactly the band.
    assert not occ[10:20, 25:40].any() and not occ[45:55, 25:40].any()
    free = occlusion_free_mask(mask, occ[None, None])
    assert torch.equal(free[0, 0] > 0, (mask[0, 0] > 0) & ~occ)


def test_uniform_silhouette_gives_no_occlusion():
    image, mask, _, _ = _bar_over_disc()
    image[:] = torch.tensor([0.2, 0.3, 0.8])[None, :, None, None] * mask
    assert not detect_occlusions(image, mask).any()
    # Same luminance, different colour: still an edge (Canny runs per channel, not on grayscale).
    image2, mask2, *_ = _bar_over_disc()
    image2[0, :, 28:36, 4:60] = torch.tensor([0.8, 0.3, 0.2])[:, None, None]  # R and B swapped: equal mean
    assert detect_occlusions(image2, mask2).any()


# --- a forearm in front of the belly ---------------------------------------------------------------------

# Anny local-ref axis-angle: the right upper arm hangs down and forward, the forearm crosses the belly
# horizontally towards the body's midline (seen from the front camera below).
_FIT_POSE = {"upperarm01.R": (-0.2482, -0.7808, 0.1028), "lowerarm01.R": (0.5073, -0.7940, 0.5458)}
# The "photo": the same person with the forearm a few degrees off and a slightly heavier shape.
_TRUE_POSE = {"upperarm01.R": (-0.2482, -0.7808, 0.1028), "lowerarm01.R": (0.5073, -0.7940, 0.5458 + 0.12)}


def _pose(body, rotvecs):
    pose = torch.zeros(1, body.num_joints, 3)
    for name, rv in rotvecs.items():
        pose[0, body.skeleton.names.index(name)] = torch.tensor(rv)
    return pose


def test_detector_keeps_torso_colour_off_the_forearm(body):
    S, size = 256, 256
    camera = orbit_cameras(1, radius=3.6, size=size, target=(0.0, 0.0, -0.05))
    layout = uv_layout(body.face_uvs, S)
    parts = body.parts.names
    # The person's texture: forearm skin vs a dark shirt, baked from part memberships.
    skin, shirt = torch.tensor([0.95, 0.75, 0.6]), torch.tensor([0.1, 0.15, 0.45])
    forearm_w = body.parts.weights[:, parts.index("lowerarm.R")] + body.parts.weights[:, parts.index("hand.R")]
    vertex_rgb = forearm_w[:, None] * skin + (1 - forearm_w[:, None]) * shirt
    texture = bake_vertex_attr(layout, body.faces, vertex_rgb[None])
    forearm_texels = bake_vertex_attr(layout, body.faces, body.parts.weights[None, :, parts.index("lowerarm.R"), None])[0, 0] > 0.5

    true_shape = body.neutral_shape(1)
    true_shape[0, body.shape_names.index("weight")] = 0.6
    true = body(pose=_pose(body, _TRUE_POSE), shape=true_shape)
    true_raster = rasterize(true.vertices, body.faces, camera, body.face_uvs)
    photo = sample_texture(texture, true_raster.uv) * true_raster.mask

    fit = body(pose=_pose(body, _FIT_POSE))
    raster = rasterize(fit.vertices, body.faces, camera, body.face_uvs)
    part_image = interpolate_vertex_attr(raster, body.faces, part_colors(body)[None])
    occlusion = detect_occlusions(part_image, raster.mask, band=1)  # the forearm is ~7 px thick at 256^2

    errors = {}
    for name, mask in {"without": raster.mask, "with": occlusion_free_mask(raster.mask, occlusion)}.items():
        t = sample_rgb_texture(photo, raster.uv, mask, S)
        sel = forearm_texels & (t.sampled[0, 0] > 0)
        err = (t.rgb[0][:, sel] - texture[0][:, sel]).abs().mean(0)  # per texel, mean over RGB
        errors[name] = (err.mean().item(), (err > 0.25).float().mean().item(), int(sel.sum()))
        print(f"forearm texels {name} the detector: mean abs error {errors[name][0]:.4f}, "
              f"{100 * errors[name][1]:.1f}% with error > 0.25, {errors[name][2]} sampled texels")
    # Debug picture: fitted part colours with the band in white | the photo | the band on the photo.
    vis = part_image.clone()
    vis[occlusion.expand_as(vis)] = 1.0
    overlay = photo.clone()
    overlay[0, 0][occlusion[0, 0]] = 1.0
    _save_png(torch.cat([vis[0], photo[0], overlay[0]], dim=2), os.path.join(DEBUG_DIR, "dinar_occlusion_detector.png"))

    assert errors["with"][0] < 0.4 * errors["without"][0]
    assert errors["with"][1] < 0.3 * errors["without"][1]
    assert errors["with"][2] > 0.4 * errors["without"][2]  # the detector removes a band, not the forearm

def _save_png(image, path):
    from PIL import Image

    Image.fromarray((image.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()).save(path)


def test_silhouette_error_is_the_median_distance_between_the_outlines():
    """A 10² body square inside a 14² person square (2 px bigger each side): its outline's side pixels lie 2 px from
    the person's outline, its 4 corners 2√2; the median is 2. The same mask gives 0, an empty one 0."""
    body, person = torch.zeros(3, 1, 24, 24), torch.zeros(3, 1, 24, 24)
    body[:, :, 7:17, 7:17] = 1
    person[0, :, 5:19, 5:19] = 1
    person[1, :, 7:17, 7:17] = 1
    assert silhouette_error(body, person) == [2.0, 0.0, 0.0]
