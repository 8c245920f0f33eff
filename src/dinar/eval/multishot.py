"""Multi-shot avatars in the benchmark: the input view plus other views of the same capture instant.

A calibrated capture (``dinar data capture``) stores every view of an instant with one shared body fit and
each view's exact camera. :class:`MultiShotPredictor` makes the avatar from the benchmark's input view AND
the named extra views of that instant (their images, masks, shared fit and cameras; the pipeline merges them
by normal angle, paper eq. 5), then renders every target like :class:`~dinar.eval.predictors.PipelinePredictor`.
Score the views that were not inputs: an input view is no test of what the avatar invents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dinar.eval.people import PersonViews
from dinar.eval.predictors import PipelinePredictor, Renders
from dinar.eval.settings import Setting
from dinar.pipeline.capture_views import capture_views
from dinar.pipeline.options import PipelineOptions


class MultiShotPredictor(PipelinePredictor):
    """The pipeline of one checkpoint fed with the input view and ``extra_views`` (camera names or view indices)
    of the input's instant; ``extra_views=()`` is the one-shot predictor."""

    def __init__(self, extra_views: Sequence[str | int], checkpoint: Path | None = None, options: PipelineOptions | None = None,
                 device: str = "auto", body=None, image_size: int | None = None):
        super().__init__(checkpoint, None, options, device, body, image_size)
        self.extra_views = tuple(extra_views)

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        return {**super().fingerprint(setting), "extra_views": [str(v) for v in self.extra_views]}

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        if not self.extra_views:
            return super().predict(setting, person)
        frame = next(t.pose_id for t in person.targets if t.kind == "same")
        extras = capture_views(person.folder, self.extra_views, frame=frame)
        # The pipeline takes sequences of inputs (several photos, eq. 5); the parent's predict passes the
        # person's input fields to it unchanged, so giving it lists makes the same call with all views.
        several = dataclasses.replace(person, input_image=[person.input_image, *(v.image for v in extras)],
                                      input_mask=[person.input_mask, *(v.mask for v in extras)],
                                      input_fit=[person.input_fit, *(v.fit for v in extras)])
        return super().predict(setting, several)


__all__ = ["MultiShotPredictor"]
