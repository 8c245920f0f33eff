"""``dinar train finetune``: stage 2's end-to-end step, stage 1 re-trained through the frozen texture VQ
(:func:`dinar.train.finetune.finetune_stage1`). Cheap to import: torch and Lightning load when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from dinar.train.trainer import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar train finetune``."""
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="dataset folder of stage 1 (frame pairs, splits.json)")
    parser.add_argument("--stage1", type=Path, required=True, metavar="RUN", help="stage-1 export to fine-tune (dinar train avatar --out)")
    parser.add_argument("--vq", type=Path, required=True, metavar="RUN_VQ", help="run folder of the trained VQ (dinar train vq --out), kept frozen")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="folder of the fine-tuned stage-1 export")
    parser.add_argument("--steps", type=int, help="iterations (default: the paper's 20000, dinar.train.finetune.FINETUNE_STEPS)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step (default 4)")
    parser.add_argument("--lr-scale", type=float, default=0.1, help="learning rate as a fraction of stage 1's (default 0.1)")
    parser.add_argument("--keep-known", action="store_true", help="render T_vq·(1 − B_fill) + T·B_fill (eq. 6) instead of T_vq alone")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: bf16/fp16 mixed on GPUs, 32 on CPU")
    parser.add_argument("--num-workers", type=int, default=2, help="data loader processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, help="stop (and export) after this much training time")


def run(args: argparse.Namespace) -> int:
    """``dinar train finetune``: :func:`~dinar.train.finetune.finetune_stage1` with the options."""
    from dinar.train.finetune import finetune_stage1
    from dinar.weights.format import WEIGHTS_FILE

    steps = {} if args.steps is None else {"steps": args.steps}  # none given: the library's default, the paper's
    out = finetune_stage1(
        args.data, args.stage1, args.vq, args.out, **steps, batch_size=args.batch_size, lr_scale=args.lr_scale,
        device=args.device, max_minutes=args.max_minutes, seed=args.seed, keep_known=args.keep_known,
        num_workers=args.num_workers, precision=args.precision,
    )
    print(f"fine-tuned stage 1: {out / WEIGHTS_FILE} (use it with the VQ {args.vq})")
    return 0
