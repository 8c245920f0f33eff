"""The simple fills of unseen texels (texture/fills.py), the baselines of the back: hand-checkable cases on
a texel surface laid out by hand, the surface of the real body and atlas, and the pipeline switch."""

from __future__ import annotations

import pytest
import torch

from dinar.pipeline.options import PipelineOptions
from dinar.texture.fills import (
    TexelSurface,
    fill_texture,
    inset_known,
    mirror_texels,
    texel_surface,
)

PLAIN_DIFFUSION = PipelineOptions(rgb_tuning=False, color_adjust=False, diffusion_steps=2, diffusion_samples=1,
                                  diffusion_mix=None, diffusion_detail=None, diffusion_pattern=None)
"""A fast pipeline whose back is one diffusion sample alone, without the fills' colours or detail: what the fill
tests compare each switch against."""


def line_surface() -> TexelSurface:
    """A 1 x 4 strip of texels at x = 0, 1, 2, 3 (parts 0, 0, 1, 1), two deep: row 0 faces the front
    (y = -1), row 1 the back (y = +1); the body faces -y."""
    position = torch.zeros(2, 4, 3)
    position[:, :, 0] = torch.arange(4.0)
    position[0, :, 1], position[1, :, 1] = -1.0, 1.0
    part = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    return TexelSurface(inside=torch.ones(2, 4, dtype=torch.bool), position=position, part=part, front=torch.tensor([0.0, -1.0, 0.0]))


