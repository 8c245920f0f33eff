"""What a benchmark run is: its settings (the pipeline's switches of the paper's Tables 1 and 2, and
which checkpoint), its configuration, view kinds and file names (:mod:`dinar.eval.runner`).

Cheap to import (no torch, no networks): ``dinar eval`` builds its options and its :class:`EvalConfig` from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .families import ALL_EVAL_METRICS, EvalFamily

if TYPE_CHECKING:
    from dinar.pipeline.options import PipelineOptions

EVAL_FORMAT = "dinar-eval/1"
PERSON_FORMAT = "dinar-eval-person/1"
PEOPLE_DIR = "people"
GT_FEATURES_FILE = "ground_truth.features.safetensors"

ViewKind = Literal["same", "back", "side", "other_pose"]
VIEW_KINDS: tuple[ViewKind, ...] = ("same", "back", "side", "other_pose")
NOVEL_KINDS: tuple[ViewKind, ...] = ("back", "side", "other_pose")
BACK_MIN_OFFSET_DEG = 135.0
"""A view counts as the back view when its azimuth is at least this far from the input's."""
RENDER_BATCH = 8


class EvalError(ValueError):
    """A benchmark that cannot run as asked (empty split, missing view, mismatched model); says why."""


def _default_options() -> PipelineOptions:
    """The pipeline's default settings; imported when first needed, since importing :mod:`dinar.pipeline`
    loads the networks' code (this module stays cheap for ``dinar eval``'s options)."""
    from dinar.pipeline.options import PipelineOptions

    return PipelineOptions()


