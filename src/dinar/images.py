"""Image files in and out: the one reader of photos, dataset images and masks, and the one PNG writer.

Every command reads images through :func:`read_rgb` / :func:`read_mask`, so a photo means the same
thing everywhere: the EXIF orientation is applied (a phone photo stored sideways is read upright),
16-bit and float images are scaled to 8 bits (65535 → 255), palette and greyscale images become RGB,
and transparent images are composited over white with their alpha kept (a user's cut-out is the best
person mask there is). :func:`write_png` writes atomically: no half-written file, ever.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dinar.utils import atomic_path

_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageError(ValueError):
    """A file that is not an image that can be read; the message names it."""


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Any integer, bool or float image array -> uint8, scaling 16-bit and [0, 1] float ranges."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    a = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating):
        a = a * 255.0 if a.size and np.nanmax(a) <= 1.0 else a
    elif a.size and a.max() > 255:
        a = a / 257.0  # 16-bit range onto 8 bits (65535 -> 255)
    return np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)


def open_image(path: str | Path, what: str = "image") -> Image.Image:
    """The decoded image at ``path``, upright (EXIF orientation applied)."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file; give the {what} file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise ImageError(f"{path}: not an image that can be read ({err}); give the {what} as a PNG or JPEG") from err
    return ImageOps.exif_transpose(img)


def rgb_of(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """``(uint8 [H, W, 3] RGB, float32 [H, W] alpha in [0, 1] or None)`` of a decoded image (module docstring)."""
    if img.mode in _WIDE_MODES:
        gray = to_uint8(np.asarray(img))
        return np.repeat(gray[..., None], 3, axis=2), None
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3] / 255.0
        rgb = rgba[..., :3] * alpha[..., None] + 255.0 * (1 - alpha[..., None])
        return rgb.round().astype(np.uint8), alpha
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))), None


def read_rgb(path: str | Path, what: str = "image") -> tuple[np.ndarray, np.ndarray | None]:
    """``(uint8 [H, W, 3] RGB, alpha or None)`` of an image file (module docstring)."""
    return rgb_of(open_image(path, what))


def read_mask(path: str | Path) -> np.ndarray:
    """A uint8 ``[H, W]`` person mask: grey levels as they are (16-bit scaled), colour masks: any
    non-black pixel is the person, EXIF orientation applied like the photo's."""
    img = open_image(path, "mask")
    if img.mode in _WIDE_MODES:
        return to_uint8(np.asarray(img))
    if img.mode in ("L", "1", "P"):
        return np.asarray(img.convert("L"))
    return np.asarray(img.convert("RGB")).max(-1)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 ``H x W`` or ``H x W x 3`` array atomically as PNG (byte-stable: no metadata)."""
    path = Path(path)
    if image.dtype != np.uint8:
        raise TypeError(f"{path}: PNG images must be uint8, got {image.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", optimize=False, compress_level=6)
    return path
