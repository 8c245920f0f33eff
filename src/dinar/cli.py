"""The ``dinar`` command line: thin entry points that parse options and call one library function."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from pathlib import Path

import dinar


def _cmd_info(args: argparse.Namespace) -> int:
    """Print versions, the compute device, the body models available and the cache folders."""
    import torch

    from dinar.body import available_body_models
    from dinar.paths import anny_cache_dir, dinar_cache_dir
    from dinar.utils import resolve_device

    print(f"dinar {dinar.__version__}")
    print(f"python {platform.python_version()}  torch {torch.__version__}  ({torch.get_num_threads()} CPU threads)")
    device = resolve_device("auto")
    gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
    print(f"device (auto): {device}{gpu}")
    print("body models:")
    for name, status in available_body_models().items():
        print(f"  {name:6s} {status}")
    anny_cache = anny_cache_dir()
    built = "built" if anny_cache.exists() and any(anny_cache.iterdir()) else "not built yet (first use builds it, ~1 min)"
    print(f"anny cache:  {anny_cache}  [{built}]")
    print(f"dinar cache: {dinar_cache_dir()}")
    if args.atlas:
        from dinar.body.atlas import write_atlas_report

        stats = write_atlas_report(args.atlas)
        for name, s in stats.items():
            print(f"atlas {name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()))
        print(f"atlas image written to {args.atlas}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dinar",
        description="One photo of a person -> a rigged, animatable full-body avatar (DINAR), with training code.",
    )
    parser.add_argument("--version", action="version", version=f"dinar {dinar.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="versions, device, body models and cache folders")
    info.add_argument("--atlas", type=Path, metavar="PNG", help="also draw the UV atlases (native and front cut) to this PNG")
    info.set_defaults(func=_cmd_info)

    data = sub.add_parser("data", help="datasets: make synthetic people")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    synth = data_sub.add_parser(
        "synth", help="write a dataset of synthetic clothed people (rgb/ segm/ params/, card, contact sheet)"
    )
    from dinar.data.synth import add_synth_arguments, cli_synth

    add_synth_arguments(synth)
    synth.set_defaults(func=cli_synth)
    from dinar.train.textures import add_textures_arguments, cli_textures

    textures = data_sub.add_parser(
        "textures", help="write per-view and merged (eq. 5) neural textures of a dataset: the data of stages 2 and 3"
    )
    add_textures_arguments(textures)
    textures.set_defaults(func=cli_textures)

    from dinar.train.diffusion import add_train_diffusion_arguments, cli_train_diffusion
    from dinar.train.finetune import add_finetune_arguments, cli_finetune
    from dinar.train.stage1 import add_train_avatar_arguments, cli_train_avatar
    from dinar.train.vq import add_train_vq_arguments, cli_train_vq

    train = sub.add_parser("train", help="train a stage: avatar (stage 1), vq (stage 2), diffusion (stage 3), finetune (stage 1 through the VQ)")
    train_sub = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)
    for name, add, run, text in (
        ("avatar", add_train_avatar_arguments, cli_train_avatar, "stage 1: encoder, generator and neural renderer on frame pairs"),
        ("vq", add_train_vq_arguments, cli_train_vq, "stage 2: the texture VQGAN on a texture folder"),
        ("diffusion", add_train_diffusion_arguments, cli_train_diffusion, "stage 3: latent-diffusion inpainting in the VQ latent"),
        ("finetune", add_finetune_arguments, cli_finetune, "stage 2 end to end: stage 1 re-trained through the frozen VQ (paper 4.1)"),
    ):
        stage = train_sub.add_parser(name, help=text)
        add(stage)
        stage.set_defaults(func=run)

    from dinar.data.photo_cli import add_fit_arguments, cli_fit

    fit = sub.add_parser("fit", help="fit the body model to a photo: FIT.json (pose, shape, camera, crop) + overlay PNG")
    add_fit_arguments(fit)
    fit.set_defaults(func=cli_fit)

    from dinar import avatar_cli, demo
    from dinar.eval import cli as eval_cli

    for name, add, run, text in (
        ("avatar", avatar_cli.add_avatar_arguments, avatar_cli.cli_avatar, "photo(s) (+ fits) -> an avatar file"),
        ("render", avatar_cli.add_render_arguments, avatar_cli.cli_render, "an MP4 of an avatar performing a motion"),
        ("export", avatar_cli.add_export_arguments, avatar_cli.cli_export, "a rigged, skinned, textured GLB of an avatar"),
        ("eval", eval_cli.add_eval_arguments, eval_cli.cli_eval, "the benchmark: avatars of held-out people vs ground truth (Tables 1-2)"),
        ("demo", demo.add_demo_arguments, demo.cli_demo, "the bundled photo -> avatar, videos, GLB and a front/back sheet"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        add(command)
        command.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"dinar {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
