"""``dinar data capture`` on a tiny synthetic capture this test renders with known cameras: the shared body fit
reprojects within a few pixels in every view, the cameras written are exact, and bad captures are clear errors.

The synthetic person (a painted Anny body in a library pose, standing in a "lab" frame away from the origin) is
filmed by four cameras around it; their calibration is written as a Pose2Sim TOML in OpenCV's pixel convention.
The detector is replaced by the truth (the body's keypoints projected into each frame, and its rendered mask), so
the fit and the camera chain are tested exactly; a last test runs BlazePose on the same frames (photo extra).
"""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dinar.data.capture import ViewDetection, capture_config, import_capture
from dinar.data.capture_sources import (
    CaptureError,
    FrameSource,
    match_sources,
    name_key,
)
from dinar.data.layout import read_params
from dinar.fitting.photo import CropBox
from dinar.fitting.points import fit_points_for
from dinar.geometry.calibration import matrix_to_rodrigues, read_calibration
from dinar.geometry.camera import Camera, intrinsics, look_at

WIDTH, HEIGHT, FOCAL = 240, 400, 420.0
TRIAL = Path(__file__).parent / "data" / "pose2sim_static_trial"
ORIENT = torch.tensor([[0.0, 0.0, 2.3]])  # the subject faces about (sin 2.3, -cos 2.3) ... away from the origin
TRANSL = torch.tensor([[0.6, -0.4, 0.05]])


def lab_cameras() -> dict[str, Camera]:
    """Four portrait cameras around the subject, at 3.2-3.8 m, 1.0-1.6 m high (dinar's convention)."""
    cams = {}
    target = TRANSL[0] + torch.tensor([0.0, 0.0, 0.0])
    for i, (az, dist, height) in enumerate([(10, 3.2, 1.2), (95, 3.6, 1.6), (190, 3.4, 1.0), (275, 3.8, 1.4)]):
        a = math.radians(az)
        eye = target + torch.tensor([dist * math.sin(a), -dist * math.cos(a), height])
        R, t = look_at(eye[None], target[None])
        cams[f"cam_{i + 1:02d}"] = Camera(intrinsics(FOCAL, WIDTH, HEIGHT), R, t, WIDTH, HEIGHT)
    return cams


def write_pose2sim_toml(cams: dict[str, Camera], path: Path) -> None:
    """The cameras as Pose2Sim writes them: OpenCV's pixel centres (dinar's principal point - 0.5), Rodrigues rotations."""
    lines = []
    for name, cam in cams.items():
        K = cam.K[0].double().numpy().copy()
        K[:2, 2] -= 0.5
        K = K.tolist()
        r = matrix_to_rodrigues(cam.R[0].double().numpy()).tolist()
        t = cam.t[0].double().numpy().tolist()
        lines += [f"[{name}]", f'name = "{name}"', f"size = [ {cam.width}.0, {cam.height}.0]",
                  f"matrix = [ [ {K[0][0]!r}, 0.0, {K[0][2]!r}], [ 0.0, {K[1][1]!r}, {K[1][2]!r}], [ 0.0, 0.0, 1.0]]",
                  "distortions = [ 0.0, 0.0, 0.0, 0.0]", f"rotation = [ {r[0]!r}, {r[1]!r}, {r[2]!r}]",
                  f"translation = [ {t[0]!r}, {t[1]!r}, {t[2]!r}]", "fisheye = false", ""]
    path.write_text("\n".join(lines + ["[metadata]", "adjusted = false", "error = 0.0", ""]))


@pytest.fixture(scope="module")
def capture(body, tmp_path_factory):
    """Frame folders of the four cameras (2 frames each), the calibration, and the truth per camera."""
    from PIL import Image

    from dinar.body.poses import pose_tensor
    from dinar.data.appearance import sample_appearance
    from dinar.data.render_gt import ClothedMesh, Lighting, render_clothed
    from dinar.data.texture_bake import bake_person_texture

    root = tmp_path_factory.mktemp("capture")
    pose = pose_tensor("walking", list(body.skeleton.names))[None]
    shape = body.neutral_shape(1).float()
    with torch.no_grad():
        rest = body(shape=shape)
        texture = bake_person_texture(body, sample_appearance(np.random.default_rng(3)), rest.vertices[0], rest.normals[0],
                                      rest.joints[0], 128).texture
        posed = body(pose=pose, shape=shape, global_orient=ORIENT, transl=TRANSL)
        keypoints = fit_points_for(body)(pose, shape, ORIENT, TRANSL).keypoints
    mesh = ClothedMesh(posed.vertices[0], body.faces.cpu(), body.face_uvs.cpu(), torch.zeros(body.faces.shape[0], dtype=torch.long),
                       posed.normals[0])
    light = Lighting(direction=torch.nn.functional.normalize(torch.tensor([0.3, -0.5, 0.8]), dim=0), colour=torch.tensor([0.7, 0.7, 0.7]),
                     ambient=torch.tensor([0.5, 0.5, 0.5]))
    cams = lab_cameras()
    truth = {}
    for name, cam in cams.items():
        rgb, mask = render_clothed(mesh, [texture, torch.zeros(1, 3, 2, 2)], cam, light, background=(0.55, 0.6, 0.5), supersample=1)
        kp, _ = cam.project(keypoints)
        truth[name] = (kp[0].numpy().astype(np.float64), mask.astype(np.float32) / 255)
        folder = root / "frames" / name.replace("_", "")  # cam01/ matches cam_01
        folder.mkdir(parents=True)
        for f in range(2):
            Image.fromarray(rgb).save(folder / f"{f:03d}.png")
    write_pose2sim_toml(cams, root / "Calib_lab.toml")
    return {"root": root, "calib": root / "Calib_lab.toml", "frames": root / "frames", "cams": cams, "truth": truth,
            "pose": pose, "shape": shape}


