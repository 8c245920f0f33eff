"""The body fitter on synthetic people whose true pose, shape and camera are known (no mediapipe needed).

Images are made with the project's rasterizer: the Anny body in a library pose, seen from the front,
the side and the back; the fitter gets the true body's projected COCO keypoints and its mask.
"""

import json
import math

import numpy as np
import pytest
import roma
import torch

from dinar.fitting.agreement import fit_agreement, fit_errors, procrustes_align
from dinar.fitting.fitter import (
    FRONT_CAMERA_R,
    BodyFitter,
    FitConfig,
    FitResult,
    FitTarget,
    SilhouetteTarget,
    _initial_translation,
    gmof,
    silhouette_losses,
)
from dinar.fitting.points import COCO_KEYPOINTS, AnnyFitPoints, fit_points_for
from dinar.geometry.camera import Camera, intrinsics, look_at
from dinar.geometry.raster import rasterize

SIZE = 320


def scene(body, pose, shape, azimuth_deg, elevation=0.3, distance=2.6, size=SIZE):
    """True keypoints, mask and camera of ``body`` seen from ``azimuth_deg`` (0 = front)."""
    a = math.radians(azimuth_deg)
    eye = torch.tensor([[-distance * math.sin(a), -distance * math.cos(a), elevation]], dtype=torch.float32)
    R, t = look_at(eye, torch.zeros(1, 3))
    cam = Camera(intrinsics(1.2 * size, size, size), R, t, size, size)
    points = fit_points_for(body)(pose, shape, torch.zeros(1, 3), torch.zeros(1, 3))
    kp, _ = cam.project(points.keypoints)
    mask = rasterize(body(pose=pose, shape=shape).vertices, body.faces, cam).mask[0, 0]
    return FitTarget(kp[0], torch.ones(len(COCO_KEYPOINTS)), size, size, mask, cam.K[0]), cam


@pytest.fixture(scope="module")
def library(body):
    from dinar.fitting.photo_fit import library_prior

    return library_prior(body)


@pytest.fixture(scope="module")
def fitter(body, library):
    return BodyFitter(body, FitConfig.preset("fast"), prior_poses=library)


def walking(body):
    from dinar.body.poses import pose_tensor

    return pose_tensor("walking", list(body.skeleton.names))[None]


TRUE_SHAPE = torch.tensor([[0.4, 0.6, 0.5, 0.6, 0.55, 0.45]])


@pytest.fixture(scope="module")
def fits(body, fitter):
    """Fits of the walking body from the front, the side and the back: azimuth -> (target, camera, result)."""
    out = {}
    for azimuth in (0, 90, 180):
        target, cam = scene(body, walking(body), TRUE_SHAPE, azimuth)
        out[azimuth] = (target, cam, fitter(target))
    return out


def test_fit_points_match_the_body_model(body):
    import anny

    torch.manual_seed(0)
    pose = torch.randn(2, body.num_joints, 3) * 0.3
    pose[:, 0] = 0
    shape, go, transl = torch.rand(2, 6), torch.randn(2, 3), torch.randn(2, 3)
    points = AnnyFitPoints(body)
    out = points(pose, shape, go, transl)
    full = body(pose=pose, shape=shape, global_orient=go, transl=transl)
    keypoints = anny.KeypointsRegressor.coco(body._anny)({"vertices": full.vertices})
    assert (out.keypoints - keypoints).norm(dim=-1).max() < 1e-3  # pruned regressor: < 1 mm
    surface = full.vertices[:, points.vertex_ids[points.surface_index]]
    assert torch.allclose(out.surface, surface, atol=1e-5)
    assert 1500 < out.surface.shape[1] < 4000


