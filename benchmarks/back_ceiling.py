"""What bounds the back: back-view LPIPS / DISTS / KID when the unseen texels come from each simple fill,
from the diffusion, and from the TRUE back (at full size, at the VQ's size, and through a VQ), on the
first people of the held-out set of ``benchmarks/quality.py`` (seed 77; ``--seed`` for other fresh people;
``--bare-torso SHARE [--bare-only]`` for that share of its male bodies bare-chested, or only those; ``--cap SHARE``
for that share of its people in a close-fitting cap; ``--plain SHARE`` in plain clothes; ``--long-hair-front SHARE``
that share of its long-haired people with the hair showing at the front).

A screening, cheaper than ``dinar eval --ablations``: each person's RGB-tuned partial texture (front
view) is made once, and so is the true back's (the exact back view, sampled and RGB-tuned the same way);
then every source fills the unseen texels' T_rgb (T_gen stays the generator's, as the pipeline's
default keeps it), is colour-adjusted (eq. 7), blended (eq. 6), rendered in the back view and scored
against it as ``dinar eval`` scores (person region = union of both masks, over white; KID over the
people's back views). The sources:

- ``mean`` / ``mirror`` / ``nearest`` / ``nearest_part``: the simple fills (:mod:`dinar.texture.fills`);
- ``diffusion``: the model's inpainting with the pipeline's default options (its colour mix and fill detail too: the
  full method); ``diffusion_direct``: the
  same with the VQ decoder's output taken as it is (``diffusion_residual=False``); ``diffusion:<name>``
  (and its ``_direct``): another inpainter (``--diffusion``), in the model's VQ latent or in ``rgb`` space;
  ``<inpainting>@K`` (``--diffusion-samples K``): the mean of K of its samples; ``diffusion~<inpainting>x<W>``
  (``--blend W``): W times the shipped inpainting's colours plus 1 − W times another's; ``<fill>~<inpainting>x<W>``
  (``--blend W:FILL``): W times a simple fill's colours instead (the inpainting shrunk towards the fill);
  ``diffusion{K=V,…}`` (``--levers K=V,…``): the shipped inpainting (the same samples) composed with other values
  of the default's fill levers (``mix_share=0.5,detail_share=0.4``: the ``diffusion_`` options of
  :class:`dinar.pipeline.options.PipelineOptions` above the inpainting, named without their prefix);
- ``true``: the true back's T_rgb where the back view sees it (the mean fill elsewhere): no inpainting
  can do better at this texture size;
- ``true_band<N>``: only what an N² texture holds of it (N: ``--bands``, default the VQ's size), added to
  the mean fill as the default adds the diffusion's change (a perfect inpainting at that size);
- ``true_vq`` (and ``true_vq:<run>`` per ``--vq``): the true back through a VQ, added the same way, a
  perfect diffusion sample in that VQ's latent: what its VQ lets any diffusion reach; ``…_direct``: the
  VQ decoder's output of the true back taken as it is;
- ``<source>|<fill><N>`` (``--detail FILL:N``, for ``mean`` and each diffusion source): the source's
  colours below the N² band and the fill's detail above it, ``low_N(source) + fill − low_N(fill)`` (low_N:
  the N² block means grown back bilinearly): whether a fill's fine detail on the diffusion's colours
  beats both; ``--detail FILL:N:A`` (name ``<source>|<fill><N>x<A>``) adds A times the detail, and
  ``FILL:N:A:grey`` (a trailing ``g``) only its luminance, ``FILL:N:A:nohead`` (``h``) none on the head; FILL may also be an inpainting (``diffusion``,
  ``diffusion:<name>``), and several parts joined by ``+`` add their details (``diffusion:16:0.5+nearest:16:0.5``,
  name ``<source>|diffusion16x0.5+nearest16x0.5``);
- ``<source>|border<R>`` (``--border R``, for ``mean`` and each diffusion source): the nearest fill at the seen
  texels' border, fading linearly into the source over R (rest-pose surface distance): whether the nearest
  fill's win is its continuation of what the photo shows at the border.

Every source is a whole restored texture: the ones built from the true back or a VQ take T_gen and both masks
from the mean fill (every chart texel sampled and known, as the diffusion's and each fill's), for the renderer
reads the masks; with the photo's masks (unseen texels never sampled) their backs render darker.

Usage: python benchmarks/back_ceiling.py [--checkpoint MODEL_DIR] [--vq VQ_RUN ...] [--diffusion RUN ...]
       [--people 8] [--seed 77] [--bands N ...] [--sources NAME ...] [--diffusion-steps M] [--diffusion-strength S]
       [--diffusion-guidance W] [--diffusion-samples K ...] [--levers K=V[,K=V…] ...]
       [--diffusion-start mean|mirror|nearest|nearest_part] [--detail FILL:N[:A[:grey|nohead]][+…] ...] [--border R ...]
       [--data DIR] [--device auto] [--sheet PATH]
The last line printed is JSON: {"bench": "back_ceiling", "people": ..., "sources": {name: {"lpips": ...,
"dists": ..., "kid": ...}}, "seconds": ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from quality import (  # the held-out set, made once and shared with quality.py
    add_fit_noise_option,
    default_test_folder,
    fit_noise,
    noise_scale,
    test_set,
)
from torch import Tensor

from dinar.data.looks import add_look_options, look_shares
from dinar.data.synth import SynthConfig, person_bares_torso
from dinar.eval.kid import extract_features, inception_network, kid_from_features
from dinar.eval.metrics import compute_metrics, person_region
from dinar.eval.people import PersonViews, load_person
from dinar.pipeline import AvatarPipeline
from dinar.pipeline.blending import blend_known
from dinar.pipeline.color_adjust import apply_color_adjustment
from dinar.pipeline.inpainting import restore_texture
from dinar.pipeline.options import FILL_LEVERS, PipelineOptions
from dinar.pipeline.partial import partial_texture, with_occlusion
from dinar.texture.bands import with_details
from dinar.texture.channels import RGB
from dinar.texture.fills import FILLS, fill_texture
from dinar.texture.resize import grow_texture, shrink_texture
from dinar.weights.networks import load_inpainter, load_vq


@torch.no_grad()
def through_vq(vq, texture: Tensor) -> Tensor:
    """D(E(T)) of a texture at the VQ's size (the latent snapped to the codebook)."""
    return vq(texture).texture


