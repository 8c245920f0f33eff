"""Stage 2: the texture VQGAN (diffusers VQModel), patch discriminator, losses, reports; texture folders;
safetensors checkpoints; a few tiny training steps."""

import dataclasses
import json
import math

import pytest
import torch

from dinar.commands.train_stages import STAGE23_PRESET_NAMES
from dinar.losses.vq import (
    adaptive_weight,
    codebook_usage,
    reconstruction_errors,
    reconstruction_loss,
)
from dinar.nn.config_stage23 import (
    CHANNEL_GROUPS,
    STAGE23_PRESETS,
    Stage23Config,
    VQLossConfig,
    stage23_preset,
)
from dinar.nn.vq import (
    PatchDiscriminator,
    TextureVQModel,
    decode_latent,
    encode_texture,
)
from dinar.train.checkpoints import load_checkpoint_dict, save_checkpoint_dict
from dinar.train.diffusion import DIFFUSION_TRAIN_PRESETS
from dinar.train.vq import VQ_TRAIN_PRESETS, restart_dead_codes

TINY = stage23_preset("tiny")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_textures(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Texture-like batches: smooth T_gen and T_rgb in [-1, 1], binary B_smp ⊆ B_fill."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 19, size // 8, size // 8, generator=g) * 2 - 1
    feats = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    fill = (torch.nn.functional.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=(size, size), mode="bilinear") > 0.5).float()
    smp = fill * (torch.rand(n, 1, size, size, generator=g) > 0.3).float()
    return torch.cat([feats * fill, smp, fill], dim=1)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_presets_follow_the_paper_and_round_trip_json():
    paper = stage23_preset("paper")
    assert paper.vq.channels == 21 and paper.vq.latent_channels == 6 and paper.vq.num_embeddings == 8192
    assert paper.vq.texture_size == 256 and paper.vq.latent_size == 64  # two down-samplings
    assert STAGE23_PRESETS["small"].vq.latent_size == 32 and TINY.vq.latent_size == 16
    for cfg in STAGE23_PRESETS.values():
        assert Stage23Config.from_json(cfg.to_json()) == cfg
    assert STAGE23_PRESET_NAMES == tuple(STAGE23_PRESETS)  # the command line's choices, written out
    assert set(VQ_TRAIN_PRESETS) == set(DIFFUSION_TRAIN_PRESETS) == set(STAGE23_PRESETS)  # each has its training
    with pytest.raises(ValueError, match="preset"):
        stage23_preset("huge")


def test_vq_shapes_codebook_and_round_trip_of_codes():
    torch.manual_seed(0)
    model = TextureVQModel(TINY.vq).eval()
    assert 500_000 < n_params(model) < 1_000_000
    T = smooth_textures(2)
    with torch.no_grad():
        out = model(T)
    assert out.texture.shape == (2, 21, 64, 64) and out.latent.shape == (2, 6, 16, 16) and out.indices.shape == (2, 16, 16)
    assert out.indices.max() < 512 and out.codebook_loss.ndim == 0
    z = encode_texture(model, T)
    torch.testing.assert_close(z, model.codebook[out.indices].permute(0, 3, 1, 2))  # quantized = codebook rows
    # Decoding snaps to the codebook first, so a slightly perturbed latent decodes like the code itself.
    torch.testing.assert_close(decode_latent(model, z + 1e-6), decode_latent(model, z, quantize=False), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="21"):
        model.encode(torch.zeros(1, 3, 64, 64))


def test_codebook_loss_puts_beta_on_the_commitment_term():
    model = TextureVQModel(TINY.vq)
    z = torch.randn(1, 6, 4, 4, requires_grad=True)
    _, loss, _ = model.quantize(z)
    loss.backward()
    e = model.codebook
    # d/dz of beta * ||z - sg(e)||^2 (mean) = 2 beta (z - e) / n; the codebook term gives no gradient to z.
    _, _, idx = model.quantize(z.detach())
    zq = e[idx].permute(0, 3, 1, 2)
    torch.testing.assert_close(z.grad, 2 * TINY.vq.beta * (z - zq).detach() / z.numel())


