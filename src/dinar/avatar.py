"""The Avatar: a finished neural texture on a body shape, saved as one file, rendered in any pose (paper eq. 3).

An :class:`Avatar` holds what the pipeline (:mod:`dinar.pipeline`) made from the photo(s): the complete
21-channel texture T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2, after inpainting), the body
shape, the names of the body model and UV atlas, and the identity of the stage-1 checkpoint whose
renderer θ the texture was made for. A texture only means something to that renderer, so rendering
needs it: :meth:`Avatar.bind` attaches it (an :class:`~dinar.nn.avatar_model.AvatarModel`, a model
folder, or the shipped default weights) and refuses any other checkpoint.

File format ``dinar-avatar/1`` — one safetensors file:

- tensors ``texture`` [21, S, S] float32 and ``shape`` [S_body] float32;
- header metadata ``format`` = ``"dinar-avatar/1"`` and ``avatar`` = JSON with ``body_model``,
  ``atlas``, ``atlas_sha256`` (the UVs the texture is laid out in), ``texture_mode``, ``image_size``, ``checkpoint`` (``weights_sha256`` of the stage-1
  ``model.safetensors`` file, ``config_sha256`` of its config, ``state_sha256`` of its tensors,
  ``source``), ``texture_sha256`` and ``shape_sha256`` (detect a corrupted payload; NaN or infinite numbers are refused too), ``sources`` (SHA-256 and size of
  each input image), ``options`` (the pipeline options), ``dinar_version``.

Checkpoint identity: two checkpoints are the same when their config digests and the SHA-256 of their
tensors (names, dtypes, shapes, bytes; :func:`state_digest`) agree, which works for a model read from
a file and for one in memory alike; the file's own SHA-256 is recorded so a user can find the file.

Rendering (:meth:`Avatar.render`, :meth:`Avatar.render_video`) runs without autograd and with θ in
eval mode, batched, on the device of the bound model; images come back in [0, 1] composited over a
background colour (white by default, like the training photos).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.digests import sha256_file, state_digest, tensor_sha256, uv_digest
from dinar.geometry.camera import Camera, focal_from_fov, intrinsics, look_at
from dinar.nn.config import TEXTURE_CHANNELS
from dinar.utils import atomic_path
from dinar.weights.model_dir import default_model_dir
from dinar.weights.networks import (
    STAGE1_DIR,
    CheckpointIdentity,
    load_stage1,
    stage1_dir,
)

file_sha256 = sha256_file
"""SHA-256 of a file's bytes (what ``sha256sum`` prints)."""
__all__ = ["STAGE1_DIR", "Avatar", "AvatarFrames", "CheckpointIdentity", "file_sha256", "load_stage1", "stage1_dir", "state_digest"]

log = logging.getLogger(__name__)

AVATAR_FORMAT = "dinar-avatar/1"
WEIGHTS_FILE = "model.safetensors"
TENSOR_NAMES = ("shape", "texture")

CameraSpec = Camera | Literal["front", "turntable"]