def test_gmof_and_silhouette_gradients_pull_points_into_the_mask():
    assert torch.allclose(gmof(torch.tensor([0.0, 1.0, 1e6]), 10.0), torch.tensor([0.0, 100 / 101, 100.0]), atol=1e-3)
    mask = torch.zeros(64, 64)
    mask[16:48, 16:48] = 1
    target = SilhouetteTarget.from_mask(mask, 200)
    assert target.outside_distance[0, 0, 32, 32] == 0 and target.outside_distance[0, 0, 32, 2] == 14
    assert (target.contour >= 16).all() and (target.contour <= 48).all()
    points = torch.tensor([[[5.0, 32.0], [32.0, 32.0]]], requires_grad=True)  # one outside, one inside
    inside, cover = silhouette_losses(points, target, sigma=30.0, scale=1.0)
    (inside + cover).sum().backward()
    assert points.grad[0, 0, 0] < 0  # the outside point is pushed right, into the mask
    assert inside.item() > 0 and cover.item() > 0


def test_nothing_is_paid_past_the_photo_edge():
    mask = torch.zeros(64, 64)
    mask[16:, 16:48] = 1  # a body cut by the photo's bottom edge at row 48
    valid = torch.zeros(64, 64)
    valid[:48] = 1
    mask[48:] = 0  # the padded part of a crop has no mask
    target = SilhouetteTarget.from_mask(mask, 500, valid)
    assert (target.contour[:, 1] < 47).all()  # the cut is not part of the outline
    below = torch.tensor([[[32.0, 60.0], [32.0, 80.0]]])  # legs going on past the edge (in the pad, past the crop)
    inside, _ = silhouette_losses(below, target, sigma=30.0, scale=1.0)
    assert inside.item() == 0
    beside = torch.tensor([[[5.0, 30.0]]])  # outside the mask where the photo shows background
    assert silhouette_losses(beside, target, sigma=30.0, scale=1.0)[0].item() > 0


def test_translation_from_torso_similar_triangles(body):
    pose, shape = torch.zeros(1, body.num_joints, 3), body.neutral_shape()
    target, cam = scene(body, pose, shape, 0)
    rest = fit_points_for(body)(pose, shape, torch.zeros(1, 3), torch.zeros(1, 3)).keypoints[0]
    transl = _initial_translation(target, rest, torch.zeros(1, 3), FRONT_CAMERA_R)
    # the true body sits at the origin, so the camera centre seen from the body is -transl
    true_transl = (cam.R[0] @ torch.zeros(3) + cam.t[0]) @ FRONT_CAMERA_R  # depth along the view
    assert abs(float(transl[0] @ FRONT_CAMERA_R[2]) - float(true_transl @ FRONT_CAMERA_R[2])) < 0.1 * float(cam.t[0, 2])


@pytest.mark.parametrize("azimuth", [0, 90, 180])
def test_fit_from_true_keypoints_front_side_back(body, fits, azimuth):
    _, cam, result = fits[azimuth]
    errors = fit_errors(body, result, walking(body), TRUE_SHAPE, cam)
    print(f"azimuth {azimuth}: {errors.as_dict()}")
    assert errors.keypoints_px < 3.0
    assert errors.silhouette_iou > 0.88
    assert errors.pa_mpjpe_mm < 80
    # the heading is right: the fitted body's forward axis points like the true one in the camera
    forward = torch.tensor([0.0, -1.0, 0.0])
    true_fwd = cam.R[0] @ forward
    fit_fwd = result.camera.R[0] @ (roma.rotvec_to_rotmat(result.global_orient[0]) @ forward)
    assert float(true_fwd @ fit_fwd) > math.cos(math.radians(35))
    assert result.pose.shape == (1, body.num_joints, 3) and result.shape.shape == (1, 6)
    assert ((result.shape >= 0) & (result.shape <= 1)).all()


