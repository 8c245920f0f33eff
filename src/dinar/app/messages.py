"""What the page says when something cannot be done: one sentence per kind of failure, never a traceback.

The library's messages are written for the command line (``--person-index``, ``--box``); the page has
a person list instead, so those hints are rewritten here. :data:`EXPECTED` are the failures a user
can cause and fix (as ``dinar``'s one-line errors); anything else is logged with its traceback on the
server and the page says only that (:func:`internal_error`).
"""

from __future__ import annotations

import re

EXPECTED = (ValueError, OSError, RuntimeError, ImportError)
"""Failures with a message meant for the user (bad upload, no person, unreadable motion, missing extra)."""

_CLI_HINTS = (
    (re.compile(r"choose one with --person-index .*$"), "pick one in the person list"),
    (re.compile(r"try --box around the person"), "try another photo of them, or pick another person"),
    (re.compile(r"--person-index (\d+)"), r"person \1"),
)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    for pattern, replacement in _CLI_HINTS:
        text = pattern.sub(replacement, text)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def page_message(err: BaseException) -> str:
    """The one line the page shows for ``err``, one of :data:`EXPECTED` (module docstring)."""
    from dinar.app.uploads import UploadError
    from dinar.fitting.photo import (
        BodyCutOffError,
        MissingPhotoExtraError,
        NoPersonError,
        PhotoError,
        SeveralPeopleError,
    )

    if isinstance(err, UploadError):
        return _sentence(str(err))
    if isinstance(err, NoPersonError):
        return "No person was found in the photo. Give a photo that shows one person, head to feet."
    if isinstance(err, SeveralPeopleError):
        return f"There are {err.count} people in the photo: pick one in the person list."
    if isinstance(err, BodyCutOffError):
        return _sentence(str(err))
    if isinstance(err, PhotoError):
        return _sentence(str(err))
    if isinstance(err, MissingPhotoExtraError):
        return ("This server cannot find people in photos: the person detector (mediapipe, the photo extra) is not "
                "installed. Whoever runs the server: pip install 'dinar[photo]'.")
    return _sentence(str(err) or type(err).__name__)


def internal_error(err: BaseException) -> str:
    """The page's line for a failure that is our bug (the caller logs its traceback on the server)."""
    return f"Internal error ({type(err).__name__}); the server's log has the details. Try again, or another photo."


class MotionError(ValueError):
    """An uploaded motion that could not be read (its reader's message follows)."""