def test_patch_discriminator_and_adaptive_weight():
    disc = PatchDiscriminator(TINY.discriminator)
    assert disc(smooth_textures(2)).shape == (2, 1, 14, 14)
    model = TextureVQModel(TINY.vq)
    T = smooth_textures(2)
    out = model(T)
    rec, terms = reconstruction_loss(out.texture, T, VQLossConfig())
    assert set(terms) == {"gen", "rgb", "masks"}
    g = -disc(out.texture).mean()
    w = adaptive_weight(rec, g, model.last_decoder_layer)
    assert w.ndim == 0 and math.isfinite(float(w)) and float(w) > 0 and not w.requires_grad


def test_reconstruction_loss_weighs_each_group_by_its_own_mean():
    T = torch.zeros(1, 21, 8, 8)
    pred = T.clone()
    pred[:, CHANNEL_GROUPS["rgb"]] = 1.0  # error 1 on the 3 RGB channels only
    total, terms = reconstruction_loss(pred, T, VQLossConfig(l1=1.0, l2=1.0, group_weights=(1.0, 2.0, 1.0)))
    assert float(terms["rgb"]) == 2.0 and float(terms["gen"]) == 0.0 and float(total) == 4.0


def test_reports_codebook_usage_and_errors_per_group():
    usage = codebook_usage(torch.tensor([[0, 1], [2, 3]]), 8)
    assert usage.used == 4 and usage.total == 8 and abs(usage.perplexity - 4.0) < 1e-9 and usage.fraction == 0.5
    assert abs(codebook_usage(torch.zeros(10, dtype=torch.long), 8).perplexity - 1.0) < 1e-9
    T = smooth_textures(1)
    pred = T.clone()
    pred[:, 16:19] += 0.1
    err = reconstruction_errors(pred, T)
    assert err["gen"].mse == 0 and err["gen"].psnr == float("inf") and err["masks"].l1 == 0
    assert abs(err["rgb"].l1 - 0.1) < 1e-6
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32, :] = 1
    assert abs(reconstruction_errors(pred, T, mask)["rgb"].mse - 0.01) < 1e-6


def test_dead_codes_move_onto_encoder_outputs():
    codebook = torch.zeros(6, 2)
    hits = torch.tensor([3, 0, 1, 0, 0, 2])
    latents = torch.tensor([[5.0, 5.0], [7.0, 7.0]])
    assert restart_dead_codes(codebook, hits, latents, torch.Generator().manual_seed(0)) == 3
    assert (codebook[[0, 2, 5]] == 0).all()
    assert all(row.tolist() in ([5.0, 5.0], [7.0, 7.0]) for row in codebook[[1, 3, 4]])


def test_a_few_tiny_steps_lower_the_reconstruction_loss():
    torch.manual_seed(0)
    model = TextureVQModel(TINY.vq)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    T = smooth_textures(4)
    losses = []
    for _ in range(12):
        out = model(T)
        rec, _ = reconstruction_loss(out.texture, T, TINY.vq_loss)
        loss = rec + out.codebook_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(rec))
    assert losses[-1] < 0.7 * losses[0], losses


def test_checkpoint_dicts_round_trip_without_pickle(tmp_path):
    ckpt = {
        "global_step": 7, "state_dict": {"a.weight": torch.randn(3, 2)},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
                              "param_groups": [{"lr": 1e-3, "betas": (0.5, 0.9), "params": [0]}]}],
        "loops": {"nested": [1, 2.5, None, "x", float("inf")]},
    }
    path = tmp_path / "last.safetensors"
    save_checkpoint_dict(ckpt, path)
    back = load_checkpoint_dict(path)
    assert back["global_step"] == 7 and back["loops"] == ckpt["loops"]
    assert list(back["optimizer_states"][0]["state"]) == [0]  # int keys survive (torch matches states by them)
    assert back["optimizer_states"][0]["param_groups"][0]["betas"] == (0.5, 0.9)
    torch.testing.assert_close(back["state_dict"]["a.weight"], ckpt["state_dict"]["a.weight"])
    with open(path, "rb") as f:
        header = f.read(8 + int.from_bytes(f.read(8), "little"))
    assert b"pickle" not in header
    with pytest.raises(TypeError, match="object"):
        save_checkpoint_dict({"bad": object()}, tmp_path / "bad.safetensors")


