"""The ``dinar`` command line: thin entry points that parse options and call one library function."""

from __future__ import annotations

import argparse
import logging
import sys

import dinar

# (group, name, help). Each command is the module ``dinar.commands.<group>_<name>`` (or ``<name>``) with
# ``add_arguments(parser)`` and ``run(args) -> int``: options are parsed there and one library function
# does the work. Modules are imported only for the command being run, so `dinar --help` loads no torch.
COMMANDS: tuple[tuple[str | None, str, str], ...] = (
    (None, "info", "versions, device, body models and cache folders"),
    ("data", "synth", "write a dataset of synthetic clothed people (rgb/ segm/ params/, card, contact sheet)"),
    ("data", "textures", "write per-view and merged (eq. 5) neural textures of a dataset: the data of stages 2 and 3"),
    ("data", "capture", "import a calibrated multi-camera capture (videos + Pose2Sim/Qualisys/OpenCV calibration): undistorted crops, masks, one body fit per instant shared by all views"),
    ("train", "avatar", "stage 1: encoder, generator and neural renderer on frame pairs"),
    ("train", "vq", "stage 2: the texture VQGAN on a texture folder"),
    ("train", "diffusion", "stage 3: latent-diffusion inpainting in the VQ latent"),
    ("train", "finetune", "stage 2 end to end: stage 1 re-trained through the frozen VQ (paper 4.1)"),
    (None, "fit", "fit the body model to a photo: FIT.json (pose, shape, camera, crop) + overlay PNG"),
    (None, "avatar", "photo(s) (+ fits) -> an avatar file"),
    (None, "render", "an MP4 of an avatar performing a motion"),
    (None, "export", "a rigged, skinned, textured GLB of an avatar"),
    (None, "eval", "the benchmark: avatars of held-out people vs ground truth (Tables 1-2)"),
    (None, "demo", "the bundled photo -> avatar, videos, GLB and a front/back sheet"),
    (None, "app", "the web app: drop a photo in the browser, get the avatar (app extra: pip install 'dinar[app]')"),
)
GROUPS = {
    "data": "datasets: make synthetic people, import calibrated captures, texture folders",
    "train": "train a stage: avatar (stage 1), vq (stage 2), diffusion (stage 3), finetune (stage 1 through the VQ)",
}


def _wanted(argv: list[str]) -> tuple[str | None, str | None]:
    """The command (and group sub-command) named on the command line: their options are the only ones loaded."""
    words = [a for a in argv if not a.startswith("-")]
    first = words[0] if words else None
    second = words[1] if first in GROUPS and len(words) > 1 else None
    return first, second


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``dinar avatar: error: argument --seed: ... (see dinar avatar --help)``."""

    def error(self, message: str):  # argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``dinar`` parser; with ``argv``, only the named command's options are built (None: all of them)."""
    import importlib

    want = _wanted(argv) if argv is not None else None
    parser = _Parser(
        prog="dinar",
        description="One photo of a person -> a rigged, animatable full-body avatar (DINAR), with training code.",
    )
    parser.add_argument("--version", action="version", version=f"dinar {dinar.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (and show third-party libraries' own logging)")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    group_subs = {}
    for group, text in GROUPS.items():
        group_parser = sub.add_parser(group, help=text, description=text)
        group_subs[group] = group_parser.add_subparsers(dest=f"{group}_command", metavar=group.upper() + "_COMMAND", required=True,
                                                        parser_class=_Parser)
    for group, name, text in COMMANDS:
        command = (group_subs[group] if group else sub).add_parser(name, help=text, description=text)
        if want is not None and want != ((group, name) if group else (name, None)):
            continue  # another command runs: no need to import this one's module
        mod = importlib.import_module(f"dinar.commands.{group}_{name}" if group else f"dinar.commands.{name}")
        mod.add_arguments(command)
        command.set_defaults(func=mod.run)
    return parser


USER_ERRORS = (ValueError, OSError, RuntimeError, ImportError)
"""What a user can cause and fix (bad input, missing files, unwritable outputs, a missing extra): one
line, exit 2. dinar raises these with messages that name the culprit and say what to do."""


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Run ``dinar``. Exit codes: 0 done, 2 a user error (one line on stderr naming the culprit), 130
    interrupted (Ctrl-C), 1 an unexpected failure (one line; ``--debug`` shows the traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a bad option (already printed on one line)
        return int(done.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    name = " ".join(w for w in (args.command, getattr(args, f"{args.command}_command", None)) if w)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"dinar {name}: interrupted; no output was left half-written", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if args.debug:
            raise
        print(f"dinar {name}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # anything else is our bug: still one line, the traceback on request
        if args.debug:
            raise
        print(f"dinar {name}: internal error: {type(err).__name__}: {_one_line(err)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
