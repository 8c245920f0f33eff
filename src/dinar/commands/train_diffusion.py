"""``dinar train diffusion``: stage 3, diffusion inpainting in the VQ latent (or, ``--preset rgb``, of the colours), then its held-out
report (:func:`dinar.train.diffusion.train_diffusion_and_report`). Cheap to import: torch and Lightning
load when it runs."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dinar.commands.train_stages import add_train_common_arguments, train_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar train diffusion``."""
    add_train_common_arguments(parser)
    parser.add_argument("--vq", type=Path, metavar="RUN_VQ",
                        help="run folder of the trained VQ (dinar train vq --out); every preset but rgb (which diffuses the colours) needs one")
    parser.add_argument("--views", choices=("all", "front"), help="input views to train on (default all; the paper uses front)")
    parser.add_argument("--sample-steps", type=int, help="DDIM steps of the validation and report samples")
    parser.add_argument("--position-map", action="store_true",
                        help="give the denoiser each texel's (u, v) as 2 more input channels (where on the body it is)")
    parser.add_argument("--mirror-map", action="store_true",
                        help="give the denoiser, beside the partial texture, the same read at each texel's mirror texel "
                             "(the body's front/back correspondence)")
    parser.add_argument("--condition-dropout", type=float, metavar="P",
                        help="zero the condition of a share P of the training samples, so the model can be guided "
                             "(classifier-free guidance; default: the preset's, 0)")


def run(args: argparse.Namespace) -> int:
    """``dinar train diffusion``: train the latent inpainter, then print the held-out report as JSON."""
    from dinar.train.diffusion import (
        DIFFUSION_TRAIN_PRESETS,
        train_diffusion_and_report,
    )
    from dinar.weights.format import WEIGHTS_FILE

    overrides = train_overrides(args)
    if args.views:
        overrides["views"] = args.views
    if args.sample_steps:
        overrides["sample_steps"] = args.sample_steps
    train = dataclasses.replace(DIFFUSION_TRAIN_PRESETS[args.preset], **overrides)
    if train.steps < 1 or train.batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")
    unet = {"position_map": True} if args.position_map else {}
    if args.mirror_map:
        unet["mirror_map"] = True
    if args.condition_dropout is not None:  # UNetConfig checks its range
        unet["condition_dropout"] = args.condition_dropout
    report = train_diffusion_and_report(args.textures, args.vq, args.out, args.preset, train, resume=args.resume, device=args.device,
                                        devices=args.devices, precision=args.precision, unet=unet)
    print(json.dumps(report, indent=1))
    print(f"inpainter weights: {args.out / WEIGHTS_FILE}")
    return 0
