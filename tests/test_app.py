"""The web app (``dinar app``, issue 20).

Fast units first: upload checks (non-image, huge file, too many pixels, damaged), the workspace (names
by SHA-256, swept after a set time), the caches, the page's messages and the handlers' refusals.
Then one server, started as ``dinar app`` starts it (a subprocess, ``python -m dinar.commands.app``),
shared by the slow tests in file order: bad uploads through the API get a message (no person, person
cut off, not an image, a broken motion); a real browser (Debian's headless Chromium driven by
Playwright) drops the bundled photo, waits for the videos and the 3D view, saves a screenshot and
fails if the page requested anything off localhost; an uploaded AMASS motion drives the videos and
the GLB; then the load test: 20 concurrent requests from ``gradio_client`` all get an avatar or a
"queue is full" answer, and the server serves afterwards. The server's own Python records every host
it connects to or looks up (an audit hook): anything off localhost (telemetry, a download) fails.

Needs the ``app`` extra (gradio), the ``photo`` extra (mediapipe), and for the browser test
``/usr/bin/chromium`` and the ``playwright`` package (its browser download is never used); each test
says what it skipped for. ``DINAR_APP_SCREENSHOT=PATH`` also copies the browser test's screenshot there.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from dinar.app.cache import LruCache, result_key
from dinar.app.uploads import (
    MAX_PHOTO_BYTES,
    MAX_PHOTO_PIXELS,
    UploadError,
    Workspace,
    check_motion,
    check_photo,
)
from dinar.demo import PHOTO

DATA = Path(__file__).parent / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_START_S = 240  # model + body model load on 2 busy cores
AVATAR_S = 420  # one avatar with videos and GLB on 2 busy CPU cores (about 60 s when the machine is quiet)
HEX_NAME = re.compile(r"^[0-9a-f]{64}\.[a-z]+$")
OFFLINE_CLIENT_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(keep_seconds=60.0, root=tmp_path / "ws")
    yield ws
    ws.close()


# -- (a) uploads: every refusal is a message ----------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and header claiming ``width x height`` pixels, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def test_a_photo_is_kept_under_its_sha256_never_under_the_users_name(workspace, tmp_path):
    upload = tmp_path / "my photo; rm -rf ~ (1).PNG"
    shutil.copyfile(PHOTO, upload)
    checked = check_photo(upload, workspace)
    assert HEX_NAME.match(checked.path.name) and checked.path.suffix == ".png"
    assert checked.path.parent == workspace.folder("uploads")
    assert (checked.width, checked.height) == (512, 512)
    assert check_photo(PHOTO, workspace).path == checked.path  # same bytes, same file, kept once
    assert [p.name for p in workspace.folder("uploads").iterdir()] == [checked.path.name]


@pytest.mark.parametrize("content, expected", [
    (b"%PDF-1.4 not a photo at all", "not an image"),
    (b"", "empty file"),
    (_png_header(9000, 5000), "45 megapixels"),  # refused from the header: no pixel is decoded
    (_png_header(100_000, 100_000), "megapixels"),  # a decompression bomb
])
def test_bad_photos_are_refused_with_a_message(workspace, tmp_path, content, expected):
    upload = tmp_path / "upload.png"
    upload.write_bytes(content)
    with pytest.raises(UploadError, match=expected):
        check_photo(upload, workspace)
    assert not any(workspace.folder("uploads").iterdir())  # nothing refused is kept


def test_huge_small_and_damaged_photos_are_refused(workspace, tmp_path):
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as f:
        f.truncate(MAX_PHOTO_BYTES + 1)  # sparse: the size is refused before anything is read
    with pytest.raises(UploadError, match="the limit is 20 MiB"):
        check_photo(huge, workspace)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (32, 200)).save(tiny)
    with pytest.raises(UploadError, match="at least 64 pixels"):
        check_photo(tiny, workspace)
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes((DATA / "sports2d_jumping_jack.jpg").read_bytes()[:4000])
    with pytest.raises(UploadError, match="could not be decoded"):
        check_photo(damaged, workspace)
    with pytest.raises(UploadError, match="did not arrive"):
        check_photo(tmp_path / "gone.png", workspace)
    assert MAX_PHOTO_PIXELS == 40_000_000


def test_motion_uploads_are_checked(workspace, tmp_path):
    bvh = tmp_path / "dance.BVH"
    bvh.write_text("HIERARCHY\n")
    path, digest = check_motion(bvh, workspace)
    assert path.name == f"{digest}.bvh"
    for name, content, expected in (("x.txt", b"1", "BVH file"), ("x.npz", b"", "empty")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UploadError, match=expected):
            check_motion(tmp_path / name, workspace)


def test_the_workspace_removes_old_files_and_itself(tmp_path):
    ws = Workspace(keep_seconds=60.0)
    kept = ws.keep(PHOTO, "a" * 64, ".png")
    result = ws.new_result_folder("b" * 64)
    (result / "avatar.glb").write_bytes(b"glb")
    assert ws.sweep() == 0
    old = time.time() - 120
    os.utime(kept, (old, old))
    assert ws.sweep() == 1 and not kept.exists() and result.exists()
    assert ws.sweep(now=time.time() + 61) == 1 and not result.exists()
    with pytest.raises(ValueError):
        ws.new_result_folder("../escape")
    ws.close()
    assert not ws.root.exists()


def test_the_lru_cache_drops_the_oldest_and_invalid_entries():
    dropped = []
    cache = LruCache(2, on_evict=dropped.append, valid=lambda v: v != "stale")
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert dropped == ["B"] and cache.get("b") is None
    cache.put("d", "stale")
    assert cache.get("d") is None
    assert result_key({"photo": "x", "seed": 0}) == result_key({"seed": 0, "photo": "x"}) != result_key({"photo": "x", "seed": 1})


def test_page_messages_are_one_line_without_command_line_hints():
    from dinar.app.messages import internal_error, page_message
    from dinar.fitting.photo import BodyCutOffError, NoPersonError, SeveralPeopleError

    several = page_message(SeveralPeopleError([(0, 0, 10, 10), (20, 0, 30, 10)]))
    assert "2 people" in several and "--" not in several
    assert "No person" in page_message(NoPersonError("no person found in the photo"))
    assert "cut off" in page_message(BodyCutOffError("too much of the body is cut off (not in the photo: both knees)"))
    unexpected = internal_error(KeyError("boom"))
    assert unexpected.startswith("Internal error (KeyError)") and "\n" not in unexpected and "Traceback" not in unexpected


def test_drawing_numbers_every_person():
    from dinar.app.drawing import CUT_OFF, WHOLE, draw_people, person_label

    image = np.full((400, 600, 3), 255, np.uint8)
    drawn = draw_people(image, [(50, 50, 200, 380), (300, 40, 560, 390)], [[], ["both knees"]])
    assert drawn.shape == image.shape
    colours = {tuple(c) for c in drawn.reshape(-1, 3)}
    assert WHOLE in colours and CUT_OFF in colours
    assert person_label(1, ["both knees"]) == "1 (cut off: both knees)"


class _FakeJobs:
    """Stands in for AvatarJobs (no model): a photo with two people."""

    def __init__(self):
        from dinar.app.jobs import People

        self.people_result = People(np.zeros((8, 8, 3), np.uint8), ["0", "1 (cut off: both knees)"], [[], ["both knees"]])
        self.made = []

    def people(self, photo):
        return self.people_result

    def make(self, request, progress=None):
        self.made.append(request)
        raise AssertionError("not reached in these tests")


@pytest.mark.parametrize("change, expected", [
    ({"photo": None}, "no photo yet"),
    ({"person": None}, "pick one in the person list"),
    ({"person": 5}, "person 5 is not in the photo"),
    ({"seed": -1}, "seed must be"),
    ({"seed": "1e40"}, "seed must be"),
    ({"seed": float("nan")}, "whole number"),
    ({"diffusion_steps": 0}, "diffusion steps must be"),
    ({"motion": "moonwalk"}, "unknown motion"),
    ({"tuning_loss": "vgg"}, "RGB tuning loss"),
])
def test_the_make_button_refuses_bad_values_with_a_message(workspace, change, expected):
    from dinar.app.handlers import Handlers

    jobs = _FakeJobs()
    values = {"photo": str(PHOTO), "person": 0, "back": None, "motion": "walk", "motion_file": None, "occlusion": True,
              "rgb_tuning": True, "inpainting": True, "color_adjust": True, "tuning_loss": "l2", "diffusion_steps": 25, "seed": 0}
    values.update(change)
    out = Handlers(jobs, workspace).on_make(**values)
    assert out[:5] == (None,) * 5
    assert out[5].startswith("**Could not go on:**") and expected.lower() in out[5].lower()
    assert not jobs.made


def test_the_command_is_registered():
    """`dinar app --help` (src/dinar/cli.py lists the command)."""
    from dinar.cli import build_parser

    parser = build_parser(["app", "--help"])
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["app", "--help"])
    assert done.value.code == 0


# -- one server for the slow tests ---------------------------------------------------------------------
AUDIT_HOOK = """
import os, sys
_LOG = os.environ["DINAR_TEST_NETWORK_LOG"]
def _record(event, args):
    if event == "socket.connect":
        host = args[1][0] if isinstance(args[1], tuple) else "unix-socket"
    elif event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    else:
        return
    with open(_LOG, "a") as log:
        log.write(f"{event} {host}\\n")
