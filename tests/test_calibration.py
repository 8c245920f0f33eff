"""Calibration readers (Pose2Sim TOML, Qualisys .qca.txt, OpenCV YAML/JSON), projection with distortion,
undistortion and the conversion to dinar's camera, on cameras whose numbers are worked out by hand here."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dinar.geometry.calibration import (
    CalibratedCamera,
    CalibrationError,
    matrix_to_rodrigues,
    read_calibration,
    rodrigues_to_matrix,
    undistort_image,
    undistort_pixels,
    write_opencv_calibration,
)

TRIAL = Path(__file__).parent / "data" / "pose2sim_static_trial"

# A camera turned 90 degrees about z: R = [[0, -1, 0], [1, 0, 0], [0, 0, 1]], t = (0.1, 0.2, 3).
# The world point (1, 0, 0) -> R X + t = (0.1, 1.2, 3) -> x' = 0.1 / 3, y' = 0.4
# -> u = 1000 * 0.1 / 3 + 500 = 533.3333, v = 1000 * 0.4 + 400 = 800 (OpenCV pixels).
# With k1 = 0.1: r^2 = (1/30)^2 + 0.4^2 = 0.1611111, factor 1.0161111 -> u = 533.87037, v = 806.44444.
POSE2SIM_TOML = """\
[cam_01]
name = "cam_01"
size = [ 1000.0, 800.0]
matrix = [ [ 1000.0, 0.0, 500.0], [ 0.0, 1000.0, 400.0], [ 0.0, 0.0, 1.0]]
distortions = [ {k1}, 0.0, 0.0, 0.0]
rotation = [ 0.0, 0.0, {angle}]
translation = [ 0.1, 0.2, 3.0]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""


def pose2sim_file(tmp_path, k1=0.0, angle=math.pi / 2, fisheye=False) -> Path:
    text = POSE2SIM_TOML.format(k1=k1, angle=angle)
    if fisheye:
        text = text.replace("fisheye = false", "fisheye = true")
    path = tmp_path / "Calib_board.toml"
    path.write_text(text)
    return path


