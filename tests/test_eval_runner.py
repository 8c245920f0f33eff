"""The benchmark runner (dinar.eval.runner, report, cli): report files, resuming, ablations, errors.

Two synthetic people (1 pose, 4 views at 128²: view 0 front, view 2 the exact back) and the tiny
random-init model folder of test_pipeline; pipeline steps run with few iterations. The numbers of a
random model mean nothing, so the tests check layout, ranges and bookkeeping, and a ground-truth
"predictor" checks that the protocol and the aggregation give perfect numbers for a perfect avatar.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_pipeline import FAST, model_dir  # noqa: F401  (model_dir: module fixture, a tiny random-init model folder)

from dinar.commands.eval import add_arguments as add_eval_arguments
from dinar.commands.eval import config_from_args
from dinar.commands.eval import run as cli_eval
from dinar.eval.people import load_person
from dinar.eval.predictors import GroundTruthPredictor
from dinar.eval.report import TABLE2_COLUMNS, table1_columns
from dinar.eval.runner import evaluate
from dinar.eval.settings import FILL_SETTINGS, TABLE2_SETTINGS, EvalConfig, EvalError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 128
ALL = ("psnr", "ms_ssim", "lpips", "dists", "identity", "kid")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Two synthetic people, both in the test split; an empty val split."""
    from dinar.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("eval_data")
    generate(SynthConfig(people=2, poses=1, views=4, size=SIZE, seed=3), root, progress=False)
    people = sorted(p.name for p in root.iterdir() if (p / "rgb").is_dir())
    (root / "splits.json").write_text(json.dumps({"train": [], "val": [], "test": people}))
    return root


@pytest.fixture(scope="module")
def rgb_model_dir(tmp_path_factory, body) -> Path:
    """A stage-1-only model folder trained (here: initialised) with the RGB texture only (Table 2, row 1)."""
    from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
    from dinar.nn.config import preset
    from dinar.pipeline import save_models

    torch.manual_seed(1)
    model = avatar_model_from_body(AvatarModelConfig(networks=preset("tiny"), texture="rgb"), body)
    return save_models(tmp_path_factory.mktemp("models") / "rgb", model)


def config(data_dir: Path, out: Path, checkpoint: Path | None = None, **kw) -> EvalConfig:
    return EvalConfig(data_dir=data_dir, output_dir=out, checkpoint=checkpoint, device="cpu", options=FAST, progress=False, **kw)


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_dir, model_dir, body):  # noqa: F811
    out = tmp_path_factory.mktemp("report")
    return evaluate(config(data_dir, out, model_dir, metrics=ALL), body=body)


def _table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]


