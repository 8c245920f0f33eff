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


# (group, name, module, add-arguments function, run function, help). Group None: a top-level command.
# Modules are imported only for the command being run, so `dinar --help` does not load torch or Lightning.
COMMANDS: tuple[tuple[str | None, str, str, str, str, str], ...] = (
    ("data", "synth", "dinar.data.synth", "add_synth_arguments", "cli_synth",
     "write a dataset of synthetic clothed people (rgb/ segm/ params/, card, contact sheet)"),
    ("data", "textures", "dinar.train.textures", "add_textures_arguments", "cli_textures",
     "write per-view and merged (eq. 5) neural textures of a dataset: the data of stages 2 and 3"),
    ("train", "avatar", "dinar.train.stage1", "add_train_avatar_arguments", "cli_train_avatar",
     "stage 1: encoder, generator and neural renderer on frame pairs"),
    ("train", "vq", "dinar.train.vq", "add_train_vq_arguments", "cli_train_vq", "stage 2: the texture VQGAN on a texture folder"),
    ("train", "diffusion", "dinar.train.diffusion", "add_train_diffusion_arguments", "cli_train_diffusion",
     "stage 3: latent-diffusion inpainting in the VQ latent"),
    ("train", "finetune", "dinar.train.finetune", "add_finetune_arguments", "cli_finetune",
     "stage 2 end to end: stage 1 re-trained through the frozen VQ (paper 4.1)"),
    (None, "fit", "dinar.commands.fit", "add_fit_arguments", "cli_fit",
     "fit the body model to a photo: FIT.json (pose, shape, camera, crop) + overlay PNG"),
    (None, "avatar", "dinar.commands.avatar", "add_avatar_arguments", "cli_avatar", "photo(s) (+ fits) -> an avatar file"),
    (None, "render", "dinar.commands.avatar", "add_render_arguments", "cli_render", "an MP4 of an avatar performing a motion"),
    (None, "export", "dinar.commands.avatar", "add_export_arguments", "cli_export", "a rigged, skinned, textured GLB of an avatar"),
    (None, "eval", "dinar.commands.eval", "add_eval_arguments", "cli_eval",
     "the benchmark: avatars of held-out people vs ground truth (Tables 1-2)"),
    (None, "demo", "dinar.demo", "add_demo_arguments", "cli_demo", "the bundled photo -> avatar, videos, GLB and a front/back sheet"),
)
GROUPS = {
    "data": "datasets: make synthetic people, texture folders",
    "train": "train a stage: avatar (stage 1), vq (stage 2), diffusion (stage 3), finetune (stage 1 through the VQ)",
}


def _wanted(argv: list[str]) -> tuple[str | None, str | None]:
    """The command (and group sub-command) named on the command line: their options are the only ones loaded."""
    words = [a for a in argv if not a.startswith("-")]
    first = words[0] if words else None
    second = words[1] if first in GROUPS and len(words) > 1 else None
    return first, second


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``dinar`` parser; with ``argv``, only the named command's options are built (None: all of them)."""
    import importlib

    want = _wanted(argv) if argv is not None else None
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
    group_subs = {}
    for group, text in GROUPS.items():
        group_parser = sub.add_parser(group, help=text, description=text)
        group_subs[group] = group_parser.add_subparsers(dest=f"{group}_command", metavar=group.upper() + "_COMMAND", required=True)
    for group, name, module, add, run, text in COMMANDS:
        command = (group_subs[group] if group else sub).add_parser(name, help=text, description=text)
        if want is not None and want != ((group, name) if group else (name, None)):
            continue  # another command runs: no need to import this one's module
        mod = importlib.import_module(module)
        getattr(mod, add)(command)
        command.set_defaults(func=getattr(mod, run))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
