"""Stage 1: held-out quality of trained runs (the paper's Table-2 ablation) and training-step time per preset.

``eval``: for every run folder (``dinar train avatar --out RUN``), render people of the held-out splits
(never seen in training) in a new pose from a new camera and compare with the ground-truth photos:
PSNR and LPIPS (AlexNet) of the composites over white, in two settings:

- ``near``: input any view, target another pose seen from the next or previous camera (±45° on the
  synthetic turntable): what one photo can explain;
- ``front``: input the front view (view 0), target another pose from every camera, the back included
  (what stage 3's inpainting is for; stage 1 alone has to guess the unseen side).

and an image grid: input | target | the render of each run. Last line: JSON.

    python benchmarks/stage1.py eval --data DIR --runs RUN_BOTH RUN_RGB RUN_NEURAL [--grid /tmp/stage1_grid.png]

``time``: seconds per training iteration (G step + D step, full loss) for each preset at a batch size,
on the machine's default device (no data needed: frames of a small synthetic dataset are resized).

    python benchmarks/stage1.py time --data DIR --presets tiny small paper --batch-size 1 [--iterations 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from dinar.body import load_body_model
from dinar.data.datasets import FramePairDataset
from dinar.nn.renderer import composite
from dinar.train import common
from dinar.train.stage1 import (
    Stage1Module,
    stage1_train_preset,
)
from dinar.train.stage1_data import spread_subset
from dinar.train.stage1_eval import evaluate_avatar_model, heldout_pairs
from dinar.train.trainer import resolve_accelerator, resolve_precision
from dinar.weights.format import CONFIG_FILE
from dinar.weights.networks import load_stage1_model as load_avatar_model


def _heldout(data: Path, splits: list[str]) -> FramePairDataset:
    people = json.loads((data / "splits.json").read_text())
    ids = [pid for s in splits for pid in people.get(s, [])]
    ds = FramePairDataset(data, split=None)
    keep = {i for i, f in enumerate(ds.frames) if f.person_dir.name in ids}
    ds.pairs = [(i, j) for i, j in ds.pairs if i in keep]
    return ds


@torch.no_grad()
def _grid(models: dict[str, torch.nn.Module], body, dataset, rows: int, path: Path) -> None:
    loader = DataLoader(dataset, batch_size=rows, shuffle=False)
    batch = next(iter(loader))
    any_model = next(iter(models.values()))
    size = any_model.config.image_size
    inp, tgt = (common.resize_frame(batch[k], size) for k in ("input", "target"))
    columns = [inp["rgb"], composite(tgt["rgb"], tgt["mask"], 1.0)]
    for model in models.values():
        out = model(inp["rgb"], inp["mask"], common.frame_view(body, inp), common.frame_view(body, tgt))
        columns.append(out.render.composite(1.0))
    common.save_png(common.image_grid(columns, max_rows=rows), path)


def cmd_eval(args) -> dict:
    body = load_body_model()
    dataset = _heldout(args.data, args.splits)
    settings = {
        "near": Subset(dataset, heldout_pairs(dataset, view_offsets=(-1, 1))),
        "front": Subset(dataset, heldout_pairs(dataset, input_views=(0,))),
    }
    settings = {k: spread_subset(v, args.max_pairs) for k, v in settings.items()}
    models = {}
    results: dict[str, dict] = {}
    for run in args.runs:
        model = load_avatar_model(run, body=body)
        doc = json.loads((Path(run) / CONFIG_FILE).read_text())
        name = f"{model.config.texture}" + ("" if model.config.occlusion else "-noocc")
        models[name] = model
        results[name] = {"run": str(run), "step": doc.get("step")}
        for setting, ds in settings.items():
            start = time.perf_counter()
            metrics = evaluate_avatar_model(model, body, ds, batch_size=args.batch_size)
            results[name][setting] = {k: round(v, 4) for k, v in metrics.items()}
            print(f"{name:8s} step {doc.get('step')}  {setting:5s}: PSNR {metrics['psnr']:.2f} dB  LPIPS {metrics['lpips']:.4f}  "
                  f"({metrics['pairs']} pairs, {time.perf_counter() - start:.0f} s)", flush=True)
    if args.grid:
        _grid(models, body, spread_subset(settings["near"], args.grid_rows), args.grid_rows, args.grid)
        print(f"grid (input | target | {' | '.join(models)}): {args.grid}")
    return results


def cmd_time(args) -> dict:
    import lightning as L

    results = {}
    pairs = FramePairDataset(args.data, split=None)
    for name in args.presets:
        start = time.perf_counter()
        cfg = stage1_train_preset(name, batch_size=args.batch_size, num_workers=0, image_every=0)
        module = Stage1Module(cfg)
        build = time.perf_counter() - start
        n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in
                    (("E", module.model.encoder), ("G", module.model.generator), ("renderer", module.model.renderer), ("D", module.discriminator))}
        class Timer(L.Callback):
            def __init__(self):
                self.times: list[float] = []

            def on_train_batch_start(self, *a):
                self.t = time.perf_counter()

            def on_train_batch_end(self, *a):
                self.times.append(time.perf_counter() - self.t)

        timer = Timer()

        n = args.iterations
        trainer = L.Trainer(accelerator="auto", devices=1, max_steps=2 * n, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
                            precision=resolve_precision("auto", resolve_accelerator("auto")))
        loader = DataLoader(Subset(pairs, list(range(n * args.batch_size))), batch_size=args.batch_size)
        trainer.fit(module, train_dataloaders=loader)
        times = timer.times
        results[name] = {"size": cfg.image_size, "patch": cfg.patch_size, "build_s": round(build, 2),
                         "iteration_s": [round(t, 2) for t in times], "batch_size": args.batch_size,
                         "params": n_params, "device": str(module.device), "precision": trainer.precision}
        print(f"{name:6s} batch {args.batch_size}: build {build:.1f} s, iterations {', '.join(f'{t:.1f}' for t in times)} s "
              f"on {module.device} ({trainer.precision}); params {n_params}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--runs", type=Path, nargs="+", required=True)
    ev.add_argument("--splits", nargs="+", default=["val", "test"])
    ev.add_argument("--max-pairs", type=int, default=256, help="per setting, evenly spread (0 = all)")
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--grid", type=Path)
    ev.add_argument("--grid-rows", type=int, default=6)
    tm = sub.add_parser("time")
    tm.add_argument("--data", type=Path, required=True)
    tm.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    tm.add_argument("--batch-size", type=int, default=1)
    tm.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()
    if args.cmd == "eval":
        result = cmd_eval(args)
    else:
        timed = cmd_time(args)
        result = {"bench": "stage1_time", "size": max(r["size"] for r in timed.values()), **timed}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
