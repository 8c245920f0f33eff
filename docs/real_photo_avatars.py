"""Avatars of the real test photos with the shipped model: writes docs/real_photo_avatars.jpg.

Each row: the person's crop | the avatar in the photo's view with the default RGB tuning (the paper's
losses) | with ``--rgb-tuning-loss l2`` in the photo's view, turned 90 degrees and from the back. The
photos are in tests/data (README there: sources and licences); each is fitted with the built-in
BlazePose + body fit (the ``photo`` extra), as ``dinar avatar PHOTO [--person-index I]`` does. It
prints, per photo and setting, the mean error on the pixels both the person mask and the fitted body
cover in the photo's view, and the same for a flat fill with the person's mean colour.

Usage: python docs/real_photo_avatars.py [--output docs/real_photo_avatars.jpg] [--checkpoint MODEL_DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dinar.data.photo_files import fit_photos
from dinar.demo import sheet_row, turned_views
from dinar.pipeline import AvatarPipeline, PipelineOptions

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PHOTOS = [("sports2d_jumping_jack.jpg", None), ("pose2sim_lab_two_people.jpg", 0), ("sports2d_walk_two_people.jpg", 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "real_photo_avatars.jpg")
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the shipped model)")
    args = parser.parse_args()
    pipe = AvatarPipeline.from_pretrained(args.checkpoint, device="cpu")
    rows = []
    for name, index in PHOTOS:
        crop, mask, fit = fit_photos([DATA / name], pipe.body, person_index=index)[0]
        paper = turned_views(pipe(crop, mask, fit, options=PipelineOptions(seed=0), progress=False), fit, [0.0])[0]
        l2 = turned_views(pipe(crop, mask, fit, options=PipelineOptions(seed=0, rgb_tuning_loss="l2"), progress=False), fit, [0.0, 90.0, 180.0])
        size = paper.shape[0]
        target = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BOX), dtype=float)
        person = np.asarray(Image.fromarray(mask).resize((size, size), Image.Resampling.BOX)) > 127
        flat = np.broadcast_to(target[person].mean(0), target.shape)
        for label, view in (("paper", paper), ("l2", l2[0])):
            view = np.asarray(view, dtype=float)
            covered = person & (view.min(-1) < 250)  # the rendered body (the background is white)
            print(f"{name} person {index}, tuning {label}: error {np.abs(view - target)[covered].mean():.1f}, "
                  f"flat mean colour {np.abs(flat - target)[covered].mean():.1f} (grey levels)")
        labels = ["input (crop)", "default tuning", "l2 tuning", "l2, turned 90 deg", "l2, back (invented)"]
        rows.append(sheet_row([crop, paper, *l2], labels))
    tmp = args.output.with_name(args.output.stem + ".tmp" + args.output.suffix)
    Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, quality=90)
    tmp.replace(args.output)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
