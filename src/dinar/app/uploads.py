"""Every file a user gives the web app, checked at the door, and the app's temporary folder.

A photo is refused with a message (:class:`UploadError`, shown in the page) when it is larger than
:data:`MAX_PHOTO_BYTES`, when its header says more than :data:`MAX_PHOTO_PIXELS` pixels (checked
before a single pixel is decoded, so a decompression bomb costs nothing), when it is smaller than
:data:`MIN_PHOTO_SIDE`, and when it is not an image that :mod:`dinar.images` can read (the one reader
of photos of every command: EXIF orientation applied, 16-bit and palette images converted). Motions
are refused past :data:`MAX_MOTION_BYTES` or with a suffix other than ``.bvh`` / ``.npz``; their
content is checked by :func:`dinar.motion.load_motion` (no pickle) when they are used.

Accepted files are copied into the :class:`Workspace` under their SHA-256 and a suffix from what the
file *is* (the image format PIL found), so a name a user chose is never a path in dinar's code.
(Gradio's upload route itself stores each upload as ``<random folder>/<the file's base name, cleaned>``
inside the workspace's ``gradio/``; that copy is only read here.) Everything in the workspace older
than a set time is removed, and the whole folder when the server stops.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 20 * 2**20
"""A photo file may be at most 20 MiB."""
MAX_PHOTO_PIXELS = 40_000_000
"""A photo may have at most 40 megapixels (e.g. 8000 x 5000): the person is found on a 1280-pixel copy
and fitted in a 512² crop, so more only costs memory."""
MIN_PHOTO_SIDE = 64
"""A photo's shorter side must be at least this many pixels."""
MAX_MOTION_BYTES = 50 * 2**20
"""A motion file (BVH or AMASS .npz) may be at most 50 MiB."""
MOTION_SUFFIXES = (".bvh", ".npz")

LIMITS_TEXT = (f"photos: PNG, JPEG, WebP, BMP or TIFF, at most {MAX_PHOTO_BYTES // 2**20} MiB and "
               f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels, at least {MIN_PHOTO_SIDE} pixels a side; "
               f"motions: BVH or AMASS .npz, at most {MAX_MOTION_BYTES // 2**20} MiB")
"""The limits, as the page states them."""

_FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif", "MPO": ".jpg"}


