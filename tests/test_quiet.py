"""Quiet by default: `dinar fit` writes nothing to stderr (mediapipe's absl/TFLite start-up logging
is silenced); `dinar -v` shows it."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mediapipe")

PHOTO = Path(__file__).parent / "data" / "sports2d_jumping_jack.jpg"


def _fit(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dinar.cli", *flags, "fit", str(PHOTO), "-o", str(tmp_path / "fit.json"), "--overlay", "none"]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_fit_is_quiet_unless_verbose(tmp_path):
    quiet = _fit(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and "fit written to" in quiet.stdout
    loud = _fit(tmp_path, "-v")
    assert loud.returncode == 0 and "TensorFlow Lite" in loud.stderr
