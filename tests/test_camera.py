"""Camera.resized: the same view in a resized image (OpenCV convention, pixel centres at +0.5)."""

import torch

from dinar.geometry.camera import Camera, intrinsics


def test_resized_camera_scales_projections_with_the_image():
    cam = Camera(K=intrinsics(100.0, 64, 48), R=torch.eye(3)[None], t=torch.tensor([[0.0, 0.0, 2.0]]), width=64, height=48)
    point = torch.tensor([[[0.3, -0.2, 1.0]]])
    px, _ = cam.project(point)
    big = cam.resized(128, 96)
    assert (big.width, big.height) == (128, 96)
    px2, _ = big.project(point)
    assert torch.allclose(px2, px * 2, atol=1e-5)  # every pixel coordinate doubles, the centre (32, 24) -> (64, 48)
    # by hand: x = 100 * 0.3 / 3 + 32 = 42, y = 100 * -0.2 / 3 + 24 = 17.333
    assert torch.allclose(px[0, 0], torch.tensor([42.0, 24.0 - 20.0 / 3]), atol=1e-4)
    assert cam.resized(64, 48) is cam
