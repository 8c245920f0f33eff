"""An avatar file as a rigged GLB (``dinar export``): the RGB part of its texture on its body, laid out
in the UV atlas of the model that made it."""

from __future__ import annotations

from pathlib import Path

MIN_GLB_TEXTURE = 512
"""Side of the smallest base-colour texture a GLB gets (smaller avatar textures are upsampled)."""


def avatar_rgb_texture(avatar, scale: int = 1, face_uvs=None):
    """The RGB part of the avatar's texture as uint8 [N, N, 3], N = max(S · scale, 512).

    Every UV chart is padded (dilated) past its border, first at the texture's own size (4 texels), then
    at N (2 · scale texels): a viewer's bilinear and mipmap filtering reads texels just outside a chart
    at its edges, and what the pipeline left there (the VQ decoder's output between charts) would show
    as light seams down the front mid-line, the back and the neck. ``face_uvs`` ([F, 3, 2], the atlas the
    texture is laid out in; default the bound model's) decides which texels are inside a chart.
    """
    import torch
    import torch.nn.functional as F

    from dinar.body.colormap import dilate_texture
    from dinar.geometry.texture_lookup import uv_layout
    from dinar.nn.config import TEXTURE_GEN_CHANNELS

    face_uvs = (avatar.model.face_uvs if face_uvs is None else face_uvs).detach().float().cpu()
    texture = avatar.texture.detach().float().cpu()[None]
    rgb = texture[:, TEXTURE_GEN_CHANNELS : TEXTURE_GEN_CHANNELS + 3]
    size = rgb.shape[-1]
    rgb = dilate_texture(rgb, uv_layout(face_uvs, size).mask, iterations=4)
    out = max(size * scale, MIN_GLB_TEXTURE)
    if out != size:
        rgb = F.interpolate(rgb, size=(out, out), mode="bilinear", align_corners=False)
        rgb = dilate_texture(rgb, uv_layout(face_uvs, out).mask, iterations=2 * max(1, out // size))
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