def rgb_from(filled: Tensor, source: Tensor) -> Tensor:
    """``filled`` (a simple fill: every chart texel marked sampled and known, B_smp = B_fill = 1, as in any restored
    texture; the renderer reads both masks) with the T_rgb of ``source``: the unseen texels' colours from
    elsewhere, T_gen kept."""
    out = filled.clone()
    out[:, RGB] = source[:, RGB]
    return out


Detail = tuple[tuple[str, int, float, str], ...]
"""One ``--detail``: its parts (source, band size N, share A, kind), summed on a base's N² band."""
DETAIL_KINDS = {"": "", "grey": "g", "nohead": "h"}
"""A detail part's kind → its name suffix: all of it, its luminance alone, none on the head."""


def detail_name(fill: str, size: int, amount: float, kind: str = "") -> str:
    """The source-name suffix of one part of a ``--detail``: ``nearest16``, ``nearest16x0.5`` for a part of the
    detail, a trailing ``g`` for its luminance alone, ``h`` for none on the head; the parts of a mix are joined by
    ``+``."""
    return (f"{fill}{size}" if amount == 1.0 else f"{fill}{size}x{amount:g}") + DETAIL_KINDS[kind]


Levers = tuple[tuple[str, object], ...]
"""One ``--levers``: (PipelineOptions field, value) pairs that replace the options' above the shipped inpainting."""
LEVER_PREFIX = "diffusion_"


def levers_name(levers: Levers) -> str:
    """The source name of one ``--levers``: ``diffusion{mix_share=0.5,detail_share=0.4}``."""
    return "diffusion{" + ",".join(f"{k.removeprefix(LEVER_PREFIX)}={v}" for k, v in levers) + "}"