# ---------------------------------------------------------------------------------------------------
# Cameras that frame a body
# ---------------------------------------------------------------------------------------------------
def framing_cameras(
    vertices: Tensor,  # [T, V, 3] world positions of the body in every frame to be framed
    num_views: int,
    size: int,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    front: Sequence[float] = (0.0, -1.0, 0.0),
    fov_deg: float = 30.0,
    start_azimuth_deg: float = 0.0,
    elevation_deg: float = 0.0,
    margin: float = 1.1,
) -> Camera:
    """``num_views`` cameras on a circle about the ``up`` axis through the body's centre, azimuth 0 in
    front of the subject (``front``), looking at that centre and far enough to see all of ``vertices``
    from every azimuth (square ``size`` images, ``fov_deg`` vertical field of view).

    The distance: the body fits in a cylinder of radius r about the axis and half-height h; a camera at
    distance d sees half-extent ``(d − r)·tan(fov/2)`` at the cylinder's nearest point, so
    ``d = margin·max(h, r) / tan(fov/2) + r``. With Anny's axes and no elevation the cameras are
    :func:`dinar.geometry.camera.orbit_cameras`' (azimuth 0 = the subject's front, then towards its right).
    """
    pts = vertices.detach().float().reshape(-1, 3).cpu()
    up_v = F.normalize(torch.tensor(up, dtype=torch.float32), dim=0)
    front_v = F.normalize(torch.tensor(front, dtype=torch.float32), dim=0)
    side_v = torch.linalg.cross(front_v, up_v)
    height = pts @ up_v
    lo, hi = height.min(), height.max()
    flat = pts - height[:, None] * up_v  # projection on the plane through the origin normal to up
    axis = (flat.amin(0) + flat.amax(0)) / 2
    centre = axis + (lo + hi) / 2 * up_v
    radius = float((flat - axis).norm(dim=1).max())
    half = float(hi - lo) / 2
    tan = math.tan(math.radians(fov_deg) / 2)
    distance = margin * max(half, radius) / tan + radius
    az = torch.deg2rad(torch.tensor(start_azimuth_deg) + torch.arange(num_views) * 360.0 / num_views)
    el = math.radians(elevation_deg)
    direction = (torch.cos(az)[:, None] * front_v + torch.sin(az)[:, None] * side_v) * math.cos(el) + math.sin(el) * up_v
    eye = centre + distance * direction
    R, t = look_at(eye, centre.expand(num_views, 3), up_v.expand(num_views, 3))
    K = intrinsics(focal_from_fov(fov_deg, size), size, size, num_views)
    return Camera(K=K, R=R, t=t, width=size, height=size)


def scale_camera(camera: Camera, size: int) -> Camera:
    """A square camera re-expressed for ``size`` × ``size`` images (K scaled; pixel centres at +0.5 scale)."""
    if camera.width != camera.height:
        raise ValueError(f"the renderer makes square images; got a {camera.width}x{camera.height} camera")
    return camera.resized(size, size)


