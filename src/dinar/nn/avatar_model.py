"""The stage-1 avatar generation model (paper 3.1, eq. 2 and 3; appendix A and C): E, G and θ together.

From one image of a person and the body fit of that image, build the 21-channel neural texture T,
then render it on the body in any pose and camera::

    1. UV-render of the input view                     R(·, M(p_in, s), C_in)          [3.1]
    2. occlusion band removed from it (switchable)     detect_occlusions               [3.5, B]
    3. Algorithm 1 at the texture size                 T_rgb, B_smp, B_fill            [A]
    4. E(I_rgb ⊕ mask ⊕ noise) → 512-d code → G        T_gen (16 channels)             [3.1, C]
    5. T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill                                               [eq. 2]
    6. UV-render of the target view, T sampled there   R(T, M(p_tgt, s), C_tgt)        [3.1]
    7. renderer θ                                      I_rend, mask                    [eq. 3]

Steps 1-5 are :meth:`AvatarModel.build_texture` ("image + fit → T", also what stages 2-3 and the
inference pipeline call); steps 6-7 are :meth:`AvatarModel.render`; :meth:`AvatarModel.forward` does
both for (input, target) pairs.

Geometry (posing the body, rasterizing, the occlusion detector) runs without autograd and in float32
with autocast off, batched: the rasterizer has no vertex gradients, and under bf16/fp16 autocast the
projection matmuls would lose the precision the z-buffer needs. The networks and the texture lookups
run inside the autograd graph (and under autocast when the trainer enables it).

Ablation switch (paper Table 2), ``AvatarModelConfig.texture``:

- ``"both"`` (the paper): T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill;
- ``"rgb"``: the RGB part only; the 16 T_gen channels are **zeros** and E and G are not built;
- ``"neural"``: T_gen only; the 5 channels T_rgb ⊕ B_smp ⊕ B_fill are **zeros** (Algorithm 1 still
  runs, so :class:`NeuralTexture` still reports B_fill, which later stages use as the known-texel mask).

Unused channels are zeroed rather than dropped so T always has the paper's 21-channel layout: the
renderer config, the texture files of later stages and the VQ / diffusion models see one shape
whatever the ablation (the renderer's first convolution simply gets no signal on those channels).

Noise: in ``train()`` mode E gets a fresh N(0, 1) noise channel and G fresh per-layer noise; in
``eval()`` mode E gets zeros and G its stored noise maps, so inference is deterministic. Pass
``encoder_noise`` / ``noise_mode`` to override.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dinar.config import ConfigMixin
from dinar.geometry.camera import Camera
from dinar.geometry.raster import RasterOutput, interpolate_vertex_attr, rasterize
from dinar.geometry.texture_lookup import sample_texture
from dinar.texture.occlusion import (
    detect_occlusions,
    occlusion_free_mask,
    silhouette_error,
)
from dinar.texture.sampling import TextureSample, sample_rgb_texture

from .config import TEXTURE_CHANNELS, Stage1Config, preset
from .encoder import Encoder
from .generator import Generator, NoiseMode
from .renderer import Renderer, RenderOutput

ENCODER_BACKGROUND = 1.0
"""What the encoder sees outside the person mask (in [-1, 1]; white, like the synthetic training photos)."""

TextureMode = Literal["both", "rgb", "neural"]
TEXTURE_MODES: tuple[str, ...] = ("both", "rgb", "neural")


@dataclass(frozen=True)
class AvatarModelConfig(ConfigMixin):
    """Everything that decides the stage-1 model's weights and what they mean."""

    networks: Stage1Config = field(default_factory=lambda: preset("paper"))
    texture: str = "both"
    """Ablation switch (module docstring): ``both`` | ``rgb`` | ``neural``."""
    occlusion: bool = True
    """Remove the occlusion band (paper 3.5) from the pixels Algorithm 1 samples."""
    occlusion_band: int = 0
    """Half-width in pixels of that band; 0 = scaled with the image (3 px at 512², 1 px at 128²)."""
    occlusion_band_fit: bool = False
    """Widen each image's band to its fit's silhouette error, where that is larger (:func:`silhouette_error`, rounded):
    a fitted real photo is off by more than the band assumes. Needs the person mask."""
    use_person_mask: bool = True
    """Sample only pixels inside the person's segmentation mask too (not the background a loose fit covers)."""
    body_model: str = "anny"
    """Body model whose topology, UV atlas and part colours the model was trained with."""
    atlas: str = "front"
    """UV atlas of that body model: ``front`` (the paper's front cut, dinar.body.atlas) or ``native``."""

    def __post_init__(self):
        if self.texture not in TEXTURE_MODES:
            raise ValueError(f"texture must be one of {TEXTURE_MODES}, got {self.texture!r}")
        if self.occlusion_band < 0:
            raise ValueError(f"occlusion_band must be >= 0, got {self.occlusion_band}")

    @property
    def image_size(self) -> int:
        return self.networks.image_size

    @property
    def texture_size(self) -> int:
        return self.networks.texture_size

    @property
    def band(self) -> int:
        """The occlusion band actually used, in pixels."""
        return self.occlusion_band or max(1, round(3 * self.image_size / 512))


