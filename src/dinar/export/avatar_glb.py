"""An avatar file as a rigged GLB (``dinar export``): the RGB part of its texture on its body, laid out
in the UV atlas of the model that made it."""

from __future__ import annotations

from pathlib import Path


def avatar_rgb_texture(avatar, scale: int = 1):
    """The RGB part of the avatar's texture as uint8 [S, S, 3] (padded past the UV charts' edges)."""
    import torch
    import torch.nn.functional as F

    from dinar.body.colormap import dilate_texture
    from dinar.nn.config import TEXTURE_GEN_CHANNELS

    texture = avatar.texture.detach().float().cpu()[None]
    rgb = texture[:, TEXTURE_GEN_CHANNELS : TEXTURE_GEN_CHANNELS + 3]
    known = (rgb.abs().sum(1, keepdim=True) > 0).float()  # texels the pipeline gave a colour (else exactly 0)
    rgb = dilate_texture(rgb, known, iterations=4) if known.any() else rgb
    if scale > 1:
        rgb = F.interpolate(rgb, scale_factor=scale, mode="bilinear", align_corners=False)
    return ((rgb[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def export_avatar(avatar_path: Path, output: Path, motion_spec: str | None = None, texture_scale: int = 4,
                  checkpoint: Path | None = None) -> Path:
    """Avatar file → rigged GLB with the RGB texture (and a motion)."""
    from dinar.avatar import Avatar
    from dinar.export.gltf import export_glb
    from dinar.motion import load_motion

    if not avatar_path.is_file():
        raise FileNotFoundError(f"{avatar_path}: no such avatar file")
    avatar = Avatar.load(avatar_path).bind(checkpoint)  # the texture is laid out in its model's atlas
    body, face_uvs = avatar.body, avatar.model.face_uvs
    motion = load_motion(motion_spec, body) if motion_spec else None
    return export_glb(body, avatar.shape, avatar_rgb_texture(avatar, texture_scale), output, face_uvs=face_uvs, motion=motion,
                      name=avatar_path.stem)
