"""Normal-angle maps, lambda of paper 3.2: per pixel and per texel, on planes checkable by hand and on the body."""

import torch

from dinar.geometry.camera import Camera, intrinsics, orbit_cameras
from dinar.geometry.normals import vertex_normals
from dinar.geometry.raster import rasterize
from dinar.geometry.texture_lookup import uv_layout
from dinar.texture import normal_angle_image, normal_angle_texture, sample_rgb_texture

FOCAL, SIZE = 20.0, 32


def _camera() -> Camera:
    return Camera(K=intrinsics(FOCAL, SIZE, SIZE), R=torch.eye(3)[None], t=torch.zeros(1, 3), width=SIZE, height=SIZE)


def _quad(x0, x1, y0, y1, z, u0, u1):
    """A quad at depth ``z`` facing the camera (normal -z), u = u0..u1 left to right, v = 1 top to 0 bottom."""
    verts = torch.tensor([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # counter-clockwise seen from the camera: normal towards it
    uvs = torch.tensor([[u0, 1.0], [u1, 1.0], [u1, 0.0], [u0, 0.0]])
    return verts, faces, uvs[faces]


def test_image_angle_on_a_plane_is_the_cosine_of_the_ray():
    verts, faces, _ = _quad(-2.0, 2.0, -2.0, 2.0, 2.0, 0.0, 1.0)  # covers the whole image
    verts = verts[None]
    normals = vertex_normals(verts, faces)
    torch.testing.assert_close(normals[0], torch.tensor([0.0, 0.0, -1.0]).expand(4, 3))
    cam = _camera()
    raster = rasterize(verts, faces, cam)
    lam = normal_angle_image(raster, normals, faces, verts, cam)
    c = (torch.arange(SIZE) + 0.5 - SIZE / 2) / FOCAL
    expected = 1 / torch.sqrt(1 + c[None, :] ** 2 + c[:, None] ** 2)
    torch.testing.assert_close(lam[0, 0], expected, rtol=0, atol=1e-5)
    # Flipped normals face away: 0.
    assert (normal_angle_image(raster, -normals, faces, verts, cam) == 0).all()


def test_texture_angle_on_a_plane_and_under_an_occluder():
    back, faces_b, uvs_b = _quad(-3.0, 3.0, -3.0, 3.0, 4.0, 0.0, 0.5)  # texture left half, +-15 px in the image
    front, faces_f, uvs_f = _quad(-0.4, 0.8, -0.6, 0.6, 2.0, 0.5, 1.0)  # texture right half
    verts = torch.cat([back, front])[None]
    faces = torch.cat([faces_b, faces_f + 4])
    face_uvs = torch.cat([uvs_b, uvs_f])
    normals = vertex_normals(verts, faces)
    cam = _camera()
    raster = rasterize(verts, faces, cam, face_uvs)
    S = 32
    lam = normal_angle_texture(raster, normals, faces, verts, cam, face_uvs, S)[0, 0]
    # Texel centres of the back quad (cols 0..15): world x = -3 + 6 * u / 0.5, y = -3 + 6 * (1 - v), z = 4.
    c = (torch.arange(S) + 0.5) / S
    u, v = c[None, :16].expand(S, 16), (1 - c)[:, None].expand(S, 16)
    x, y, z = -3 + 12 * u, -3 + 6 * (1 - v), torch.full_like(u, 4.0)
    expected = z / torch.sqrt(x ** 2 + y ** 2 + z ** 2)
    # The front quad hides back points whose ray crosses it: x/z in (-0.2, 0.4), y/z in (-0.3, 0.3);
    # texels within a pixel (0.05 in x/z) of its edges may go either way.
    a, b = x / z, y / z
    hidden = (a > -0.2) & (a < 0.4) & (b > -0.3) & (b < 0.3)
    edge = ((a + 0.2).abs() < 0.06) | ((a - 0.4).abs() < 0.06) | ((b + 0.3).abs() < 0.06) | ((b - 0.3).abs() < 0.06)
    assert (hidden & ~edge).sum() > 20 and (~hidden & ~edge).sum() > 200
    assert (lam[:, :16][hidden & ~edge] == 0).all()
    torch.testing.assert_close(lam[:, :16][~hidden & ~edge], expected[~hidden & ~edge], rtol=0, atol=1e-5)
    # The front quad is fully visible: x = -0.4 + 1.2 * (u - 0.5) / 0.5, y = -0.6 + 1.2 * (1 - v).
    xf = -0.4 + 1.2 * (c[16:] - 0.5) / 0.5
    yf = -0.6 + 1.2 * c
    exp_f = 2.0 / torch.sqrt(xf[None, :] ** 2 + yf[:, None] ** 2 + 4.0)
    torch.testing.assert_close(lam[:, 16:], exp_f, rtol=0, atol=1e-5)


def test_texture_angle_on_the_body_agrees_with_the_image(body):
    S, size = 256, 256
    posed = body()
    cam = orbit_cameras(1, radius=3.6, size=size, target=(0.0, 0.0, -0.05))
    raster = rasterize(posed.vertices, body.faces, cam, body.face_uvs)
    lam_img = normal_angle_image(raster, posed.normals, body.faces, posed.vertices, cam)
    layout = uv_layout(body.face_uvs, S)
    lam_tex = normal_angle_texture(raster, posed.normals, body.faces, posed.vertices, cam, layout=layout)
    assert lam_tex.shape == (1, 1, S, S) and lam_tex.min() >= 0 and lam_tex.max() <= 1
    # Splatting the per-pixel values with Algorithm 1 gives the same numbers on the sampled texels.
    splat = sample_rgb_texture(lam_img, raster.uv, raster.mask, S)
    smp = splat.sampled[0, 0] > 0
    diff = (splat.rgb[0, 0][smp] - lam_tex[0, 0][smp]).abs()
    print(f"lambda texture vs splatted image on {int(smp.sum())} texels: median {diff.median():.4f}, mean {diff.mean():.4f}")
    assert diff.median() < 0.02 and diff.mean() < 0.05
    # Seen texels are exactly those with lambda > 0, about the sampled ones (direct per-texel computation
    # also covers the gaps between sampled texels); the back of the body is not seen from the front.
    seen = lam_tex[0, 0] > 0
    assert seen.sum() > 0.9 * smp.sum() and (seen & smp).sum() > 0.9 * smp.sum()
    assert seen.float().mean() < 0.5 * (layout.face_id[0] >= 0).float().mean()