sys.addaudithook(_record)
"""
"""``sitecustomize`` of the server's Python: every host it connects to or looks up, written down
(Python's audit hooks), so the test sees telemetry or a download however it is attempted."""
LOCAL = {"127.0.0.1", "localhost", "::1", "unix-socket", "None"}


def _off_localhost(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.partition(" ")[2] not in LOCAL]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``dinar app --port 0 --queue-size 4`` in a subprocess: (url, work folder). Stopped with Ctrl-C;
    fails if the server connected to, or looked up, anything off localhost meanwhile."""
    pytest.importorskip("gradio", reason="the app extra is not installed: pip install -e '.[app]'")
    pytest.importorskip("gradio_client", reason="gradio_client comes with gradio: pip install -e '.[app]'")
    pytest.importorskip("mediapipe", reason="the photo extra is not installed: pip install -e '.[photo]'")
    import httpx

    root = tmp_path_factory.mktemp("app")
    work, log_path, network_log = root / "work", root / "server.log", root / "network.log"
    (root / "audit").mkdir()
    (root / "audit" / "sitecustomize.py").write_text(AUDIT_HOOK)
    network_log.touch()
    python_path = os.pathsep.join(p for p in (str(root / "audit"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path, "DINAR_TEST_NETWORK_LOG": str(network_log)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dinar.commands.app", "--port", "0", "--queue-size", "4", "--device", "cpu",
                                 "--work-dir", str(work)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url, deadline = None, time.monotonic() + SERVER_START_S
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"Running on local URL:\s+(http://\S+)", log_path.read_text())
        url = found.group(1).rstrip("/") if found else None
        time.sleep(0.5)
    if url is None:
        proc.kill()
        pytest.fail(f"the app did not start in {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}")
    assert httpx.get(url, timeout=30).status_code == 200
    yield url, work
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]
    lookups = network_log.read_text()
    assert "socket.connect" in lookups or "getaddrinfo" in lookups, "the audit hook did not run"
    assert not _off_localhost(lookups), f"the server reached off localhost: {_off_localhost(lookups)[:10]}"


@pytest.fixture(scope="module")
def client(server):
    """A ``gradio_client`` of the app, with its telemetry off (it reads the environment, not only its argument)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in OFFLINE_CLIENT_ENV.items():
            env.setenv(name, value)
        from gradio_client import Client

        yield Client(server[0], verbose=False, download_files=False, analytics_enabled=False)


def _make_args(photo: Path, seed: int, motion_file=None) -> list:
    from gradio_client import handle_file

    return [handle_file(str(photo)), None, None, "walk", motion_file, True, True, True, True, "l2", 25, seed]


@pytest.mark.slow
def test_bad_uploads_get_a_message_through_the_api(client, server, tmp_path):
    from gradio_client import handle_file

    blank = tmp_path / "landscape.png"
    Image.fromarray(np.tile(np.linspace(60, 200, 320, dtype=np.uint8)[:, None, None], (1, 240, 3))).save(blank)
    not_image = tmp_path / "holiday.png"
    not_image.write_bytes(b"this is text, not a PNG")
    cases = {blank: "No person was found", DATA / "cameraman_cc0.jpg": "cut off", not_image: "not an image"}
    for photo, expected in cases.items():
        drawing, _, status = client.predict(handle_file(str(photo)), api_name="/people")
        assert drawing is None and expected in status and "Traceback" not in status, (photo.name, status)
    drawing, _, status = client.predict(handle_file(str(DATA / "sports2d_walk_two_people.jpg")), api_name="/people")
    assert "2 people found" in status and drawing is not None
    broken = tmp_path / "broken.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET nonsense\n")
    out = client.predict(*_make_args(PHOTO, seed=0, motion_file=handle_file(str(broken))), api_name="/make_avatar")
    assert out[:5] == (None,) * 5 and "motion file could not be read" in out[5], out[5]
    uploads = list((server[1] / "uploads").iterdir())
    assert uploads and all(HEX_NAME.match(p.name) for p in uploads)  # our copies: never a user's name


