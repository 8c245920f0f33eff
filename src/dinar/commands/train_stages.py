"""Options shared by ``dinar train vq`` and ``dinar train diffusion``: the texture folder, the preset,
the run folder and the training settings a command line may override. Cheap to import (no torch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dinar.train.trainer import PRECISIONS

STAGE23_PRESET_NAMES = ("paper", "small", "wide", "rgb", "tiny")
"""The names of ``dinar.nn.config_stage23.STAGE23_PRESETS``, written out so that parsing loads no torch."""


def add_train_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``dinar train vq`` and ``dinar train diffusion``."""
    parser.add_argument("--textures", type=Path, required=True, metavar="DIR", help="texture folder (textures.json + safetensors files)")
    parser.add_argument("--preset", choices=STAGE23_PRESET_NAMES, default="tiny", help="network and schedule preset (default tiny)")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder: run.json, model.safetensors, checkpoints/, tensorboard/, report.json")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="batch size per device (default: the preset's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    parser.add_argument("--val-every", type=int, help="validate (and log images) every N steps")
    parser.add_argument("--checkpoint-every", type=int, help="write checkpoints/last.safetensors and model.safetensors every N steps")
    parser.add_argument("--workers", type=int, help="data-loader processes")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.safetensors")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--devices", type=int, default=1, help="number of GPUs (DDP when > 1)")
    parser.add_argument("--precision", choices=(*PRECISIONS, "32-true"), default="32-true",
                        help="32-true (= 32, default), bf16-mixed, 16-mixed, or auto: bf16/fp16 mixed on GPUs, 32 on CPU")


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given on the command line (``None`` options keep the preset's)."""
    names = {"steps": "steps", "batch_size": "batch_size", "lr": "lr", "val_every": "val_every",
             "checkpoint_every": "checkpoint_every", "workers": "num_workers", "seed": "seed"}
    return {field: getattr(args, opt) for opt, field in names.items() if getattr(args, opt, None) is not None}
