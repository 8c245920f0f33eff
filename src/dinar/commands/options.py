"""Options shared by the commands that run the networks: the model folder, the device, the pipeline's
switches (paper Table 2's ablations)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--device``, shared by every command that runs the networks."""
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR",
                        help="model folder (stage1/ vq/ diffusion/, see recipes/tiny.sh); default: the shipped tiny model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")


def add_pipeline_switches(parser: argparse.ArgumentParser) -> None:
    """The pipeline's switches (paper Table 2's ablations) and its seed."""
    parser.add_argument("--no-inpainting", action="store_true", help="skip VQ + diffusion: the renderer alone fills the unseen texels")
    parser.add_argument("--no-occlusion", action="store_true", help="keep the occlusion band when sampling the photo")
    parser.add_argument("--no-rgb-tuning", action="store_true", help="skip the 64 steps of RGB texel tuning")
    parser.add_argument("--no-color-adjust", action="store_true", help="skip the colour matching of the restored texels (eq. 7)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default="paper",
                        help="paper: L2 + LPIPS + adversarial (default); l2: L2 alone, cleaner on real photos with the shipped model")
    parser.add_argument("--texture", choices=("both", "rgb", "neural"),
                        help="texture mode; must be the checkpoint's (train one per mode for the ablation)")
    parser.add_argument("--diffusion-steps", type=int, default=25, help="DDIM steps of the inpainting (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diffusion noise (same seed, same avatar)")


def pipeline_options(args: argparse.Namespace):
    """:class:`PipelineOptions` from the switches of :func:`add_pipeline_switches`."""
    from dinar.pipeline import PipelineOptions

    return PipelineOptions(
        occlusion=not args.no_occlusion, rgb_tuning=not args.no_rgb_tuning, inpainting=not args.no_inpainting,
        color_adjust=not args.no_color_adjust, texture=args.texture, diffusion_steps=args.diffusion_steps, seed=args.seed,
        rgb_tuning_loss=args.rgb_tuning_loss,
    )