def _model_pixels(png: bytes) -> float:
    """The fraction of a screenshot of the 3D view that is not its background (clear colour 0.95 grey)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((np.abs(pixels - 242).sum(-1) > 60).mean())


@pytest.mark.slow
def test_a_real_browser_makes_the_avatar_of_the_bundled_photo(server, tmp_path):
    """Headless Chromium drops the bundled photo, presses the button, and sees videos and the 3D view."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium (.ci/run does)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (its browser download is not needed)")
    url = server[0]
    requests: list[str] = []
    shot = tmp_path / "app_screenshot.png"
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            context.on("request", lambda r: requests.append(r.url))
            context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]|data:|blob:)"), lambda route: route.abort())
            page = context.new_page()
            page.goto(url, wait_until="networkidle")
            page.evaluate("""() => { window.__steps = new Set(); new MutationObserver(() => {
                for (const m of document.body.innerText.matchAll(/avatar: [^\\n(]+/g)) window.__steps.add(m[0]); })
                .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
            page.set_input_files("#photo input[type=file]", str(PHOTO))
            page.wait_for_function("document.querySelector('#status').innerText.includes('person found')", timeout=120_000)
            page.click("#make")
            page.wait_for_function("() => { const s = document.querySelector('#status').innerText;"
                                   " return s.startsWith('Done') || s.includes('Could not go on'); }", timeout=AVATAR_S * 1000)
            status = page.inner_text("#status")
            assert status.startswith("Done"), status
            for video in ("#turntable video", "#motion_video video"):
                ready = f"() => {{ const v = document.querySelector('{video}'); return v && v.readyState >= 2 && v.videoWidth > 0; }}"
                page.wait_for_function(ready, timeout=60_000)
            canvas = page.locator("#model3d canvas")
            canvas.wait_for(timeout=60_000)
            drawn, deadline = 0.0, time.monotonic() + 90
            while drawn < 0.02 and time.monotonic() < deadline:  # the GLB loads (software WebGL) and draws
                time.sleep(2)
                drawn = _model_pixels(canvas.screenshot())
            steps = page.evaluate("Array.from(window.__steps)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    print(f"screenshot: {shot}")
    if os.environ.get("DINAR_APP_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DINAR_APP_SCREENSHOT"])
    offsite = [u for u in requests if not (urlparse(u).scheme in ("data", "blob") or urlparse(u).hostname in LOCAL_HOSTS)]
    assert not offsite, f"the page requested off localhost: {offsite[:10]}"
    print(f"{len(requests)} requests, all to localhost; progress shown: {steps}; 3D view: {drawn:.1%} of its pixels drawn")
    assert len(steps) >= 2, f"progress per pipeline step was not shown: {steps}"
    assert 0.02 < drawn < 0.9, f"the 3D view shows no model ({drawn:.1%} of its pixels differ from the background)"
    assert any("/gradio_api/file=" in u and u.endswith(".glb") for u in requests), "the GLB was never fetched"


def _wave_npz(path: Path, frames: int = 60, fps: float = 30.0) -> Path:
    """An AMASS-style motion (SMPL-X body joints, Z up): the left arm waves for ``frames / fps`` seconds."""
    t = np.arange(frames) / fps
    poses = np.zeros((frames, 66), np.float32)
    poses[:, 0] = np.pi / 2  # root: stand up in AMASS's Z-up world
    poses[:, 16 * 3 + 2] = -1.2 + 0.5 * np.sin(2 * np.pi * t)  # left shoulder
    np.savez(path, poses=poses, trans=np.zeros((frames, 3), np.float32), mocap_framerate=np.array(fps))
    return path


@pytest.mark.slow
def test_an_uploaded_motion_drives_the_videos_and_the_glb(client, tmp_path):
    """The browser test's avatar (cached) with an uploaded AMASS .npz: new motion video and GLB animation."""
    import imageio.v3 as iio
    import pygltflib
    from gradio_client import handle_file

    npz = _wave_npz(tmp_path / "wave.npz")
    out = client.predict(*_make_args(PHOTO, seed=0, motion_file=handle_file(str(npz))), api_name="/make_avatar")
    assert out[5].startswith("Done"), out[5]
    frames = sum(1 for _ in iio.imiter(out[2]["video"]["path"] if "video" in out[2] else out[2]["path"]))
    assert frames == 50  # 2 s resampled from 30 to 25 frames a second
    gltf = pygltflib.GLTF2().load(out[3]["path"])
    assert gltf.skins and gltf.animations


@pytest.mark.slow
def test_twenty_concurrent_requests_get_an_answer_or_busy(client, server):
    """20 requests at once (seed 1: a new avatar, not the browser test's): the queue takes 4 waiting
    beside the one running, answers the rest "queue is full" at once; all end in time, the server serves on."""
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    start = time.monotonic()
    jobs = [client.submit(*_make_args(PHOTO, seed=1), api_name="/make_avatar") for _ in range(20)]
    answered, busy, last = 0, 0, 0.0
    for job in jobs:
        try:
            out = job.result(timeout=max(1.0, AVATAR_S - (time.monotonic() - start)))
        except (QueueError, AppError) as err:
            assert "queue is full" in str(err).lower(), str(err)
            busy += 1
        else:
            assert out[5].startswith("Done"), out[5]
            answered += 1
        last = max(last, time.monotonic() - start)
    print(f"load test: 20 requests, {answered} answered, {busy} busy, last answer after {last:.1f} s")
    assert answered + busy == 20 and answered >= 1 and busy >= 1
    _, _, status = client.predict(_make_args(DATA / "sports2d_jumping_jack.jpg", 0)[0], api_name="/people")
    assert "One person found" in status  # still serving
