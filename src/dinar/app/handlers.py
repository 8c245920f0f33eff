"""The page's two events, from Gradio values to :mod:`dinar.app.jobs` and back, with every failure
turned into a message in the page (:func:`~dinar.app.messages.page_message`), never a traceback.

``on_photo``: a photo was given → the people found (numbered boxes) and the person list.
``on_make``: the button → fit overlay, turntable and motion videos, the GLB for the 3D view, the downloads.
Both are the app's API too (``/people`` and ``/make_avatar`` for ``gradio_client``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dinar.app.jobs import BUILTIN_CHOICES, AvatarJobs, AvatarRequest, default_options
from dinar.app.messages import EXPECTED, internal_error, page_message
from dinar.app.uploads import UploadError, Workspace, check_motion, check_photo

log = logging.getLogger(__name__)

MAX_DIFFUSION_STEPS = 100
"""The page's limit on DDIM steps (each costs a U-Net pass; 25 is the shipped model's default)."""


def error_text(message: str) -> str:
    return f"**Could not go on:** {message}"


class Handlers:
    """The events of one app (module docstring)."""

    def __init__(self, jobs: AvatarJobs, workspace: Workspace) -> None:
        self.jobs = jobs
        self.workspace = workspace

    # -- a photo was given ------------------------------------------------------------------------
    def on_photo(self, photo: str | None) -> tuple[Any, dict, str]:
        """(drawing of the people found, the person list's update, status text)."""
        import gradio as gr

        if not photo:
            return None, gr.update(choices=[], value=None, visible=False), ""
        hidden = gr.update(choices=[], value=None, visible=False)
        try:
            people = self.jobs.people(check_photo(photo, self.workspace))
        except EXPECTED as err:
            return None, hidden, error_text(page_message(err))
        except Exception as err:  # our bug: still a line in the page, the traceback in the server's log
            log.exception("people")
            return None, hidden, error_text(internal_error(err))
        choices = [(label, i) for i, label in enumerate(people.labels)]
        if len(choices) == 1:
            return people.drawing, gr.update(choices=choices, value=0, visible=False), "One person found: press **Make avatar**."
        first = next((i for i, parts in enumerate(people.cut_off) if not parts), 0)
        cut = sum(1 for parts in people.cut_off if parts)
        note = f" ({cut} cut off by the photo's edge, in red: they cannot be fitted)" if cut else ""
        return (people.drawing, gr.update(choices=choices, value=first, visible=True),
                f"{len(choices)} people found{note}: pick one in the **person** list, then press **Make avatar**.")

    # -- the button -------------------------------------------------------------------------------
    def on_make(self, photo: str | None, person: Any, back: str | None, motion: str | None, motion_file: str | None,
                occlusion: bool, rgb_tuning: bool, inpainting: bool, color_adjust: bool, tuning_loss: str,
                diffusion_steps: Any, seed: Any, progress: Callable[..., Any] | None = None) -> tuple[Any, ...]:
        """(fit overlay, turntable video, motion video, GLB, downloads, status text)."""
        nothing = (None, None, None, None, None)
        try:
            request = self.request(photo, person, back, motion, motion_file, occlusion, rgb_tuning, inpainting,
                                   color_adjust, tuning_loss, diffusion_steps, seed)
            report = (lambda fraction, text: progress(fraction, desc=text)) if progress is not None else None
            result = self.jobs.make(request, report)
        except EXPECTED as err:
            return (*nothing, error_text(page_message(err)))
        except Exception as err:  # our bug: still a line in the page, the traceback in the server's log
            log.exception("make avatar")
            return (*nothing, error_text(internal_error(err)))
        steps = ", ".join(f"{name} {sec:.0f} s" for name, sec in result.seconds.items())
        status = "Done (the same photo and choices were made before: from the cache)." if result.cached else f"Done: {steps}."
        downloads = [str(p) for p in result.downloads()]
        return (str(result.path("overlay")), str(result.path("turntable")), str(result.path("motion")), str(result.path("glb")),
                downloads, status)

    def request(self, photo: str | None, person: Any, back: str | None, motion: str | None, motion_file: str | None,
                occlusion: bool, rgb_tuning: bool, inpainting: bool, color_adjust: bool, tuning_loss: str,
                diffusion_steps: Any, seed: Any) -> AvatarRequest:
        """The page's values checked and turned into an :class:`AvatarRequest`; UploadError for a bad value."""
        import dataclasses

        if not photo:
            raise UploadError("no photo yet: drop or pick a photo of a person first")
        front = check_photo(photo, self.workspace)
        people = self.jobs.people(front)
        index = _whole_number(person, "person") if person not in (None, "") else None
        if len(people.labels) > 1:
            if index is None:
                raise UploadError(f"there are {len(people.labels)} people in the photo: pick one in the person list")
            if not 0 <= index < len(people.labels):
                raise UploadError(f"person {index} is not in the photo: pick 0..{len(people.labels) - 1}")
        else:
            index = None
        back_photo = check_photo(back, self.workspace, "back photo") if back else None
        motion_sha = None
        if motion_file:
            path, motion_sha = check_motion(motion_file, self.workspace)
            motion = str(path)
        elif (motion or "walk") not in BUILTIN_CHOICES:
            raise UploadError(f"unknown motion {motion!r}: choose one of {', '.join(BUILTIN_CHOICES)}")
        steps = _whole_number(diffusion_steps, "diffusion steps")
        if not 1 <= steps <= MAX_DIFFUSION_STEPS:
            raise UploadError(f"diffusion steps must be 1..{MAX_DIFFUSION_STEPS}, got {steps}")
        seed_value = _whole_number(seed, "seed")
        if not 0 <= seed_value <= 2**32 - 1:
            raise UploadError(f"the seed must be 0..{2**32 - 1}, got {seed_value}")
        if tuning_loss not in ("l2", "paper"):
            raise UploadError(f"RGB tuning loss must be l2 or paper, got {tuning_loss!r}")
        options = dataclasses.replace(default_options(), occlusion=bool(occlusion), rgb_tuning=bool(rgb_tuning),
                                      inpainting=bool(inpainting), color_adjust=bool(color_adjust), rgb_tuning_loss=tuning_loss,
                                      diffusion_steps=steps, seed=seed_value)
        return AvatarRequest(front, index, back_photo, motion or "walk", motion_sha, options)


def _whole_number(value: Any, what: str) -> int:
    """``value`` (an int, or a float/str holding one) as an int; UploadError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UploadError(f"the {what} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise UploadError(f"the {what} must be a whole number, got {value!r}")
    return int(number)
