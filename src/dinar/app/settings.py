"""What the web app is started with (``dinar app`` options), as one frozen dataclass checked on creation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppSettings:
    """Settings of one ``dinar app`` server."""

    host: str = "127.0.0.1"
    """Interface to listen on; the default serves this machine only (0.0.0.0 would open it to the network)."""
    port: int = 7860
    checkpoint: Path | None = None
    """Model folder (stage1/ vq/ diffusion/); None: the shipped default model."""
    device: str = "auto"
    work_dir: Path | None = None
    """The app's temporary folder (uploads, results, Gradio's own upload cache); None: a new folder in
    the system's temporary directory, removed when the server stops."""
    keep_minutes: float = 60.0
    """Uploads and results older than this are removed (checked every ``keep_minutes / 6``, at least every minute)."""
    queue_size: int = 8
    """Requests that may wait in the queue; more are answered at once with "busy"."""
    cached_results: int = 16
    """Avatars kept for re-use (same photo, person and options): the oldest are dropped past this."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range: give 0..65535 (0 picks a free port)")
        if not 1.0 <= self.keep_minutes <= 7 * 24 * 60:
            raise ValueError(f"keep_minutes {self.keep_minutes} is out of range: give 1..10080 (a week)")
        if not 1 <= self.queue_size <= 1000:
            raise ValueError(f"queue_size {self.queue_size} is out of range: give 1..1000")
        if not 1 <= self.cached_results <= 1000:
            raise ValueError(f"cached_results {self.cached_results} is out of range: give 1..1000")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device {self.device!r}: give auto, cpu or cuda")

    @property
    def keep_seconds(self) -> float:
        return 60.0 * self.keep_minutes

    @property
    def sweep_seconds(self) -> float:
        """How often old files are looked for: a sixth of the keeping time, between 1 and 10 minutes."""
        return min(600.0, max(60.0, self.keep_seconds / 6))