class UploadError(ValueError):
    """An upload refused; the message says why and what to give instead (shown in the page as it is)."""


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed :func:`check_photo`, copied into the workspace."""

    path: Path  # the workspace's copy: <sha256><suffix of its format>
    sha256: str  # of the file's bytes
    width: int  # after the EXIF orientation
    height: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _size_of(source: Path, what: str) -> int:
    try:
        return source.stat().st_size
    except OSError:
        raise UploadError(f"the {what} did not arrive (the upload is missing); upload it again") from None


def check_photo(source: str | Path, workspace: Workspace, what: str = "photo") -> CheckedPhoto:
    """Check an uploaded photo (module docstring) and copy it into ``workspace``; raises :class:`UploadError`."""
    from PIL import Image, UnidentifiedImageError

    from dinar.images import ImageError, read_rgb

    source = Path(source)
    size = _size_of(source, what)
    if size > MAX_PHOTO_BYTES:
        raise UploadError(f"the {what} is {size / 2**20:.1f} MiB; the limit is {MAX_PHOTO_BYTES // 2**20} MiB: "
                          "give a smaller file (a JPEG of the same photo is usually far smaller)")
    if size == 0:
        raise UploadError(f"the {what} is an empty file; give a PNG or JPEG photo")
    try:
        with Image.open(source) as header:  # reads the header only: the pixel count before any decoding
            width, height, fmt = header.width, header.height, header.format
    except Image.DecompressionBombError:
        raise UploadError(f"the {what} has far more than {MAX_PHOTO_PIXELS // 1_000_000} megapixels; give a smaller image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError(f"the {what} is not an image that can be read; give a PNG or JPEG photo") from None
    if width * height > MAX_PHOTO_PIXELS:
        raise UploadError(f"the {what} is {width} x {height} = {width * height / 1e6:.0f} megapixels; the limit is "
                          f"{MAX_PHOTO_PIXELS // 1_000_000}: give a smaller image")
    if min(width, height) < MIN_PHOTO_SIDE:
        raise UploadError(f"the {what} is {width} x {height} pixels; give one at least {MIN_PHOTO_SIDE} pixels a side")
    try:
        image, _ = read_rgb(source, what)  # decodes every pixel: a truncated or damaged file fails here
    except (ImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UploadError(f"the {what} could not be decoded (damaged or truncated?); give a PNG or JPEG photo") from None
    digest = sha256_of(source)
    path = workspace.keep(source, digest, _FORMAT_SUFFIX.get(fmt or "", ".img"))
    return CheckedPhoto(path, digest, int(image.shape[1]), int(image.shape[0]))


def check_motion(source: str | Path, workspace: Workspace) -> tuple[Path, str]:
    """Check an uploaded motion's size and kind and copy it into ``workspace``: (path, SHA-256).

    The suffix is the only thing taken from the user's file name: :func:`dinar.motion.load_motion`
    reads a file by its suffix, and reads it without pickle.
    """
    source = Path(source)
    suffix = source.suffix.lower()
    if suffix not in MOTION_SUFFIXES:
        raise UploadError("the motion must be a BVH file (.bvh, CMU or Mixamo joint names) or an AMASS / SMPL-X .npz file")
    size = _size_of(source, "motion")
    if size > MAX_MOTION_BYTES:
        raise UploadError(f"the motion file is {size / 2**20:.1f} MiB; the limit is {MAX_MOTION_BYTES // 2**20} MiB")
    if size == 0:
        raise UploadError("the motion file is empty")
    digest = sha256_of(source)
    return workspace.keep(source, digest, suffix), digest


class Workspace:
    """The app's temporary folder: ``uploads/`` (checked files by SHA-256), ``results/`` (one folder per
    avatar) and ``gradio/`` (Gradio's own cache of uploads and outputs, ``GRADIO_TEMP_DIR``).
    :meth:`sweep` removes what in ``uploads/`` and ``results/`` is older than ``keep_seconds``; Gradio
    ages its own folder with the same limit (``Blocks(delete_cache=...)``, which spares the examples);
    :meth:`close` removes the whole folder if this object made it."""

    SUBFOLDERS = ("uploads", "results", "gradio")
    SWEPT = ("uploads", "results")

    def __init__(self, keep_seconds: float, root: Path | None = None) -> None:
        self.keep_seconds = float(keep_seconds)
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="dinar-app-")) if root is None else Path(root).resolve()
        for name in self.SUBFOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def folder(self, name: str) -> Path:
        if name not in self.SUBFOLDERS:
            raise ValueError(f"no workspace folder {name!r}; one of {self.SUBFOLDERS}")
        return self.root / name

    def keep(self, source: Path, digest: str, suffix: str) -> Path:
        """Copy ``source`` to ``uploads/<digest><suffix>`` (once; a later upload of the same bytes
        refreshes its age) and return that path."""
        target = self.folder("uploads") / f"{digest}{suffix}"
        with self._lock:
            if target.is_file():
                target.touch()
            else:
                tmp = target.with_name(f".{target.name}.part")
                shutil.copyfile(source, tmp)
                tmp.replace(target)
        return target

    def new_result_folder(self, key: str) -> Path:
        """An empty ``results/<key>`` folder (``key`` is a hex digest: no user text)."""
        if not key.isalnum():
            raise ValueError(f"result keys are hex digests, got {key!r}")
        folder = self.folder("results") / key
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def sweep(self, now: float | None = None) -> int:
        """Remove uploads and result folders older than ``keep_seconds`` (by modification time; a result
        used again is touched); returns how many entries went."""
        limit = (time.time() if now is None else now) - self.keep_seconds
        removed = 0
        with self._lock:
            for name in self.SWEPT:
                for entry in self.folder(name).iterdir():
                    try:
                        if entry.stat().st_mtime >= limit:
                            continue
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
                        removed += 1
                    except OSError:
                        continue  # gone meanwhile
        if removed:
            log.info("removed %d uploads/results older than %.0f min from %s", removed, self.keep_seconds / 60, self.root)
        return removed

    def start_sweeper(self, every_seconds: float) -> None:
        """Sweep in a background thread every ``every_seconds`` until :meth:`close`."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.sweep()

        self._thread = threading.Thread(target=loop, name="dinar-app-sweeper", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop sweeping; remove the whole folder when this workspace created it."""
        self._stop.set()
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)
