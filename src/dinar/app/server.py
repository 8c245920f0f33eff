"""Start the web app: offline and without telemetry, with a bounded queue and a self-cleaning temporary folder.

Before Gradio is imported: ``GRADIO_ANALYTICS_ENABLED=False`` (no usage reports, no version check),
``HF_HUB_DISABLE_TELEMETRY=1`` (Gradio reports through huggingface_hub's telemetry), and
``GRADIO_TEMP_DIR`` set to the workspace's ``gradio/`` (Gradio's copies of uploads and outputs stay in
the app's folder and are swept with it). The page is served without server-side rendering (no
Node process), without the run history (nothing saved in the browser) and with system fonts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from dinar.app.settings import AppSettings
from dinar.app.uploads import MAX_MOTION_BYTES, MAX_PHOTO_BYTES, Workspace

log = logging.getLogger(__name__)

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",
    "GRADIO_RUN_HISTORY": "False",
    "GRADIO_MCP_SERVER": "False",
}


@dataclass
class RunningApp:
    """A started app: its address, and how to stop it."""

    url: str
    blocks: object  # gradio.Blocks
    workspace: Workspace

    def close(self) -> None:
        self.blocks.close()
        self.workspace.close()


def prepare_environment(workspace: Workspace) -> None:
    """The environment variables of the module docstring (set before Gradio is imported)."""
    for name, value in OFFLINE_ENV.items():
        os.environ[name] = value
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.folder("gradio"))


def free_port(host: str) -> int:
    """A TCP port that nothing listens on now (for ``--port 0``)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start(settings: AppSettings, block: bool = False) -> RunningApp:
    """Load the model, build the page and serve it. With ``block`` it serves until Ctrl-C, then removes
    the workspace; otherwise it returns the running app at once (tests, notebooks)."""
    workspace = Workspace(settings.keep_seconds, settings.work_dir)
    prepare_environment(workspace)
    try:
        import gradio as gr  # noqa: F401 (after prepare_environment)
    except ImportError as err:
        workspace.close()
        raise ImportError("the web app needs gradio: pip install 'dinar[app]'") from err

    from dinar.app.handlers import Handlers
    from dinar.app.jobs import AvatarJobs
    from dinar.app.ui import CSS, build_blocks, theme

    try:
        jobs = AvatarJobs.load(workspace, settings.checkpoint, settings.device, settings.cached_results)
        blocks = build_blocks(Handlers(jobs, workspace), delete_cache=(int(settings.sweep_seconds), int(settings.keep_seconds)))
        blocks.queue(max_size=settings.queue_size, default_concurrency_limit=1)
        workspace.start_sweeper(settings.sweep_seconds)
        blocks.launch(
            server_name=settings.host, server_port=settings.port or free_port(settings.host), prevent_thread_lock=not block, quiet=False,
            share=False, inbrowser=False, show_error=False, ssr_mode=False, run_history=False, mcp_server=False,
            footer_links=[], allowed_paths=[str(workspace.folder("results"))], max_file_size=max(MAX_PHOTO_BYTES, MAX_MOTION_BYTES),
            theme=theme(), css=CSS,
        )
    except BaseException:
        workspace.close()
        raise
    running = RunningApp(blocks.local_url, blocks, workspace)
    if block:  # launch() returned: the server was stopped (Ctrl-C)
        running.close()
    return running
