"""``dinar train vq``: stage 2, the texture VQGAN, then its held-out report
(:func:`dinar.train.vq.train_vq_and_report`). Cheap to import: torch and Lightning load when it runs."""

from __future__ import annotations

import argparse
import json
import math

from dinar.commands.options import bounded_float
from dinar.commands.train_stages import add_train_common_arguments, train_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar train vq``."""
    add_train_common_arguments(parser)
    parser.add_argument("--group-weights", type=bounded_float(0.0, math.inf), nargs=3, metavar=("GEN", "RGB", "MASKS"),
                        help="reconstruction-loss multipliers of the T_gen / T_rgb / mask channel groups "
                             "(default: the preset's, 1 1 1); a larger RGB weight makes the latent keep the photo's colours")


def run(args: argparse.Namespace) -> int:
    """``dinar train vq``: train the texture VQGAN, then print the held-out report as JSON."""
    import dataclasses

    from dinar.train.vq import VQ_TRAIN_PRESETS, train_vq_and_report
    from dinar.weights.format import WEIGHTS_FILE

    train = dataclasses.replace(VQ_TRAIN_PRESETS[args.preset], **train_overrides(args))
    if train.steps < 1 or train.batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")
    weights = args.group_weights
    if weights is not None and max(weights) == 0:  # each is a finite number >= 0 (its argparse type)
        raise ValueError("--group-weights 0 0 0: give at least one weight above 0")
    report = train_vq_and_report(args.textures, args.out, args.preset, train, resume=args.resume, device=args.device,
                                 devices=args.devices, precision=args.precision,
                                 group_weights=tuple(weights) if weights is not None else None)
    print(json.dumps(report, indent=1))
    print(f"VQ weights: {args.out / WEIGHTS_FILE}")
    return 0
