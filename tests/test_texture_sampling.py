"""Algorithm 1 (paper appendix A) by hand, against its literal reference, and a round trip on the body;
texture lookups through the UV-render and the UV layout."""

import math

import pytest
import torch

from dinar.geometry.camera import orbit_cameras
from dinar.geometry.raster import interpolate_face_attr, rasterize
from dinar.geometry.texture_lookup import sample_texture, uv_layout
from dinar.texture import sample_rgb_texture, texel_index
from dinar.texture.sampling_reference import sample_rgb_texture_reference


def _texel_centre_uv(S: int) -> torch.Tensor:
    """``[1, 2, S, S]`` uv of every texel centre: u = (col + 0.5) / S, v = 1 - (row + 0.5) / S."""
    c = (torch.arange(S, dtype=torch.float64) + 0.5) / S
    return torch.stack([c[None, :].expand(S, S), (1 - c)[:, None].expand(S, S)])[None]


# --- Algorithm 1 ---------------------------------------------------------------------------------------

def test_algorithm1_by_hand_2x2_image_4x4_texture():
    # Pixel values a=1, b=2, c=5, d=6 (one channel) and the texel (row, col) each falls into:
    # a -> (0, 1); b -> (0, 2); d -> (0, 2) (collides with b); c at u = 1, v = 0 -> (4, 4) clamped to (3, 3).
    image = torch.tensor([[[[1.0, 2.0], [5.0, 6.0]]]], dtype=torch.float64)
    uv = torch.tensor([[[[0.30, 0.60], [1.00, 0.70]],  # u
                        [[0.90, 0.80], [0.00, 0.95]]]], dtype=torch.float64)  # v
    mask = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    out = sample_rgb_texture(image, uv, mask, 4)
    # Step 1: 3x3 sums / counts. Row 0-1: col 0 sees a; col 1, 2 see a, b, d; col 3 sees b, d.
    # Rows 2-3, cols 2-3 see c. Step 2: exact values at (0, 1) = a, (0, 2) = mean(b, d), (3, 3) = c.
    expected = torch.tensor([[1, 1, 4, 4],
                             [1, 3, 3, 4],
                             [0, 0, 5, 5],
                             [0, 0, 5, 5]], dtype=torch.float64)
    assert torch.equal(out.rgb[0, 0], expected)
    sampled = torch.zeros(4, 4, dtype=torch.float64)
    sampled[0, 1] = sampled[0, 2] = sampled[3, 3] = 1
    assert torch.equal(out.sampled[0, 0], sampled)
    filled = torch.zeros(4, 4, dtype=torch.float64)
    filled[:2] = 1
    filled[2:, 2:] = 1
    assert torch.equal(out.filled[0, 0], filled)
    ref = sample_rgb_texture_reference(image, uv, mask, 4)
    assert torch.equal(ref.rgb, out.rgb) and torch.equal(ref.sampled, out.sampled) and torch.equal(ref.filled, out.filled)

    # Masking pixel d out: (0, 2) keeps b exactly, its neighbours average a and b only.
    mask[0, 0, 1, 1] = 0
    out = sample_rgb_texture(image, uv, mask, 4)
    assert out.rgb[0, 0, 0].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert out.rgb[0, 0, 1].tolist() == [1.0, 1.5, 1.5, 2.0]


def test_background_uv_is_never_sampled():
    image = torch.ones(1, 3, 4, 4)
    uv = torch.full((1, 2, 4, 4), -1.0)
    out = sample_rgb_texture(image, uv, torch.ones(1, 1, 4, 4), 8)  # mask says use, uv says background
    assert out.filled.sum() == 0 and out.rgb.abs().sum() == 0


@pytest.mark.parametrize("H, W, S", [(5, 7, 4), (16, 16, 8), (24, 32, 16), (40, 40, 64)])
def test_vectorized_matches_literal_reference(H, W, S):
    g = torch.Generator().manual_seed(H * 1000 + W * 10 + S)
    B = 2
    image = torch.rand(B, 3, H, W, generator=g, dtype=torch.float64)
    uv = torch.rand(B, 2, H, W, generator=g, dtype=torch.float64)
    # Borders: exact 0 and 1 (clamped to S - 1), texel edges, and background pixels.
    uv[:, :, 0, :3] = torch.tensor([0.0, 1.0, 1 - 1 / S], dtype=torch.float64)[None, None]
    uv[:, :, -1, :2] = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)[None]
    uv[:, :, 1, 1] = -1.0
    mask = (torch.rand(B, 1, H, W, generator=g) > 0.2).double()
    fast = sample_rgb_texture(image, uv, mask, S)
    ref = sample_rgb_texture_reference(image, uv, mask, S)
    assert torch.equal(fast.sampled, ref.sampled)
    assert torch.equal(fast.filled, ref.filled)
    torch.testing.assert_close(fast.rgb, ref.rgb, rtol=0, atol=1e-12)
    # Collisions happen (more used pixels than sampled texels) and batches stay apart.
    used = ((mask[:, 0] > 0.5) & (uv >= 0).all(1)).sum()
    assert used > fast.sampled.sum()
    single = sample_rgb_texture(image[1:], uv[1:], mask[1:], S)
    assert torch.equal(single.rgb[0], fast.rgb[1])


