"""One-shot and multi-shot inference: photo(s) → :class:`~dinar.avatar.Avatar` (paper 3.4, appendix A-B).

::

    from dinar.pipeline import AvatarPipeline, PipelineOptions

    pipe = AvatarPipeline.from_pretrained()              # or from_pretrained("MODEL_DIR")
    avatar = pipe(image, mask, fit, PipelineOptions(seed=0))
    avatar.save("me.avatar.safetensors")

Modules, in the order the pipeline runs them: :mod:`.photos` (inputs at the model's size),
:mod:`.partial` (step 1), :mod:`.rgb_tuning` (2), merging (3, :func:`dinar.texture.merge_textures`),
:mod:`.inpainting` (4), :mod:`.color_adjust` (5), :mod:`.blending` (6); :mod:`.pipeline` strings them
together, :mod:`.models` reads and writes the model folder, :mod:`.options` holds the switches.
"""

from .color_adjust import ColorAdjustment, apply_color_adjustment, fit_color_adjustment
from .models import PipelineModels, load_models, save_models
from .options import PipelineOptions
from .pipeline import AvatarPipeline

__all__ = [
    "AvatarPipeline",
    "ColorAdjustment",
    "PipelineModels",
    "PipelineOptions",
    "apply_color_adjustment",
    "fit_color_adjustment",
    "load_models",
    "save_models",
]
