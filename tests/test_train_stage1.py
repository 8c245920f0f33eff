"""Stage-1 training (train/stage1.py, train/common.py): the loss goes down, checkpoints resume and
reload to identical outputs, the safetensors export round-trips and checks its config, the CLI runs
the ``tiny`` preset, and two-process DDP runs on CPU with gloo."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import pytest
import torch
from test_avatar_model import MICRO, make_stage1_dataset
from torch.utils.data import DataLoader, Subset

from dinar.commands.train_avatar import add_arguments as add_train_avatar_arguments
from dinar.commands.train_avatar import config_from_args
from dinar.commands.train_avatar import run as cli_train_avatar
from dinar.data.datasets import FramePairDataset
from dinar.losses.stage1 import crop_boxes
from dinar.train import common
from dinar.train.checkpoints import load_checkpoint_dict
from dinar.train.stage1 import (
    Stage1Module,
    Stage1TrainConfig,
    export_avatar_model,
    stage1_train_preset,
)
from dinar.weights.networks import load_stage1_model as load_avatar_model


@pytest.fixture(scope="session")
def stage1_data(tmp_path_factory) -> Path:
    return make_stage1_dataset(tmp_path_factory.getbasetemp() / "stage1_synth")


def micro_config(**overrides) -> Stage1TrainConfig:
    base = {"networks": MICRO, "num_workers": 0, "image_every": 0}
    base.update(overrides)
    return stage1_train_preset("tiny", **base)


def eval_outputs(model, body, data_dir: Path) -> torch.Tensor:
    """Renders of the first 2 train pairs in eval mode (deterministic noise)."""
    ds = FramePairDataset(data_dir, split="train")
    batch = next(iter(DataLoader(ds, batch_size=2, shuffle=False)))
    size = model.config.image_size
    inp, tgt = (common.resize_frame(batch[k], size) for k in ("input", "target"))
    model.eval()
    with torch.no_grad():
        out = model(inp["rgb"], inp["mask"], common.frame_view(body, inp), common.frame_view(body, tgt))
    return torch.cat([out.render.rgb, out.render.mask], 1)


class LossRecorder(L.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))  # Lightning wraps the returned tensor


def test_loss_goes_down_overfitting_one_pair(stage1_data):
    """The full stage-1 loss (L2, LPIPS-VGG, Dice, face terms, adversarial, R1) on one repeated pair."""
    steps = 30
    L.seed_everything(0, verbose=False)
    module = Stage1Module(micro_config(steps=steps, batch_size=1))
    pairs = Subset(FramePairDataset(stage1_data, split="train"), [0] * steps)
    recorder = LossRecorder()
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2 * steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[recorder],
    )
    trainer.fit(module, train_dataloaders=DataLoader(pairs, batch_size=1))
    losses = recorder.losses
    assert len(losses) == steps and module.iteration == steps
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"stage-1 loss, one pair: first 5 steps {first:.3f}, last 5 {last:.3f}")
    assert last < 0.75 * first


def test_crop_boxes_matches_slicing():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
    boxes = torch.tensor([[4.0, 2.0, 12.0, 10.0], [0.0, 8.0, 8.0, 16.0]])
    crops = crop_boxes(x, boxes, 8)  # 8-pixel boxes resized to 8: exact pixel centres
    assert torch.allclose(crops[0], x[0, :, 2:10, 4:12]) and torch.allclose(crops[1], x[1, :, 8:16, 0:8])


def test_config_presets_and_json_round_trip():
    paper = stage1_train_preset("paper")
    assert (paper.steps, paper.batch_size, paper.lr, paper.betas) == (100_000, 4, 2e-3, (0.0, 0.99))
    assert (paper.l2_weight, paper.lpips_weight, paper.dice_weight, paper.adv_weight, paper.r1_weight, paper.r1_every, paper.face_weight) == (
        2.2, 1.0, 1.0, 0.01, 0.1, 16, 0.1)
    assert paper.resolved_lpips_crop == 256 and paper.model.image_size == 512 and paper.model.texture_size == 256
    for cfg in (paper, stage1_train_preset("tiny", texture="rgb", occlusion=False), micro_config()):
        assert Stage1TrainConfig.from_json(cfg.to_json()) == cfg
    parser = argparse.ArgumentParser()
    add_train_avatar_arguments(parser)
    args = parser.parse_args(["--data", "D", "--out", "R", "--preset", "small", "--texture", "neural", "--no-occlusion", "--steps", "7"])
    cfg = config_from_args(args)
    assert (cfg.model.networks.name, cfg.model.texture, cfg.model.occlusion, cfg.steps) == ("small", "neural", False, 7)


def test_export_round_trip_and_config_check(stage1_data, body, tmp_path):
    torch.manual_seed(0)
    module = Stage1Module(micro_config(texture="both"))
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for bn in module.model.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.1, 0.1)
    export_avatar_model(module.model, tmp_path / "export")
    loaded = load_avatar_model(tmp_path / "export", body=body)
    assert torch.equal(eval_outputs(module.model, body, stage1_data), eval_outputs(loaded, body, stage1_data))
    # editing config.json without re-exporting is refused
    path = tmp_path / "export" / "config.json"
    doc = json.loads(path.read_text())
    doc["config"]["texture"] = "rgb"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not the one"):
        load_avatar_model(tmp_path / "export", body=body)


def test_cli_trains_tiny_then_resumes_with_identical_reload(stage1_data, body, tmp_path):
    """`dinar train avatar` on the tiny preset: 1 iteration, then --resume to 2; the Lightning
    checkpoint (a safetensors file, no pickle), the exported safetensors and the trained module agree."""
    run = tmp_path / "run"
    parser = argparse.ArgumentParser()
    add_train_avatar_arguments(parser)
    base = ["--data", str(stage1_data), "--out", str(run), "--preset", "tiny", "--device", "cpu", "--num-workers", "0",
            "--batch-size", "2", "--checkpoint-every", "1", "--image-every", "1"]
    assert cli_train_avatar(parser.parse_args(base + ["--steps", "1"])) == 0
    ckpt = run / "checkpoints" / "last.safetensors"
    assert ckpt.is_file() and (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="--resume"):
        cli_train_avatar(parser.parse_args(base + ["--steps", "2"]))
    with pytest.raises(ValueError, match="model config"):
        cli_train_avatar(parser.parse_args(base + ["--steps", "2", "--resume", "--texture", "rgb"]))
    assert cli_train_avatar(parser.parse_args(base + ["--steps", "2", "--resume"])) == 0

    state = load_checkpoint_dict(ckpt, map_location="cpu")
    assert state["global_step"] == 4  # 2 iterations x (G step + D step)
    assert json.loads((run / "config.json").read_text())["step"] == 2
    from_ckpt = Stage1Module(Stage1TrainConfig.from_dict(state["hyper_parameters"]["config"]))
    from_ckpt.load_state_dict(state["state_dict"])
    exported = load_avatar_model(run, body=body)
    a = eval_outputs(from_ckpt.model, body, stage1_data)
    b = eval_outputs(exported, body, stage1_data)
    assert torch.equal(a, b)


DDP_SCRIPT = """
import hashlib, json, os, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import torch
from test_avatar_model import MICRO
from dinar.train.stage1 import RunOptions, stage1_train_preset, train_stage1