def test_texture_folder_from_synthetic_people_without_the_network(tmp_path, body):
    from dinar.data.synth import SynthConfig, generate
    from dinar.train.textures import (
        InpaintingDataset,
        TextureDataset,
        TextureIndex,
        build_textures,
        read_merged,
        read_view,
    )

    generate(SynthConfig(people=1, poses=1, views=3, size=96), tmp_path / "data", progress=False)
    index = build_textures(tmp_path / "data", tmp_path / "tex", texture_size=32, tgen="projection", progress=False)
    assert isinstance(index, TextureIndex) and index.texture_size == 32
    (pid,) = index.person_ids()
    rec = index.people[pid]
    assert len(rec["views"]) == 3 and rec["front"] == rec["views"][0]
    views = [read_view(index, pid, s) for s in rec["views"]]
    merged = read_merged(index, pid)
    for v in views:
        T = v["texture"]
        assert T.shape == (21, 32, 32) and v["angle"].shape == (1, 32, 32)
        fill, smp = T[20], T[19]
        assert set(fill.unique().tolist()) <= {0.0, 1.0} and (smp <= fill).all() and fill.sum() > 20
        assert (T[:16].abs() <= 1).all() and (T[:16][:, fill == 0] == 0).all()  # projection T_gen lives on B_fill
        assert (merged["covered"][0] >= fill).all()
    assert merged["merged"].shape == (21, 32, 32)
    torch.testing.assert_close(merged["merged"][20], merged["covered"][0])  # merged B_fill = covered
    assert len(TextureDataset(tmp_path / "tex", None)) == 4  # 3 views + the merge
    item = InpaintingDataset(tmp_path / "tex", None, views="front")[0]
    assert item["partial"].shape == item["merged"].shape == (21, 32, 32)
    assert json.loads((tmp_path / "tex" / "textures.json").read_text())["tgen"] == "projection"


def test_train_vq_runs_writes_safetensors_and_resumes(tmp_path):
    from dinar.train.checkpoints import load_checkpoint_dict
    from dinar.train.vq import VQ_TRAIN_PRESETS, train_vq, vq_report
    from dinar.weights.networks import load_vq

    root = write_fake_texture_folder(tmp_path / "tex")
    train = dataclasses.replace(VQ_TRAIN_PRESETS["tiny"], steps=2, batch_size=2, val_every=2, checkpoint_every=2, restart_dead_codes_every=1)
    run = train_vq(root, tmp_path / "run", "tiny", train, device="cpu", progress=False)
    assert (run / "model.safetensors").exists() and (run / "checkpoints" / "last.safetensors").exists()
    assert json.loads((run / "run.json").read_text())["stage"] == "vq"
    assert list(run.glob("tensorboard/events.*"))
    with pytest.raises(ValueError, match="resume"):
        train_vq(root, tmp_path / "run", "tiny", train, device="cpu", progress=False)
    train_vq(root, tmp_path / "run", "tiny", dataclasses.replace(train, steps=3), resume=True, device="cpu", progress=False)
    assert load_checkpoint_dict(run / "checkpoints" / "last.safetensors")["global_step"] == 3
    report = vq_report(load_vq(run), root, "val")
    assert set(report["errors_all_texels"]) == {"gen", "rgb", "masks"} and report["codebook"]["total"] == 512


def test_vq_group_weights_reach_the_loss_and_the_run_record(tmp_path):
    from dinar.train.vq import train_vq

    target = torch.zeros(1, 21, 2, 2)
    pred = target.clone()
    pred[:, 16:19] = 0.5  # RGB off by 0.5: l1 0.5 + l2 0.25 per texel
    pred[:, :16] = 1.0  # T_gen off by 1: 1 + 1
    total, terms = reconstruction_loss(pred, target, VQLossConfig(group_weights=(1.0, 10.0, 1.0)))
    assert terms["rgb"].item() == pytest.approx(0.75) and terms["gen"].item() == pytest.approx(2.0)
    assert total.item() == pytest.approx(2.0 + 10 * 0.75)
    root = write_fake_texture_folder(tmp_path / "tex")
    train = dataclasses.replace(VQ_TRAIN_PRESETS["tiny"], steps=1, batch_size=2, val_every=1, checkpoint_every=1)
    run = train_vq(root, tmp_path / "run", "tiny", train, device="cpu", progress=False, group_weights=(1.0, 10.0, 1.0))
    assert json.loads((run / "run.json").read_text())["model"]["vq_loss"]["group_weights"] == [1.0, 10.0, 1.0]


