"""benchmarks/capture_trials.py: trial files of real captures, the committed ones and a user's, and their refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import benchmark_module

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def trials():
    with benchmark_module("capture_trials") as module:
        yield module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("real_capture") as module:
        yield module


def write(folder: Path, **spec) -> Path:
    """A trial file in ``folder`` with a calibration file and a videos folder beside it; ``spec`` overrides its keys."""
    (folder / "videos" / "cam1").mkdir(parents=True, exist_ok=True)
    (folder / "videos" / "cam1" / "000.png").write_bytes(b"x")
    (folder / "videos" / "cam2.mp4").write_bytes(b"y")
    (folder / "calib.toml").write_text("")
    base = {"format": "dinar-trial/1", "calibration": "calib.toml", "videos": "videos", "frame": 2, "input": "cam1"}
    path = folder / "trial.json"
    path.write_text(json.dumps({k: v for k, v in {**base, **spec}.items() if v is not None}))
    return path


def test_the_committed_captures_read_as_they_were_benchmarked(trials):
    man, woman = trials.find_trial("static_trial"), trials.find_trial("two_people")
    assert (man.name, man.frame, man.input, man.frames, man.others, man.boxes) == ("static_trial", 5, "cam_03", 11, (2, 8), ())
    assert (woman.name, woman.frame, woman.input, woman.frames, woman.others) == ("two_people", 4, "cam03", 13, (0, 8))
    assert dict(woman.boxes) == {"cam01": (170, 740, 1088, 1920), "cam02": (0, 640, 640, 1545), "cam03": (0, 460, 600, 1130),
                                 "cam04": (490, 390, 1088, 995)}
    assert man.calibration == (DATA / "pose2sim_static_trial" / "Calib.qca.txt").resolve()
    assert list(woman.files()) == ["Calib.qca.txt", "cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4"]


def test_a_users_trial_file_names_its_files_relative_to_itself(trials, tmp_path):
    path = write(tmp_path / "lab" / "anna", boxes={"cam2": [0, 10, 50, 90]}, others=[0, 4], frames=6)
    trial = trials.find_trial(str(path))
    assert trial.name == "anna"  # the folder's name where the file gives none
    assert trial.calibration == (tmp_path / "lab" / "anna" / "calib.toml").resolve()
    assert (trial.frame, trial.input, trial.frames, trial.others, trial.boxes) == (2, "cam1", 6, (0, 4), (("cam2", (0.0, 10.0, 50.0, 90.0)),))
    assert list(trial.files()) == ["calib.toml", "cam1/000.png", "cam2.mp4"]  # frame folders and videos alike


def test_the_import_gets_the_trials_calibration_videos_and_boxes(bench, tmp_path, monkeypatch):
    from dinar.data import capture

    seen = {}

    class Result:
        def mean_reprojection_px(self):
            return {"cam1": 1.0}

    def record(config):
        seen["config"] = config
        config.output_dir.mkdir(parents=True, exist_ok=True)  # as an import does
        return Result()

    monkeypatch.setattr(capture, "import_capture", record)
    trial = bench.find_trial(str(write(tmp_path, name="anna", boxes={"cam1": [1, 2, 3, 4]})))
    folder, _ = bench.import_trial(tmp_path / "out", trial, 3, "fast")
    config = seen["config"]
    assert (config.calibration, config.sources, config.frames, config.fit_preset) == (trial.calibration, trial.videos, (3,), "fast")
    assert config.boxes == (("cam1", (1.0, 2.0, 3.0, 4.0)),) and config.output_dir == folder
    marker = json.loads((folder / bench.MARKER).read_text())
    assert sorted(marker["files"]) == ["calib.toml", "cam1/000.png", "cam2.mp4"] and marker["frame"] == 3
    seen.clear()
    assert bench.import_trial(tmp_path / "out", trial, 3, "fast")[1] == 0.0 and not seen  # the same files: reused


@pytest.mark.parametrize(("spec", "says"), [
    ({"format": "dinar-trial/2"}, 'its "format" must be "dinar-trial/1"'),
    ({"input": None}, "missing input"),
    ({"camera": "cam1"}, "unknown key(s) camera"),
    ({"calibration": "nope.toml"}, '"calibration" nope.toml is not a file'),
    ({"videos": "calib.toml"}, '"videos" calib.toml is not a folder'),
    ({"frame": -1}, '"frame" must be a whole number >= 0'),
    ({"frame": 7, "frames": 5}, 'must be below "frames" (5)'),
    ({"boxes": {"cam1": [10, 0, 5, 9]}}, "box of cam1 must be [x0, y0, x1, y1]"),
    ({"name": "a b"}, '"name" must be letters'),
])
def test_a_bad_trial_file_is_refused_naming_the_key(trials, tmp_path, spec, says):
    path = write(tmp_path, **spec)
    with pytest.raises(trials.TrialError) as err:
        trials.load_trial(path)
    assert says in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(("capture", "says"), [("nobody", "neither a committed capture"), ("missing.json", "no such trial file")])
def test_the_benchmark_refuses_an_unknown_capture_in_one_line(bench, capsys, monkeypatch, tmp_path, capture, says):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["real_capture.py", "--capture", capture])
    assert bench.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_two_captures_of_one_name_are_refused(bench, capsys, monkeypatch, tmp_path):
    first, second = write(tmp_path / "a", name="her"), write(tmp_path / "b", name="her")
    monkeypatch.setattr(sys, "argv", ["real_capture.py", "--capture", str(first), str(second)])
    assert bench.main() == 2
    assert "named her too" in capsys.readouterr().err


def test_a_trial_file_may_not_take_a_committed_captures_name(bench, capsys, monkeypatch, tmp_path):
    path = write(tmp_path, name="static_trial")  # its import folder and sheet would be the committed capture's
    monkeypatch.setattr(sys, "argv", ["real_capture.py", "--capture", str(path)])
    assert bench.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "static_trial is a committed capture's name" in err[0]
    assert bench.find_trial(str(DATA / "pose2sim_two_people" / "trial.json")).name == "two_people"  # the file itself is fine


def test_the_input_camera_is_found_in_the_calibration_before_any_work(bench, capsys, monkeypatch, tmp_path):
    calibration = str(DATA / "pose2sim_static_trial" / "Calib.qca.txt")
    trial = bench.find_trial(str(write(tmp_path, calibration=calibration, input="cam3")))
    monkeypatch.setattr(sys, "argv", ["real_capture.py"])
    args = bench.parse_args()
    assert bench.front_camera(trial, args) == "cam_03"  # named as the import names videos
    monkeypatch.setattr(sys, "argv", ["real_capture.py", "--capture", "static_trial", "--input", "cam1"])
    assert bench.check_args(bench.parse_args())["static_trial"].input == "cam_01"  # resolved once, before any work
    path = write(tmp_path / "other", calibration=calibration, input="cam9")
    monkeypatch.setattr(sys, "argv", ["real_capture.py", "--capture", str(path)])
    assert bench.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the input camera cam9 is not in Calib.qca.txt (cam_01, cam_02, cam_03, cam_04)" in err[0]
