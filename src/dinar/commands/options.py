"""Options shared by the commands that run the networks: the model folder, the device, the pipeline's
switches (paper Table 2's ablations)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--device``, shared by every command that runs the networks."""
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR",
                        help="model folder (stage1/ vq/ diffusion/, see recipes/); default: the shipped model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")


def add_pipeline_switches(parser: argparse.ArgumentParser) -> None:
    """The pipeline's switches (paper Table 2's ablations) and its seed."""
    parser.add_argument("--no-inpainting", action="store_true", help="skip VQ + diffusion: the renderer alone fills the unseen texels")
    parser.add_argument("--no-occlusion", action="store_true", help="keep the occlusion band when sampling the photo")
    parser.add_argument("--no-rgb-tuning", action="store_true", help="skip the 64 steps of RGB texel tuning")
    parser.add_argument("--no-color-adjust", action="store_true", help="skip the colour matching of the restored texels (eq. 7)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default="l2",
                        help="l2 (default): the L2 term alone, best on real photos with the shipped model (README); "
                             "paper: L2 + LPIPS + adversarial, the paper's appendix B")
    parser.add_argument("--texture", choices=("both", "rgb", "neural"),
                        help="texture mode; must be the checkpoint's (train one per mode for the ablation)")
    parser.add_argument("--diffusion-steps", type=bounded_int(1, 1000), default=25, help="DDIM steps of the inpainting, 1..1000 (default 25)")
    parser.add_argument("--fill", choices=("diffusion", "mean", "mirror", "nearest", "nearest_part"), default="diffusion",
                        help="what fills the texels no photo shows: diffusion (default, the paper's inpainting) or a simple "
                             "fill: mean (per body part), mirror (the front mirrored onto the back), nearest (nearest seen "
                             "texel), nearest_part (nearest seen texel of the same body part)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the diffusion noise (same seed, same avatar)")


def pipeline_options(args: argparse.Namespace):
    """:class:`PipelineOptions` from the switches of :func:`add_pipeline_switches`."""
    from dinar.pipeline import PipelineOptions

    return PipelineOptions(
        occlusion=not args.no_occlusion, rgb_tuning=not args.no_rgb_tuning, inpainting=not args.no_inpainting,
        color_adjust=not args.no_color_adjust, texture=args.texture, diffusion_steps=args.diffusion_steps, seed=args.seed,
        rgb_tuning_loss=args.rgb_tuning_loss, fill=args.fill,
    )


# -- numbers: checked where they enter (argparse types: a bad value is one line, exit 2) -------------
def bounded_int(low: int, high: int):
    """An argparse type: an integer in ``[low, high]`` (no floats, no 1e23)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {low}..{high}")
        return value

    parse.__name__ = "integer"
    return parse


def bounded_float(low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            bound = f"more than {low}" if low_open else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: give a number {bound} and at most {high}")
        return value

    parse.__name__ = "number"
    return parse


SEED = bounded_int(0, 2**32 - 1)


# -- outputs: refused before any work when they cannot be written ------------------------------------
def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: where a new output would be created."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output(path: Path, inputs: tuple[Path | None, ...] = (), suffixes: tuple[str, ...] = (), what: str = "output") -> Path:
    """Refuse an output path that is an input, an existing folder, has the wrong extension, or lies in a
    folder that cannot be written; returns ``path``. Called before the work starts."""
    import os

    for given in inputs:
        if given is not None and Path(given).resolve() == path.resolve():
            raise ValueError(f"{path}: is also an input; write the {what} to another path so the input is not replaced")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file path for the {what}" + (f" ({'/'.join(suffixes)})" if suffixes else ""))
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: the {what} must end in {' or '.join(suffixes)}")
    folder = _nearest_existing(path.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot write there ({folder} is not a writable folder); choose another path")
    return path


def check_output_dir(path: Path, inputs: tuple[Path | None, ...] = (), what: str = "output folder") -> Path:
    """Refuse an output folder that is an existing file, an input, or cannot be created/written."""
    import os

    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file; give a folder for the {what}")
    for given in inputs:
        if given is not None and Path(given).resolve() == path.resolve():
            raise ValueError(f"{path}: is also an input; choose another {what}")
    folder = _nearest_existing(path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot write there ({folder} is not writable); choose another folder")
    return path


# -- inputs: a file that is not there, or is a folder, is named before any work -----------------------
def check_input(path: Path | None, what: str = "input file") -> Path | None:
    """Refuse a missing input file or a folder given as one; returns ``path`` (None passes through)."""
    if path is None:
        return None
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a {what}; give the file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    return path


def check_box(box: list[float] | None) -> tuple[float, float, float, float] | None:
    """``--box X0 Y0 X1 Y1`` as a tuple, refused unless X1 > X0 and Y1 > Y0."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"--box must be X0 Y0 X1 Y1 with X1 > X0 and Y1 > Y0, got {' '.join(f'{v:g}' for v in box)}")
    return (x0, y0, x1, y1)