def write_fake_texture_folder(root, people: int = 3, views: int = 2, size: int = 64):
    """A texture folder in the dinar-textures/1 format from smooth random textures (no body, no renders)."""
    from dinar.train.textures import (
        INDEX_FILE,
        MERGED_FILE,
        TEXTURES_FORMAT,
        write_tensors,
    )

    index = {"format": TEXTURES_FORMAT, "texture_size": size, "channels": 21, "tgen": "fake", "people": {}}
    for p in range(people):
        pid = f"p{p}"
        T = smooth_textures(views + 1, size, seed=p)
        merged = T[0].clone()
        merged[20] = 1.0
        stems = [f"pose000_view{v:03d}" for v in range(views)]
        for v, stem in enumerate(stems):
            write_tensors(root / pid / f"{stem}.safetensors", {"texture": T[v + 1], "angle": torch.rand(1, size, size)})
        write_tensors(root / pid / MERGED_FILE, {"merged": merged, "covered": torch.ones(1, size, size)})
        index["people"][pid] = {"split": "val" if p == people - 1 else "train", "views": stems, "front": stems[0]}
    (root / INDEX_FILE).write_text(json.dumps(index))
    return root


def test_texture_folder_from_a_stage1_model(tmp_path, body):
    from dinar.data.synth import SynthConfig, generate
    from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
    from dinar.nn.config import preset
    from dinar.train.stage1 import export_avatar_model
    from dinar.train.textures import export_textures, read_merged, read_view

    torch.manual_seed(0)
    model = avatar_model_from_body(AvatarModelConfig(networks=preset("tiny"), atlas="native", occlusion=False), body)
    export_avatar_model(model, tmp_path / "stage1")
    generate(SynthConfig(people=1, poses=1, views=2, size=96), tmp_path / "data", progress=False)
    index = export_textures(tmp_path / "stage1", tmp_path / "data", tmp_path / "tex", progress=False)
    assert index.texture_size == 64 and index.info["tgen"] == "stage1"
    (pid,) = index.person_ids()
    T = read_view(index, pid, index.people[pid]["front"])["texture"]
    assert T.shape == (21, 64, 64) and T[:16].abs().sum() > 0 and T[20].sum() > 20  # T_gen from G, B_fill from Algorithm 1
    assert read_merged(index, pid)["merged"].shape == (21, 64, 64)


def test_command_line_options_parse_into_training_settings(tmp_path):
    import argparse

    from dinar.commands.data_textures import add_arguments as add_textures_arguments
    from dinar.commands.train_diffusion import (
        add_arguments as add_train_diffusion_arguments,
    )
    from dinar.commands.train_stages import train_overrides
    from dinar.commands.train_vq import add_arguments as add_train_vq_arguments

    vq = argparse.ArgumentParser()
    add_train_vq_arguments(vq)
    args = vq.parse_args(["--textures", "T", "--out", "R", "--steps", "5", "--lr", "1e-3", "--workers", "0"])
    assert args.preset == "tiny" and not args.resume
    assert train_overrides(args) == {"steps": 5, "lr": 1e-3, "num_workers": 0} and args.group_weights is None
    assert vq.parse_args(["--textures", "T", "--out", "R", "--group-weights", "1", "10", "1"]).group_weights == [1.0, 10.0, 1.0]
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(SystemExit):  # argparse: one line, exit 2
            vq.parse_args(["--textures", "T", "--out", "R", "--group-weights", "1", bad, "1"])
    dm = argparse.ArgumentParser()
    add_train_diffusion_arguments(dm)
    args = dm.parse_args(["--textures", "T", "--vq", "V", "--out", "R", "--preset", "small", "--views", "front"])
    assert args.views == "front" and args.preset == "small" and train_overrides(args) == {}
    tex = argparse.ArgumentParser()
    add_textures_arguments(tex)
    assert tex.parse_args(["--data", "D", "-o", "O"]).atlas == "front"