def parse_levers(text: str, parser: argparse.ArgumentParser) -> Levers:
    """``K=V[,K=V…]`` of ``--levers`` → ((field, value), …): K one of :data:`dinar.pipeline.options.FILL_LEVERS` without
    its prefix, V a number, a fill, ``none`` or ``true``/``false`` as the field takes; checked by
    :class:`PipelineOptions` itself. A bad one ends the run with exit 2 and one line."""
    types = {f.name: f.type for f in dataclasses.fields(PipelineOptions)}
    pairs = []
    for piece in text.split(","):
        key, _, value = piece.partition("=")
        field = LEVER_PREFIX + key.strip()
        if field not in FILL_LEVERS or not value:
            parser.error(f"--levers {text!r}: expected K=V[,K=V…] with K one of "
                         f"{', '.join(f.removeprefix(LEVER_PREFIX) for f in FILL_LEVERS)}, e.g. mix_share=0.5,detail_share=0.4")
        kind = types[field]
        try:
            parsed: object = (None if value == "none" and "None" in kind else
                              {"true": True, "false": False}[value] if kind == "bool" else
                              int(value) if kind == "int" else float(value) if kind == "float" else value)
        except (KeyError, ValueError):
            parser.error(f"--levers {text!r}: {key}={value!r} is not a {kind}")
        pairs.append((field, parsed))
    try:
        PipelineOptions(**dict(pairs))
    except (TypeError, ValueError) as err:
        parser.error(f"--levers {text!r}: {err}")
    return tuple(pairs)


def needed_inpaintings(keep: set[str], details: tuple[Detail, ...]) -> set[str]:
    """The sources (inpaintings ``diffusion``, ``diffusion:<name>@K``, … among them) those in ``keep`` are or are made from: each
    name's base (before ``|``, without ``_direct``) and the sources of the ``--detail`` it names."""
    named = {"+".join(detail_name(*part) for part in parts): parts for parts in details}
    needed = set()
    for name in keep:
        base, _, suffix = name.partition("|")
        base = "diffusion" if base.startswith("diffusion{") else base  # a --levers: the shipped inpainting
        first, _, other = base.partition("~")  # a --blend: both inpaintings
        needed.update({first.removesuffix("_direct"), other.rpartition("x")[0]} - {""})
        needed.update(part[0] for part in named.get(suffix, ()))
    return needed


def border_weight(surface, filled: Tensor, radius: float) -> Tensor:
    """``[1, 1, S, S]`` weight of the nearest fill at each unseen chart texel: 1 at the seen texels' border, falling
    linearly to 0 at ``radius`` (rest-pose surface distance, the body model's units) from the nearest seen texel."""
    from scipy.spatial import cKDTree

    have = (filled[0, 0] > 0.5).cpu() & surface.inside.cpu()
    todo = surface.inside.cpu() & ~have
    position = surface.position.cpu().double().numpy()
    distance, _ = cKDTree(position[have.numpy()]).query(position[todo.numpy()], k=1)
    weight = torch.zeros(filled.shape[-2:], dtype=filled.dtype)
    weight[todo] = torch.from_numpy(np.clip(1.0 - distance / radius, 0.0, 1.0)).to(filled.dtype)
    return weight[None, None].to(filled.device)


def guidance_for(inpainter, options: PipelineOptions) -> float:
    """``--diffusion-guidance`` for the inpainters trained to be guided (condition dropout), 1 for the others."""
    return options.diffusion_guidance if inpainter.config.condition_dropout > 0 else 1.0