def oracle(truth):
    """The detector replaced by the truth: projected keypoints (confidence 1) and the rendered mask."""

    def detect(frame: np.ndarray, camera: str) -> ViewDetection:
        kp, mask = truth[camera]
        assert frame.shape[:2] == mask.shape
        return ViewDetection(kp.copy(), np.ones(len(kp)), mask)

    return detect


@pytest.fixture(scope="module")
def imported(body, capture):
    out = capture["root"] / "data"
    config = capture_config(calibration=capture["calib"], sources=[capture["frames"]], output_dir=out, name="lab_person",
                            fit_preset="fast", progress=False)
    return import_capture(config, body=body, detector=oracle(capture["truth"])), out


def test_shared_fit_reprojects_within_a_few_pixels_in_every_view(imported):
    result, out = imported
    assert result.cameras == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert [i.frame for i in result.instants] == [0, 1]
    for instant in result.instants:
        for camera, px in instant.reprojection_px.items():
            assert px < 3.0, f"{camera}: {px:.2f} px"  # frames are 400 px tall
        assert min(instant.silhouette_iou.values()) > 0.8
    summary = json.loads((out / "lab_person" / "capture.json").read_text())
    assert summary["frames"] == [0, 1] and set(summary["reprojection_px"]["mean"]) == set(result.cameras)
    assert json.loads((out / "splits.json").read_text())["test"] == ["lab_person"]