# ---------------------------------------------------------------------------------------------------
# Settings: which pipeline switches, which checkpoint
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One row of a table: a stage-1 checkpoint (the main one, or an ablation's) and the pipeline switches."""

    name: str
    """File-safe id (cache files, CSV)."""
    label: str
    """Row label, as the paper's Table 2 names it."""
    checkpoint: Literal["main", "rgb", "neural"] = "main"
    """Which checkpoint: ``main`` (``--checkpoint``) or an ``--ablation-checkpoint`` texture mode."""
    texture: Literal["both", "rgb", "neural"] = "both"
    """Texture mode the checkpoint must have been trained with."""
    occlusion: bool = True
    inpainting: bool = True
    rgb_tuning: bool = True
    color_adjust: bool = True
    fill: str = "diffusion"
    """What fills the unseen texels (``PipelineOptions.fill``): the diffusion, or a simple-fill baseline."""

    def options(self, base: PipelineOptions) -> PipelineOptions:
        """``base`` with this setting's switches and texture mode."""
        return dataclasses.replace(base, occlusion=self.occlusion, inpainting=self.inpainting, rgb_tuning=self.rgb_tuning,
                                   color_adjust=self.color_adjust, texture=self.texture, fill=self.fill)


_BARE = {"occlusion": False, "inpainting": False, "rgb_tuning": False, "color_adjust": False}
FULL = Setting("full", "Both + Inpainting + Ocl. + RGB tuning")
"""The full method (paper 3.4 and appendix B: occlusion detector, inpainting, RGB tuning, colour adjustment)."""
TABLE2_SETTINGS: tuple[Setting, ...] = (
    Setting("rgb_texture", "RGB texture", checkpoint="rgb", texture="rgb", **_BARE),
    Setting("neural_texture", "Neural texture", checkpoint="neural", texture="neural", **_BARE),
    Setting("both", "Both textures", **_BARE),
    Setting("both_inpainting", "Both + Inpainting", occlusion=False, rgb_tuning=False, color_adjust=False),
    Setting("both_inpainting_occlusion", "Both + Inpainting + Occlusion detector", rgb_tuning=False, color_adjust=False),
    FULL,
)
"""The rows of the paper's Table 2, in its order, each adding one step to the one above (rows 1-2 swap the
texture). The paper does not list the colour adjustment of eq. 7 as a row; it belongs to appendix B's "RGB
texture refinement" with RGB tuning, so it is switched on with RGB tuning in the last row, which is the
full method of Table 1. Rows without inpainting let the renderer fill what the photo does not show."""
FILL_SETTINGS: tuple[Setting, ...] = (
    Setting("fill_mean", "Full, unseen texels: mean colour per body part", fill="mean"),
    Setting("fill_mirror", "Full, unseen texels: the front mirrored", fill="mirror"),
    Setting("fill_nearest", "Full, unseen texels: nearest seen texel", fill="nearest"),
    Setting("fill_nearest_part", "Full, unseen texels: nearest seen texel of the same body part", fill="nearest_part"),
)
"""The full method with the diffusion replaced by a simple fill (:mod:`dinar.texture.fills`): the baselines
the back views must beat, run with ``--ablations`` (or ``fills``) after the rows of Table 2."""

BACK_METRICS = {"lpips": "lpips_alex", "dists": "dists", "kid": "kid", "part_color": "part_color"}
"""The back-view metrics the full method and the simple fills are compared on: the name a benchmark prints → the
report's metric key. KID is over all back views of a set; a benchmark of a few real views leaves it out."""



# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalConfig:
    """What ``dinar eval`` does (:func:`evaluate`)."""

    data_dir: Path
    output_dir: Path
    split: str | None = "test"
    """Split of ``splits.json``; None = every person folder."""
    checkpoint: Path | None = None
    """Model folder of the main checkpoint (stage1/, vq/, diffusion/); None = the shipped default weights."""
    ablations: bool = False
    """Also run the rows of Table 2 and the simple-fill baselines."""
    fills: bool = False
    """Also run the simple-fill baselines (without the other rows of Table 2)."""
    ablation_checkpoints: tuple[tuple[str, Path], ...] = ()
    """``(("rgb", DIR), ("neural", DIR))``: stage-1 checkpoints trained with one kind of texture (Table 2 rows 1-2)."""
    input_pose: int = 0
    input_view: int = 0
    """The avatar is made from the image of this pose and view (view 0 = the front in synthetic data)."""
    people: int = 0
    """At most this many people of the split, in sorted order (0 = all)."""
    device: str = "auto"
    image_size: int | None = None
    """Score at this square size (ground truth resized to it); None: the main checkpoint's own. A model of
    another size is rendered at its own and resized, so models of two sizes compare on one truth."""
    seed: int = 0
    """Diffusion noise of every avatar (replaces ``options.seed``; the other steps are deterministic) and the
    KID subsets."""
    options: PipelineOptions = field(default_factory=_default_options)
    """Pipeline settings (steps, learning rates); each setting's switches are applied on top."""
    metrics: tuple[EvalFamily, ...] = ALL_EVAL_METRICS
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    grid_people: int = 2
    """Best and worst people shown in the image grid (each)."""
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(ALL_EVAL_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {ALL_EVAL_METRICS}")
        kinds = [k for k, _ in self.ablation_checkpoints]
        bad = sorted(set(kinds) - {"rgb", "neural"})
        if bad:
            raise ValueError(f"ablation checkpoints are for the texture modes 'rgb' and 'neural', got {bad}")
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"one ablation checkpoint per texture mode, got {kinds}")
        if self.people < 0 or self.input_pose < 0 or self.input_view < 0:
            raise ValueError("people, input_pose and input_view must be >= 0")

    @property
    def settings(self) -> tuple[Setting, ...]:
        """What to run: the full method, or with ``ablations`` all rows of Table 2 (in the paper's order; the
        last is the full method)."""
        if self.ablations:
            return TABLE2_SETTINGS + FILL_SETTINGS
        return (FULL, *FILL_SETTINGS) if self.fills else (FULL,)

    @property
    def pipeline_options(self) -> PipelineOptions:
        """``options`` with the run's seed."""
        return dataclasses.replace(self.options, seed=self.seed)

    def settings_json(self) -> dict[str, Any]:
        """The run's settings as written into metrics.json."""
        return {
            "data_dir": str(self.data_dir), "split": self.split, "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "ablations": self.ablations, "fills": self.fills, "ablation_checkpoints": {k: str(v) for k, v in self.ablation_checkpoints},
            "input_pose": self.input_pose, "input_view": self.input_view, "people_limit": self.people,
            "device": self.device, "seed": self.seed, "options": self.pipeline_options.to_dict(), "metrics": list(self.metrics),
            "kid_subsets": self.kid_subsets, "kid_subset_size": self.kid_subset_size,
        }
