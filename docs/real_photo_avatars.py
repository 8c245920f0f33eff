"""Avatars of the real test photos with the shipped model: writes docs/real_photo_avatars.jpg.

Each row: the person's crop | the avatar in the photo's view | turned 90 degrees | from the back. The
photos are in tests/data (README there: sources and licences); each is fitted with the built-in
BlazePose + body fit (the ``photo`` extra), as ``dinar avatar PHOTO [--person-index I]`` does.

Usage: python docs/real_photo_avatars.py [--output docs/real_photo_avatars.jpg] [--checkpoint MODEL_DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dinar.avatar_cli import fit_photos
from dinar.demo import sheet_row, turned_views
from dinar.pipeline import AvatarPipeline, PipelineOptions

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PHOTOS = [("sports2d_jumping_jack.jpg", None), ("pose2sim_lab_two_people.jpg", 0), ("sports2d_walk_two_people.jpg", 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "real_photo_avatars.jpg")
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the shipped tiny model)")
    args = parser.parse_args()
    pipe = AvatarPipeline.from_pretrained(args.checkpoint, device="cpu")
    rows = []
    for name, index in PHOTOS:
        crop, mask, fit = fit_photos([DATA / name], pipe.body, person_index=index)[0]
        avatar = pipe(crop, mask, fit, options=PipelineOptions(seed=0))
        views = turned_views(avatar, fit, [0.0, 90.0, 180.0])
        rows.append(sheet_row([crop, *views], ["input (crop)", "avatar, photo's view", "turned 90 degrees", "back (invented)"]))
    tmp = args.output.with_name(args.output.stem + ".tmp" + args.output.suffix)
    Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, quality=90)
    tmp.replace(args.output)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
