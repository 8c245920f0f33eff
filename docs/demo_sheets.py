"""The README's demo pictures from a ``dinar demo`` output folder: ``docs/demo_front_back.png`` (the
demo's own sheet: input | avatar front | avatar back | true back, 512² cells) and ``docs/demo_frames.png``
(8 evenly spaced frames of the turntable, top, and of the walk, bottom, 256² cells).

    dinar demo -o /tmp/dinar-demo && python docs/demo_sheets.py /tmp/dinar-demo
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

DOCS = Path(__file__).resolve().parent
FRAMES, CELL = 8, 256


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame of an MP4 as uint8 HxWx3."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def strip(frames: list[np.ndarray]) -> np.ndarray:
    """``FRAMES`` evenly spaced frames side by side, each resized to ``CELL``²."""
    picks = np.linspace(0, len(frames) - 1, FRAMES).round().astype(int)
    cells = [np.asarray(Image.fromarray(frames[i]).resize((CELL, CELL), Image.LANCZOS)) for i in picks]
    return np.concatenate(cells, axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path, help="the folder `dinar demo -o` wrote")
    args = parser.parse_args()
    shutil.copyfile(args.demo_dir / "front_back.png", DOCS / "demo_front_back.png")
    rows = [strip(video_frames(args.demo_dir / f"{name}.mp4")) for name in ("turntable", "walk")]
    Image.fromarray(np.concatenate(rows, axis=0)).save(DOCS / "demo_frames.png", optimize=True)
    print(f"wrote {DOCS / 'demo_front_back.png'} and {DOCS / 'demo_frames.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