@dataclass
class BodyView:
    """A posed body and the camera that sees it: what the model needs to know about one frame."""

    vertices: Tensor  # [B, V, 3] posed vertices, world coordinates (no gradient)
    camera: Camera  # batch B (or 1), OpenCV, image size = the model's image size

    @property
    def batch_size(self) -> int:
        return int(self.vertices.shape[0])


@dataclass
class NeuralTexture:
    """The 21-channel texture T of one image (paper eq. 2) and what it was made from."""

    texture: Tensor
    """[B, 21, S, S] T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (unused channels zero, see ``texture`` mode)."""
    sample: TextureSample
    """Algorithm 1's T_rgb [B, 3, S, S] in [-1, 1], B_smp and B_fill [B, 1, S, S] (always computed)."""
    generated: Tensor | None
    """[B, 16, S, S] T_gen, None in the ``rgb`` ablation."""
    code: Tensor | None
    """[B, code_dim] E's code, None in the ``rgb`` ablation."""
    sampled_pixels: Tensor
    """[B, 1, H, W] the input pixels Algorithm 1 used (body ∩ person mask − occlusion band)."""
    raster: RasterOutput
    """The UV-render of the input view."""

    @property
    def filled(self) -> Tensor:
        """[B, 1, S, S] B_fill: texels known from the image (eq. 6 keeps them)."""
        return self.sample.filled


@dataclass
class AvatarRender:
    """T rendered in one view (paper eq. 3)."""

    render: RenderOutput
    """θ's RGB [B, 3, H, W] in [-1, 1], mask and mask logits [B, 1, H, W]."""
    rasterized: Tensor
    """[B, 21, H, W] R(T, M, C): T sampled through the UV-render, 0 off the body."""
    raster: RasterOutput
    """The UV-render of this view (uv [B, 2, H, W], mask [B, 1, H, W], face ids)."""
    face_box: Tensor
    """[B, 4] (x0, y0, x1, y1) pixel box of the head in this view (square; the face losses crop it)."""


@dataclass
class AvatarOutput:
    """What :meth:`AvatarModel.forward` returns for (input, target) pairs."""

    texture: NeuralTexture
    """T built from the input images."""
    target: AvatarRender
    """T rendered in the target views."""

    @property
    def render(self) -> RenderOutput:
        return self.target.render