def test_pose2sim_toml_projects_a_point_as_computed_by_hand(tmp_path):
    (cam,) = read_calibration(pose2sim_file(tmp_path))
    assert (cam.name, cam.width, cam.height) == ("cam_01", 1000, 800)
    np.testing.assert_allclose(cam.R, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(cam.project(np.array([[1.0, 0.0, 0.0]])), [[533.3333333, 800.0]], atol=1e-6)
    np.testing.assert_allclose(cam.center, -cam.R.T @ np.array([0.1, 0.2, 3.0]), atol=1e-12)


def test_radial_distortion_as_computed_by_hand(tmp_path):
    (cam,) = read_calibration(pose2sim_file(tmp_path, k1=0.1))
    np.testing.assert_allclose(cam.project(np.array([[1.0, 0.0, 0.0]])), [[533.8703704, 806.4444444]], atol=1e-6)


def test_projection_matches_opencv_with_every_coefficient():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    cam = CalibratedCamera("c", 640, 480, np.array([[700.0, 0, 320], [0, 690.0, 250], [0, 0, 1]]),
                           np.array([-0.2, 0.05, 0.001, -0.002, 0.01, 0.001, -0.002, 0.003]), rodrigues_to_matrix([0.1, -0.2, 0.3]),
                           np.array([0.05, -0.1, 2.5]))
    points = rng.normal(0, 0.4, (50, 3))
    expected = cv2.projectPoints(points, matrix_to_rodrigues(cam.R), cam.t, cam.K, cam.dist)[0][:, 0]
    np.testing.assert_allclose(cam.project(points), expected, atol=1e-8)


def test_to_camera_moves_the_principal_point_by_half_a_pixel(tmp_path):
    """dinar puts pixel centres at +0.5 (geometry.camera), OpenCV at integers: the same point, 0.5 apart."""
    (cam,) = read_calibration(pose2sim_file(tmp_path))
    dinar_cam = cam.to_camera()
    assert (dinar_cam.width, dinar_cam.height) == (1000, 800)
    np.testing.assert_allclose(dinar_cam.K[0].numpy(), [[1000, 0, 500.5], [0, 1000, 400.5], [0, 0, 1]])
    pix, depth = dinar_cam.project(torch.tensor([[[1.0, 0.0, 0.0]]]))
    np.testing.assert_allclose(pix[0].numpy(), [[533.8333333, 800.5]], atol=1e-4)
    assert float(depth) == pytest.approx(3.0)


# Qualisys: one camera 2 m above the origin looking straight down (QTM's axes = the world's, looking along -z),
# one at (3, 0, 1) m looking along -x with z up in its image. Intrinsics in 1/64 pixel on the sensor, video
# window from (100, 50): f = 64000 / 64 = 1000, cx = 38400 / 64 - 100 = 500, cy = 32000 / 64 - 50 = 450.
QCA = """<?xml version='1.0' encoding='ASCII'?>
<calibration source="hand.qca.txt" type="regular">
  <cameras>
    <camera active="1" avg-residual="0.4" model="none" serial="down" viewrotation="0">
      <fov_video bottom="1009" left="100" right="1179" top="50"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="1" r23="0" r31="0" r32="0" r33="1" x="0" y="0" z="2000"/>
      <intrinsic centerPointU="38400" centerPointV="32000" focalLengthU="64000" focalLengthV="64000" focallength="9.3"
        radialDistortion1="6.4" radialDistortion2="0" radialDistortion3="0" skew="0" tangentalDistortion1="0" tangentalDistortion2="0"/>
    </camera>
    <camera active="1" avg-residual="0.4" model="none" serial="side" viewrotation="0">
      <fov_video bottom="1009" left="100" right="1179" top="50"/>
      <transform r11="0" r12="1" r13="0" r21="0" r22="0" r23="1" r31="1" r32="0" r33="0" x="3000" y="0" z="1000"/>
      <intrinsic centerPointU="38400" centerPointV="32000" focalLengthU="64000" focalLengthV="64000" focallength="9.3"
        radialDistortion1="0" radialDistortion2="0" radialDistortion3="0" skew="0" tangentalDistortion1="0" tangentalDistortion2="0"/>
    </camera>
  </cameras>
</calibration>
"""


def test_qualisys_to_opencv_as_computed_by_hand(tmp_path):
    path = tmp_path / "hand.qca.txt"
    path.write_text(QCA)
    down, side = read_calibration(path)
    assert (down.width, down.height) == (1080, 960)
    np.testing.assert_allclose(down.K, [[1000, 0, 500], [0, 1000, 450], [0, 0, 1]])
    # QTM -> OpenCV: R = diag(1, -1, -1) @ M, t = -R @ C (C in metres).
    np.testing.assert_allclose(down.R, np.diag([1.0, -1.0, -1.0]))
    np.testing.assert_allclose(down.t, [0.0, 0.0, 2.0])
    np.testing.assert_allclose(down.center, [0.0, 0.0, 2.0])
    np.testing.assert_allclose(down.dist, [0.1, 0, 0, 0, 0])  # 6.4 / 64
    # (0.3, 0.2, 0): QTM camera coordinates M (X - C) = (0.3, 0.2, -2) -> OpenCV (0.3, -0.2, 2)
    # -> u = 1000 * 0.15 + 500 = 650, v = -1000 * 0.1 + 450 = 350 (no distortion); with k1 = 0.1,
    # r^2 = 0.0325: u = 500 + 150 * 1.00325 = 650.4875, v = 450 - 100 * 1.00325 = 349.675.
    np.testing.assert_allclose(down.project(np.array([[0.3, 0.2, 0.0]])), [[650.4875, 349.675]], atol=1e-9)
    # The side camera: (0, 0.5, 1.2) - C = (-3, 0.5, 0.2); M @ that = (0.5, 0.2, -3) -> OpenCV (0.5, -0.2, 3)
    # -> u = 1000 * 0.5 / 3 + 500 = 666.667 (world +y is to its right), v = -1000 * 0.2 / 3 + 450 = 383.333 (higher is up).
    np.testing.assert_allclose(side.project(np.array([[0.0, 0.5, 1.2]])), [[666.6666667, 383.3333333]], atol=1e-6)
    np.testing.assert_allclose(side.center, [3.0, 0.0, 1.0], atol=1e-12)


def test_qualisys_binning_halves_the_intrinsics(tmp_path):
    path = tmp_path / "hand.qca.txt"
    path.write_text(QCA)
    down = read_calibration(path, binning=2)[0]
    assert (down.width, down.height) == (540, 480)
    np.testing.assert_allclose(down.K[:2], [[500, 0, 200], [0, 500, 200]])  # 38400 / 128 - 100, 32000 / 128 - 50


def test_the_committed_static_trial_calibration():
    cams = read_calibration(TRIAL / "Calib.qca.txt")
    assert [c.name for c in cams] == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert all((c.width, c.height) == (1088, 1920) for c in cams)
    np.testing.assert_allclose(cams[0].center, [1.4602323709, -1.9091590482, 1.8965058524], atol=1e-9)
    np.testing.assert_allclose(cams[0].K[0, 0], 107599.671875 / 64)
    # The man stands near the lab origin: his hips (~1.1 m up) are in front of every camera and inside its image.
    hips = np.array([[0.3, -0.1, 1.1]])
    for c in cams:
        assert (hips @ c.R.T + c.t)[0, 2] > 2.0
        u, v = c.project(hips)[0]
        assert 0 < u < c.width and 0 < v < c.height


OPENCV_YAML = """%YAML:1.0
---
image_width: 640
image_height: 480
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 800., 0., 320., 0., 800., 240., 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.1, 0.01, 0., 0., 0. ]
rvec: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ 0., 0., 0. ]
tvec: [ 0., 0., 2. ]
"""


def test_opencv_filestorage_yaml_with_rvec(tmp_path):
    path = tmp_path / "front.yml"
    path.write_text(OPENCV_YAML)
    (cam,) = read_calibration(path)
    assert (cam.name, cam.width, cam.height) == ("front", 640, 480)
    np.testing.assert_allclose(cam.R, np.eye(3))
    # (0.2, 0.1, 0) at depth 2: x' = 0.1, y' = 0.05, r^2 = 0.0125, factor 1 - 0.00125 + 0.0000015625
    f = 1 - 0.1 * 0.0125 + 0.01 * 0.0125**2
    np.testing.assert_allclose(cam.project(np.array([[0.2, 0.1, 0.0]])), [[320 + 80 * f, 240 + 40 * f]], atol=1e-9)


@pytest.mark.parametrize("suffix", [".json", ".yml"])
def test_opencv_round_trip(tmp_path, suffix):
    path = tmp_path / "Calib.qca.txt"
    path.write_text(QCA)
    cams = read_calibration(path)
    back = read_calibration(write_opencv_calibration(cams, tmp_path / f"rig{suffix}"))
    assert [c.name for c in back] == [c.name for c in cams]
    for a, b in zip(cams, back):
        assert (a.width, a.height) == (b.width, b.height)
        for key in ("K", "dist", "R", "t"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_opencv_itself_reads_the_yaml_we_write(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "Calib.qca.txt"
    path.write_text(QCA)
    cams = read_calibration(path)
    out = write_opencv_calibration(cams, tmp_path / "rig.yml")
    fs = cv2.FileStorage(str(out), cv2.FILE_STORAGE_READ)
    node = fs.getNode("cameras")
    assert node.size() == 2
    np.testing.assert_array_equal(node.at(1).getNode("K").mat(), cams[1].K)
    np.testing.assert_array_equal(node.at(1).getNode("R").mat(), cams[1].R)


def test_opencv_intrinsics_and_extrinsics_in_two_files(tmp_path):
    intr = tmp_path / "intrinsics.json"
    extr = tmp_path / "extrinsics.json"
    intr.write_text(json.dumps({"cameras": {"a": {"K": [[800, 0, 320], [0, 800, 240], [0, 0, 1]], "size": [640, 480]}}}))
    extr.write_text(json.dumps({"cameras": {"a": {"R": np.eye(3).tolist(), "T": [0, 0, 3]}}}))
    (cam,) = read_calibration(intr, extrinsics=extr)
    np.testing.assert_allclose(cam.t, [0, 0, 3])
    assert cam.dist.size == 0 and not cam.has_distortion
    extr.write_text(json.dumps({"cameras": {"b": {"R": np.eye(3).tolist(), "T": [0, 0, 3]}}}))
    with pytest.raises(CalibrationError, match=r"extrinsics\.json: no extrinsics for camera\(s\) \['a'\]"):
        read_calibration(intr, extrinsics=extr)


def test_undistortion_matches_opencv_and_maps_points_back(tmp_path):
    cam = CalibratedCamera("c", 160, 120, np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]]), np.array([-0.3, 0.1, 0.002, -0.001, 0.0]),
                           np.eye(3), np.zeros(3))
    yy, xx = np.mgrid[0:120, 0:160]
    image = (((xx // 8 + yy // 8) % 2) * 200 + 20).astype(np.uint8)[..., None].repeat(3, 2)  # a checkerboard
    out = undistort_image(image, cam)
    assert out.shape == image.shape and out.dtype == np.uint8
    cv2 = pytest.importorskip("cv2")
    expected = cv2.undistort(image, cam.K, cam.dist)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(out[inner].astype(int) - expected[inner].astype(int)).mean() < 2.0
    # A point's distorted pixel, undistorted, is the pinhole projection.
    points = np.array([[0.2, -0.1, 1.0], [-0.3, 0.25, 1.2]])
    pinhole = points[:, :2] / points[:, 2:] * 150 + [79.5, 59.5]
    np.testing.assert_allclose(undistort_pixels(cam.project(points), cam), pinhole, atol=0.05)


def test_undistortion_refuses_a_frame_of_another_size():
    cam = CalibratedCamera("cam_07", 160, 120, np.array([[150.0, 0, 80], [0, 150.0, 60], [0, 0, 1]]), np.array([-0.3, 0.1, 0, 0]), np.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="cam_07.*160x120.*the image is 100x120"):
        undistort_image(np.zeros((120, 100, 3), np.uint8), cam)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.toml: no such calibration file"):
        read_calibration(tmp_path / "nothere.toml")
    odd = tmp_path / "calib.xyz"
    odd.write_text("")
    with pytest.raises(CalibrationError, match=r"calib\.xyz: unknown calibration format"):
        read_calibration(odd)
    with pytest.raises(CalibrationError, match="fisheye"):
        read_calibration(pose2sim_file(tmp_path, fisheye=True))
    broken = tmp_path / "Calib_x.toml"
    broken.write_text('[cam_01]\nname = "cam_01"\nsize = [10, 10]\n')
    with pytest.raises(CalibrationError, match=r"Calib_x\.toml: camera \[cam_01\] has no 'matrix'"):
        read_calibration(broken)
    empty = tmp_path / "empty.qca.txt"
    empty.write_text("<calibration><cameras/></calibration>")
    with pytest.raises(CalibrationError, match="empty.qca.txt: no <cameras><camera>"):
        read_calibration(empty)
    nok = tmp_path / "nok.json"
    nok.write_text(json.dumps({"name": "a", "R": np.eye(3).tolist(), "t": [0, 0, 1], "size": [4, 4]}))
    with pytest.raises(CalibrationError, match=r"nok\.json: camera 'a' has none of K, camera_matrix"):
        read_calibration(nok)
    skew = tmp_path / "skew.json"
    skew.write_text(json.dumps({"K": np.eye(3).tolist(), "R": (2 * np.eye(3)).tolist(), "t": [0, 0, 1], "size": [4, 4]}))
    with pytest.raises(CalibrationError, match="R is not a rotation"):
        read_calibration(skew)
    twice = tmp_path / "twice.json"
    one = {"name": "a", "K": np.eye(3).tolist(), "R": np.eye(3).tolist(), "t": [0, 0, 1], "size": [4, 4]}
    twice.write_text(json.dumps({"cameras": [one, one]}))
    with pytest.raises(CalibrationError, match="camera names repeat"):
        read_calibration(twice)