def strip_texture() -> tuple[torch.Tensor, torch.Tensor]:
    """The front row known with red = 0.1, 0.2, 0.3, 0.4; the back row unknown (zeros)."""
    texture = torch.zeros(1, 21, 2, 4)
    texture[0, :16] = 0.7  # T_gen, everywhere
    texture[0, 16, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    texture[0, 19:21, 0] = 1.0
    return texture, texture[:, 20:21].clone()


def test_mirror_texels_maps_each_texel_to_its_mirror_through_its_part():
    surface = line_surface()
    assert mirror_texels(surface).tolist() == [4, 5, 6, 7, 0, 1, 2, 3]  # front row <-> back row, flat row-major
    surface.inside[1, 3] = False  # a texel outside the charts maps to itself, and nothing maps to it
    assert mirror_texels(surface).tolist() == [4, 5, 6, 6, 0, 1, 2, 7]


def test_mean_fill_uses_the_known_texels_of_the_same_part():
    texture, known = strip_texture()
    out = fill_texture(texture, known, line_surface(), "mean")
    assert out[0, 16, 1].tolist() == pytest.approx([0.15, 0.15, 0.35, 0.35])
    assert torch.equal(out[0, :, 0], texture[0, :, 0])  # known texels unchanged
    assert torch.equal(out[0, :16], texture[0, :16])  # T_gen unchanged
    assert out[0, 19:21, 1].eq(1).all()  # filled texels count as known


def test_mirror_fill_reflects_through_the_parts_coronal_plane():
    texture, known = strip_texture()
    surface = line_surface()
    surface.position[0, :, 1] = torch.tensor([-1.0, -1.0, -1.0, -1.0])
    surface.position[1, :, 0] = torch.tensor([1.0, 0.0, 3.0, 2.0])  # the back row's texels in another order
    out = fill_texture(texture, known, surface, "mirror")
    # each back texel takes the front texel at the same x: the reflection through y = 0 (the part centre)
    assert out[0, 16, 1].tolist() == pytest.approx([0.2, 0.1, 0.4, 0.3])


def test_nearest_fill_takes_the_nearest_known_texel():
    texture, known = strip_texture()
    surface = line_surface()
    surface.position[1, :, 0] = torch.tensor([3.1, 3.1, 0.2, 0.2])
    out = fill_texture(texture, known, surface, "nearest")
    assert out[0, 16, 1].tolist() == pytest.approx([0.4, 0.4, 0.1, 0.1])


def test_nearest_part_fill_stays_inside_the_texels_part():
    texture, known = strip_texture()
    surface = line_surface()
    surface.position[1, :, 0] = torch.tensor([3.1, 1.9, 0.2, 2.2])  # nearest overall: 0.4, 0.3, 0.1, 0.3
    assert fill_texture(texture, known, surface, "nearest")[0, 16, 1].tolist() == pytest.approx([0.4, 0.3, 0.1, 0.3])
    # parts 0 (x = 0, 1 known) and 1 (x = 2, 3 known): each back texel takes its own part's nearest
    out = fill_texture(texture, known, surface, "nearest_part")
    assert out[0, 16, 1].tolist() == pytest.approx([0.2, 0.2, 0.3, 0.3])
    assert torch.equal(out[0, :, 0], texture[0, :, 0]) and out[0, 19:21, 1].eq(1).all()
    known[0, 0, 0, 2:] = 0.0  # part 1 unseen: its texels take the nearest known texel of any part
    out = fill_texture(texture, known, surface, "nearest_part")
    assert out[0, 16, 1].tolist() == pytest.approx([0.2, 0.2, 0.1, 0.2])


def test_fill_leaves_texels_outside_the_charts_and_refuses_unknown_kinds():
    texture, known = strip_texture()
    surface = line_surface()
    surface.inside[1, 3] = False
    out = fill_texture(texture, known, surface, "mean")
    assert out[0, 16, 1, 3] == 0 and out[0, 20, 1, 3] == 0
    with pytest.raises(ValueError, match="fill must be one of"):
        fill_texture(texture, known, surface, "median")
    with pytest.raises(ValueError, match="fill must be one of"):
        PipelineOptions(fill="median")


def test_inset_known_drops_the_seen_border_and_specks_but_not_at_a_charts_edge():
    """A 12² atlas whose chart is columns 0-7 (part 0 rows 0-5, part 1 rows 6-11): part 0 seen wholly, part 1 seen in
    rows 6-8 and in a one-texel speck; the space right of the chart is outside it."""
    inside = torch.zeros(12, 12, dtype=torch.bool)
    inside[:, :8] = True
    part = torch.full((12, 12), -1)
    part[:6, :8], part[6:, :8] = 0, 1
    surface = TexelSurface(inside, torch.zeros(12, 12, 3), part, torch.tensor([0.0, 0.0, 1.0]))
    known = torch.zeros(1, 1, 12, 12)
    known[0, 0, :9, :8] = 1.0
    known[0, 0, 11, 3] = 1.0  # the speck
    assert torch.equal(inset_known(known, surface, 0), known)
    kept = inset_known(known, surface, 1)[0, 0]
    expected = torch.zeros(12, 12)
    expected[:8, :8] = 1.0  # row 8 borders the unseen rows; column 7 borders only the outside of the chart
    assert torch.equal(kept, expected)
    # a part the erosion would empty keeps all its seen texels (its nearest texels stay its own)
    kept = inset_known(known, surface, 3)[0, 0]
    assert kept[:6, :8].eq(1).all() and kept[6:9, :8].eq(1).all() and kept[11, 3] == 1 and kept.sum() == 9 * 8 + 1
    with pytest.raises(ValueError, match="texels must be >= 0"):
        inset_known(known, surface, -1)


def test_texel_surface_of_the_body(body):
    from dinar.geometry.texture_lookup import uv_layout
    from dinar.weights import default_model_dir
    from dinar.weights.networks import read_atlas, stage1_dir

    face_uvs = read_atlas(stage1_dir(default_model_dir())).face_uvs
    surface = texel_surface(body, face_uvs, 64)
    assert torch.equal(surface.inside, uv_layout(face_uvs, 64).mask[0, 0] > 0)
    parts = surface.part[surface.inside]
    assert parts.min() >= 0 and len(parts.unique()) == len(body.parts.names)  # every part has texels
    assert (surface.part[~surface.inside] == -1).all()
    head = body.parts.names.index("head")
    up = torch.tensor(body.up_axis)
    heights = surface.position[surface.inside] @ up
    assert (surface.position[surface.inside & (surface.part == head)] @ up).mean() > heights.mean()  # the head is up


@pytest.fixture(scope="module")
def tiny_pipe(body):
    from dinar.pipeline import AvatarPipeline
    from dinar.weights import shipped_dir

    return AvatarPipeline.from_pretrained(shipped_dir("tiny"), device="cpu", body=body)  # 128²: fast


def test_pipeline_fill_switch(body, tiny_pipe):
    """The same avatar with a simple fill: the unseen texels are filled, the seen ones are the photo's."""
    from dinar.demo import bundled_photo

    pipe = tiny_pipe
    image, mask, fit = bundled_photo(body)
    diffusion = pipe(image, mask, fit, PLAIN_DIFFUSION, progress=False)
    mean = pipe(image, mask, fit, PipelineOptions(rgb_tuning=False, color_adjust=False, fill="mean"), progress=False)
    assert mean.metadata["options"]["fill"] == "mean"
    surface = pipe.texel_surface()
    rgb = mean.texture[16:19]
    unseen = surface.inside & (diffusion.texture[20] < 0.5)  # what the photo did not fill
    assert unseen.any()
    # a body part's unseen texels all hold one colour (its mean), up to eq. 6's soft border
    deep = unseen & (surface.part == body.parts.names.index("torso"))
    assert deep.any() and rgb[:, deep].std(1).max() < 0.05


def test_pipeline_fill_detail_takes_the_fills_detail_above_the_diffusions_band(body, tiny_pipe):
    """``diffusion_detail``: the restored colours keep their S/scale band and take the share asked of that fill's
    finer detail (its bands over the chart texels alone with diffusion_band_in_charts); the avatar records the switch; a
    scale that does not divide the texture is refused."""
    import dataclasses

    from dinar.demo import bundled_photo
    from dinar.texture.bands import with_details

    pipe, size = tiny_pipe, tiny_pipe.stage1.config.texture_size
    torch.manual_seed(0)
    known, filled = torch.rand(1, 21, size, size), (torch.rand(1, 1, size, size) > 0.5).float()
    restored = torch.rand(1, 21, size, size)
    options = PipelineOptions(diffusion_detail="nearest", diffusion_detail_share=0.25, diffusion_detail_scale=8,
                              diffusion_pattern=None)
    nearest = fill_texture(known, filled, pipe.texel_surface(), "nearest")
    off_head = pipe.texel_surface().part != body.parts.names.index("head")
    assert torch.equal(pipe.with_fill_detail(restored, known, filled, options),
                       with_details(restored, [(nearest, 0.25, False, off_head)], size // 8))
    on_head = pipe.with_fill_detail(restored, known, filled, dataclasses.replace(options, diffusion_detail_head=True))
    assert torch.equal(on_head, with_details(restored, [(nearest, 0.25, False, None)], size // 8))
    assert torch.equal(on_head[..., off_head], pipe.with_fill_detail(restored, known, filled, options)[..., off_head])
    in_charts = pipe.with_fill_detail(restored, known, filled, dataclasses.replace(options, diffusion_band_in_charts=True))
    assert torch.equal(in_charts, with_details(restored, [(nearest, 0.25, False, off_head)], size // 8, pipe.texel_surface().inside))
    assert not torch.equal(in_charts, pipe.with_fill_detail(restored, known, filled, options))
    # diffusion_detail_inset: the fill from the seen texels inset from the seen region's border (the left half seen:
    # a random mask erodes to nothing, and every part would keep all its seen texels)
    half = torch.zeros_like(filled)
    half[..., : size // 2] = 1.0
    inset = fill_texture(known, inset_known(half, pipe.texel_surface(), 2), pipe.texel_surface(), "nearest")
    assert torch.equal(pipe.with_fill_detail(restored, known, half, dataclasses.replace(options, diffusion_detail_inset=2)),
                       with_details(restored, [(inset, 0.25, False, off_head)], size // 8))
    assert not torch.equal(inset, fill_texture(known, half, pipe.texel_surface(), "nearest"))
    # diffusion_detail_plain R: each part's detail times min(1, P / R), P its print strength; none on the head; 1 where
    # the photo shows nothing of a part
    from dinar.texture.bands import pattern_strength

    surface = pipe.texel_surface()
    plain = dataclasses.replace(options, diffusion_detail_plain=0.5)
    weights = pipe.detail_weights(known, half, plain)
    strength = pattern_strength(known[:, 16:19], (half[0, 0] > 0.5) & surface.inside, surface.part, size // 4, size // 8)
    head = body.parts.names.index("head")
    assert strength and all(torch.all(weights[surface.part == p] == min(1.0, v / 0.5)) for p, v in strength.items() if p != head)
    assert weights[surface.part == head].eq(0).all()
    unseen_parts = [p for p in range(len(body.parts.names)) if p not in strength and p != head]
    assert all(weights[surface.part == p].eq(1).all() for p in unseen_parts)
    assert 0 < weights[surface.inside & (surface.part != head)].min() < 1  # the random texture's print is not uniform
    near_half = fill_texture(known, half, surface, "nearest")
    assert torch.equal(pipe.with_fill_detail(restored, known, half, plain),
                       with_details(restored, [(near_half, 0.25, False, weights)], size // 8))
    with pytest.raises(ValueError, match="diffusion_detail_plain"):
        PipelineOptions(diffusion_detail_plain=-0.1)
    with pytest.raises(ValueError, match="diffusion_detail_inset"):
        PipelineOptions(diffusion_detail_inset=-1)
    with pytest.raises(ValueError, match="does not divide"):
        pipe.with_fill_detail(restored, known, filled, dataclasses.replace(options, diffusion_detail_scale=3))
    with pytest.raises(ValueError, match="diffusion_detail must be"):
        PipelineOptions(diffusion_detail="blur")
    # diffusion_pattern: a share of a second fill's detail above the same band, added to the first's (or alone)
    mirror = fill_texture(known, filled, pipe.texel_surface(), "mirror")
    patterned = dataclasses.replace(options, diffusion_pattern="mirror", diffusion_pattern_share=0.1)
    assert torch.equal(pipe.with_fill_detail(restored, known, filled, patterned),
                       with_details(restored, [(nearest, 0.25, False, off_head), (mirror, 0.1, False, off_head)], size // 8))
    alone = dataclasses.replace(patterned, diffusion_detail=None)
    assert torch.equal(pipe.with_fill_levers(restored, known, filled, dataclasses.replace(alone, diffusion_mix=None)),
                       with_details(restored, [(mirror, 0.1, False, off_head)], size // 8))
    for bad in ({"diffusion_pattern": "blur"}, {"diffusion_pattern_share": -0.1}):
        with pytest.raises(ValueError, match="diffusion_pattern"):
            PipelineOptions(**bad)
    image, mask, fit = bundled_photo(body)
    plain = pipe(image, mask, fit, PLAIN_DIFFUSION, progress=False)
    detailed = pipe(image, mask, fit, dataclasses.replace(PLAIN_DIFFUSION, diffusion_detail="nearest"), progress=False)
    assert detailed.metadata["options"]["diffusion_detail"] == "nearest"
    unseen = pipe.texel_surface().inside & (plain.texture[20] < 0.5)
    assert not torch.allclose(detailed.texture[16:19, unseen], plain.texture[16:19, unseen])


def test_pipeline_fill_mix_shrinks_the_diffusions_colours_towards_the_fill(body, tiny_pipe):
    """``diffusion_mix``: the restored colours are 1 − share of the diffusion's plus share of that fill's, before the
    fill detail; the avatar records the switch; a fill that does not exist is refused."""
    import dataclasses

    from dinar.demo import bundled_photo
    from dinar.texture.bands import mixed_colours

    pipe, size = tiny_pipe, tiny_pipe.stage1.config.texture_size
    torch.manual_seed(0)
    known, filled = torch.rand(1, 21, size, size), (torch.rand(1, 1, size, size) > 0.5).float()
    restored = torch.rand(1, 21, size, size)
    options = PipelineOptions(diffusion_mix="mean", diffusion_mix_share=0.3)
    mean = fill_texture(known, filled, pipe.texel_surface(), "mean")
    assert torch.equal(pipe.with_fill_mix(restored, known, filled, options), mixed_colours(restored, mean, 0.3))
    for bad in ({"diffusion_mix": "blur"}, {"diffusion_mix_share": 1.5}):
        with pytest.raises(ValueError, match="diffusion_mix"):
            PipelineOptions(**bad)
    image, mask, fit = bundled_photo(body)
    plain = pipe(image, mask, fit, PLAIN_DIFFUSION, progress=False)
    mixed = pipe(image, mask, fit, dataclasses.replace(PLAIN_DIFFUSION, diffusion_mix="mean", diffusion_mix_share=0.5), progress=False)
    assert mixed.metadata["options"]["diffusion_mix"] == "mean"
    unseen = pipe.texel_surface().inside & (plain.texture[20] < 0.5)
    assert not torch.allclose(mixed.texture[16:19, unseen], plain.texture[16:19, unseen])


def test_pipeline_seen_shift_draws_each_parts_unseen_mean_to_its_seen_mean(body, tiny_pipe):
    """``diffusion_shift_share``: first of the fill levers, each body part's restored colours but the head's move by
    the share of the gap between its seen mean and its restored unseen mean (share 1: the two means agree); the head
    keeps its colours; a share out of [0, 1] is refused; the avatar records it."""
    import dataclasses

    from dinar.demo import bundled_photo
    from dinar.texture.bands import shifted_to_seen
    from dinar.texture.channels import RGB

    pipe, size = tiny_pipe, tiny_pipe.stage1.config.texture_size
    surface = pipe.texel_surface()
    torch.manual_seed(0)
    known, filled = torch.rand(1, 21, size, size), (torch.rand(1, 1, size, size) > 0.5).float()
    restored = torch.rand(1, 21, size, size)
    on = dataclasses.replace(PLAIN_DIFFUSION, diffusion_shift_share=1.0)
    shifted = pipe.with_fill_levers(restored, known, filled, on)
    assert torch.equal(pipe.with_seen_shift(restored, known, filled, on), shifted)
    seen = (filled[0, 0] > 0.5) & surface.inside
    head = body.parts.names.index("head")
    for p in (head, body.parts.names.index("torso")):
        of_part = surface.part == p
        gap = known[0, RGB][:, of_part & seen].mean(1) - shifted[0, RGB][:, of_part & ~seen].mean(1)
        assert (gap.abs().max() < 1e-5) == (p != head)
    assert torch.equal(shifted[0, RGB][:, surface.part == head], restored[0, RGB][:, surface.part == head])
    half = pipe.with_seen_shift(restored, known, filled, dataclasses.replace(on, diffusion_shift_share=0.5))
    assert torch.allclose(half, (restored + shifted) / 2, atol=1e-6)
    assert torch.equal(pipe.with_fill_levers(restored, known, filled, PLAIN_DIFFUSION), restored)  # 0: off
    with pytest.raises(ValueError, match="diffusion_shift_share"):
        PipelineOptions(diffusion_shift_share=1.5)
    # in slabs of height: each slab's unseen mean moves to its seen mean where both exist; 1 slab is the whole part
    up = torch.tensor(body.up_axis, dtype=surface.position.dtype)
    slabbed = dataclasses.replace(on, diffusion_shift_slabs=4)
    assert torch.equal(pipe.with_seen_shift(restored, known, filled, slabbed),
                       shifted_to_seen(restored, known, seen, surface.part, 1.0,
                                       [p for p in range(len(body.parts.names)) if p != head], surface.position @ up, 4))
    assert not torch.allclose(pipe.with_seen_shift(restored, known, filled, slabbed), shifted)
    with pytest.raises(ValueError, match="diffusion_shift_slabs"):
        PipelineOptions(diffusion_shift_slabs=0)
    image, mask, fit = bundled_photo(body)
    avatar = pipe(image, mask, fit, on, progress=False)
    assert avatar.metadata["options"]["diffusion_shift_share"] == 1.0