def no_autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """Autocast off for geometry (float32 projections and z-buffer), whatever the trainer enabled."""
    device_type = torch.device(device).type
    if device_type not in ("cpu", "cuda", "xpu", "mps", "hpu"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


class AvatarModel(nn.Module):
    """E, G and θ of stage 1 with the body assets they render through (paper 3.1).

    Files in, tensors on: the constructor takes the body's topology and UV atlas as tensors (kept as
    non-persistent buffers, so the weights file holds networks only); :func:`avatar_model_from_body`
    reads them from a body model.
    """

    def __init__(
        self,
        config: AvatarModelConfig,
        faces: Tensor,  # [F, 3] int64
        face_uvs: Tensor,  # [F, 3, 2] per-corner UVs of the atlas, v up
        part_colors: Tensor | None = None,  # [V, 3] occlusion colormap (paper 3.5); needed when config.occlusion
        head_vertices: Tensor | None = None,  # [K] int64 indices of the head's vertices (face losses)
    ):
        super().__init__()
        self.config = config
        nets = config.networks
        if faces.dim() != 2 or faces.shape[1] != 3 or face_uvs.shape != (faces.shape[0], 3, 2):
            raise ValueError(f"expected faces [F, 3] and face_uvs [F, 3, 2], got {tuple(faces.shape)}, {tuple(face_uvs.shape)}")
        if config.occlusion and part_colors is None:
            raise ValueError("config.occlusion needs part_colors (dinar.body.colormap.part_colors)")
        if config.texture == "rgb":
            self.encoder = None
            self.generator = None
        else:
            self.encoder = Encoder(nets.encoder)
            self.generator = Generator(nets.generator)
        self.renderer = Renderer(nets.renderer)
        self.register_buffer("faces", faces.long(), persistent=False)
        self.register_buffer("face_uvs", face_uvs.float(), persistent=False)
        self.register_buffer("part_colors", None if part_colors is None else part_colors.float(), persistent=False)
        self.register_buffer("head_vertices", None if head_vertices is None else head_vertices.long(), persistent=False)

    # -- geometry (no autograd, float32) ---------------------------------------------------------
    @torch.no_grad()
    def uv_render(self, view: BodyView) -> RasterOutput:
        """UV-render of a posed body: uv [B, 2, H, W] (-1 off the body), mask, face ids (paper 3.1)."""
        size = self.config.image_size
        if (view.camera.width, view.camera.height) != (size, size):
            raise ValueError(f"camera is {view.camera.width}x{view.camera.height}, the model renders {size}x{size}")
        with no_autocast(view.vertices.device):
            return rasterize(view.vertices.float(), self.faces, view.camera, self.face_uvs)

    @torch.no_grad()
    def sampling_mask(self, raster: RasterOutput, person_mask: Tensor | None = None) -> Tensor:
        """[B, 1, H, W] pixels Algorithm 1 may use: the body, within the person mask, minus the occlusion band (each
        image's widened to its fit's silhouette error with ``occlusion_band_fit``)."""
        use = raster.mask
        if person_mask is not None and self.config.use_person_mask:
            use = use * (person_mask > 0.5).to(use.dtype)
        if self.config.occlusion:
            with no_autocast(use.device):
                colours = self.part_colors[None].expand(raster.face_id.shape[0], -1, -1)
                part_image = interpolate_vertex_attr(raster, self.faces, colours)
                if self.config.occlusion_band_fit and person_mask is not None:
                    errors = silhouette_error(raster.mask, person_mask)
                    band = torch.cat([detect_occlusions(part_image[i:i + 1], raster.mask[i:i + 1], band=max(self.config.band, int(e + 0.5)))
                                      for i, e in enumerate(errors)])
                else:
                    band = detect_occlusions(part_image, raster.mask, band=self.config.band)
            use = occlusion_free_mask(use, band)
        return use

    @torch.no_grad()
    def face_boxes(self, view: BodyView, scale: float = 1.2, min_size: float = 8.0) -> Tensor:
        """[B, 4] square (x0, y0, x1, y1) pixel boxes around the head's projected vertices.

        The box is the head's bounding box, made square at ``scale`` times its longer side (at least
        ``min_size`` pixels) and kept inside the image where it fits. Without head vertices: the whole image.
        """
        b = view.batch_size
        size = float(self.config.image_size)
        if self.head_vertices is None:
            return view.vertices.new_tensor([0.0, 0.0, size, size]).expand(b, 4).clone()
        with no_autocast(view.vertices.device):
            pix, _ = view.camera.expand(b).to(view.vertices.device).project(view.vertices[:, self.head_vertices].float())
        lo, hi = pix.amin(1), pix.amax(1)  # [B, 2]
        centre = (lo + hi) / 2
        side = ((hi - lo).amax(1) * scale).clamp(min_size, size)  # [B]
        half = side[:, None] / 2
        centre = torch.minimum(torch.maximum(centre, half), size - half)  # slide inside the image
        return torch.cat([centre - half, centre + half], dim=1)

    # -- steps 1-5: image + fit -> T ---------------------------------------------------------------
    def build_texture(
        self,
        image: Tensor,  # [B, 3, H, W] in [-1, 1]
        mask: Tensor,  # [B, 1, H, W] person segmentation in [0, 1]
        view: BodyView,  # the body fit of ``image``
        encoder_noise: Tensor | None = None,  # [B, 1, H, W]; None: N(0, 1) in train(), zeros in eval()
        noise_mode: NoiseMode | None = None,  # G's noise; None: "random" in train(), "const" in eval()
    ) -> NeuralTexture:
        """The 21-channel neural texture T of paper eq. 2 from one image and its fit."""
        c = self.config
        b = image.shape[0]
        assert image.shape == (b, 3, c.image_size, c.image_size), f"image {list(image.shape)}, expected [B, 3, {c.image_size}, {c.image_size}]"
        assert mask.shape == (b, 1, c.image_size, c.image_size), f"mask {list(mask.shape)}"
        assert view.batch_size == b, f"{view.batch_size} body views for {b} images"
        # 1-2. UV-render of the input view, occlusion band out.
        raster = self.uv_render(view)
        used = self.sampling_mask(raster, mask)
        # 3. Algorithm 1 (differentiable w.r.t. the image; the image is data here).
        with no_autocast(image.device):
            sample = sample_rgb_texture(image.float(), raster.uv, used, c.texture_size)
        # 4. T_gen = G(E(I_rgb ⊕ mask ⊕ noise)), I_rgb the segmented person (paper 3.1): matted over
        # white, so a photo's background never reaches E (the synthetic photos' own background is white).
        # E sees the image at its own size and T_gen is upsampled to T's (the ``hd`` preset).
        generated = code = None
        if self.encoder is not None:
            segmented = image * mask + ENCODER_BACKGROUND * (1 - mask)
            small_mask = mask
            if c.networks.encoder_size != c.image_size:
                segmented = F.interpolate(segmented, size=c.networks.encoder_size, mode="area")
                small_mask = F.interpolate(mask, size=c.networks.encoder_size, mode="area")
            if encoder_noise is None:
                encoder_noise = torch.randn_like(small_mask) if self.training else torch.zeros_like(small_mask)
            code = self.encoder(segmented, small_mask, encoder_noise).code
            mode = noise_mode or ("random" if self.training else "const")
            generated = self.generator(code, noise_mode=mode).texture
            if generated.shape[-1] != c.texture_size:
                generated = F.interpolate(generated, size=c.texture_size, mode="bilinear", align_corners=False)
        # 5. T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill, unused channels zero; float32 whatever autocast did.
        rgb_part = torch.cat([sample.rgb, sample.sampled, sample.filled], dim=1).float()
        if c.texture == "rgb":
            gen_channels = c.networks.generator.out_channels
            generated_part = rgb_part.new_zeros(b, gen_channels, c.texture_size, c.texture_size)
        else:
            generated_part = generated.float()
        if c.texture == "neural":
            rgb_part = torch.zeros_like(rgb_part)
        texture = torch.cat([generated_part, rgb_part], dim=1)
        return NeuralTexture(texture=texture, sample=sample, generated=generated, code=code, sampled_pixels=used, raster=raster)

    # -- steps 6-7: render T in a view ---------------------------------------------------------
    def render(self, texture: Tensor, view: BodyView, patches: Tensor | None = None) -> AvatarRender:
        """θ(R(T, M(p, s), C)) (paper eq. 3). texture: [B or 1, 21, S, S]; a batch-1 texture is
        rendered in every view of ``view``.

        ``patches`` [B, 2] (x0, y0): θ runs on the ``patch_size``² square at that corner of each view
        only (training on patches, module :mod:`dinar.nn.config`); the returned images are the patches
        and ``face_box`` is in patch pixels. The raster stays the whole view's."""
        assert texture.dim() == 4 and texture.shape[1] == TEXTURE_CHANNELS, f"texture {list(texture.shape)}"
        raster = self.uv_render(view)
        uv, uv_mask, face_box = raster.uv, raster.mask, self.face_boxes(view)
        if patches is not None:
            size = self.config.networks.patch_size
            uv, uv_mask = crop_patches(uv, patches, size), crop_patches(uv_mask, patches, size)
            face_box = face_box - patches.to(face_box).repeat(1, 2)
        with no_autocast(texture.device):  # uv in float32: bf16 would snap it to ~1/256
            rasterized = sample_texture(texture.float(), uv) * uv_mask
        render = self.renderer(rasterized, uv, uv_mask)
        return AvatarRender(render=render, rasterized=rasterized, raster=raster, face_box=face_box)

    @torch.no_grad()
    def render_frames(self, texture: Tensor, view: BodyView, margin: int = 32) -> RenderOutput:
        """θ(R(T, M, C)) of whole views for display (eval mode): θ runs on each frame alone, only on the box
        around its body, widened by ``margin`` pixels and aligned to θ's down-sampling grid; outside it the
        mask is 0. At 512² a standing person fills a third to a half of the frame, so this is 2-3 times
        faster than :meth:`render`, and the same pixels up to θ's border effects ``margin`` away. (One box
        per frame, not one for the batch: a turntable's bodies spread over the frame, and θ on a batch of
        large crops ran at a third of batch 1's frames per second.)"""
        raster = self.uv_render(view)
        size, step = self.config.image_size, 2**self.config.networks.renderer.n_levels
        b = raster.mask.shape[0]
        rgb = texture.new_full((b, 3, size, size), -1.0, dtype=torch.float32)
        logits = texture.new_full((b, 1, size, size), -30.0, dtype=torch.float32)
        mask = texture.new_zeros((b, 1, size, size), dtype=torch.float32)
        for i in range(b):
            uv_all, mask_all = raster.uv[i : i + 1], raster.mask[i : i + 1]
            rows, cols = mask_all.amax(dim=(0, 1, 3)).nonzero()[:, 0], mask_all.amax(dim=(0, 1, 2)).nonzero()[:, 0]
            if not len(rows):  # no body in view: θ on the whole (empty) frame
                rows = cols = torch.tensor([0, size - 1])
            y0, x0 = (max(0, int(v.min()) - margin) // step * step for v in (rows, cols))
            y1, x1 = (min(size, -(-(int(v.max()) + 1 + margin) // step) * step) for v in (rows, cols))
            with no_autocast(texture.device):
                uv, uv_mask = uv_all[..., y0:y1, x0:x1], mask_all[..., y0:y1, x0:x1]
                rasterized = sample_texture(texture[i : i + 1].float() if texture.shape[0] == b else texture.float(), uv) * uv_mask
            inner = self.renderer(rasterized, uv, uv_mask)
            rgb[i : i + 1, :, y0:y1, x0:x1] = inner.rgb.float()
            logits[i : i + 1, :, y0:y1, x0:x1] = inner.mask_logits.float()
            mask[i : i + 1, :, y0:y1, x0:x1] = inner.mask.float()
        return RenderOutput(rgb=rgb, mask=mask, mask_logits=logits)

    def forward(
        self,
        image: Tensor,  # [B, 3, H, W] input images in [-1, 1]
        mask: Tensor,  # [B, 1, H, W] their person masks
        input_view: BodyView,  # fits of the input images
        target_view: BodyView,  # bodies and cameras to render (batch B)
        encoder_noise: Tensor | None = None,
        noise_mode: NoiseMode | None = None,
        patches: Tensor | None = None,  # [B, 2] (x0, y0) of the target patches, None: whole views
    ) -> AvatarOutput:
        """Build T from each input image and render it in its target view (one target per input)."""
        texture = self.build_texture(image, mask, input_view, encoder_noise, noise_mode)
        return AvatarOutput(texture=texture, target=self.render(texture.texture, target_view, patches))


def crop_patches(images: Tensor, corners: Tensor, size: int) -> Tensor:
    """[B, C, size, size]: the square of each image [B, C, H, W] at its integer corner (x0, y0) [B, 2]."""
    return torch.stack([img[:, int(y) : int(y) + size, int(x) : int(x) + size] for img, (x, y) in zip(images, corners.tolist())])


# -- assets from a body model ---------------------------------------------------------------------
@torch.no_grad()
def pose_body(
    body: nn.Module,  # a dinar.body.BodyModel
    pose: Tensor,  # [B, J, 3]
    shape: Tensor,  # [B, S]
    global_orient: Tensor,  # [B, 3]
    transl: Tensor,  # [B, 3]
    camera: Camera,
) -> BodyView:
    """Pose the body (no autograd, float32, autocast off) and pair it with its camera."""
    with no_autocast(pose.device):
        out = body(pose=pose.float(), shape=shape.float(), global_orient=global_orient.float(), transl=transl.float())
    return BodyView(vertices=out.vertices.float(), camera=camera.to(pose.device))


def head_vertex_indices(body: nn.Module) -> Tensor:
    """[K] indices of the vertices of the body's ``head`` part (dinar.body.parts)."""
    head = body.parts.names.index("head")
    return (body.parts.labels == head).nonzero()[:, 0]


def avatar_model_from_body(config: AvatarModelConfig, body: nn.Module, face_uvs: Tensor | None = None) -> AvatarModel:
    """Build :class:`AvatarModel` with ``body``'s faces, part colours and head vertices and the UV atlas
    ``face_uvs`` ([F, 3, 2]; a trained model's own, :mod:`dinar.weights.networks`). Without ``face_uvs``
    the config's atlas is taken from the body model (``native``) or :func:`dinar.body.atlas.load_atlas`
    (for a model about to be trained)."""
    if getattr(body, "name", config.body_model) != config.body_model:
        raise ValueError(f"the config was made for body model {config.body_model!r}, got {body.name!r}")
    if face_uvs is None:
        from dinar.body.atlas import load_atlas

        face_uvs = load_atlas(body, config.atlas).face_uvs
    colours = None
    if config.occlusion:
        from dinar.body.colormap import part_colors

        colours = part_colors(body)
    return AvatarModel(config, body.faces, face_uvs.to(body.faces.device), colours, head_vertex_indices(body))
