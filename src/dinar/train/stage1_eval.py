"""Stage 1 on held-out people: which input/target pairs to score, and the renders' PSNR, LPIPS and
mask IoU (``benchmarks/stage1.py`` and validation use it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dinar.data.datasets import FramePairDataset
from dinar.losses import LPIPS
from dinar.losses.pixel import psnr
from dinar.nn.avatar_model import AvatarModel
from dinar.nn.renderer import composite
from dinar.train import common


# ---------------------------------------------------------------------------------------------------
# Evaluation on held-out people
# ---------------------------------------------------------------------------------------------------
def heldout_pairs(dataset: FramePairDataset, input_views: Sequence[int] | None = None, view_offsets: Sequence[int] | None = None) -> list[int]:
    """Indices of pairs whose target has another pose than the input (always) and a camera ``view_offsets``
    views away (None: any); ``input_views`` restricts the input views (None: any)."""
    out = []
    for k, (i, j) in enumerate(dataset.pairs):
        a, b = dataset.frames[i], dataset.frames[j]
        if a.pose_id == b.pose_id:
            continue
        if input_views is not None and a.view not in input_views:
            continue
        if view_offsets is not None:
            n_views = 1 + max(f.view for f in dataset.frames)
            if (b.view - a.view) % n_views not in {o % n_views for o in view_offsets}:
                continue
        out.append(k)
    return out


@torch.no_grad()
def evaluate_avatar_model(
    model: AvatarModel, body, dataset, batch_size: int = 8, background: float = 1.0, lpips_net: str = "alex",
    grid_path: str | Path | None = None, grid_rows: int = 8,
) -> dict[str, float]:
    """Mean PSNR / LPIPS / L2 of ``model`` rendering the pairs of ``dataset`` (eval mode, fixed noise).

    Writes an ``input | target | render | mask`` grid of the first ``grid_rows`` pairs when asked.
    """
    model.eval()
    device = next(model.parameters()).device
    metric = LPIPS(lpips_net).to(device)
    body = body.to(device)
    totals = {"psnr": 0.0, "lpips": 0.0, "l2": 0.0}
    count = 0
    grid_cols: list[list[Tensor]] = [[], [], [], []]
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        frames = []
        for key in ("input", "target"):
            frame = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in batch[key].items()}
            frames.append(common.resize_frame(frame, model.config.image_size))
        inp, tgt = frames
        out = model(inp["rgb"], inp["mask"], common.frame_view(body, inp), common.frame_view(body, tgt))
        fake = out.render.composite(background)
        real = composite(tgt["rgb"], tgt["mask"], background)
        n = fake.shape[0]
        totals["psnr"] += psnr(fake, real, peak=2.0).sum().item()
        totals["lpips"] += metric(fake, real).sum().item()
        totals["l2"] += ((fake - real) ** 2).flatten(1).mean(1).sum().item()
        count += n
        if grid_path is not None and sum(x.shape[0] for x in grid_cols[0]) < grid_rows:
            for col, x in zip(grid_cols, (inp["rgb"], real, fake, out.render.mask)):
                col.append(x.cpu())
    if grid_path is not None and grid_cols[0]:
        common.save_png(common.image_grid([torch.cat(c) for c in grid_cols], max_rows=grid_rows), grid_path)
    return {k: v / max(count, 1) for k, v in totals.items()} | {"pairs": count}