def sources(pipe: AvatarPipeline, known: Tensor, filled: Tensor, truth: Tensor, seen: Tensor, vqs: dict,
            options: PipelineOptions, bands: tuple[int, ...], inpainters: dict,
            details: tuple[Detail, ...] = (), borders: tuple[float, ...] = (),
            keep: set[str] | None = None, samples: tuple[int, ...] = (),
            blends: tuple[tuple[float, str], ...] = (), levers: tuple[Levers, ...] = ()) -> dict[str, Tensor]:
    """Every restored texture ``[1, 21, S, S]`` of one person (module docstring); an inpainting's ``_direct``
    variant only when ``keep`` (None: all) asks for it; each inpainting as the mean of each K of ``samples``
    (default: the options' K) diffusion samples; each (W, source) of ``blends`` mixes that source's colours (the
    shipped inpainting ``diffusion`` or a fill; W) with each other inpainting's (1 − W); each of ``levers`` composes
    the shipped inpainting with those fill levers instead of the options'."""
    surface = pipe.texel_surface()
    off_head = surface.part != pipe.body.parts.names.index("head")
    out = {kind: fill_texture(known, filled, surface, kind) for kind in FILLS}
    mean = out["mean"]
    bases = ["mean"]
    for label, (vq, inpainter, schedule) in inpainters.items():
        for k in samples or (options.diffusion_samples,):
            tag = label if k == options.diffusion_samples else f"{label}@{k}"
            if keep is not None and tag not in needed_inpaintings(keep, details):
                continue  # no source asked for is, or is made from, this inpainting
            bases.append(tag)
            for name, residual in ((tag, True), (f"{tag}_direct", False)):
                if not residual and keep is not None and name not in keep:
                    continue
                out[name] = restore_texture(vq, inpainter, schedule, known, options.diffusion_steps, options.seed,
                                            out[options.diffusion_start or "mean"], options.diffusion_strength, residual,
                                            keep_generated=True, guidance=guidance_for(inpainter, options), samples=k)
                if label == "diffusion" and residual:  # the shipped pipeline's colour mix and fill detail, if set
                    for changed in levers if tag == "diffusion" else ():
                        out[levers_name(changed)] = pipe.with_fill_levers(out[name], known, filled,
                                                                          dataclasses.replace(options, **dict(changed)))
                    out[name] = pipe.with_fill_levers(out[name], known, filled, options)
    true = torch.where(seen > 0.5, truth, mean)
    out["true"] = rgb_from(mean, true)
    for band in bands:
        change = shrink_texture(true, band) - shrink_texture(mean, band)
        out[f"true_band{band}"] = rgb_from(mean, mean + grow_texture(change, true.shape[-1]))
    for name, vq in vqs.items():  # each at its own texture size
        size = vq.config.texture_size
        rebuilt = through_vq(vq, shrink_texture(true, size))
        change = rebuilt - through_vq(vq, shrink_texture(mean, size))
        out[name] = rgb_from(mean, mean + grow_texture(change, true.shape[-1]))
        out[f"{name}_direct"] = rgb_from(mean, grow_texture(rebuilt, true.shape[-1]))
    for w, src in blends:  # the shipped inpainting's (or a fill's) colours mixed with each other inpainting's
        for tag in [b for b in bases if b.startswith("diffusion:")]:
            if src in out:
                name = f"{src}~{tag}x{w:g}"
                out[name] = rgb_from(mean, w * out[src] + (1 - w) * out[tag])
                bases.append(name)
    for base in bases:
        for parts in details:
            name = "+".join(detail_name(*part) for part in parts)
            size = parts[0][1]
            # nohead: the fill's detail everywhere but on the head (the face copied onto its back)
            out[f"{base}|{name}"] = with_details(out[base], [(out[f], a, k == "grey", off_head if k == "nohead" else None)
                                                             for f, _, a, k in parts], size)
    for radius in borders:
        weight = border_weight(surface, filled, radius)
        for base in bases:
            out[f"{base}|border{radius:g}"] = rgb_from(mean, out[base] + weight * (out["nearest"] - out[base]))
    return out


def person_sources(pipe: AvatarPipeline, person: PersonViews, vqs: dict, options: PipelineOptions, bands: tuple[int, ...],
                   inpainters: dict, keep: set[str] | None = None, details: tuple[Detail, ...] = (),
                   borders: tuple[float, ...] = (), samples: tuple[int, ...] = (),
                   blends: tuple[tuple[float, str], ...] = (), levers: tuple[Levers, ...] = ()):
    """(back target view, {source: back render [3, N, N]}, {source: render mask}) of one person; ``keep``:
    only these sources (None: all)."""
    back = next(t for t in person.targets if t.kind == "back")
    model = with_occlusion(pipe.stage1, options.occlusion, pipe.body, options.occlusion_fit)
    photos = pipe.prepare_photos([person.input_image, back.rgb], [person.input_mask, back.mask[0]], [person.input_fit, back.fit])
    partials = [pipe.tune(partial_texture(model, p, pipe.layout), p, options) for p in photos]
    known, filled = partials[0].texture, partials[0].filled
    seen = partials[1].filled * (1 - filled)
    renders, masks = {}, {}
    for name, restored in sources(pipe, known, filled, partials[1].texture, seen, vqs, options, bands, inpainters,
                                  details, borders, keep, samples, blends, levers).items():
        if keep is not None and name not in keep:
            continue
        adjustment = pipe.adjust_colors(restored, photos[:1], options)
        restored = apply_color_adjustment(restored, adjustment.alpha, adjustment.beta)
        texture = blend_known(restored, known, filled, *options.blend_radii(known.shape[-1]))
        avatar = pipe.make_avatar(texture[0], photos[:1], [person.input_fit], options, pipe.stage1.config.texture, adjustment)
        f = back.fit
        camera = dataclasses.replace(f.camera, width=back.rgb.shape[-1], height=back.rgb.shape[-2])
        frames = avatar.render(f.pose[None], camera, f.global_orient[None], f.transl[None])
        renders[name], masks[name] = frames.image[0].float().cpu().clamp(0, 1), frames.mask[0].float().cpu().clamp(0, 1)
    return back, renders, masks


