"""``dinar app [--host 127.0.0.1] [--port 7860] [--checkpoint DIR]``: the web app
(:func:`dinar.app.server.start`): drop a photo in the browser, get the avatar. Needs the ``app`` extra
(Gradio) and, to find people in photos, the ``photo`` extra. Cheap to import: Gradio and torch load
when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from dinar.commands.options import add_model_arguments, bounded_float, bounded_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", metavar="HOST",
                        help="interface to serve on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=bounded_int(0, 65535), default=7860, help="port (default 7860; 0 picks a free one)")
    add_model_arguments(parser)
    parser.add_argument("--work-dir", type=Path, metavar="DIR",
                        help="the app's temporary folder for uploads and results (default: a new one in the system's "
                             "temporary directory, removed when the app stops)")
    parser.add_argument("--keep-minutes", type=bounded_float(1, 10080), default=60.0, metavar="M",
                        help="uploads and results older than this are removed (default 60)")
    parser.add_argument("--queue-size", type=bounded_int(1, 1000), default=8, metavar="N",
                        help="requests that may wait while one avatar is made; more are told the app is busy (default 8)")
    parser.add_argument("--cached-results", type=bounded_int(1, 1000), default=16, metavar="N",
                        help="avatars kept for the same photo and choices (default 16)")


def run(args: argparse.Namespace) -> int:
    """``dinar app``: serve the web app until Ctrl-C."""
    from dinar.app.server import start
    from dinar.app.settings import AppSettings
    from dinar.commands.options import check_output_dir

    if args.work_dir is not None:
        check_output_dir(args.work_dir, what="work folder")
    settings = AppSettings(host=args.host, port=args.port, checkpoint=args.checkpoint, device=args.device, work_dir=args.work_dir,
                           keep_minutes=args.keep_minutes, queue_size=args.queue_size, cached_results=args.cached_results)
    start(settings, block=True)
    return 0


if __name__ == "__main__":  # python -m dinar.commands.app: the same server as `dinar app` (the tests start it so)
    import sys

    command = argparse.ArgumentParser(prog="dinar app", description=__doc__.split("\n")[0])
    add_arguments(command)
    sys.exit(run(command.parse_args()))
