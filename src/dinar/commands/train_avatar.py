"""``dinar train avatar``: stage 1 (encoder, generator, neural renderer) on frame pairs
(:func:`dinar.train.stage1.train_stage1`). Cheap to import: torch and Lightning load when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dinar.train.trainer import PRECISIONS, TENSORBOARD_DIR

if TYPE_CHECKING:
    from dinar.train.stage1 import Stage1TrainConfig

TEXTURE_MODES = ("both", "rgb", "neural")
"""``dinar.nn.avatar_model.TEXTURE_MODES``, written out so that parsing loads no torch (the config checks it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar train avatar``."""
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="dataset folder (rgb/ segm/ params/ per person, splits.json)")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder: checkpoints, TensorBoard logs, model.safetensors + config.json")
    parser.add_argument("--preset", choices=("tiny", "hd", "small", "paper"), default="tiny",
                        help="network sizes and schedule (default tiny; hd: 512² renders with tiny's networks, trained on patches)")
    parser.add_argument("--init-from", type=Path, metavar="MODEL_DIR",
                        help="start from another stage-1 export or model folder with the same network shapes (hd from a trained tiny)")
    parser.add_argument("--steps", type=int, help="iterations (default: the preset's; paper 100000)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step and process (default 4, the paper's)")
    parser.add_argument("--texture", choices=TEXTURE_MODES, default="both", help="ablation: T_gen ⊕ RGB (both), RGB part only, neural only")
    parser.add_argument("--no-occlusion", action="store_true", help="do not remove the occlusion band before sampling the RGB texture")
    parser.add_argument("--atlas", choices=("front", "native"), default="front", help="UV atlas: front (the paper's front cut, default) or the body model's own")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")
    parser.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node; >1 trains with DDP")
    parser.add_argument("--num-nodes", type=int, default=1, help="machines (launch with torchrun or SLURM)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: bf16 mixed on GPUs that have it, else fp16 mixed; 32 on CPU")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last.safetensors")
    parser.add_argument("--num-workers", type=int, default=2, help="data loader processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, help="stop (checkpoint and export) after this much training time, counted over the whole run including earlier sessions when resuming")
    parser.add_argument("--log-every", type=int, help="scalar logs every N iterations")
    parser.add_argument("--image-every", type=int, help="image grids every N iterations")
    parser.add_argument("--val-every", type=int, help="validation on held-out people every N iterations")
    parser.add_argument("--checkpoint-every", type=int, help="checkpoint + export every N iterations")


def config_from_args(args: argparse.Namespace) -> Stage1TrainConfig:
    """The :class:`~dinar.train.stage1.Stage1TrainConfig` the options ask for."""
    from dinar.train.stage1 import stage1_train_preset

    for name in ("batch_size", "num_workers", "devices", "num_nodes"):
        low = 0 if name == "num_workers" else 1
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(args, name)}")
    over: dict[str, Any] = {
        "batch_size": args.batch_size, "texture": args.texture, "occlusion": not args.no_occlusion,
        "atlas": args.atlas, "num_workers": args.num_workers, "seed": args.seed,
    }
    if args.init_from is not None:
        if not args.init_from.is_dir():
            raise FileNotFoundError(f"--init-from {args.init_from}: no such model folder")
        over["init_from"] = str(args.init_from.resolve())
    for name in ("steps", "log_every", "image_every", "val_every", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
            over[name] = value
    return stage1_train_preset(args.preset, **over)


def run(args: argparse.Namespace) -> int:
    """``dinar train avatar``: options → :class:`~dinar.train.stage1.Stage1TrainConfig` → :func:`~dinar.train.stage1.train_stage1`."""
    from dinar.train.stage1 import RunOptions, train_stage1
    from dinar.weights.format import WEIGHTS_FILE

    config = config_from_args(args)
    if not args.data.is_dir():
        raise FileNotFoundError(f"{args.data}: no such dataset folder")
    options = RunOptions(
        data_dir=args.data, run_dir=args.out, device=args.device, devices=args.devices, num_nodes=args.num_nodes,
        precision=args.precision, resume=args.resume, max_minutes=args.max_minutes,
    )
    module = train_stage1(config, options)
    if module.global_rank == 0:
        print(f"stage 1 trained {module.iteration} iterations; model: {Path(args.out) / WEIGHTS_FILE}, "
              f"logs: tensorboard --logdir {Path(args.out) / TENSORBOARD_DIR}")
    return 0