# -- the report ------------------------------------------------------------------------------------
def test_report_files_exist_and_parse(report, data_dir):
    out = report.output_dir
    assert report.computed == 2 and report.skipped == 0
    for name in ("metrics.json", "table1.md", "people.csv", "grid_best_worst.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "metrics.json").read_text())
    assert summary == report.summary
    assert summary["format"] == "dinar-eval/1" and summary["resolution"] == SIZE
    assert summary["people"] == sorted(json.loads((data_dir / "splits.json").read_text())["test"])
    assert summary["identity_embedding"]["key"] == "id_mobilenetv2" and "FlipReID" in summary["identity_embedding"]["note"]
    main = summary["checkpoints"]["main"]
    assert main["model_dir"] and len(main["stage1"]["state_sha256"]) == 64 and "stage1/model.safetensors" in main["files"]

    rows = _table_rows((out / "table1.md").read_text())
    header = [c[0] for c in table1_columns(SIZE, "id_mobilenetv2")]
    assert rows[0] == ["Method", *header] and len(rows) == 3  # header, delimiter, one method
    assert header[:4] == ["Same: MS-SSIM ↑", "Same: PSNR ↑", "Same: LPIPS ↓", "Same: DISTS ↓"]
    assert header[4:7] == ["Novel: DISTS ↓", "Novel: ID (MobileNetV2 cos.) ↑", "Novel: KID ↓"]
    assert header[7:] == ["Back: PSNR ↑", "Back: LPIPS ↓", "Back: DISTS ↓"]
    assert "—" not in rows[2]  # every metric computed
    assert "not the paper's FlipReID".lower() in (out / "table1.md").read_text().lower()
    assert not (out / "table2.md").exists()

    with open(out / "people.csv") as f:
        table = list(csv.DictReader(f))
    assert {(r["person"], r["view_kind"]) for r in table} == {(p, k) for p in summary["people"] for k in ("same", "back", "side")}
    assert all(r["setting"] == "full" for r in table)
    assert {r["view_kind"]: int(r["views"]) for r in table} == {"same": 1, "back": 1, "side": 2}
    for key in ("psnr", "ms_ssim_win7", "lpips_alex", "dists", "id_mobilenetv2"):
        assert all(math.isfinite(float(r[key])) for r in table), key

    grid = np.asarray(Image.open(out / "grid_best_worst.png"))
    assert grid.shape == (20 + 2 * SIZE, 150 + 5 * SIZE, 3)  # header + best + worst; label column + 5 images


def test_numbers_are_finite_and_in_range(report):
    s = report.summary
    full = s["results"]["full"]
    assert full["status"] == "ok" and full["people"] == 2
    for kind in ("same", "back", "side", "novel", "all"):
        m = full["kinds"][kind]
        assert 0 < m["psnr"]["mean"] < 100
        assert 0 <= m["ms_ssim_win7"]["mean"] <= 1
        assert 0 <= m["lpips_alex"]["mean"] <= 1 and 0 <= m["dists"]["mean"] <= 1
        assert 0 <= m["id_mobilenetv2"]["mean"] <= 1 + 1e-6
    assert full["kinds"]["novel"]["psnr"]["views"] == 6 and full["kinds"]["back"]["psnr"]["people"] == 2
    for kind in ("novel", "back"):
        kid = full["kid"][kind]
        assert kid is not None and math.isfinite(kid["mean"]) and kid["images"] == (6 if kind == "novel" else 2)
    assert all(v is not None and math.isfinite(v) for v in s["table1"].values())


def test_views_are_classified_around_the_body(report, data_dir):
    person = json.loads((report.output_dir / "people" / report.summary["people"][0] / "full.json").read_text())
    kinds = {v["stem"]: v["kind"] for v in person["views"]}
    assert kinds == {"pose000_view000": "same", "pose000_view001": "side", "pose000_view002": "back", "pose000_view003": "side"}
    # synthetic cameras sit at 90° steps around the body, each jittered by up to 10°
    offsets = [v["azimuth_offset"] for v in person["views"]]
    assert offsets[0] == 0 and abs(abs(offsets[2]) - 180) <= 20
    assert abs(offsets[1] + 90) <= 20 and abs(offsets[3] - 90) <= 20  # view 1 on the subject's left (negative), 3 on its right
    # the back view is found geometrically, so it follows the input: from view 1 the back is view 3
    p = load_person(data_dir / report.summary["people"][0], 64, input_view=1)
    assert [t.stem for t in p.targets if t.kind == "back"] == ["pose000_view003"]
    assert p.targets[0].rgb.shape == (3, 64, 64) and p.targets[0].fit.camera.width == 64


def test_resume_skips_finished_people(report, data_dir, model_dir, body):  # noqa: F811
    out = report.output_dir
    results = sorted((out / "people").glob("*/full.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    again = evaluate(config(data_dir, out, model_dir, metrics=ALL), body=body)
    assert (again.computed, again.skipped) == (0, 2)
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert again.summary["table1"] == report.summary["table1"]
    # a run killed after the first person: only the second is made again
    results[1].unlink()
    resumed = evaluate(config(data_dir, out, model_dir, metrics=ALL), body=body)
    assert (resumed.computed, resumed.skipped) == (1, 1)
    assert results[0].stat().st_mtime_ns == before[results[0]]
    # other settings (here: another seed) are not taken from the cache
    other = evaluate(config(data_dir, out, model_dir, metrics=ALL, seed=1, people=1), body=body)
    assert other.computed == 1


# -- ablations -------------------------------------------------------------------------------------
def test_ablations_write_table2_with_every_row(tmp_path, data_dir, model_dir, rgb_model_dir, body):  # noqa: F811
    cfg = config(data_dir, tmp_path, model_dir, metrics=("psnr", "lpips"), people=1, ablations=True,
                 ablation_checkpoints=(("rgb", rgb_model_dir),))
    result = evaluate(cfg, body=body)
    assert result.computed == 5 + len(FILL_SETTINGS)  # every row but "neural texture", and the simple fills
    rows = _table_rows((tmp_path / "table2.md").read_text())
    assert rows[0] == ["Method", *(c[0] for c in TABLE2_COLUMNS)]
    body_rows = rows[2:]
    assert [r[0] for r in body_rows[:6]] == ["RGB texture", "Neural texture", "Both textures", "Both + Inpainting",
                                             "Both + Inpainting + Occlusion detector", "Both + Inpainting + Ocl. + RGB tuning"]
    assert [r[0] for r in body_rows] == [s.label for s in (*TABLE2_SETTINGS, *FILL_SETTINGS)]
    assert body_rows[1][1].startswith("not run: no checkpoint") and "neural=DIR" in body_rows[1][1]
    for r in (body_rows[0], *body_rows[2:]):
        assert math.isfinite(float(r[2])) and 0 <= float(r[3]) <= 1  # PSNR, LPIPS over all views
        assert r[1] == "—" and r[-1] == "—"  # MS-SSIM and KID were not asked for
    table2 = result.summary["table2"]
    assert [t["status"] for t in table2].count("ok") == 5 + len(FILL_SETTINGS)
    # the switches are cumulative, as in the paper
    switches = [(s.occlusion, s.inpainting, s.rgb_tuning, s.color_adjust) for s in TABLE2_SETTINGS[2:]]
    assert switches == [(False, False, False, False), (False, True, False, False), (True, True, False, False), (True, True, True, True)]
    # the last row of the paper's is the full method of Table 1; the fills differ from it on the back only
    full = result.summary["results"]["full"]["kinds"]
    assert table2[5]["setting"] == "full" and table2[5]["PSNR ↑"] == pytest.approx(full["all"]["psnr"]["mean"])
    for row in table2[6:]:
        assert row["Same: LPIPS ↓"] == pytest.approx(table2[5]["Same: LPIPS ↓"], abs=0.02)
        assert row["Back: LPIPS ↓"] != table2[5]["Back: LPIPS ↓"]
    assert result.summary["table1"]["Same: PSNR ↑"] == pytest.approx(full["same"]["psnr"]["mean"])
    # a checkpoint of the wrong texture mode is refused
    with pytest.raises(EvalError, match="texture='both'"):
        evaluate(dataclasses.replace(cfg, ablation_checkpoints=(("neural", model_dir),)), body=body)


# -- the perfect case and errors -------------------------------------------------------------------
def test_ground_truth_through_the_aggregation_gives_perfect_numbers(tmp_path, data_dir, body):
    result = evaluate(config(data_dir, tmp_path, metrics=ALL, people=1), GroundTruthPredictor(SIZE, body), body=body)
    full = result.summary["results"]["full"]
    for kind in ("same", "back", "novel"):
        m = {k: v["mean"] for k, v in full["kinds"][kind].items()}
        assert m["psnr"] == pytest.approx(100.0) and m["psnr_masked"] == pytest.approx(100.0)
        assert m["ms_ssim_win7"] == pytest.approx(1.0, abs=1e-5)
        assert m["lpips_alex"] == pytest.approx(0.0, abs=1e-6) and m["dists"] == pytest.approx(0.0, abs=1e-5)
        assert m["id_mobilenetv2"] == pytest.approx(1.0, abs=1e-5)
        assert m["part_color"] == pytest.approx(0.0, abs=1e-6)  # every body part its own colour
    # identical sets: KID's unbiased estimator is at most 0 (its cross term keeps the k(x, x) pairs it drops within a set)
    assert full["kid"]["novel"]["images"] == 3 and full["kid"]["novel"]["mean"] <= 1e-6
    assert full["kid"]["back"] is None  # one back image cannot make a KID
    assert any("KID of the back views is null" in n for n in result.summary["notes"])
    assert result.summary["table1"]["Back: PSNR ↑"] == pytest.approx(100.0)


def test_clear_errors(tmp_path, data_dir, body):
    gt = GroundTruthPredictor(SIZE, body)
    with pytest.raises(EvalError, match="split 'val' has no people"):
        evaluate(config(data_dir, tmp_path / "a", split="val"), gt, body=body)
    with pytest.raises(EvalError, match="no image of pose 0 view 7"):
        evaluate(config(data_dir, tmp_path / "b", input_view=7, metrics=("psnr",)), gt, body=body)
    # a person fitted with another body model
    bad = tmp_path / "bad_data"
    shutil.copytree(data_dir, bad)
    pid = json.loads((bad / "splits.json").read_text())["test"][0]
    for params in (bad / pid / "params").glob("*.json"):
        doc = json.loads(params.read_text())
        params.write_text(json.dumps(doc | {"body_model": "smplx"}))
    with pytest.raises(EvalError, match="'smplx'.*checkpoint was trained on 'anny'"):
        evaluate(config(bad, tmp_path / "c", metrics=("psnr",)), gt, body=body)
    # a missing view file names it
    (bad / pid / "segm" / "pose000_view001.png").unlink()
    with pytest.raises(ValueError, match="pose000_view001"):
        evaluate(config(bad, tmp_path / "d", metrics=("psnr",)), gt, body=body)
    with pytest.raises(ValueError, match="unknown metrics"):
        config(data_dir, tmp_path, metrics=("fid",))


# -- the command line ------------------------------------------------------------------------------
def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    return parser.parse_args(argv)


def test_cli_options_become_the_config(tmp_path):
    args = _parse(["--data", "D", "--split", "all", "--ablations", "--ablation-checkpoint", "rgb=R", "--ablation-checkpoint",
                   "neural=N", "--input-view", "2", "--people", "3", "--seed", "5", "--diffusion-steps", "4", "-o", str(tmp_path)])
    cfg = config_from_args(args)
    assert cfg.split is None and cfg.ablations and dict(cfg.ablation_checkpoints) == {"rgb": Path("R"), "neural": Path("N")}
    assert (cfg.input_view, cfg.people, cfg.seed, cfg.options.seed, cfg.options.diffusion_steps) == (2, 3, 5, 5, 4)
    assert cfg.checkpoint is None and cfg.metrics == ALL and cfg.split is None
    with pytest.raises(SystemExit):
        _parse(["--data", "D", "-o", "R", "--ablation-checkpoint", "both=X"])
    with pytest.raises(ValueError, match="add --ablations"):
        cli_eval(_parse(["--data", "D", "-o", "R", "--ablation-checkpoint", "rgb=X"]))


def test_cli_runs_the_benchmark(tmp_path, data_dir, model_dir, capsys):  # noqa: F811
    argv = ["--data", str(data_dir), "--checkpoint", str(model_dir), "--people", "1", "--device", "cpu", "--metrics", "psnr",
            "--diffusion-steps", "1", "--rgb-tuning-steps", "1", "--color-adjust-steps", "1", "--no-progress", "-o", str(tmp_path)]
    assert cli_eval(_parse(argv)) == 0
    out = capsys.readouterr().out
    assert "# Table 1" in out and "1 avatar(s) made" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["settings"]["options"]["rgb_tuning_steps"] == 1


def test_part_colour_error_by_hand():
    """Two parts of one view: part 0 off by 0.2 in red only (0.2 / 3), part 1 exact; part 2 too small to count."""
    from dinar.eval.part_colors import part_color_error

    gt = torch.zeros(1, 3, 4, 8)
    pred = gt.clone()
    parts = torch.full((1, 4, 8), -1)
    parts[0, :, :4], parts[0, :, 4:7], parts[0, 0, 7] = 0, 1, 2
    pred[0, 0, :, :4] = 0.2
    pred[0, :, 0, 7] = 1.0  # part 2: one pixel, below min_pixels
    region = torch.ones(1, 1, 4, 8)
    assert part_color_error(pred, gt, region, parts, min_pixels=4).item() == pytest.approx((0.2 / 3 + 0) / 2)
    region[0, 0, :, :4] = 0  # part 0 outside the region: only part 1 counts
    assert part_color_error(pred, gt, region, parts, min_pixels=4).item() == pytest.approx(0.0)


def test_fill_rows_are_keyed_without_the_diffusion(model_dir, body):  # noqa: F811
    """A simple-fill row uses neither the VQ/diffusion weights nor the sampler's settings, so neither is in its cache
    key (a retrained inpainter or another sampler setting reuses the fill rows); the full row keeps both."""
    from dinar.eval.predictors import PipelinePredictor
    from dinar.eval.settings import FULL
    from dinar.pipeline.options import PipelineOptions

    predictor = PipelinePredictor(model_dir, device="cpu", body=body)
    other = PipelinePredictor(model_dir, options=PipelineOptions(diffusion_steps=7), device="cpu", body=body)
    fill, full = predictor.fingerprint(FILL_SETTINGS[0]), predictor.fingerprint(FULL)
    assert not any(k.startswith(("vq/", "diffusion/")) for k in fill["files"])
    assert not any(k.startswith("diffusion_") for k in fill["options"])
    assert any(k.startswith(("vq/", "diffusion/")) for k in full["files"]) and "diffusion_steps" in full["options"]
    assert other.fingerprint(FILL_SETTINGS[0]) == fill and other.fingerprint(FULL) != full
