"""An avatar performing a motion, as an MP4 (``dinar render``)."""

from __future__ import annotations

from pathlib import Path


def render_avatar_video(avatar, motion_spec: str, views: str, output: Path, fps: float | None = None,
                        frames_dir: Path | None = None, batch_size: int = 16) -> tuple[Path, int]:
    """Render a bound avatar moving: (video path, frame count)."""
    from dinar.motion import load_motion

    motion = load_motion(motion_spec, avatar.body)
    path = avatar.render_video(motion, views, output, fps=fps, batch_size=batch_size, frames_dir=frames_dir, progress=True)
    return path, motion.num_frames


def render_avatar_file(avatar_path: Path, motion_spec: str, views: str, output: Path, checkpoint: Path | None = None,
                       device: str = "auto", fps: float | None = None, frames_dir: Path | None = None,
                       batch_size: int = 16) -> tuple[Path, int]:
    """``dinar render``: an avatar file bound to its model (``checkpoint``, default the shipped one),
    rendered moving: (video path, frame count)."""
    from dinar.avatar import Avatar
    from dinar.utils import resolve_device

    if not avatar_path.is_file():
        raise FileNotFoundError(f"{avatar_path}: no such avatar file")
    avatar = Avatar.load(avatar_path).bind(checkpoint, device=resolve_device(device))
    return render_avatar_video(avatar, motion_spec, views, output, fps, frames_dir, batch_size)