cfg = stage1_train_preset("tiny", networks=MICRO, steps=2, batch_size=2, num_workers=0, image_every=0, checkpoint_every=1)
module = train_stage1(cfg, RunOptions(data_dir=Path({data!r}), run_dir=Path({run!r}), device="cpu", devices=2, progress=False))
params = torch.cat([p.detach().flatten() for p in module.parameters()])
rank = module.trainer.global_rank
info = {{"rank": rank, "world": module.trainer.world_size, "iteration": module.iteration,
        "backend": str(torch.distributed.get_backend()) if torch.distributed.is_initialized() else None,
        "params": hashlib.sha256(params.numpy().tobytes()).hexdigest()}}
Path({run!r}, f"rank{{rank}}.json").write_text(json.dumps(info))
"""


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(stage1_data, tmp_path):
    """Lightning strategy="ddp", accelerator cpu, devices=2 (gloo): both ranks train and stay in sync."""
    run = tmp_path / "ddp"
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(tests=str(Path(__file__).parent), data=str(stage1_data), run=str(run))))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(script)], check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    infos = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["rank"] for i in infos] == [0, 1] and all(i["world"] == 2 for i in infos)
    assert all(i["backend"] == "gloo" and i["iteration"] == 2 for i in infos)
    assert infos[0]["params"] == infos[1]["params"]  # gradients were all-reduced
    assert (run / "model.safetensors").is_file() and (run / "checkpoints" / "last.safetensors").is_file()