def parse_detail(text: str, parser: argparse.ArgumentParser) -> Detail:
    """``SRC:N[:A[:KIND]][+SRC:N[:A[:KIND]]…]`` of ``--detail`` → ((source, N, A, KIND), …) (A defaults to 1, KIND
    to "", or ``grey`` / ``nohead``: :data:`DETAIL_KINDS`; every
    part shares one N); SRC is a fill or an inpainting (``diffusion``, ``diffusion:<name>``, checked once the
    inpainters are loaded). A bad one ends the run with exit 2 and one line."""
    parts = []
    for piece in text.split("+"):
        fields = piece.split(":")
        at = next((i for i, f in enumerate(fields) if i > 0 and f.isdigit()), None)
        source = ":".join(fields[:at]) if at else ""
        rest = fields[at + 1:] if at else []
        try:
            share = float(rest[0]) if rest else 1.0
        except ValueError:
            share = -1.0
        kind = rest[1] if len(rest) > 1 else ""
        ok = (at is not None and (source in FILLS or source == "diffusion" or source.startswith("diffusion:"))
              and int(fields[at]) >= 1 and 0.0 <= share <= 1.0 and kind in DETAIL_KINDS and len(rest) <= 2)
        if not ok:
            parser.error(f"--detail {text!r}: expected SRC:N[:A[:grey|nohead]] (several joined by +, one N) with SRC one of "
                         f"{', '.join(FILLS)} or an inpainting (diffusion, diffusion:<name>), N a texture size, A the "
                         "share of its detail in [0, 1], grey for its luminance alone and nohead for none on the head, e.g. nearest:16, "
                         "nearest:16:0.5, nearest:16:1:grey or diffusion:16:0.5+nearest:16:0.5")
        parts.append((source, int(fields[at]), share, kind))
    if len({p[1] for p in parts}) > 1:
        parser.error(f"--detail {text!r}: the parts of a mix must share one band size N")
    return tuple(parts)


