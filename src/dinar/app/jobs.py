"""The web app's work, with the library doing every step; results cached.

::

    people   the checked photo → everyone BlazePose finds, numbered left to right, drawn as boxes
    make     1. the motion (built-in or uploaded) read and checked first, so a bad file costs nothing
             2. fit: the chosen person's mask, keypoints and body fit, and the fit overlay       [4.2]
             3. avatar: :class:`~dinar.pipeline.AvatarPipeline`, one progress step per paper step
             4. videos: a turntable and the motion, as MP4                                    (dinar render)
             5. the rigged GLB with the motion as its animation, and the ``.avatar`` file      (dinar export)

People are cached by the photo's SHA-256, fits by the photo and person, avatars by
:func:`~dinar.app.cache.result_key` of the photo(s), person, pipeline options and the model's identity,
and whole results by that and the motion: the same photo with the same choices is answered from the
cache at once, and another motion for the same avatar costs only its video and GLB. A result lives in
``results/<key>/`` of the :class:`~dinar.app.uploads.Workspace` under fixed names (never a user's).

One :class:`AvatarJobs` serves the whole app; the page runs ``make`` one at a time (the queue's
concurrency limit), so the pipeline and the fitter are never used by two threads at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dinar.app.cache import LruCache, result_key
from dinar.app.messages import MotionError
from dinar.app.uploads import CheckedPhoto, Workspace

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
"""``progress(fraction done in [0, 1], what runs now)``."""

BUILTIN_CHOICES = ("walk", "wave", "squat", "dance")
"""Built-in motions offered for the motion video and the GLB's animation (the turntable is always made)."""
MAX_MOTION_SECONDS = 8.0
"""An uploaded motion is cut to its first 8 s (at most 25 frames a second) so a long capture cannot hold the queue."""
MOTION_FPS = 25.0

_PIPELINE_STEPS = {  # AvatarPipeline's on_step names → (progress fraction, what the page says)
    "inputs": (0.30, "avatar: the photos at the model's size"),
    "partial_texture": (0.32, "avatar: partial texture of the photo, encoder and generator (paper 3.1)"),
    "rgb_tuning": (0.36, "avatar: RGB tuning with the renderer's gradients (appendix B)"),
    "merge": (0.46, "avatar: merging the photos (eq. 5)"),
    "inpainting": (0.47, "avatar: inpainting the unseen side with latent diffusion (3.3)"),
    "color_adjust": (0.58, "avatar: colour adjustment (eq. 7)"),
    "blend": (0.64, "avatar: keeping the photo's texels (eq. 6)"),
}


@dataclass(frozen=True)
class People:
    """Everyone found in a photo."""

    drawing: np.ndarray  # uint8 HxWx3: the photo with numbered boxes
    labels: list[str]  # "0", "1 (cut off: both knees)", ... left to right
    cut_off: list[list[str]]  # per person: what of the body is outside the photo ([] = whole)


@dataclass(frozen=True)
class FittedPhoto:
    """One person of a photo, ready for the pipeline."""

    image: np.ndarray  # uint8 [S, S, 3]: the square crop around the person
    mask: np.ndarray  # uint8 [S, S]
    fit: Any  # dinar.data.layout.FitParams, camera = the crop's
    overlay: np.ndarray  # uint8: detections | fitted body over the crop | the body from the side


@dataclass(frozen=True)
class AvatarRequest:
    """What the page asks for: a photo (+ the person), an optional back photo, a motion, the options."""

    photo: CheckedPhoto
    person: int | None = None  # None: the photo shows one person
    back: CheckedPhoto | None = None  # a second photo of the same person (multi-shot, paper 3.2)
    motion: str = "walk"  # a built-in name (BUILTIN_CHOICES) or an uploaded file in the workspace
    motion_sha256: str | None = None  # set for an uploaded file
    options: Any = None  # dinar.pipeline.PipelineOptions; None: the app's defaults (l2 RGB tuning)


@dataclass(frozen=True)
class AvatarResult:
    """Files of one avatar (``results/<key>/``) and how long each step took."""

    folder: Path
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    NAMES: ClassVar[dict[str, str]] = {"avatar": "avatar.avatar", "glb": "avatar.glb", "turntable": "turntable.mp4",
                                       "motion": "motion.mp4", "overlay": "fit_overlay.png"}  # fixed: never a user's name

    def path(self, name: str) -> Path:
        return self.folder / self.NAMES[name]

    def downloads(self) -> list[Path]:
        return [self.path(n) for n in ("avatar", "glb", "turntable", "motion")]

    def complete(self) -> bool:
        return all(self.path(n).is_file() for n in self.NAMES)


def default_options():
    """The app's pipeline options: the library's, with ``l2`` RGB tuning (best on real photos, README)."""
    from dinar.pipeline import PipelineOptions

    return PipelineOptions(rgb_tuning_loss="l2")