def test_written_cameras_are_the_calibrated_ones_exactly(imported, capture):
    _, out = imported
    for view, (name, cam) in enumerate(capture["cams"].items()):
        record = read_params(out / "lab_person" / "params" / f"f0001_{name}.json")
        assert (record.pose_id, record.view, record.extra["source"]["camera"]) == (1, view, name)
        crop = CropBox.from_state(record.extra["crop"])
        # The whole frame's camera is the calibrated one (back in dinar's pixel convention) ...
        photo = record.extra["photo_camera"]
        np.testing.assert_allclose(photo["K"], cam.K[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(photo["R"], cam.R[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(photo["t"], cam.t[0].numpy(), atol=1e-6)
        # ... and the crop's is that camera with the crop's scale and shift: same rays, same extrinsics.
        fitted = record.fit.camera
        np.testing.assert_allclose(fitted.K[0].numpy(), crop.crop_intrinsics(cam.K[0].double()).numpy(), rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(fitted.R[0].numpy(), cam.R[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(fitted.t[0].numpy(), cam.t[0].numpy(), atol=1e-6)
        assert (fitted.width, fitted.height) == (512, 512)


def test_every_view_holds_the_same_body_and_its_crop_shows_it(imported, body, capture):
    _, out = imported
    records = {name: read_params(out / "lab_person" / "params" / f"f0000_{name}.json") for name in capture["cams"]}
    first = next(iter(records.values())).fit
    for name, record in records.items():
        for key in ("pose", "shape", "global_orient", "transl"):
            torch.testing.assert_close(getattr(record.fit, key), getattr(first, key))
        # the fitted body's keypoints through the written crop camera land on the true keypoints in the crop
        f = record.fit
        kp = fit_points_for(body)(f.pose[None], f.shape[None], f.global_orient[None], f.transl[None]).keypoints
        projected, _ = f.camera.project(kp)
        true_crop = CropBox.from_state(record.extra["crop"]).photo_to_crop(capture["truth"][name][0])
        err = np.linalg.norm(projected[0].numpy() - true_crop, axis=1).mean()
        assert err < 4.0, f"{name}: {err:.2f} crop px"  # the crop is 512 px


def test_the_views_of_an_instant_are_a_multi_shot_input(imported):
    from dinar.pipeline.capture_views import capture_views, pipeline_inputs

    _, out = imported
    views = capture_views(out / "lab_person", ["cam_01", "cam_03"], frame=1)
    assert [v.stem for v in views] == ["f0001_cam_01", "f0001_cam_03"]
    images, masks, fits = pipeline_inputs(views)
    assert images[0].shape == (512, 512, 3) and masks[1].shape == (512, 512) and len(fits) == 2
    assert capture_views(out / "lab_person", [2], frame=0)[0].camera == "cam_03"
    with pytest.raises(ValueError, match="frame 1 has no view 'cam_09'"):
        capture_views(out / "lab_person", ["cam_09"], frame=1)


# Clear errors (no body model, no fit: they are found before any work) -----------------------------------


def _frames(folder: Path, count: int, size: tuple[int, int]) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", size).save(folder / f"{i:03d}.png")


def test_a_camera_without_video_is_named(capture, tmp_path):
    for name in ("cam01", "cam02", "cam03"):
        _frames(tmp_path / name, 2, (WIDTH, HEIGHT))
    cams = read_calibration(capture["calib"])
    with pytest.raises(CaptureError, match="camera 'cam_04' of .*Calib_lab.toml has no video or frame folder.*--cameras"):
        match_sources(cams, tmp_path, calibration_name=str(capture["calib"]))
    sources, count = match_sources(cams, tmp_path, use=["cam_01", "cam_03"])  # leaving it out works
    assert [s.camera.name for s in sources] == ["cam_01", "cam_03"] and count == 2


def test_mismatched_sizes_are_refused_beyond_the_video_block(capture, tmp_path, caplog):
    cams = read_calibration(capture["calib"])[:2]
    _frames(tmp_path / "a" / "cam01", 2, (WIDTH, HEIGHT))
    _frames(tmp_path / "a" / "cam02", 2, (WIDTH + 40, HEIGHT))
    with pytest.raises(CaptureError, match=r"cam02: frames are 280x400 but camera 'cam_02' is calibrated for 240x400"):
        match_sources(cams, tmp_path / "a")
    _frames(tmp_path / "b" / "cam01", 2, (WIDTH, HEIGHT))
    _frames(tmp_path / "b" / "cam02", 2, (WIDTH - 8, HEIGHT))  # an encoder's 16-pixel block: same grid, cut
    sources, _ = match_sources(cams, tmp_path / "b")
    assert (sources[1].camera.width, sources[1].calibrated_size) == (WIDTH - 8, (WIDTH, HEIGHT))
    assert "same pixel grid" in caplog.text
    with pytest.raises(CaptureError, match="calibrated for"):
        match_sources(cams, tmp_path / "b", size_tolerance=0)


def test_unsynchronised_frame_counts_are_refused(capture, tmp_path):
    cams = read_calibration(capture["calib"])[:2]
    _frames(tmp_path / "cam01", 3, (WIDTH, HEIGHT))
    _frames(tmp_path / "cam02", 2, (WIDTH, HEIGHT))
    with pytest.raises(CaptureError, match="unsynchronised recordings.*cam_01 3, cam_02 2"):
        match_sources(cams, tmp_path)


def test_frames_out_of_range_and_a_single_camera_are_refused(capture):
    config = capture_config(calibration=capture["calib"], sources=[capture["frames"]], output_dir=capture["root"] / "x", frames=[5])
    with pytest.raises(CaptureError, match=r"frames \[5\] are out of range: the recordings have 2 frames"):
        import_capture(config)
    config = capture_config(calibration=capture["calib"], sources=[capture["frames"]], output_dir=capture["root"] / "x", cameras=["cam_01"])
    with pytest.raises(CaptureError, match="needs at least 2 cameras"):
        import_capture(config)


def test_the_committed_trial_videos_match_their_calibration():
    cams = read_calibration(TRIAL / "Calib.qca.txt")
    sources, count = match_sources(cams, TRIAL / "videos")
    assert count == 11
    assert [(s.camera.name, s.source.path.name, s.camera.width) for s in sources] == [
        ("cam_01", "cam01.mp4", 1088), ("cam_02", "cam02.mp4", 1088), ("cam_03", "cam03.mp4", 1080), ("cam_04", "cam04.mp4", 1080)]
    frame = next(FrameSource(TRIAL / "videos" / "cam03.mp4").frames())
    assert frame.shape == (1920, 1080, 3) and frame.dtype == np.uint8
    assert name_key("cam_01") == name_key("Cam01") == "cam1" and name_key("cam_10") == "cam10"


def test_blazepose_on_the_synthetic_capture(body, capture, tmp_path):
    pytest.importorskip("mediapipe")
    config = capture_config(calibration=capture["calib"], sources=[capture["frames"]], output_dir=tmp_path, frames=[0],
                            fit_preset="fast", progress=False)
    result = import_capture(config, body=body)
    for camera, px in result.instants[0].reprojection_px.items():
        assert px < 0.04 * HEIGHT, f"{camera}: {px:.1f} px"  # BlazePose's own error on a rendered body is a few pixels


def test_the_subject_turns_the_views_around_him(imported, capture):
    """The written fit puts the cameras where they are around the body: view azimuths follow the rig."""
    from dinar.eval.people import view_azimuth

    _, out = imported
    az = [view_azimuth(read_params(out / "lab_person" / "params" / f"f0000_{n}.json").fit, (0, 0, 1), (0, -1, 0)) for n in capture["cams"]]
    steps = [(b - a) % 360 for a, b in itertools.pairwise(az)]
    steps = steps if steps[0] < 180 else [360 - s for s in steps]  # either way round
    assert all(abs(s - e) < 10 for s, e in zip(steps, (85, 95, 85))), (az, steps)


TWO_PEOPLE = Path(__file__).parent / "data" / "pose2sim_two_people"
HER_BOXES = {"cam01": (170, 740, 1088, 1920), "cam02": (0, 640, 640, 1545), "cam03": (0, 460, 600, 1130), "cam04": (490, 390, 1088, 995)}


@pytest.mark.parametrize(("boxes", "says"), [
    ([("cam_09", (0, 0, 10, 10))], r"--box cam_09: not a selected camera of .*\['cam_01'"),
    ([("cam01", (0, 0, 10, 10)), ("cam_01", (5, 5, 20, 20))], "--box cam_01: given twice"),
    ([("cam02", (50, 10, 40, 30))], r"--box cam02 50 10 40 30: must be X0 Y0 X1 Y1 with X1 > X0"),
    ([("cam02", (300, 10, 400, 30))], "inside the camera's 240x400 frame"),
    ([("cam02", (0, 0, float("nan"), 30))], "must be X0 Y0 X1 Y1"),
])
def test_a_bad_person_box_is_refused_before_any_work(capture, tmp_path, boxes, says):
    config = capture_config(calibration=capture["calib"], sources=[capture["frames"]], output_dir=tmp_path / "out", boxes=boxes)
    with pytest.raises(CaptureError, match=says):
        import_capture(config)
    assert not (tmp_path / "out").exists()


def test_the_committed_two_people_videos_match_their_calibration():
    sources, count = match_sources(read_calibration(TWO_PEOPLE / "Calib.qca.txt"), TWO_PEOPLE / "videos")
    assert count == 100
    assert [(s.camera.name, s.source.path.name, s.camera.width, s.camera.height) for s in sources] == [
        (f"cam0{i}", f"cam0{i}.mp4", 1088, 1920) for i in range(1, 5)]


def test_a_box_picks_the_person_where_the_largest_is_someone_else():
    """In cam03 the man is the larger person: with no box the import takes him, with her box it takes her."""
    pytest.importorskip("mediapipe")
    from dinar.data.capture import blazepose_detector
    from dinar.geometry.calibration import undistort_image

    cam = next(c for c in read_calibration(TWO_PEOPLE / "Calib.qca.txt") if c.name == "cam03")
    frame = undistort_image(next(FrameSource(TWO_PEOPLE / "videos" / "cam03.mp4").frames()), cam)
    x0, y0, x1, y1 = HER_BOXES["cam03"]
    hers, largest = blazepose_detector(boxes={"cam03": HER_BOXES["cam03"]})(frame, "cam03"), blazepose_detector()(frame, "cam03")
    seen = hers.keypoints[hers.confidence > 0.5]
    assert len(seen) > 10 and np.all((seen[:, 0] > x0) & (seen[:, 0] < x1) & (seen[:, 1] > y0) & (seen[:, 1] < y1))
    both = (hers.confidence > 0.5) & (largest.confidence > 0.5)
    assert np.linalg.norm(hers.keypoints[both] - largest.keypoints[both], axis=1).mean() > 150  # another person: the man


@pytest.mark.parametrize(("box", "says"), [(["cam01", "a", "0", "10", "10"], "--box cam01 a 0 10 10: X0 Y0 X1 Y1 must be numbers"),
                                           (["cam07", "0", "0", "10", "10"], "--box cam07: not a selected camera")])
def test_the_command_refuses_a_bad_box_in_one_line(capture, tmp_path, capsys, box, says):
    from dinar.cli import main

    pytest.importorskip("mediapipe")  # the command checks for the person finder before reading the capture
    code = main(["data", "capture", str(capture["calib"]), "--videos", str(capture["frames"]), "-o", str(tmp_path / "out"), "--box", *box])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and says in err[0], err
    assert not (tmp_path / "out").exists()