def parse_blend(text: str, parser: argparse.ArgumentParser) -> tuple[float, str]:
    """``W[:SRC]`` of ``--blend`` → (W, SRC): W in [0, 1] of SRC's colours (``diffusion``, the shipped inpainting, by
    default, or a fill)."""
    weight, _, source = text.partition(":")
    try:
        w = float(weight)
    except ValueError:
        w = -1.0
    source = source or "diffusion"
    if not 0.0 <= w <= 1.0 or source not in ("diffusion", *FILLS):
        parser.error(f"--blend {text!r}: expected W[:SRC] with W in [0, 1] and SRC one of diffusion, {', '.join(FILLS)}, "
                     "e.g. 0.5 or 0.3:mean")
    return w, source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="model folder (default: the shipped weights)")
    parser.add_argument("--vq", type=Path, action="append", default=[], help="another VQ run or folder to pass the true back through")
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--seed", type=int, default=77,
                        help="the held-out set's seed (77: quality.py's and the README's; another: fresh people, made once)")
    add_look_options(parser, "in the held-out set, as quality.py's")
    add_fit_noise_option(parser)
    parser.add_argument("--bare-only", action="store_true", help="with --bare-torso: only the bare-chested people")
    parser.add_argument("--bands", type=int, nargs="+", default=None,
                        help="texture sizes of the true_band sources (default: the VQ's); each must divide the texture size")
    parser.add_argument("--data", type=Path, default=None, help="where the held-out set of benchmarks/quality.py is cached")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sheet", type=Path, default=None, help="a PNG of the back renders: true back | each source, a row per person")
    parser.add_argument("--diffusion", type=Path, action="append", default=[],
                        help="another inpainter run or folder (in the model's VQ latent, or rgb space) to screen as 'diffusion:<name>'")
    parser.add_argument("--sources", nargs="+", default=None, help="score only these sources (default: all)")
    parser.add_argument("--diffusion-steps", type=int, default=None, help="DDIM steps M (default: the pipeline's)")
    parser.add_argument("--diffusion-strength", type=float, default=None, help="noise level of the fill start, (0, 1] (default: the pipeline's)")
    parser.add_argument("--diffusion-guidance", type=float, default=None,
                        help="classifier-free guidance weight of the inpainters trained with condition dropout (default 1: none)")
    parser.add_argument("--diffusion-samples", type=int, nargs="+", default=[], metavar="K",
                        help="each inpainting as the mean of K samples (default: the pipeline's); a K other than the "
                             "pipeline's is named '<source>@K'")
    parser.add_argument("--blend", nargs="+", default=[], metavar="W[:FILL]",
                        help="add 'diffusion~<inpainting>x<W>' sources: W times the shipped inpainting's colours plus 1 - W "
                             "times each --diffusion one's; W:FILL (mean, mirror, nearest) takes that fill's colours instead, "
                             "'<fill>~<inpainting>x<W>'")
    parser.add_argument("--levers", nargs="+", default=[], metavar="K=V[,K=V…]",
                        help="add 'diffusion{K=V,…}' sources: the shipped inpainting with these fill levers above it instead "
                             "of the pipeline's (K: mix, mix_share, detail, detail_share, pattern, pattern_share, "
                             "detail_scale, detail_head, band_in_charts), e.g. mix_share=0.5,detail_share=0.4")
    parser.add_argument("--diffusion-start", choices=FILLS, default=None, help="the fill the diffusion starts from (default: the pipeline's)")
    parser.add_argument("--detail", nargs="+", default=[], metavar="FILL:N[:A[:grey|nohead]][+…]",
                        help="add '<source>|<fill><N>[x<A>]' sources: the source's N² band plus A (default 1) times the fill's "
                             "finer detail (grey: its luminance alone, suffix g; nohead: none on the head, h); FILL may be an inpainting (diffusion, "
                             "diffusion:<name>), and parts joined by + add their details")
    parser.add_argument("--border", type=float, nargs="+", default=[], metavar="R",
                        help="add '<source>|border<R>' sources: the nearest fill at the seen texels' border, fading into the "
                             "source linearly over R (rest-pose surface distance, the body model's units)")
    args = parser.parse_args()
    details = tuple(parse_detail(d, parser) for d in args.detail)
    blends = tuple(parse_blend(b, parser) for b in args.blend)
    levers = tuple(parse_levers(text, parser) for text in args.levers)
    if any(k < 1 for k in args.diffusion_samples):
        parser.error(f"--diffusion-samples {' '.join(map(str, args.diffusion_samples))}: each K must be >= 1")
    start = time.perf_counter()
    if args.bare_only and not args.bare_torso:
        parser.error("--bare-only keeps the bare-chested people: add --bare-torso SHARE")
    try:  # quality.py --views 4 (the README's Table 2), of which the first --people
        cfg = SynthConfig(people=24, poses=1, views=4, size=512, seed=args.seed, **look_shares(args), **fit_noise(args))
    except ValueError as err:  # SynthConfig checks the share
        parser.error(str(err))
    data = test_set(args.data or default_test_folder(cfg), cfg)
    pipe = AvatarPipeline.from_pretrained(args.checkpoint, args.device)
    overrides = {"diffusion_steps": args.diffusion_steps, "diffusion_strength": args.diffusion_strength,
                 "diffusion_start": args.diffusion_start, "diffusion_guidance": args.diffusion_guidance}
    options = PipelineOptions(**{k: v for k, v in overrides.items() if v is not None})
    bands = tuple(args.bands or (pipe.vq.config.texture_size if pipe.vq is not None else pipe.inpainter.config.latent_size,))
    size = pipe.stage1.config.texture_size
    for n in (*bands, *(d[0][1] for d in details)):
        if n > size or size % n:
            parser.error(f"band {n}: must divide the model's texture size {size} (e.g. {size // 4}, {size // 16})")
    vqs = {} if pipe.vq is None else {"true_vq": pipe.vq}
    vqs.update({f"true_vq:{p.name}": load_vq(p, pipe.device) for p in args.vq})
    inpainters = {"diffusion": (pipe.vq, pipe.inpainter, pipe.schedule)}
    for p in args.diffusion:
        inpainter, schedule = load_inpainter(p, pipe.device, vq=pipe.vq)
        inpainters[f"diffusion:{p.name}"] = (pipe.vq, inpainter, schedule)
    unknown = sorted({part[0].split("@")[0] for d in details for part in d} - set(FILLS) - set(inpainters))
    if unknown:
        parser.error(f"--detail: no inpainting named {unknown[0]!r}; the loaded ones are {', '.join(inpainters)} "
                     "(add another with --diffusion RUN)")
    keep = None if args.sources is None else set(args.sources)
    body = pipe.body
    people = sorted(p for p in data.iterdir() if p.is_dir())  # person i of the seed is the i-th
    if args.bare_only:
        people = [p for i, p in enumerate(people) if person_bares_torso(cfg, body.shape_names, i)]
        if not people:
            parser.error(f"--bare-only: none of the {cfg.people} people of seed {cfg.seed} is bare-chested at --bare-torso {cfg.bare_torso:g}")
    people = people[: args.people]
    scores: dict[str, dict[str, list[float]]] = {}
    images: dict[str, list[Tensor]] = {"truth": []}
    for i, folder in enumerate(people):
        person = load_person(folder, pipe.stage1.config.image_size, body_model=pipe.stage1.config.body_model,
                             num_joints=int(body.num_joints), up=tuple(body.up_axis), front=tuple(body.front_axis))
        back, renders, masks = person_sources(pipe, person, vqs, options, bands, inpainters, keep, details,
                                                tuple(args.border), tuple(args.diffusion_samples), blends, levers)
        images["truth"].append(back.over_white())
        line = []
        for name, image in renders.items():
            region = person_region(masks[name][None], back.mask[None])
            m = compute_metrics(image[None], back.rgb[None], region, ("lpips", "dists"))
            s = scores.setdefault(name, {"lpips": [], "dists": []})
            s["lpips"].append(float(m["lpips_alex"][0]))
            s["dists"].append(float(m["dists"][0]))
            images.setdefault(name, []).append(image)
            line.append(f"{name} {s['lpips'][-1]:.4f}/{s['dists'][-1]:.4f}")
        print(f"[{i + 1}/{len(people)}] {person.person_id}: " + ", ".join(line), flush=True)
    inception = inception_network(str(pipe.device))
    truth = extract_features(torch.stack(images["truth"]), inception)  # KID needs two people or more
    table = {}
    print(f"\n{'source':<28} {'LPIPS':>8} {'DISTS':>8} {'KID':>8}")
    for name, s in scores.items():
        k = kid_from_features(extract_features(torch.stack(images[name]), inception), truth, seed=0).mean if len(people) > 1 else None
        table[name] = {"lpips": round(float(np.mean(s["lpips"])), 4), "dists": round(float(np.mean(s["dists"])), 4),
                       "kid": None if k is None else round(float(k), 4)}
        kid_text = "-" if k is None else f"{table[name]['kid']:.4f}"
        print(f"{name:<28} {table[name]['lpips']:>8.4f} {table[name]['dists']:>8.4f} {kid_text:>8}")
    if args.sheet is not None:
        from dinar.data.layout import write_png

        rows = [torch.cat([images[n][j] for n in images], dim=-1) for j in range(len(people))]
        write_png(args.sheet, (torch.cat(rows, dim=-2).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        print(f"sheet: {args.sheet} (columns: {', '.join(images)})")
    print(json.dumps({"bench": "back_ceiling", "people": len(people), "seed": cfg.seed, **look_shares(cfg), "fit_noise": noise_scale(cfg),
                      "bare_only": args.bare_only, "ids": [p.name for p in people], "sources": table,
                      "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
