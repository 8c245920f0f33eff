"""The frames of a calibrated capture: which video (or frame folder) is which camera, checked, read in lockstep.

A capture is one video file (``.mp4 .mov .avi .mkv .webm``, decoded by imageio-ffmpeg) or one folder of
frames (``.png .jpg .jpeg .bmp .tif .tiff``, in natural order) per calibrated camera. Sources are matched
to the calibration's cameras by name, ignoring case, separators and leading zeros (``cam_01`` =
``cam01.mp4`` = ``Cam1/``). Before any work, :func:`match_sources` checks, with one clear error each:

- every camera used has a source (a camera in the calibration with no video);
- every source's frames have the camera's calibrated size. Video encoders pad or crop sizes to the
  16-pixel blocks of H.264 (a 1088-pixel-wide sensor window stored as 1080, or the reverse): a
  difference below ``size_tolerance`` pixels (default 16) in width or height is taken as the same pixel
  grid cut or padded at the right and bottom edges (the calibration keeps its principal point), with a
  warning; anything else is an error;
- all sources have the same number of frames (synchronised recordings).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dinar.geometry.calibration import CalibratedCamera

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
H264_BLOCK = 16


class CaptureError(ValueError):
    """A capture that cannot be imported as given; the message names the file or camera and what to do."""


def name_key(name: str) -> str:
    """A camera or file name for matching: lower case, letters and digits only, no leading zeros in numbers."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", key)


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


