"""Step 1: the partial texture of one photo (paper 3.1, 3.5, eq. 2; appendix A) and its normal angles (3.2).

``T^j = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill`` from :meth:`AvatarModel.build_texture` (UV-render of the fit,
occlusion band out, Algorithm 1, E and G), plus λ^j, how frontally the photo sees each texel: the
weights of the multi-photo merge (eq. 5) and of RGB tuning (appendix B).

The occlusion switch of the pipeline may differ from the checkpoint's ``config.occlusion``; the model
is then used through a shallow view with its own config and buffer table, so the caller's model (and
any other pipeline sharing it) never sees the change.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from dinar.geometry.normals import vertex_normals
from dinar.geometry.raster import RasterOutput
from dinar.nn.avatar_model import AvatarModel
from dinar.texture.visibility import normal_angle_texture

from .photos import PreparedPhoto


@dataclass
class PartialTexture:
    """What one photo tells about the texture."""

    texture: Tensor  # [1, 21, S, S] T^j (paper eq. 2), unused channels zero per the texture mode
    filled: Tensor  # [1, 1, S, S] B_fill^j from Algorithm 1 (also in the ``neural`` mode, whose channel 20 is zero)
    angle: Tensor  # [1, 1, S, S] λ^j = max(0, cos(normal, to camera)) on texels the photo sees, else 0


def with_occlusion(model: AvatarModel, occlusion: bool, body, fit_band: bool = False) -> AvatarModel:
    """``model`` with ``config.occlusion = occlusion`` and ``config.occlusion_band_fit = fit_band``, without changing
    ``model`` (module docstring)."""
    if model.config.occlusion == occlusion and model.config.occlusion_band_fit == fit_band:
        return model
    view = copy.copy(model)
    view._buffers = dict(model._buffers)  # own buffer table: what is registered below stays here
    view.config = dataclasses.replace(model.config, occlusion=occlusion, occlusion_band_fit=fit_band)
    if occlusion and view.part_colors is None:
        from dinar.body.colormap import part_colors

        view._buffers["part_colors"] = part_colors(body).float().to(model.faces.device)
    return view


@torch.no_grad()
def partial_texture(model: AvatarModel, photo: PreparedPhoto, layout: RasterOutput) -> PartialTexture:
    """T^j, B_fill^j and λ^j of one photo; ``layout`` is :func:`dinar.geometry.texture_lookup.uv_layout`
    of the model's atlas at its texture size. ``model`` in eval mode gives a deterministic T_gen."""
    nt = model.build_texture(photo.rgb, photo.mask, photo.view)
    view = photo.view
    normals = vertex_normals(view.vertices, model.faces)
    angle = normal_angle_texture(nt.raster, normals, model.faces, view.vertices, view.camera, layout=layout)
    return PartialTexture(texture=nt.texture.float(), filled=nt.filled.float(), angle=angle.float())