def test_float32_matches_reference_at_texel_borders():
    # float32 uv exactly on and next to texel borders: both implementations address texels in uv's dtype.
    S = 64
    g = torch.Generator().manual_seed(7)
    uv = (torch.randint(0, 4 * S + 1, (2, 2, 24, 24), generator=g) / (4 * S)).float()
    uv = uv + torch.tensor([0.0, -1e-8, 1e-8])[torch.randint(0, 3, uv.shape, generator=g)]
    image = torch.rand(2, 3, 24, 24, generator=g)
    mask = torch.ones(2, 1, 24, 24)
    fast = sample_rgb_texture(image, uv, mask, S)
    ref = sample_rgb_texture_reference(image, uv, mask, S)
    assert torch.equal(fast.sampled, ref.sampled) and torch.equal(fast.filled, ref.filled)
    torch.testing.assert_close(fast.rgb, ref.rgb, rtol=0, atol=1e-6)


def test_sampling_is_differentiable_wrt_image():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    uv = torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64)
    mask = torch.ones(1, 1, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda im: sample_rgb_texture(im, uv, mask, 4).rgb, (image,))


def test_texel_index_convention():
    S = 8
    row, col = texel_index(_texel_centre_uv(S), S)
    assert torch.equal(row[0], torch.arange(S)[:, None].expand(S, S))
    assert torch.equal(col[0], torch.arange(S)[None, :].expand(S, S))


# --- texture lookups -----------------------------------------------------------------------------------

def test_sample_texture_hits_texel_centres_and_zeros_background():
    S = 8
    texture = torch.rand(2, 3, S, S, dtype=torch.float64)
    uv = _texel_centre_uv(S).expand(2, -1, -1, -1).clone()
    out = sample_texture(texture, uv)
    torch.testing.assert_close(out, texture, rtol=0, atol=1e-12)
    torch.testing.assert_close(sample_texture(texture, uv, mode="nearest"), texture, rtol=0, atol=0)
    uv[:, :, 2, 3] = -1.0
    assert (sample_texture(texture, uv)[:, :, 2, 3] == 0).all()
    # A shared [1, C, S, S] texture broadcasts over the batch.
    torch.testing.assert_close(sample_texture(texture[:1], uv)[1], sample_texture(texture[:1].expand(2, -1, -1, -1), uv)[1])


def test_sample_texture_gradient():
    g = torch.Generator().manual_seed(1)
    texture = torch.rand(1, 2, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    uv = 0.1 + 0.8 * torch.rand(1, 2, 6, 7, generator=g, dtype=torch.float64)  # >= half a texel inside
    assert torch.autograd.gradcheck(lambda t: sample_texture(t, uv), (texture,))
    # The gradient of a sum spreads each pixel's unit cotangent over its 4 bilinear taps (all inside).
    texture.grad = None
    sample_texture(texture, uv).sum().backward()
    torch.testing.assert_close(texture.grad.sum(), torch.tensor(2.0 * 6 * 7, dtype=torch.float64))


def test_uv_layout_puts_texel_centres_on_their_uv():
    # Two triangles covering the unit square: every texel is covered, and its interpolated uv is its centre.
    face_uvs = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    S = 16
    layout = uv_layout(face_uvs, S)
    assert (layout.face_id >= 0).all()
    torch.testing.assert_close(interpolate_face_attr(layout, face_uvs).double(), _texel_centre_uv(S), rtol=0, atol=1e-5)


# --- round trip on the body ----------------------------------------------------------------------------

def test_round_trip_on_the_body(body):
    """Paint a smooth texture, render it on a posed body, sample it back with Algorithm 1."""
    S, size = 256, 256
    c = (torch.arange(S) + 0.5) / S
    v, u = (1 - c[:, None]).expand(S, S), c[None, :].expand(S, S)
    texture = torch.stack([
        0.5 + 0.4 * torch.sin(2 * math.pi * 3 * u) * torch.cos(2 * math.pi * 2 * v),
        0.5 + 0.4 * torch.cos(2 * math.pi * 4 * (u + v)),
        0.5 + 0.4 * torch.sin(2 * math.pi * 5 * v),
    ])[None]
    pose = torch.zeros(1, body.num_joints, 3)
    pose[0, body.skeleton.names.index("upperarm01.L"), 1] = 0.4
    posed = body(pose=pose)
    camera = orbit_cameras(1, radius=3.6, size=size, target=(0.0, 0.0, -0.05))
    raster = rasterize(posed.vertices, body.faces, camera, body.face_uvs)
    image = sample_texture(texture, raster.uv) * raster.mask
    back = sample_rgb_texture(image, raster.uv, raster.mask, S)
    smp = back.sampled[0, 0] > 0
    mse = (back.rgb[0][:, smp] - texture[0][:, smp]).pow(2).mean()
    psnr = 10 * torch.log10(1 / mse)
    gap = (back.filled[0, 0] > 0) & ~smp
    psnr_gap = 10 * torch.log10(1 / (back.rgb[0][:, gap] - texture[0][:, gap]).pow(2).mean())
    print(f"round-trip PSNR over {int(smp.sum())} B_smp texels: {psnr:.2f} dB; "
          f"over {int(gap.sum())} gap-filled texels (B_fill - B_smp): {psnr_gap:.2f} dB")
    assert psnr > 35
    assert back.filled.sum() > back.sampled.sum()