@dataclass
class FrameSource:
    """Where one camera's frames come from: a video file or a folder of frame images."""

    path: Path

    @property
    def is_video(self) -> bool:
        return self.path.is_file()

    def frame_files(self) -> list[Path]:
        files = [p for p in self.path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")]
        return sorted(files, key=lambda p: _natural(p.name))

    def _open_video(self, attempts: int = 2):
        """``(meta, frame generator)`` of the video. imageio-ffmpeg gives up when ffmpeg has not printed its
        output header within 10 s, which a machine busy with other work can miss: one more try then."""
        import imageio_ffmpeg

        error: Exception | None = None
        for _ in range(attempts):
            reader = imageio_ffmpeg.read_frames(str(self.path))
            try:
                return next(reader), reader
            except (RuntimeError, OSError, StopIteration) as err:
                reader.close()
                error = err
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CaptureError(f"{self.path}: cannot read this video ({first})")

    def count(self) -> int:
        """Number of frames (a video is decoded once to count them exactly)."""
        if self.is_video:
            import imageio_ffmpeg

            try:
                return int(imageio_ffmpeg.count_frames_and_secs(str(self.path))[0])
            except (RuntimeError, OSError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise CaptureError(f"{self.path}: cannot read this video ({first})") from None
        return len(self.frame_files())

    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        if self.is_video:
            meta, reader = self._open_video()
            reader.close()
            return int(meta["size"][0]), int(meta["size"][1])
        files = self.frame_files()
        if not files:
            raise CaptureError(f"{self.path}: no frame images ({', '.join(FRAME_SUFFIXES)})")
        with Image.open(files[0]) as im:
            return im.size

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, ``[H, W, 3]`` uint8 RGB."""
        if self.is_video:
            meta, reader = self._open_video()
            w, h = meta["size"]
            try:
                for raw in reader:
                    yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
            finally:
                reader.close()
        else:
            for path in self.frame_files():
                with Image.open(path) as im:
                    yield np.asarray(im.convert("RGB"))


@dataclass
class CameraSource:
    """A calibrated camera (sized as its frames are) and its frames."""

    index: int  # position in the calibration file
    camera: CalibratedCamera
    source: FrameSource
    calibrated_size: tuple[int, int]  # (width, height) the calibration states


def _candidates(sources: Path | Sequence[Path]) -> list[Path]:
    """Video files and frame folders given as one folder (its videos and sub-folders) or as a list."""
    if isinstance(sources, (str, Path)):
        folder = Path(sources)
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no such folder of videos or frame folders")
        if folder.is_file():
            return [folder]
        found = [p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES)]
        if not found:
            raise CaptureError(f"{folder}: no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders in it")
        return sorted(found)
    paths = [Path(p) for p in sources]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such video or frame folder")
        if p.is_file() and p.suffix.lower() not in VIDEO_SUFFIXES:
            raise CaptureError(f"{p}: not a video ({', '.join(VIDEO_SUFFIXES)}); give videos or folders of frames")
    return paths


def match_sources(
    cameras: Sequence[CalibratedCamera],
    sources: Path | Sequence[Path],
    use: Sequence[str] | None = None,
    size_tolerance: int = H264_BLOCK,
    calibration_name: str = "the calibration",
) -> tuple[list[CameraSource], int]:
    """The sources of the cameras (all, or those named in ``use``), checked (module docstring); returns them and
    the common frame count."""
    candidates = _candidates(sources)
    by_key: dict[str, list[Path]] = {}
    for p in candidates:
        by_key.setdefault(name_key(p.stem if p.is_file() else p.name), []).append(p)
    chosen = list(enumerate(cameras))
    if use:
        keys = {name_key(c.name): i for i, c in chosen}
        unknown = [u for u in use if name_key(u) not in keys]
        if unknown:
            raise CaptureError(f"camera(s) {unknown} are not in {calibration_name} (it has {[c.name for c in cameras]})")
        wanted = {keys[name_key(u)] for u in use}
        chosen = [(i, c) for i, c in chosen if i in wanted]
    out = []
    for index, cam in chosen:
        found = by_key.get(name_key(cam.name), [])
        if not found:
            have = ", ".join(p.name for p in candidates)
            raise CaptureError(
                f"camera {cam.name!r} of {calibration_name} has no video or frame folder (have: {have}); name it after the "
                f"camera (e.g. {cam.name}.mp4), or leave the camera out with --cameras"
            )
        if len(found) > 1:
            raise CaptureError(f"camera {cam.name!r} matches several sources ({', '.join(str(p) for p in found)}); keep one")
        source = FrameSource(found[0])
        width, height = source.size()
        if (width, height) != (cam.width, cam.height):
            dw, dh = abs(width - cam.width), abs(height - cam.height)
            if dw >= max(size_tolerance, 1) or dh >= max(size_tolerance, 1):
                raise CaptureError(
                    f"{source.path}: frames are {width}x{height} but camera {cam.name!r} is calibrated for {cam.width}x{cam.height} "
                    f"in {calibration_name}; give the recording the calibration was made for (or recalibrate)"
                )
            logger.warning("%s: frames are %dx%d, camera %r is calibrated for %dx%d: taken as the same pixel grid cut or padded "
                           "at the right/bottom (video block size)", source.path, width, height, cam.name, cam.width, cam.height)
        out.append(CameraSource(index, cam.with_size(width, height), source, (cam.width, cam.height)))
    unused = [p.name for key, paths in by_key.items() for p in paths if key not in {name_key(s.camera.name) for s in out}]
    if unused:
        logger.warning("not used (no calibrated camera of that name, or left out): %s", ", ".join(unused))
    counts = {s.camera.name: s.source.count() for s in out}
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{k} {v}" for k, v in counts.items())
        raise CaptureError(f"unsynchronised recordings: the cameras have different frame counts ({listing}); "
                           "trim them to the same synchronised frames")
    count = next(iter(counts.values()))
    if count == 0:
        raise CaptureError(f"{out[0].source.path}: no frames")
    return out, count


def frames_in_lockstep(sources: Sequence[CameraSource], indices: Sequence[int]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(frame index, [one frame per camera])`` for each of ``indices`` (sorted), decoding every source once."""
    wanted = sorted(set(indices))
    if not wanted:
        return
    iterators = [s.source.frames() for s in sources]
    try:
        next_wanted = 0
        for i, frames in enumerate(zip(*iterators)):
            if i == wanted[next_wanted]:
                yield i, list(frames)
                next_wanted += 1
                if next_wanted == len(wanted):
                    return
    finally:
        for it in iterators:
            it.close()
