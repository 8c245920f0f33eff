"""The people found in a photo, drawn as numbered boxes for the page (where the user picks one)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DISPLAY_SIDE = 1024
"""The drawing's longer side at most (the page shows it smaller anyway)."""
WHOLE = (30, 200, 70)  # a person who can be fitted
CUT_OFF = (230, 60, 40)  # a person the photo's edge cuts off


def person_label(index: int, cut_off: Sequence[str] | None) -> str:
    """``"0"``, or ``"1 (cut off: both knees)"``: how the page lists a person."""
    return f"{index}" + (f" (cut off: {', '.join(cut_off)})" if cut_off else "")


def draw_people(image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]],
                cut_off: Sequence[Sequence[str] | None]) -> np.ndarray:
    """``image`` (uint8 HxWx3) scaled to at most :data:`DISPLAY_SIDE`, with each box (photo pixels)
    outlined and numbered as in the list (left to right); people cut off by the photo's edge in red."""
    from PIL import Image, ImageDraw, ImageFont

    pil = Image.fromarray(image)
    scale = min(1.0, DISPLAY_SIDE / max(pil.size))
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(pil)
    line = max(2, round(max(pil.size) / 300))
    font = ImageFont.load_default(size=max(16, round(max(pil.size) / 16)))
    for index, (box, parts) in enumerate(zip(boxes, cut_off)):
        colour = CUT_OFF if parts else WHOLE
        x0, y0, x1, y1 = (max(0.0, v * scale) for v in box)
        x1, y1 = min(x1, pil.width - 1.0), min(y1, pil.height - 1.0)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        text = str(index)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = line + 2
        height = bottom - top + 2 * pad
        ty = max(y0, y1 - height)  # the number at the box's lower left: the page's labels cover the top corners
        draw.rectangle((x0, ty, x0 + right - left + 2 * pad, ty + height), fill=colour)
        draw.text((x0 + pad - left, ty + pad - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(pil)