class AvatarJobs:
    """The model, the fitter and the caches of one app (module docstring)."""

    def __init__(self, pipeline, workspace: Workspace, cached_results: int = 16) -> None:
        from dinar.fitting.fitter import BodyFitter, FitConfig
        from dinar.fitting.photo_fit import library_prior

        self.pipeline = pipeline
        self.body = pipeline.body
        self.fitter = BodyFitter(self.body, FitConfig.preset("default"), prior_poses=library_prior(self.body))
        self.workspace = workspace
        self.people_cache: LruCache[People] = LruCache(64)
        self.fit_cache: LruCache[FittedPhoto] = LruCache(16)
        self.avatars: LruCache[Any] = LruCache(cached_results)  # bound Avatars (a 21-channel texture and a shape each)
        self.results: LruCache[AvatarResult] = LruCache(cached_results, on_evict=self._drop, valid=AvatarResult.complete)
        self._lock = threading.Lock()  # make() is serial even if the page's queue were not

    @classmethod
    def load(cls, workspace: Workspace, checkpoint: Path | None = None, device: str = "auto", cached_results: int = 16) -> AvatarJobs:
        """Jobs with the model of ``checkpoint`` (None: the shipped default model), loaded once here."""
        from dinar.pipeline import AvatarPipeline

        return cls(AvatarPipeline.from_pretrained(checkpoint, device=device), workspace, cached_results)

    # -- people -----------------------------------------------------------------------------------
    def people(self, photo: CheckedPhoto) -> People:
        """Everyone in ``photo`` (cached by its SHA-256). Raises NoPersonError when there is nobody, and
        BodyCutOffError when the only person is cut off (with several, each is marked in the list)."""
        found = self.people_cache.get(photo.sha256)
        if found is not None:
            return found
        from dinar.app.drawing import draw_people, person_label
        from dinar.fitting.detection import detect_people
        from dinar.fitting.observe import observe_person
        from dinar.fitting.photo import NoPersonError, load_photo

        image = load_photo(photo.path)
        detections = detect_people(image)
        if not detections:
            raise NoPersonError("no person found in the photo")
        if len(detections) == 1:
            observe_person(image)  # the checks of the fit (cut off, hidden torso) now, before the user waits for one
        boxes = [d.extent or d.box for d in detections]
        cut_off = [list(d.cut_off or []) for d in detections]
        found = People(draw_people(image.image, boxes, cut_off), [person_label(i, c) for i, c in enumerate(cut_off)], cut_off)
        self.people_cache.put(photo.sha256, found)
        return found

    # -- fit --------------------------------------------------------------------------------------
    def fit(self, photo: CheckedPhoto, person: int | None) -> FittedPhoto:
        """The person's crop, mask, body fit and overlay (cached by photo and person); raises the
        library's PhotoError subclasses (no person, several people, cut off, fit disagrees)."""
        key = f"{photo.sha256}:{person}"
        fitted = self.fit_cache.get(key)
        if fitted is not None:
            return fitted
        from dinar.data.photo_files import fit_record
        from dinar.fitting.photo_fit import fit_photo, overlay_image

        result = fit_photo(photo.path, person_index=person, fitter=self.fitter)
        obs = result.observation
        mask = (np.clip(obs.crop_mask(), 0, 1) * 255).round().astype(np.uint8)
        fitted = FittedPhoto(obs.crop_image(), mask, fit_record(result).fit, overlay_image(self.body, result))
        self.fit_cache.put(key, fitted)
        return fitted

    # -- the avatar -------------------------------------------------------------------------------
    def _avatar_parts(self, request: AvatarRequest) -> dict[str, Any]:
        options = request.options or default_options()
        return {"photo": request.photo.sha256, "person": request.person, "back": request.back.sha256 if request.back else None,
                "options": options.to_dict(), "model": self.pipeline.identity.to_json() | {"source": ""}}

    def key(self, request: AvatarRequest) -> str:
        """The cache key of ``request``'s result (module docstring)."""
        return result_key(self._avatar_parts(request) | {"motion": request.motion_sha256 or request.motion})

    def avatar(self, request: AvatarRequest, report: Progress):
        """The bound :class:`~dinar.avatar.Avatar` of ``request``'s photos, person and options, made (steps 2-3)
        or from the cache (another motion of the same avatar needs only new videos and a new GLB)."""
        key = result_key(self._avatar_parts(request))
        avatar = self.avatars.get(key)
        if avatar is not None:
            return avatar
        if request.back is not None:
            report(0.18, "fitting the back photo")
        photos = [self.fit(request.photo, request.person)] + ([self._fit_back(request.back)] if request.back is not None else [])
        options = request.options or default_options()
        avatar = self.pipeline([p.image for p in photos], [p.mask for p in photos], [p.fit for p in photos], options=options,
                               progress=False, on_step=lambda name: report(*_PIPELINE_STEPS.get(name, (0.5, f"avatar: {name}"))))
        self.avatars.put(key, avatar)
        return avatar

    def make(self, request: AvatarRequest, progress: Progress | None = None) -> AvatarResult:
        """Run the whole job for ``request`` (module docstring), or answer it from the cache."""
        report = progress or (lambda fraction, text: None)
        key = self.key(request)
        cached = self.results.get(key)
        if cached is not None:
            self._touch(cached)
            report(1.0, "done (from the cache)")
            return AvatarResult(cached.folder, cached.seconds, cached=True)
        with self._lock:
            cached = self.results.get(key)  # made by the request before this one
            if cached is not None:
                return AvatarResult(cached.folder, cached.seconds, cached=True)
            result = self._make(request, key, report)
        self.results.put(key, result)
        return result

    def _make(self, request: AvatarRequest, key: str, report: Progress) -> AvatarResult:
        from dinar.export.avatar_glb import avatar_rgb_texture
        from dinar.export.gltf import export_glb
        from dinar.images import write_png

        seconds: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[name] = round(now - clock, 2)
            clock = now

        # 1. The motion first: a file that cannot be read stops the job before any work.
        motion = self.motion(request)
        turntable = self._builtin("turntable")
        # 2. Fit the person (the back photo is fitted with the avatar, when it is not in the cache).
        report(0.02, "finding and fitting the person (mask, keypoints, body fit)")
        front = self.fit(request.photo, request.person)
        lap("fit")
        # 3. The avatar, one progress step per pipeline step.
        avatar = self.avatar(request, report)
        lap("avatar")
        folder = self.workspace.new_result_folder(key)
        result = AvatarResult(folder)
        write_png(result.path("overlay"), front.overlay)
        avatar.save(result.path("avatar"))
        # 4. Videos.
        report(0.66, "turntable video")
        avatar.render_video(turntable, "turntable", result.path("turntable"))
        report(0.80, f"{motion.name} video")
        avatar.render_video(motion, "front", result.path("motion"))
        lap("videos")
        # 5. The rigged GLB with the motion as its animation.
        report(0.94, "rigged GLB")
        export_glb(self.body, avatar.shape, avatar_rgb_texture(avatar, 4), result.path("glb"), face_uvs=avatar.model.face_uvs,
                   motion=motion, name="dinar avatar")
        lap("glb")
        report(1.0, "done")
        return AvatarResult(folder, seconds)

    def _fit_back(self, back: CheckedPhoto) -> FittedPhoto:
        """The back photo's fit; its refusals name it (it must show the same person alone)."""
        from dinar.app.messages import page_message
        from dinar.app.uploads import UploadError
        from dinar.fitting.photo import PhotoError, SeveralPeopleError

        try:
            return self.fit(back, None)
        except SeveralPeopleError as err:
            raise UploadError(f"the back photo shows {err.count} people: give one of the same person alone") from None
        except PhotoError as err:
            raise UploadError(f"the back photo: {page_message(err)}") from None

    # -- motions ----------------------------------------------------------------------------------
    def motion(self, request: AvatarRequest):
        """The request's motion for this body: a built-in, or the uploaded file read (no pickle), cut to
        :data:`MAX_MOTION_SECONDS` at most :data:`MOTION_FPS`; a file that cannot be read is a MotionError."""
        if request.motion_sha256 is None:
            if request.motion not in BUILTIN_CHOICES:
                raise MotionError(f"unknown motion {request.motion!r}: choose one of {', '.join(BUILTIN_CHOICES)} or upload a file")
            return self._builtin(request.motion)
        from dinar.motion import load_motion
        from dinar.motion.core import Motion, resample_motion

        try:
            motion = load_motion(request.motion, self.body)
            if motion.fps > MOTION_FPS + 1e-6:
                motion = resample_motion(motion, MOTION_FPS)
        except (ValueError, KeyError, OSError, IndexError, EOFError) as err:
            raise MotionError(f"the motion file could not be read: {err}") from None
        frames = min(motion.num_frames, max(1, int(MAX_MOTION_SECONDS * motion.fps)))
        return Motion(motion.pose[:frames], motion.global_orient[:frames], motion.transl[:frames], motion.fps,
                      "uploaded motion", motion.body_model)

    def _builtin(self, name: str):
        from dinar.motion import load_motion

        return load_motion(f"builtin:{name}", self.body)

    # -- files ------------------------------------------------------------------------------------
    @staticmethod
    def _touch(result: AvatarResult) -> None:
        """A result used again is young again: the sweeper keeps it another full period."""
        try:
            result.folder.touch()
        except OSError:
            pass

    @staticmethod
    def _drop(result: AvatarResult) -> None:
        import shutil

        shutil.rmtree(result.folder, ignore_errors=True)
