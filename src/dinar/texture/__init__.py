"""Texture space: Algorithm 1 sampling, the occlusion detector, normal-angle visibility, merging (eq. 5, 6).

The literal reference of Algorithm 1 lives in :mod:`dinar.texture.sampling_reference` (tests, benchmarks).
"""

from dinar.texture.merging import MergedTexture, keep_known_texels, merge_textures
from dinar.texture.occlusion import detect_occlusions, occlusion_free_mask
from dinar.texture.resize import grow_texture, shrink_angles, shrink_texture
from dinar.texture.sampling import TextureSample, sample_rgb_texture, texel_index
from dinar.texture.visibility import normal_angle_image, normal_angle_texture

__all__ = [
    "MergedTexture",
    "TextureSample",
    "detect_occlusions",
    "grow_texture",
    "keep_known_texels",
    "merge_textures",
    "normal_angle_image",
    "normal_angle_texture",
    "occlusion_free_mask",
    "sample_rgb_texture",
    "shrink_angles",
    "shrink_texture",
    "texel_index",
]
