"""The UV rasterizer against cases checkable by hand and against the float64 reference."""


import pytest
import torch

from dinar.geometry.camera import Camera, intrinsics, look_at, orbit_cameras
from dinar.geometry.raster import interpolate_vertex_attr, rasterize
from dinar.geometry.raster_reference import rasterize_reference


def _identity_camera(size: int, focal: float) -> Camera:
    return Camera(K=intrinsics(focal, size, size), R=torch.eye(3)[None], t=torch.zeros(1, 3), width=size, height=size)


def test_single_triangle_exact_coverage_and_uv():
    # Focal 10 at depth 2 -> 5 px per world unit; principal point (8, 8) on a 16 x 16 image.
    cam = _identity_camera(16, 10.0)
    # Right triangle with legs along +x and +y in pixels: corners (8.2, 8.2), (13.2, 8.2), (8.2, 13.2).
    v = torch.tensor([[[0.04, 0.04, 2.0], [1.04, 0.04, 2.0], [0.04, 1.04, 2.0]]])
    faces = torch.tensor([[0, 1, 2]])
    uvs = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    r = rasterize(v, faces, cam, uvs)
    covered = set(map(tuple, r.foreground[0].nonzero().tolist()))  # (row, col)
    expected = {(row, col) for row in range(16) for col in range(16)
                if col + 0.5 >= 8.2 and row + 0.5 >= 8.2 and (col + 0.5 - 8.2) + (row + 0.5 - 8.2) <= 5.0}
    assert covered == expected
    # uv is affine at constant depth: u = (x - 8.2) / 5, v = (y - 8.2) / 5.
    for row, col in expected:
        assert r.uv[0, 0, row, col].item() == pytest.approx((col + 0.5 - 8.2) / 5, abs=1e-5)
        assert r.uv[0, 1, row, col].item() == pytest.approx((row + 0.5 - 8.2) / 5, abs=1e-5)
        assert r.depth[0, row, col].item() == pytest.approx(2.0, abs=1e-5)
    assert (r.uv[0][:, ~r.foreground[0]] == -1).all()
    assert (r.face_id[0][~r.foreground[0]] == -1).all()


