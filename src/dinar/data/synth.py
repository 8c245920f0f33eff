"""Synthetic people: clothed Anny bodies from many views and poses, with exact ground truth.

``dinar data synth --people N --poses P --views V --size S --seed K -o DIR`` writes N people x P
poses x V views in the layout of :mod:`dinar.data.layout`, a ``splits.json``, and a dataset card
(``README.md`` with the command, the counts and a contact sheet of people x views).

Per person (all of it decided by ``numpy.random.default_rng([seed, person_index])``, so a person
does not depend on how many people or workers there are):

1. shape: Anny's calibrated phenotype distribution (adults by default, all ages on request);
2. look: :func:`dinar.data.appearance.sample_appearance`, painted once on the UV atlas;
3. per pose: a library pose with random perturbation (:mod:`dinar.body.poses`), a random heading,
   one light; the clothed geometry (:mod:`dinar.data.render_gt`); V cameras around the person;
4. per image: the RGB and mask, and the fit the model will be given — exact, or with noise that
   imitates a body fitter's error (:class:`FitNoise`, drawn from a separate stream so the images are
   identical whatever the noise): each image's own error (a single photo's fit), or with ``noise_shared``
   one body error per pose that all its views share, cameras exact (a calibrated capture's fit).

Determinism: each person is rendered with one torch thread, so the same seed gives byte-identical
files whatever ``--workers`` is.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import roma
import torch
from torch import Tensor

from dinar.body.poses import sample_poses
from dinar.data.appearance import (
    Appearance,
    bare_torso,
    plain_clothes,
    sample_appearance,
    with_cap,
    with_front_hair,
)
from dinar.data.layout import (
    FitParams,
    ImageRecord,
    image_stem,
    write_json,
    write_png,
    write_sample,
)
from dinar.data.looks import LOOKS, option_name
from dinar.data.render_gt import (
    clothed_mesh,
    plan_shells,
    render_clothed,
    sample_lighting,
    sample_views,
    skirt_texture,
)
from dinar.data.texture_bake import bake_person_texture
from dinar.geometry.camera import Camera

logger = logging.getLogger(__name__)

SPLITS = (("train", 80), ("val", 10), ("test", 10))  # percent of person ids, by hash


@dataclass(frozen=True)
class FitNoise:
    """Standard deviations of the error added to the fits the model sees (a body fitter's error).

    ``--noise s`` scales :meth:`default` by ``s`` (``s = 1`` is a fair fitter on clean photos).
    """

    pose: float = 0.0  # radians, per axis, on the body's main bones
    global_orient: float = 0.0  # radians, per axis
    transl: float = 0.0  # metres, per axis
    shape: float = 0.0  # phenotype units (clipped to [0, 1])
    focal: float = 0.0  # relative focal-length error
    camera_rotation: float = 0.0  # radians, per axis

    @classmethod
    def default(cls, scale: float = 1.0) -> FitNoise:
        return cls(pose=0.08 * scale, global_orient=0.03 * scale, transl=0.02 * scale, shape=0.05 * scale, focal=0.03 * scale, camera_rotation=0.01 * scale)

    @property
    def is_zero(self) -> bool:
        return all(v == 0 for v in asdict(self).values())


# Bones a body fitter gets wrong; fingers and toes are left exact (Anny's fits rarely touch them).
NOISY_BONES = (
    "spine01", "spine02", "spine03", "neck01", "head", "clavicle.L", "clavicle.R",
    "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
    "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R",
)


@dataclass(frozen=True)
class SynthConfig:
    """What ``dinar data synth`` makes."""

    people: int = 4
    poses: int = 2
    views: int = 8
    size: int = 512
    seed: int = 0
    noise: FitNoise = field(default_factory=FitNoise)
    noise_shared: bool = False  # one body error per pose for all its views, cameras exact (a calibrated capture's fit)
    all_ages: bool = False
    texture_size: int = 0  # 0: chosen from the image size (2 x size, 256 ... 1024)
    supersample: int = 2
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pose_perturbation: float = 1.0
    body_model: str = "anny"
    bare_torso: float = 0.0  # share of the male bodies without a top (its own random stream: nothing else changes)
    cap: float = 0.0  # share of the people in a close-fitting cap (its own random stream: nothing else changes)
    plain: float = 0.0  # share of the people in plain clothes (its own random stream: nothing else changes)
    long_hair_front: float = 0.0  # share of the long-haired people whose hair shows at the front (own stream, as above)

    def __post_init__(self) -> None:
        for name in LOOKS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a share in 0..1, got {getattr(self, name)}")

    def resolved_texture_size(self) -> int:
        return self.texture_size or int(min(1024, max(256, 2 ** math.ceil(math.log2(2 * self.size)))))


def person_id(seed: int, index: int) -> str:
    return f"s{seed}p{index:05d}"


def split_of(pid: str) -> str:
    """The fixed split of a person id: the first bytes of its SHA-256, 80 / 10 / 10 percent."""
    bucket = int.from_bytes(hashlib.sha256(pid.encode()).digest()[:4], "big") % 100
    for name, percent in SPLITS:
        if bucket < percent:
            return name
        bucket -= percent
    return SPLITS[-1][0]


# Shapes ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _shape_distribution():
    from anny.shape_distribution import SimpleShapeDistribution

    from dinar.body.anny_body import _build_anny

    return SimpleShapeDistribution(_build_anny())


def sample_shape(shape_names: list[str], rng: np.random.Generator, all_ages: bool = False) -> Tensor:
    """Anny phenotypes ``[S]`` from its calibrated distribution (WHO height-for-age), drawn with ``rng``.

    Adults (morphological age 18-75) by default; ``all_ages`` draws 1-90.
    """
    dist = _shape_distribution()
    morph_age = rng.uniform(1.0, 90.0) if all_ages else rng.uniform(18.0, 75.0)
    age = dist.morphological_age_mapping.morphological_to_anny_age(torch.tensor([morph_age], dtype=torch.float32))
    gender = rng.uniform(0.0, 1.0)
    values = {"age": float(age[0]), "gender": gender}
    for key in ("height", "weight", "muscle", "proportions"):
        cond = getattr(dist, f"{'boys' if gender <= 0.5 else 'girls'}_conditional_{key}_distribution")
        alpha, beta = cond.get_distribution_params(age)
        values[key] = float(rng.beta(float(alpha[0]), float(beta[0])))
    return torch.tensor([min(max(values.get(n, 0.5), 0.0), 1.0) for n in shape_names], dtype=torch.float32)


MALE_BODY = 0.25
"""Anny's ``gender`` phenotype at or below which a body is male enough to go without a top (0 male, 1 female; from
about 0.4 the chest has breasts)."""


def _male_body(shape_names: list[str], shape: Tensor) -> bool:
    """Whether phenotypes ``shape`` ([S], named by ``shape_names``) make a male body (see :data:`MALE_BODY`)."""
    return "gender" in shape_names and float(shape[shape_names.index("gender")]) <= MALE_BODY


def bares_torso(cfg: SynthConfig, shape_names: list[str], shape: Tensor, index: int) -> bool:
    """Whether person ``index`` of ``cfg``, of phenotypes ``shape``, goes without a top: a male body whose own draw
    (random stream ``[seed, index, 2]``, so no other person's files change) is below ``cfg.bare_torso``."""
    return cfg.bare_torso > 0 and _male_body(shape_names, shape) and np.random.default_rng([cfg.seed, index, 2]).random() < cfg.bare_torso


def sampled_person(cfg: SynthConfig, shape_names: list[str], index: int) -> tuple[np.random.Generator, Tensor, Appearance]:
    """Person ``index``'s own random stream (``[seed, index]``) after it drew the phenotypes and the look, the
    phenotypes ``[S]`` and the look as sampled (before the optional looks): what :func:`render_person` starts from."""
    rng = np.random.default_rng([cfg.seed, index])
    shape = sample_shape(shape_names, rng, cfg.all_ages)
    return rng, shape, sample_appearance(rng)


def person_bares_torso(cfg: SynthConfig, shape_names: list[str], index: int) -> bool:
    """:func:`bares_torso` for person ``index`` of ``cfg``, its phenotypes drawn as :func:`render_person` draws them."""
    return bares_torso(cfg, shape_names, sampled_person(cfg, shape_names, index)[1], index)


def cap_stream(cfg: SynthConfig, index: int) -> np.random.Generator | None:
    """Person ``index``'s own cap stream (``[seed, index, 3]``, so no other person's files change) after its draw, which
    is below ``cfg.cap`` for a person in a cap; None for a person without one. The stream then draws the cap's colour."""
    rng = np.random.default_rng([cfg.seed, index, 3])
    return rng if cfg.cap > 0 and rng.random() < cfg.cap else None


def wears_plain(cfg: SynthConfig, index: int) -> bool:
    """Whether person ``index`` of ``cfg`` is in plain clothes: its own draw (random stream ``[seed, index, 4]``, so no
    other person's files change) is below ``cfg.plain``."""
    return cfg.plain > 0 and np.random.default_rng([cfg.seed, index, 4]).random() < cfg.plain


def shows_front_hair(cfg: SynthConfig, app: Appearance, index: int) -> bool:
    """Whether person ``index`` of ``cfg``, of look ``app``, has long hair that falls over the front of the shoulders
    too (:func:`~dinar.data.appearance.with_front_hair`): long hair and its own draw (random stream ``[seed, index, 5]``,
    so no other person's files change) below ``cfg.long_hair_front``."""
    return cfg.long_hair_front > 0 and app.hair_style == "long" and np.random.default_rng([cfg.seed, index, 5]).random() < cfg.long_hair_front


# Fits -----------------------------------------------------------------------------------------
def noisy_fit(exact: FitParams, noise: FitNoise, bone_names: list[str], rng: np.random.Generator) -> FitParams:
    """``exact`` with Gaussian errors of the given standard deviations (composed as rotations)."""
    if noise.is_zero:
        return exact

    def turn(rotvec: Tensor, sigma: float) -> Tensor:
        delta = torch.tensor(rng.normal(0.0, sigma, rotvec.shape), dtype=torch.float32)
        return roma.rotmat_to_rotvec(roma.rotvec_to_rotmat(delta) @ roma.rotvec_to_rotmat(rotvec))

    pose = exact.pose.clone()
    idx = [bone_names.index(b) for b in NOISY_BONES if b in bone_names]
    pose[idx] = turn(pose[idx], noise.pose)
    shape = (exact.shape + torch.tensor(rng.normal(0.0, noise.shape, exact.shape.shape), dtype=torch.float32)).clamp(0, 1)
    orient = turn(exact.global_orient, noise.global_orient)
    transl = exact.transl + torch.tensor(rng.normal(0.0, noise.transl, 3), dtype=torch.float32)
    cam = exact.camera
    K = cam.K.clone()
    K[:, [0, 1], [0, 1]] *= float(1.0 + rng.normal(0.0, noise.focal))
    R = roma.rotvec_to_rotmat(torch.tensor(rng.normal(0.0, noise.camera_rotation, (1, 3)), dtype=torch.float32)) @ cam.R
    camera = Camera(K=K, R=R, t=cam.t.clone(), width=cam.width, height=cam.height)
    return FitParams(pose=pose, shape=shape, global_orient=orient, transl=transl, camera=camera)


def shared_fit(pose: Tensor, shape: Tensor, orient: Tensor, camera: Camera, cfg: SynthConfig, bone_names: list[str],
               rng: np.random.Generator) -> FitParams:
    """The one body a calibrated multi-camera capture fits to all views of a pose (:mod:`dinar.data.capture`):
    ``cfg.noise``'s body errors drawn once, its camera errors left out (the cameras are calibrated). Each view takes it
    with its own exact camera, so a back view renders the input view's misfit where it falls, as on a real capture."""
    body_only = replace(cfg.noise, focal=0.0, camera_rotation=0.0)
    exact = FitParams(pose=pose, shape=shape, global_orient=orient, transl=torch.zeros(3), camera=camera)
    return noisy_fit(exact, body_only, bone_names, rng)


# One person -----------------------------------------------------------------------------------
@dataclass
class RenderedImage:
    stem: str
    rgb: np.ndarray  # [H, W, 3] uint8
    mask: np.ndarray  # [H, W] uint8
    record: ImageRecord


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread (byte-stable results whatever the worker count), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _lower_body_mask(body) -> Tensor:
    names = body.parts.names
    keep = [i for i, n in enumerate(names) if n.split(".")[0] in ("torso", "upperleg", "lowerleg")]
    return torch.isin(body.parts.labels.cpu(), torch.tensor(keep))


@torch.no_grad()
def render_person(body, cfg: SynthConfig, index: int) -> Iterator[RenderedImage]:
    """All P x V images of person ``index`` (pose-major order)."""
    noise_rng = np.random.default_rng([cfg.seed, index, 1])
    pid = person_id(cfg.seed, index)
    names = body.skeleton.names

    # 1. body shape and look
    rng, shape, app = sampled_person(cfg, body.shape_names, index)
    if bares_torso(cfg, body.shape_names, shape, index):
        app = bare_torso(app)
    if (cap := cap_stream(cfg, index)) is not None:
        app = with_cap(app, cap)
    if wears_plain(cfg, index):
        app = plain_clothes(app)
    if shows_front_hair(cfg, app, index):
        app = with_front_hair(app)
    rest = body(shape=shape[None])
    person = bake_person_texture(body, app, rest.vertices[0], rest.normals[0], rest.joints[0], cfg.resolved_texture_size())
    plan = plan_shells(body.faces.cpu(), person, app, rng)
    textures = [person.texture, skirt_texture(app) if plan.skirt else torch.zeros(1, 3, 2, 2)]
    lower_body = _lower_body_mask(body)
    pose_names, poses = sample_poses(cfg.poses, names, rng, cfg.pose_perturbation)

    for p in range(cfg.poses):
        # 2. pose, heading and light
        yaw = float(rng.uniform(-math.pi, math.pi))
        orient = torch.tensor([0.0, 0.0, yaw])
        out = body(pose=poses[p : p + 1], shape=shape[None])
        mesh = clothed_mesh(body.faces.cpu(), body.face_uvs.cpu(), out.vertices[0], out.normals[0], plan, lower_body)
        R = roma.rotvec_to_rotmat(orient)
        world = mesh.rotated(R)
        light = sample_lighting(rng)
        # view 0 faces the person: the subject looks along R @ (0, -1, 0)
        cameras = sample_views(world.vertices, cfg.views, front_azimuth=yaw, size=cfg.size, rng=rng)
        # 3. images and fits
        shared = shared_fit(poses[p], shape, orient, cameras[0], cfg, names, noise_rng) if cfg.noise_shared else None
        for v in range(cfg.views):
            cam = cameras[v]
            rgb, mask = render_clothed(world, textures, cam, light, cfg.background, cfg.supersample)
            exact = FitParams(pose=poses[p], shape=shape, global_orient=orient, transl=torch.zeros(3), camera=cam)
            fit = noisy_fit(exact, cfg.noise, names, noise_rng) if shared is None else replace(shared, camera=cam)
            record = ImageRecord(
                body_model=cfg.body_model, person_id=pid, pose_id=p, view=v, fit=fit,
                exact=None if fit is exact else exact, extra={"pose_name": pose_names[p]},
            )
            yield RenderedImage(image_stem(p, v), rgb, mask, record)


_WORKER: dict = {}


def _worker_body():
    """The body model, loaded once per process on one torch thread; the caller's thread count is left as it was
    (a benchmark that generates its test set in-process goes on with all its threads)."""
    if "body" not in _WORKER:
        from dinar.body import load_body_model

        with single_thread():
            _WORKER["body"] = load_body_model()
    return _WORKER["body"]


def write_person(cfg: SynthConfig, index: int, out_dir: str, thumb: int = 128) -> dict:
    """Render and write person ``index``; returns its summary and thumbnails of its first pose's views."""
    body = _worker_body()
    pid = person_id(cfg.seed, index)
    thumbs = []
    with single_thread():
        for img in render_person(body, cfg, index):
            write_sample(Path(out_dir) / pid, img.stem, img.rgb, img.mask, img.record)
            if img.record.pose_id == 0:
                from PIL import Image

                thumbs.append(np.asarray(Image.fromarray(img.rgb).resize((thumb, thumb), Image.BILINEAR)))
    _, shape, app = sampled_person(cfg, body.shape_names, index)  # the draws render_person started from, for the card
    return {"person_id": pid, "split": split_of(pid), "thumbs": thumbs, "bare_torso": bares_torso(cfg, body.shape_names, shape, index),
            "cap": cap_stream(cfg, index) is not None, "plain": wears_plain(cfg, index),
            "long_hair_front": shows_front_hair(cfg, app, index)}


# The dataset ----------------------------------------------------------------------------------
def contact_sheet(thumbs: list[list[np.ndarray]], max_people: int = 8, max_views: int = 8) -> np.ndarray:
    """People (rows) x views (columns) of thumbnails, uint8."""
    rows = []
    for person in thumbs[:max_people]:
        row = list(person[:max_views])
        while len(row) < min(max_views, max(len(p) for p in thumbs)):
            row.append(np.full_like(person[0], 255))
        rows.append(np.concatenate(row, 1))
    return np.concatenate(rows, 0)


def generate(cfg: SynthConfig, out_dir: str | Path, workers: int = 1, command: str | None = None, progress: bool = True) -> dict:
    """Write the dataset of ``cfg`` to ``out_dir``; returns the summary written into the card."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: list[dict] = []
    indices = list(range(cfg.people))
    bar = tqdm(total=cfg.people * cfg.poses * cfg.views, unit="img", desc="synth", disable=None if progress else True)
    workers = max(1, min(workers, cfg.people))
    if workers == 1:
        for i in indices:
            results.append(write_person(cfg, i, str(out_dir)))
            bar.update(cfg.poses * cfg.views)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(write_person, [cfg] * len(indices), indices, [str(out_dir)] * len(indices)):
                results.append(res)
                bar.update(cfg.poses * cfg.views)
    bar.close()
    elapsed = time.perf_counter() - start
    splits = {name: sorted(r["person_id"] for r in results if r["split"] == name) for name, _ in SPLITS}
    write_json(out_dir / "splits.json", splits)
    write_png(out_dir / "contact_sheet.png", contact_sheet([r["thumbs"] for r in results]))
    summary = {
        "people": cfg.people, "poses": cfg.poses, "views": cfg.views, "images": cfg.people * cfg.poses * cfg.views,
        "size": cfg.size, "seed": cfg.seed, "splits": {k: len(v) for k, v in splits.items()},
        "seconds": round(elapsed, 1), "images_per_s": round(cfg.people * cfg.poses * cfg.views / max(elapsed, 1e-9), 2),
    }
    for look in LOOKS:
        if getattr(cfg, look):
            summary[look] = sorted(r["person_id"] for r in results if r[look])
    write_card(out_dir, cfg, summary, command)
    return summary


def default_command(cfg: SynthConfig) -> str:
    """The ``dinar data synth`` options that reproduce ``cfg`` (output folder left out)."""
    parts = [f"--{k} {v}" for k, v in (("people", cfg.people), ("poses", cfg.poses), ("views", cfg.views), ("size", cfg.size), ("seed", cfg.seed))]
    default_noise = FitNoise.default(1.0)
    if not cfg.noise.is_zero and default_noise.pose > 0:
        parts.append(f"--noise {cfg.noise.pose / default_noise.pose:g}")
        if cfg.noise_shared:
            parts.append("--noise-shared")
    if cfg.all_ages:
        parts.append("--all-ages")
    parts += [f"{option_name(look)} {getattr(cfg, look):g}" for look in LOOKS if getattr(cfg, look)]
    if cfg.supersample != 2:
        parts.append(f"--supersample {cfg.supersample}")
    return "dinar data synth " + " ".join(parts)


def write_card(out_dir: Path, cfg: SynthConfig, summary: dict, command: str | None) -> None:
    """The dataset card: README.md with the command, counts, layout and contact sheet (no timings: byte-stable)."""
    noise = asdict(cfg.noise)
    lines = [
        "# Synthetic people (dinar)",
        "",
        "Made offline by `dinar data synth`: clothed Anny bodies (procedural garments with prints that differ",
        "front and back, hair and loose garments as extra geometry), rendered with exact ground truth.",
        "",
        "Command:",
        "",
        "```",
        command or default_command(cfg),
        "```",
        "",
        f"- people: {cfg.people} (train {summary['splits']['train']}, val {summary['splits']['val']}, test {summary['splits']['test']}; split by SHA-256 of the person id, see `splits.json`)",
        f"- poses per person: {cfg.poses}; views per pose: {cfg.views}; images: {summary['images']} at {cfg.size} x {cfg.size}",
        f"- ages: {'all (1-90)' if cfg.all_ages else 'adults (18-75)'}; body model: {cfg.body_model}; seed: {cfg.seed}",
        *(f"- {look.title}: a share {getattr(cfg, name):g} {look.whom}: {len(summary[name])}"
          + (f" ({', '.join(summary[name])})" if summary[name] else "") for name, look in LOOKS.items() if getattr(cfg, name)),
        f"- fit noise (standard deviations): {', '.join(f'{k} {v:g}' for k, v in noise.items())}"
        + (" (exact fits)" if cfg.noise.is_zero else " (the exact values are under `exact` in each parameter file)")
        + ("; one body error per pose shared by its views, cameras exact" if cfg.noise_shared and not cfg.noise.is_zero else ""),
        f"- background: RGB {tuple(round(c, 3) for c in cfg.background)}; texture {cfg.resolved_texture_size()}^2; supersampling {cfg.supersample}x",
        "",
        "Layout: `<person_id>/rgb/<stem>.png`, `<person_id>/segm/<stem>.png` (mask, 0-255),",
        "`<person_id>/params/<stem>.json` (body model, pose as axis-angle per bone, shape, global_orient,",
        "transl, camera K/R/t in the OpenCV convention); stems are `pose<P>_view<V>`, view 0 faces the person.",
        "",
        "Contact sheet (people x views of their first pose):",
        "",
        "![contact sheet](contact_sheet.png)",
        "",
    ]
    with_path = out_dir / "README.md"
    from dinar.utils import atomic_path

    with atomic_path(with_path) as tmp:
        tmp.write_text("\n".join(lines))