def test_fit_result_state_round_trip_and_layout_record(body, fits, tmp_path):
    from dinar.data.layout import FitParams, ImageRecord, read_params, write_json

    result = fits[0][2]
    again = FitResult.from_state(json.loads(json.dumps(result.state())))
    assert torch.allclose(again.pose, result.pose) and torch.allclose(again.transl, result.transl)
    assert torch.allclose(again.camera.K, result.camera.K)
    params = FitParams(result.pose[0], result.shape[0], result.global_orient[0], result.transl[0], result.camera)
    write_json(tmp_path / "params" / "photo.json", ImageRecord("anny", "me", 0, 0, params, extra={"crop": {"x0": 1.0}}).to_json())
    record = read_params(tmp_path / "params" / "photo.json", body_model="anny", num_joints=body.num_joints)
    assert torch.allclose(record.fit.pose, result.pose[0], atol=1e-6) and record.extra["crop"] == {"x0": 1.0}


def test_missing_torso_keypoints_is_a_clear_error(body, fitter, fits):
    target = fits[0][0]
    target = FitTarget(target.keypoints, target.confidence.clone(), target.width, target.height, target.mask, target.K)
    target.confidence[COCO_KEYPOINTS.index("left_hip")] = 0
    with pytest.raises(ValueError, match="shoulders and both hips"):
        fitter(target)


def test_fit_agreement_by_hand(body):
    """The true body agrees perfectly with its own keypoints and mask; shifting the keypoints by
    (3, 4) px gives 5 px; masking out the right half of the image halves the mask IoU's overlap."""
    target, cam = scene(body, walking(body), TRUE_SHAPE, 0)
    zeros = torch.zeros(1, 3)
    truth = FitResult("anny", walking(body), TRUE_SHAPE, zeros, zeros, cam, target.keypoints)
    exact = fit_agreement(body, truth, target)
    assert exact.keypoints_px < 1e-3 and exact.silhouette_iou == pytest.approx(1.0)
    rows = torch.nonzero(target.mask.bool().any(dim=1))
    assert exact.keypoints_rel == pytest.approx(exact.keypoints_px / float(rows[-1] - rows[0] + 1))
    shifted = FitTarget(target.keypoints + torch.tensor([3.0, 4.0]), target.confidence, target.width, target.height, target.mask, target.K)
    assert fit_agreement(body, truth, shifted).keypoints_px == pytest.approx(5.0, abs=1e-3)
    half = target.mask.clone()
    half[:, SIZE // 2 :] = 0
    expected = float(half.sum() / target.mask.sum())  # |fit & half| / |fit | half| = |half| / |fit|
    assert fit_agreement(body, truth, FitTarget(target.keypoints, target.confidence, SIZE, SIZE, half, target.K)).silhouette_iou == pytest.approx(expected, abs=1e-4)
    unsure = target.confidence.clone()
    unsure[:5] = 0.3  # the head's points fall under the confidence cut and are not compared
    moved = target.keypoints.clone()
    moved[:5] += 50
    assert fit_agreement(body, truth, FitTarget(moved, unsure, SIZE, SIZE, target.mask, target.K)).keypoints_px < 1e-3


def test_procrustes_alignment_removes_similarity():
    torch.manual_seed(0)
    x = torch.randn(20, 3, dtype=torch.float64)
    R = roma.rotvec_to_rotmat(torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))
    y = 1.7 * x @ R.T + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert torch.allclose(procrustes_align(x, y), y, atol=1e-9)


