"""``dinar train vq``: stage 2, the texture VQGAN (:func:`dinar.train.vq.train_vq`), then its held-out report."""

from __future__ import annotations

import argparse
import json

from dinar.commands.train_stages import add_train_common_arguments, train_overrides
from dinar.train.vq import VQ_TRAIN_PRESETS, train_vq, vq_report
from dinar.weights.networks import load_vq


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar train vq``."""
    add_train_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """``dinar train vq``: train the texture VQGAN, then print the held-out report as JSON."""
    import dataclasses

    train = dataclasses.replace(VQ_TRAIN_PRESETS[args.preset], **train_overrides(args))
    if train.steps < 1 or train.batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")
    run = train_vq(args.textures, args.out, args.preset, train, resume=args.resume, device=args.device,
                   devices=args.devices, precision=args.precision)
    report = vq_report(load_vq(run), args.textures, "test")
    (run / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    print(f"VQ weights: {run / 'model.safetensors'}")
    return 0