def test_quad_at_known_depth_covers_exact_rectangle():
    cam = _identity_camera(32, 20.0)
    # Quad from x in [-0.31, 0.42], y in [-0.23, 0.54] at depth 4 -> 5 px per unit, centre 16.
    x0, x1, y0, y1, z = -0.31, 0.42, -0.23, 0.54, 4.0
    v = torch.tensor([[[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    r = rasterize(v, faces, cam)
    cols = [c for c in range(32) if 16 + 5 * x0 <= c + 0.5 <= 16 + 5 * x1]
    rows = [rr for rr in range(32) if 16 + 5 * y0 <= rr + 0.5 <= 16 + 5 * y1]
    expected = torch.zeros(32, 32, dtype=torch.bool)
    expected[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
    assert torch.equal(r.foreground[0], expected)
    assert torch.allclose(r.depth[0][expected], torch.full((int(expected.sum()),), z))


def test_perspective_correct_barycentrics_on_slanted_triangle():
    # A triangle receding in depth: interpolated world position must lie on the pixel's ray.
    cam = _identity_camera(24, 12.0)
    v = torch.tensor([[[-1.0, -1.0, 2.0], [1.5, -1.0, 5.0], [-1.0, 1.5, 3.0]]])
    r = rasterize(v, torch.tensor([[0, 1, 2]]), cam)
    pos = interpolate_vertex_attr(r, torch.tensor([[0, 1, 2]]), v)  # [1, 3, H, W] world points
    rows, cols = r.foreground[0].nonzero(as_tuple=True)
    p = pos[0][:, rows, cols]
    assert torch.allclose(p[0] / p[2] * 12 + 12, cols.float() + 0.5, atol=1e-3)
    assert torch.allclose(p[1] / p[2] * 12 + 12, rows.float() + 0.5, atol=1e-3)
    assert torch.allclose(p[2], r.depth[0][rows, cols], atol=1e-4)


def test_zbuffer_nearest_wins():
    cam = _identity_camera(16, 10.0)
    near = [[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]
    far = [[-1.0, -1.0, 3.0], [1.0, -1.0, 3.0], [0.0, 1.0, 3.0]]
    for order in ([far, near], [near, far]):
        v = torch.tensor([order[0] + order[1]])
        r = rasterize(v, torch.tensor([[0, 1, 2], [3, 4, 5]]), cam)
        near_id = 0 if order[0] is near else 1
        centre = r.face_id[0, 8, 8].item()
        assert centre == near_id
        assert r.depth[0, 8, 8].item() == pytest.approx(2.0)


def test_matches_float64_reference_on_random_meshes():
    g = torch.Generator().manual_seed(0)
    cam = orbit_cameras(2, radius=3.0, elevation_deg=10.0, size=40, fov_deg=40)
    verts = (torch.rand(2, 30, 3, generator=g) - 0.5) * 1.6
    faces = torch.randint(0, 30, (25, 3), generator=g)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    r = rasterize(verts, faces, cam)
    fid, bary, depth = rasterize_reference(verts, faces, cam)
    agree = (r.face_id == fid).float().mean().item()
    assert agree > 0.995  # float32 vs float64 may flip pixels exactly on an edge
    same = (r.face_id == fid) & (fid >= 0)
    assert torch.allclose(r.bary.double().permute(0, 2, 3, 1)[same], bary.permute(0, 2, 3, 1)[same], atol=1e-4)
    assert torch.allclose(r.depth.double()[same], depth[same], atol=1e-4)


def test_projection_round_trip():
    g = torch.Generator().manual_seed(1)
    R, t = look_at(torch.tensor([[0.3, -3.0, 0.8]]), torch.tensor([[0.0, 0.1, 0.2]]))
    cam = Camera(K=intrinsics(400.0, 320, 240), R=R, t=t, width=320, height=240)
    pts = torch.rand(1, 50, 3, generator=g) - 0.5
    pix, z = cam.project(pts)
    assert torch.allclose(cam.unproject(pix, z), pts, atol=1e-5)
    # look_at: the target projects to the principal point, world up points to image -y.
    pix, _ = cam.project(torch.tensor([[[0.0, 0.1, 0.2], [0.0, 0.1, 0.5]]]))
    assert torch.allclose(pix[0, 0], torch.tensor([160.0, 120.0]), atol=1e-3)
    assert pix[0, 1, 1] < pix[0, 0, 1]


def test_orbit_front_view_sees_subject_left_on_image_right():
    cam = orbit_cameras(4, radius=3.0, size=64)
    assert torch.allclose(cam.center[0], torch.tensor([0.0, -3.0, 0.0]), atol=1e-5)  # front = -Y
    pix, _ = cam[0].project(torch.tensor([[[0.5, 0.0, 0.0]]]))  # subject's left (+X)
    assert pix[0, 0, 0] > 32
    assert torch.allclose(cam.center[2], torch.tensor([0.0, 3.0, 0.0]), atol=1e-5)  # back


def test_body_render_is_upright_and_batched(body):
    out = body()
    cam = orbit_cameras(1, radius=3.2, size=128, fov_deg=35)
    r = rasterize(out.vertices.expand(3, -1, -1), body.faces, cam, body.face_uvs)
    assert torch.equal(r.face_id[0], r.face_id[2])
    rows = r.foreground[0].any(1).nonzero()[:, 0]
    head_row = rows.min().item()
    # The head (highest Z) is at the top of the image: the top rows see the head part.
    head_part = body.parts.names.index("head")
    fid = r.face_id[0, head_row]
    vids = body.faces[fid[fid >= 0]].flatten()
    assert (body.parts.labels[vids] == head_part).float().mean() > 0.5
    assert r.uv[0][:, r.foreground[0]].min() >= 0 and r.uv[0][:, r.foreground[0]].max() <= 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_cuda_agree(body):
    out = body()
    cam = orbit_cameras(4, radius=3.2, size=256, fov_deg=35)
    v = out.vertices.expand(4, -1, -1)
    cpu = rasterize(v, body.faces, cam, body.face_uvs)
    gpu = rasterize(v.cuda(), body.faces.cuda(), cam.to("cuda"), body.face_uvs.cuda())
    agree = (cpu.face_id == gpu.face_id.cpu()).float().mean().item()
    assert agree > 0.9999
    same = cpu.face_id == gpu.face_id.cpu()
    assert torch.allclose(cpu.uv.permute(0, 2, 3, 1)[same], gpu.uv.cpu().permute(0, 2, 3, 1)[same], atol=1e-4)
