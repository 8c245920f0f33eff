"""``dinar eval``: the one-shot benchmark (paper Tables 1 and 2) on the held-out people of a dataset.

Thin entry point: the options become an :class:`~dinar.eval.settings.EvalConfig`,
:func:`~dinar.eval.runner.evaluate` does the work, and :func:`~dinar.eval.report.result_text` is what is
printed. Cheap to import: :mod:`dinar.eval` is imported by the functions that use it.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from dinar.commands.options import SEED, bounded_int, check_output_dir

if TYPE_CHECKING:
    from dinar.eval.settings import EvalConfig


def _ablation_checkpoint(text: str) -> tuple[str, Path]:
    """``rgb=DIR`` / ``neural=DIR`` → ``("rgb", Path(DIR))``."""
    kind, sep, folder = text.partition("=")
    if not sep or kind not in ("rgb", "neural") or not folder:
        raise argparse.ArgumentTypeError(f"expected rgb=MODEL_DIR or neural=MODEL_DIR, got {text!r}")
    return kind, Path(folder)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar eval``."""
    from dinar.eval.families import ALL_EVAL_METRICS

    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="dataset folder (splits.json, <person>/rgb|segm|params)")
    parser.add_argument("--split", default="test", help="split of splits.json to evaluate (default test; 'all' = every person folder)")
    parser.add_argument("--checkpoint", type=Path, default=None, metavar="MODEL_DIR",
                        help="model folder (stage1/, vq/, diffusion/); default: the shipped weights")
    parser.add_argument("--ablations", action="store_true", help="also run the rows of the paper's Table 2 and the simple-fill baselines (table2.md)")
    parser.add_argument("--fills", action="store_true", help="also run the simple-fill baselines (mean, mirror, nearest) in place of the diffusion")
    parser.add_argument("--ablation-checkpoint", type=_ablation_checkpoint, action="append", default=[], metavar="KIND=DIR",
                        help="stage-1 checkpoint trained with --texture rgb or neural, for Table 2's first two rows (repeatable)")
    parser.add_argument("--input-view", type=bounded_int(0, 10**6), default=0, help="view the avatar is made from (default 0, the front)")
    parser.add_argument("--input-pose", type=bounded_int(0, 10**6), default=0, help="pose of that image (default 0)")
    parser.add_argument("--people", type=bounded_int(0, 10**6), default=0, help="evaluate at most this many people of the split (default 0: all)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda[:N]")
    parser.add_argument("--seed", type=SEED, default=0, help="diffusion noise and KID subsets (default 0)")
    parser.add_argument("--diffusion-steps", type=bounded_int(1, 1000), default=None, help="DDIM steps M of inpainting (default: the pipeline's)")
    parser.add_argument("--rgb-tuning-steps", type=bounded_int(0, 10000), default=None, help="RGB tuning steps (default: the pipeline's, 64)")
    parser.add_argument("--color-adjust-steps", type=bounded_int(0, 10000), default=None, help="eq.-7 colour adjustment steps (default: the pipeline's)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default=None, help="RGB tuning's losses (default: the pipeline's, paper)")
    parser.add_argument("--metrics", nargs="+", choices=ALL_EVAL_METRICS, default=list(ALL_EVAL_METRICS),
                        help="metric families to compute (default: all)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="REPORT",
                        help="report folder; a finished person is skipped when the run is repeated with the same settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The :class:`EvalConfig` of parsed ``dinar eval`` options."""
    from dinar.eval.settings import EvalConfig
    from dinar.pipeline.options import PipelineOptions

    overrides = {k: v for k, v in (("diffusion_steps", args.diffusion_steps), ("rgb_tuning_steps", args.rgb_tuning_steps),
                                                     ("color_adjust_steps", args.color_adjust_steps),
                                                     ("rgb_tuning_loss", args.rgb_tuning_loss)) if v is not None}
    options = dataclasses.replace(PipelineOptions(seed=args.seed), **overrides)
    return EvalConfig(
        data_dir=args.data, output_dir=args.output, split=None if args.split == "all" else args.split,
        checkpoint=args.checkpoint, ablations=args.ablations, fills=args.fills, ablation_checkpoints=tuple(args.ablation_checkpoint),
        input_pose=args.input_pose, input_view=args.input_view, people=args.people, device=args.device, seed=args.seed,
        options=options, metrics=tuple(dict.fromkeys(args.metrics)), progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    """``dinar eval``: run the benchmark and print Table 1 (and Table 2), with where the report went."""
    from dinar.eval.report import result_text
    from dinar.eval.runner import evaluate

    if args.ablation_checkpoint and not args.ablations:
        raise ValueError("--ablation-checkpoint is for the Table 2 rows: add --ablations")
    if not args.data.is_dir():
        raise FileNotFoundError(f"{args.data}: no such dataset folder")
    check_output_dir(args.output, (args.data,), "report folder")
    print(result_text(evaluate(config_from_args(args))))
    return 0