# ---------------------------------------------------------------------------------------------------
# The Avatar
# ---------------------------------------------------------------------------------------------------
@dataclass
class AvatarFrames:
    """Rendered views of an avatar."""

    image: Tensor  # [B, 3, H, W] in [0, 1], composited over the background colour
    mask: Tensor  # [B, 1, H, W] in [0, 1], θ's foreground mask

    def to_uint8(self) -> np.ndarray:
        """[B, H, W, 3] uint8 (what PNG and MP4 writers take)."""
        return (self.image.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class _Binding:
    model: Any  # dinar.nn.avatar_model.AvatarModel
    body: Any  # dinar.body.BodyModel


@dataclass(eq=False)
class Avatar:
    """A complete neural texture on a body shape, for one stage-1 checkpoint (module docstring)."""

    texture: Tensor
    """[21, S, S] float32 T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2), complete."""
    shape: Tensor
    """[S_body] float32 the body model's shape parameters."""
    body_model: str
    atlas: str
    checkpoint: CheckpointIdentity
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON-able: texture_mode, image_size, sources, options, dinar_version (module docstring)."""
    _binding: _Binding | None = field(default=None, repr=False, compare=False)
    _source: Path | None = field(default=None, repr=False, compare=False)  # the file it was read from (messages)

    def __post_init__(self) -> None:
        t = self.texture
        if t.dim() != 3 or t.shape[0] != TEXTURE_CHANNELS or t.shape[1] != t.shape[2]:
            raise ValueError(f"Avatar texture must be [{TEXTURE_CHANNELS}, S, S], got {list(t.shape)}")
        if self.shape.dim() != 1:
            raise ValueError(f"Avatar shape must be [S], got {list(self.shape.shape)}")

    @property
    def texture_size(self) -> int:
        return int(self.texture.shape[-1])

    @property
    def is_bound(self) -> bool:
        return self._binding is not None

    # -- file ------------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The JSON document stored in the file's ``avatar`` metadata."""
        return {
            **self.metadata,
            "body_model": self.body_model,
            "atlas": self.atlas,
            "checkpoint": self.checkpoint.to_json(),
            "texture_sha256": tensor_sha256(self.texture),
            "shape_sha256": tensor_sha256(self.shape),
        }

    def save(self, path: str | Path) -> Path:
        """Write the avatar to one safetensors file (atomic: a failed write leaves no partial file)."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {"texture": self.texture.detach().to("cpu", torch.float32).contiguous(),
                   "shape": self.shape.detach().to("cpu", torch.float32).contiguous()}
        meta = {"format": AVATAR_FORMAT, "avatar": json.dumps(self.header(), sort_keys=True)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        model_dir: str | Path | None = None,
        renderer=None,  # an AvatarModel to bind instead of reading model_dir
        body=None,
        device: str | torch.device = "cpu",
    ) -> Avatar:
        """Read an avatar file and check it; bind it to ``renderer`` or to the stage-1 weights of
        ``model_dir`` when one is given (else it is returned unbound: call :meth:`bind` to render)."""
        avatar = _read_avatar(Path(path))
        if renderer is not None or model_dir is not None:
            avatar.bind(renderer if renderer is not None else model_dir, body=body, device=device)
        return avatar

    # -- the renderer ----------------------------------------------------------------------------------
    def bind(self, model=None, body=None, device: str | torch.device | None = None) -> Avatar:
        """Attach the stage-1 renderer this avatar was made for; returns ``self``.

        ``model``: an :class:`~dinar.nn.avatar_model.AvatarModel`, a model folder (``DIR/stage1`` or a
        stage-1 run folder), or None for the shipped default weights. A checkpoint other than the
        avatar's is refused. ``body`` defaults to the config's body model; ``device`` to the model's
        (folders load on CPU unless given).
        """
        from dinar.utils import resolve_device

        if model is None or isinstance(model, (str, Path)):
            folder = default_model_dir() if model is None else Path(model)
            weights = stage1_dir(folder) / WEIGHTS_FILE
            digest = file_sha256(weights)
            if self.checkpoint.weights_sha256 and digest != self.checkpoint.weights_sha256:
                raise ValueError(self._mismatch(f"{folder} holds {digest[:12]}"))
            dev = resolve_device(device or "cpu")
            model, identity = load_stage1(folder, body=body, device=dev)
        else:
            if device is not None:
                model = model.to(resolve_device(device))
            identity = CheckpointIdentity.of_model(model)
        if not identity.matches(self.checkpoint):
            raise ValueError(self._mismatch(f"the renderer given is {identity.short}"))
        config = model.config
        if (config.body_model, config.atlas) != (self.body_model, self.atlas):
            raise ValueError(f"avatar is for body model {self.body_model!r} / atlas {self.atlas!r}, the model for "
                             f"{config.body_model!r} / {config.atlas!r}")
        recorded = self.metadata.get("atlas_sha256")
        if recorded and recorded != uv_digest(model.face_uvs):
            raise ValueError(self._mismatch(f"its UV atlas ({str(recorded)[:12]}) is not the renderer's ({uv_digest(model.face_uvs)[:12]})"))
        if body is None:
            from dinar.body import load_body_model

            body = load_body_model(self.body_model)
        if getattr(body, "name", self.body_model) != self.body_model:
            raise ValueError(f"avatar is for body model {self.body_model!r}, got {body.name!r}")
        self._binding = _Binding(model=model, body=body.to(model.faces.device))
        return self

    def _mismatch(self, what: str) -> str:
        name = str(self._source) if self._source is not None else "this avatar"
        source = f" (read from {self.checkpoint.source})" if self.checkpoint.source else ""
        return (f"{name} was made with stage-1 checkpoint {self.checkpoint.short}{source}, but {what}; "
                "pass --checkpoint <that model dir> (the folder whose stage1/ made the avatar)")

    @property
    def model(self):
        """The bound :class:`~dinar.nn.avatar_model.AvatarModel` (error when unbound)."""
        if self._binding is None:
            raise RuntimeError("this avatar is not bound to a renderer: call avatar.bind(model_dir) or "
                               "Avatar.load(path, model_dir=...) first")
        return self._binding.model

    @property
    def body(self):
        """The bound body model (:class:`dinar.body.BodyModel`; error when unbound)."""
        self.model  # noqa: B018 (raises the unbound error)
        return self._binding.body

    @property
    def device(self) -> torch.device:
        return self.model.faces.device

    # -- rendering -------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(
        self,
        pose: Tensor,  # [B, J, 3] (or [J, 3]) axis-angle per bone
        cameras: Camera,  # batch B or 1, square images
        global_orient: Tensor | None = None,  # [B, 3]; zeros when None
        transl: Tensor | None = None,  # [B, 3]; zeros when None
        background: Sequence[float] | float = 1.0,  # in [0, 1], per channel or grey
    ) -> AvatarFrames:
        """θ(R(T, M(pose, shape), C)) (paper eq. 3) for a batch of poses and cameras, in [0, 1].

        Cameras of another square size than the model's are rendered at the model's size and resized.
        """
        from dinar.nn.avatar_model import pose_body

        model, body = self.model, self.body
        device = self.device
        pose = pose[None] if pose.dim() == 2 else pose
        B = pose.shape[0]
        if pose.shape[1:] != (body.num_joints, 3):
            raise ValueError(f"pose must be [B, {body.num_joints}, 3] for {self.body_model}, got {list(pose.shape)}")
        if cameras.batch_size not in (1, B):
            raise ValueError(f"{cameras.batch_size} cameras for {B} poses (give 1 or {B})")
        zeros = torch.zeros(B, 3, device=device)
        orient = zeros if global_orient is None else global_orient.reshape(B, 3).to(device)
        shift = zeros if transl is None else transl.reshape(B, 3).to(device)
        size = model.config.image_size
        camera = scale_camera(cameras, size).expand(B)
        shape = self.shape.to(device)[None].expand(B, -1)
        view = pose_body(body, pose.to(device), shape, orient, shift, camera.to(device))
        was_training = model.training
        model.eval()
        try:
            out = model.render_frames(self.texture.to(device)[None], view)
        finally:
            model.train(was_training)
        bg = torch.as_tensor(background, dtype=torch.float32, device=device).reshape(-1, 1, 1).expand(3, 1, 1)
        rgb = (out.rgb.float() + 1) / 2
        image = (rgb * out.mask + bg * (1 - out.mask)).clamp(0, 1)
        mask = out.mask.float()
        if cameras.width != size:
            image = F.interpolate(image, size=(cameras.height, cameras.width), mode="bilinear", align_corners=False, antialias=True)
            mask = F.interpolate(mask, size=(cameras.height, cameras.width), mode="bilinear", align_corners=False, antialias=True)
        return AvatarFrames(image=image.clamp(0, 1), mask=mask.clamp(0, 1))

    def motion_cameras(self, motion, cameras: CameraSpec, size: int | None = None) -> Camera:
        """Cameras for :meth:`render_video`: a :class:`Camera` (batch T or 1) as given, or ``front`` (one
        static camera) / ``turntable`` (one revolution over the motion) framing the body over the whole
        motion (its extent measured on at most 64 evenly spaced frames, with a 10 % margin)."""
        if isinstance(cameras, Camera):
            return cameras
        if cameras not in ("front", "turntable"):
            raise ValueError(f"cameras must be a Camera, 'front' or 'turntable', got {cameras!r}")
        model, body = self.model, self.body
        T = motion.num_frames
        frames = torch.linspace(0, T - 1, min(T, 64)).round().long()  # framing needs the extent, not every frame
        with torch.no_grad():
            device = self.device
            verts = body(pose=motion.pose[frames].to(device).float(), shape=self.shape.to(device)[None].expand(len(frames), -1),
                         global_orient=motion.global_orient[frames].to(device).float(),
                         transl=motion.transl[frames].to(device).float()).vertices
        n = 1 if cameras == "front" else T
        return framing_cameras(verts, n, size or model.config.image_size, up=body.up_axis, front=body.front_axis)

    def render_video(
        self,
        motion,  # dinar.motion.core.Motion
        cameras: CameraSpec,
        path: str | Path,
        fps: float | None = None,
        batch_size: int = 16,
        frames_dir: str | Path | None = None,
        background: Sequence[float] | float = 1.0,
        progress: bool = False,
    ) -> Path:
        """Render ``motion`` frame by frame and write an MP4 (H.264, yuv420p, atomic) at ``fps``
        (default: the motion's), and each frame as ``frames_dir/frame_NNNNN.png`` when given."""
        from tqdm import tqdm

        from dinar.images import write_png

        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401 (the FFMPEG writer's binary)
        except ImportError as err:
            raise ImportError("render_video needs imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg") from err

        if motion.body_model != self.body_model:
            raise ValueError(f"motion {motion.name!r} is for body model {motion.body_model!r}, the avatar for {self.body_model!r}")
        T = motion.num_frames
        camera = self.motion_cameras(motion, cameras)
        if camera.batch_size not in (1, T):
            raise ValueError(f"{camera.batch_size} cameras for a motion of {T} frames (give 1 or {T})")
        fps = float(fps or motion.fps)
        path = Path(path)
        frames_dir = Path(frames_dir) if frames_dir is not None else None
        with atomic_path(path) as tmp:
            writer = imageio.get_writer(str(tmp), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                        pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error")
            try:
                for start in tqdm(range(0, T, batch_size), desc="render", disable=None if progress else True):
                    sl = slice(start, min(T, start + batch_size))
                    cams = camera if camera.batch_size == 1 else camera[sl]
                    frames = self.render(motion.pose[sl], cams, motion.global_orient[sl], motion.transl[sl], background).to_uint8()
                    for i, frame in enumerate(frames):
                        writer.append_data(frame)
                        if frames_dir is not None:
                            write_png(frames_dir / f"frame_{start + i:05d}.png", frame)
            finally:
                writer.close()
        return path


# ---------------------------------------------------------------------------------------------------
# Reading and checking a file
# ---------------------------------------------------------------------------------------------------
def _read_avatar(path: Path) -> Avatar:
    from safetensors import SafetensorError, safe_open

    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an avatar file; give the .avatar file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such avatar file")
    fix = "make the avatar again (dinar.pipeline) or restore the file"
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            names = sorted(f.keys())
            tensors = {k: f.get_tensor(k) for k in names}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or corrupt ({err}); {fix}") from err
    fmt = meta.get("format")
    if fmt != AVATAR_FORMAT:
        if isinstance(fmt, str) and fmt.startswith("dinar-avatar/"):
            raise ValueError(f"{path}: avatar format {fmt!r}, this dinar reads {AVATAR_FORMAT!r}; use the dinar version that wrote it or upgrade")
        raise ValueError(f"{path}: not a dinar avatar (format {fmt!r}, expected {AVATAR_FORMAT!r})")
    try:
        doc = json.loads(meta["avatar"])
        checkpoint = CheckpointIdentity.from_json(doc.pop("checkpoint"))
        body_model, atlas, texture_sha = str(doc.pop("body_model")), str(doc.pop("atlas")), str(doc.pop("texture_sha256"))
        shape_sha = doc.pop("shape_sha256", None)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: avatar metadata is incomplete or malformed ({type(err).__name__}: {err}); {fix}") from err
    if names != sorted(TENSOR_NAMES):
        raise ValueError(f"{path}: avatar tensors are {names}, expected {sorted(TENSOR_NAMES)}; {fix}")
    texture, shape = tensors["texture"], tensors["shape"]
    for name, t in tensors.items():
        if t.dtype != torch.float32:
            raise ValueError(f"{path}: tensor {name!r} is {t.dtype}, expected torch.float32; {fix}")
    if texture.dim() != 3 or texture.shape[0] != TEXTURE_CHANNELS or texture.shape[1] != texture.shape[2] or shape.dim() != 1:
        raise ValueError(f"{path}: texture {list(texture.shape)} / shape {list(shape.shape)}, expected "
                         f"[{TEXTURE_CHANNELS}, S, S] / [S]; {fix}")
    if tensor_sha256(texture) != texture_sha or (shape_sha is not None and tensor_sha256(shape) != shape_sha):
        raise ValueError(f"{path}: a tensor's SHA-256 does not match the one recorded when it was saved (corrupt file); {fix}")
    if not (torch.isfinite(texture).all() and torch.isfinite(shape).all()):
        raise ValueError(f"{path}: the avatar holds NaN or infinite numbers; {fix}")
    return Avatar(texture=texture, shape=shape, body_model=body_model, atlas=atlas, checkpoint=checkpoint, metadata=doc,
                  _source=path)