def test_overlay_and_parameter_file_without_mediapipe(body, fits, tmp_path):
    """photo_fit's writers on a synthetic observation (landmarks taken from the true keypoints)."""
    from dinar.data.layout import read_params
    from dinar.data.photo_files import write_fit, write_layout
    from dinar.fitting.observe import PhotoObservation
    from dinar.fitting.photo import (
        BLAZEPOSE_LANDMARKS,
        BLAZEPOSE_TO_COCO,
        CropBox,
        Photo,
    )
    from dinar.fitting.photo_fit import (
        PhotoFit,
        overlay_image,
        render_shaded,
    )

    pose, shape = walking(body), TRUE_SHAPE
    target, cam, result = fits[0]
    rgb, mask = render_shaded(body, {"pose": pose, "shape": shape, "global_orient": torch.zeros(1, 3), "transl": torch.zeros(1, 3), "camera": cam})
    image = (np.where(mask[..., None], rgb, 0.4) * 255).astype(np.uint8)
    landmarks = np.zeros((len(BLAZEPOSE_LANDMARKS), 2))
    visibility = np.zeros(len(BLAZEPOSE_LANDMARKS))
    for coco, blaze in enumerate(BLAZEPOSE_TO_COCO):
        if blaze >= 0:
            landmarks[blaze], visibility[blaze] = target.keypoints[coco].numpy(), 1.0
    crop = CropBox(0.0, 0.0, float(SIZE), SIZE)
    obs = PhotoObservation(Photo(image, None, str(tmp_path / "me.png")), landmarks, visibility, mask.astype(np.float32), crop, 1)
    again = obs.fit_target(focal=float(cam.K[0, 0, 0]))
    seen = again.confidence > 0  # every keypoint but the small toes, which BlazePose lacks
    assert seen.sum() == len(COCO_KEYPOINTS) - 2
    assert torch.allclose(again.keypoints[seen], target.keypoints[seen], atol=1e-4) and torch.allclose(again.K, target.K)
    fit = PhotoFit(obs, result)
    write_fit(fit, tmp_path / "fit.json", body, tmp_path / "fit.png")
    record = read_params(tmp_path / "fit.json", body_model="anny")
    assert record.extra["crop"]["out_size"] == SIZE and record.person_id == "me"
    assert record.fit.camera.width == SIZE
    overlay = overlay_image(body, fit)
    assert overlay.shape == (SIZE, 3 * SIZE, 3) and overlay.dtype == np.uint8
    assert (tmp_path / "fit.png").stat().st_size > 1000
    person = write_layout(fit, tmp_path / "data")
    assert (person / "rgb" / "photo.png").exists() and (person / "segm" / "photo.png").exists()


def test_generic_body_model_smplx_layout(tmp_path_factory, azimuth=180):
    """Any BodyModel: the SMPL-X backend (Y up, facing +Z) on the procedural test model, keypoints from its joints."""
    pytest.importorskip("smplx")
    from smplx_fixture import write_smplx_model

    from dinar.body import load_body_model

    folder = tmp_path_factory.mktemp("smplx_fit")
    write_smplx_model(folder)
    body = load_body_model("smplx", model_path=folder)
    points = fit_points_for(body)
    assert not points.available[0] and points.available[5:17].all()  # no face points, all limbs
    names = body.skeleton.names
    pose = torch.zeros(1, body.num_joints, 3)
    pose[0, names.index("left_shoulder")] = torch.tensor([0.0, 0.0, -0.6])
    pose[0, names.index("right_knee")] = torch.tensor([0.6, 0.0, 0.0])
    shape = torch.zeros(1, body.num_shape)
    a = math.radians(azimuth)
    R, t = look_at(torch.tensor([[2.6 * math.sin(a), 0.3, 2.6 * math.cos(a)]]), torch.zeros(1, 3), up=torch.tensor([[0.0, 1.0, 0.0]]))
    cam = Camera(intrinsics(1.2 * SIZE, SIZE, SIZE), R, t, SIZE, SIZE)
    kp, _ = cam.project(points(pose, shape, torch.zeros(1, 3), torch.zeros(1, 3)).keypoints)
    mask = rasterize(body(pose=pose, shape=shape).vertices, body.faces, cam).mask[0, 0]
    result = BodyFitter(body, FitConfig.preset("fast"))(FitTarget(kp[0], points.available.float(), SIZE, SIZE, mask, cam.K[0]))
    errors = fit_errors(body, result, pose, shape, cam)
    assert errors.keypoints_px < 4 and errors.pa_mpjpe_mm < 90
    forward = torch.tensor([0.0, 0.0, 1.0])
    assert float((cam.R[0] @ forward) @ (result.camera.R[0] @ roma.rotvec_to_rotmat(result.global_orient[0]) @ forward)) > 0.8
