"""The synthetic-people generator: determinism, splits, fit noise, poses and what the images show."""

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dinar.body.poses import POSES, perturb_pose, pose_tensor
from dinar.data.layout import list_people, list_stems, read_mask, read_params, read_rgb
from dinar.data.looks import LOOKS
from dinar.data.synth import FitNoise, SynthConfig, generate, noisy_fit, split_of

TINY = SynthConfig(people=2, poses=2, views=2, size=64, seed=3, texture_size=256)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, body):
    root = tmp_path_factory.mktemp("synth") / "a"
    generate(TINY, root, workers=1, progress=False)
    return root


def test_layout_and_counts(tiny):
    people = list_people(tiny)
    assert len(people) == TINY.people
    for person in people:
        stems = list_stems(person)
        assert stems == ["pose000_view000", "pose000_view001", "pose001_view000", "pose001_view001"]
        rgb = read_rgb(person / "rgb" / f"{stems[0]}.png")
        mask = read_mask(person / "segm" / f"{stems[0]}.png")
        assert rgb.shape == (64, 64, 3) and mask.shape == (64, 64)
        # framed like a photo: the person is there, centred, and does not touch the border
        assert 0.05 < (mask > 127).mean() < 0.6
        assert mask[0].max() == 0 and mask[-1].max() == 0
        rec = read_params(person / "params" / f"{stems[0]}.json", "anny", 104)
        assert rec.person_id == person.name and rec.exact is None
    assert (tiny / "README.md").read_text().count("contact_sheet.png") >= 1
    assert read_rgb(tiny / "contact_sheet.png").shape == (2 * 128, 2 * 128, 3)


def test_same_seed_byte_identical_and_worker_count_free(tiny, tmp_path):
    again = tmp_path / "b"
    generate(TINY, again, workers=2, progress=False)
    a, b = _digest(tiny), _digest(again)
    assert a.keys() == b.keys() and a == b


def test_generate_in_process_keeps_the_callers_threads(body, tmp_path, monkeypatch):
    """Generating on the caller's process (workers=1, as benchmarks/quality.py does for its test set) renders on one
    thread and then gives the caller back its own thread count: the avatars made after it run at full speed."""
    from dinar.data import synth

    monkeypatch.setattr(synth, "_WORKER", {})  # the body is loaded again, as on a fresh process
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generate(replace(TINY, people=1, poses=1, views=1), tmp_path / "one", workers=1, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_different_seed_differs(tiny, tmp_path):
    other = tmp_path / "c"
    generate(replace(TINY, people=1, poses=1, seed=4), other, workers=1, progress=False)
    a = read_rgb(next(iter(list_people(tiny))) / "rgb" / "pose000_view000.png")
    b = read_rgb(next(iter(list_people(other))) / "rgb" / "pose000_view000.png")
    assert not np.array_equal(a, b)


def test_noise_changes_fits_not_images(tiny, tmp_path):
    noisy = tmp_path / "n"
    generate(replace(TINY, people=1, noise=FitNoise.default(1.0)), noisy, workers=1, progress=False)
    person = list_people(noisy)[0]
    exact_person = tiny / person.name
    for stem in list_stems(person):
        assert (person / "rgb" / f"{stem}.png").read_bytes() == (exact_person / "rgb" / f"{stem}.png").read_bytes()
        rec = read_params(person / "params" / f"{stem}.json")
        ref = read_params(exact_person / "params" / f"{stem}.json")
        assert rec.exact is not None
        assert torch.allclose(rec.exact.pose, ref.fit.pose, atol=1e-6)
        assert not torch.allclose(rec.fit.pose, rec.exact.pose)


def test_shared_noise_gives_every_view_of_a_pose_one_body_and_its_exact_camera(tiny, tmp_path):
    """A calibrated capture's fit (``noise_shared``): the views of a pose share one wrong body, each keeps its own exact
    camera, and the images are those of the exact set."""
    shared = tmp_path / "s"
    generate(replace(TINY, people=1, noise=FitNoise.default(1.0), noise_shared=True), shared, workers=1, progress=False)
    person = list_people(shared)[0]
    records = {stem: read_params(person / "params" / f"{stem}.json") for stem in list_stems(person)}
    for pose in ("pose000", "pose001"):
        a, b = records[f"{pose}_view000"], records[f"{pose}_view001"]
        for key in ("pose", "shape", "global_orient", "transl"):
            assert torch.equal(getattr(a.fit, key), getattr(b.fit, key)), key
        assert not torch.allclose(a.fit.pose, a.exact.pose) and not torch.allclose(a.fit.transl, a.exact.transl)
        for rec in (a, b):
            assert torch.equal(rec.fit.camera.K, rec.exact.camera.K) and torch.equal(rec.fit.camera.R, rec.exact.camera.R)
    assert not torch.equal(records["pose000_view000"].fit.pose, records["pose001_view000"].fit.pose)  # a draw per pose
    for stem in records:
        assert (person / "rgb" / f"{stem}.png").read_bytes() == (tiny / person.name / "rgb" / f"{stem}.png").read_bytes()
    assert "one body error per pose shared by its views" in (shared / "README.md").read_text()


def test_noise_has_requested_size(body):

    from dinar.data.layout import FitParams
    from dinar.geometry.camera import orbit_cameras

    names = body.skeleton.names
    exact = FitParams(pose=torch.zeros(104, 3), shape=torch.full((6,), 0.5), global_orient=torch.zeros(3), transl=torch.zeros(3), camera=orbit_cameras(1))
    noise = FitNoise.default(2.0)
    rng = np.random.default_rng(0)
    pose_err, transl_err, focal_err = [], [], []
    for _ in range(200):
        fit = noisy_fit(exact, noise, names, rng)
        pose_err.append(fit.pose[names.index("upperarm01.L")])
        transl_err.append(fit.transl)
        focal_err.append(fit.camera.K[0, 0, 0] / exact.camera.K[0, 0, 0] - 1)
        assert torch.equal(fit.pose[names.index("finger1-1.L")], torch.zeros(3))  # only the listed bones move
    assert torch.stack(pose_err).std().item() == pytest.approx(noise.pose, rel=0.15)
    assert torch.stack(transl_err).std().item() == pytest.approx(noise.transl, rel=0.15)
    assert torch.stack(focal_err).std().item() == pytest.approx(noise.focal, rel=0.2)


def test_splits_fixed_and_complete(tiny):
    import json

    splits = json.loads((tiny / "splits.json").read_text())
    assert sorted(i for ids in splits.values() for i in ids) == sorted(p.name for p in list_people(tiny))
    for name, ids in splits.items():
        assert all(split_of(i) == name for i in ids)
    counts = {s: 0 for s in ("train", "val", "test")}
    for i in range(2000):
        counts[split_of(f"s0p{i:05d}")] += 1
    assert 0.75 < counts["train"] / 2000 < 0.85 and counts["val"] > 100 and counts["test"] > 100


def test_library_poses_are_distinct_and_perturbation_bounded(body):
    names = body.skeleton.names
    poses = {n: pose_tensor(n, names) for n in POSES}
    assert {"a_pose", "t_pose", "walking", "arms_crossed", "hands_on_hips", "arm_raised", "forearm_front", "lunge"} <= set(poses)
    keys = list(poses)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not torch.allclose(poses[a], poses[b]), (a, b)
    base = poses["walking"]
    p = perturb_pose(base, names, np.random.default_rng(1))
    import roma

    rel = roma.rotmat_to_rotvec(roma.rotvec_to_rotmat(p) @ roma.rotvec_to_rotmat(base).transpose(-1, -2)).norm(dim=-1)
    assert rel.max() < 0.2 * 3**0.5 + 1e-4 and rel.max() > 0.01
    # T-pose lifts the arms to shoulder height, A-pose does not
    out = body(pose=torch.stack([poses["a_pose"], poses["t_pose"]]))
    wrist = names.index("wrist.L")
    shoulder = names.index("upperarm01.L")
    assert abs(out.joints[1, wrist, 2] - out.joints[1, shoulder, 2]) < 0.08
    assert out.joints[0, wrist, 2] < out.joints[0, shoulder, 2] - 0.2


def test_front_and_back_differ(body):
    """A chest print and back panel make the back view measurably different from a mirrored front."""
    from dinar.data.appearance import sample_appearance

    rng = np.random.default_rng(0)
    apps = [sample_appearance(rng) for _ in range(50)]
    assert all(a.top.print_text or a.top.print_shape for a in apps)
    assert {a.top.kind for a in apps} == {"tshirt", "long_sleeve", "tank", "jacket"}
    assert {a.bottom.kind for a in apps} == {"trousers", "wide_trousers", "shorts", "skirt"}
    assert len({a.top.pattern for a in apps}) >= 4


def test_cli_entry_point(tmp_path, capsys):
    import argparse

    from dinar.commands.data_synth import add_arguments as add_synth_arguments
    from dinar.commands.data_synth import run as cli_synth

    parser = argparse.ArgumentParser()
    add_synth_arguments(parser)
    args = parser.parse_args(["--people", "1", "--poses", "1", "--views", "2", "--size", "32", "--noise", "0.5", "-o", str(tmp_path / "d")])
    assert cli_synth(args) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    card = (tmp_path / "d" / "README.md").read_text()
    assert "views per pose: 2" in card and "pose 0.04" in card
    with pytest.raises(ValueError, match="--views"):
        cli_synth(parser.parse_args(["--views", "0", "-o", str(tmp_path / "e")]))
    with pytest.raises(ValueError, match="add --noise"):
        cli_synth(parser.parse_args(["--noise-shared", "-o", str(tmp_path / "e")]))
    with pytest.raises(ValueError, match="--bare-torso"):
        cli_synth(parser.parse_args(["--bare-torso", "nan", "-o", str(tmp_path / "e")]))
    with pytest.raises(ValueError, match="--cap"):
        cli_synth(parser.parse_args(["--cap", "1.5", "-o", str(tmp_path / "e")]))
    with pytest.raises(ValueError, match="--plain"):
        cli_synth(parser.parse_args(["--plain", "-0.5", "-o", str(tmp_path / "e")]))


def _only_the_first_person_changed(tiny: Path, root: Path) -> str:
    """Asserts that every image of the first person of ``tiny`` differs in ``root`` and that the second person's files
    are byte-identical in both; returns the first person's id."""
    a, b = _digest(tiny), _digest(root)
    changed, kept = (p.name for p in list_people(tiny))
    assert {k: v for k, v in a.items() if k.startswith(kept)} == {k: v for k, v in b.items() if k.startswith(kept)}
    assert all(a[k] != b[k] for k in a if k.startswith(f"{changed}/rgb/"))
    return changed


@pytest.mark.parametrize(("look", "share"), [("bare_torso", 0.6), ("cap", 0.3), ("plain", 0.5), ("long_hair_front", 0.8)])
def test_a_look_share_changes_the_chosen_people_only(tiny, tmp_path, look, share):
    """Seed 3's person 0 has a male body (Anny gender 0.237) and long hair, and draws 0.587 from its bare-torso stream,
    0.081 from its cap stream, 0.397 from its plain-clothes one, 0.725 from its front-hair one; person 1's body is not
    male enough (0.407), its hair is medium, and it draws 0.445, 0.721 and 0.206: at these shares only person 0 changes,
    and person 1's files are byte-identical to the dataset made without the option."""
    root = tmp_path / look
    summary = generate(replace(TINY, **{look: share}), root, workers=1, progress=False)
    chosen = _only_the_first_person_changed(tiny, root)
    assert summary[look] == [chosen] and not (set(LOOKS) - {look}) & set(summary)
    title, whom = LOOKS[look].title, LOOKS[look].whom
    card = (root / "README.md").read_text()
    assert f"--{look.replace('_', '-')} {share:g}" in card and f"- {title}: a share {share:g} {whom}: 1 ({chosen})\n" in card
    with pytest.raises(ValueError, match=look):
        SynthConfig(**{look: 1.5})


def test_a_bare_torso_has_no_top_and_keeps_the_rest(body):
    from dinar.data.appearance import BOTTOM, SKIN, TOP, bare_torso, sample_appearance
    from dinar.data.texture_bake import bake_person_texture

    app = sample_appearance(np.random.default_rng(0))
    with torch.no_grad():
        rest = body(shape=body.neutral_shape(1).float())
        dressed, bare = (bake_person_texture(body, a, rest.vertices[0], rest.normals[0], rest.joints[0], 128).vertex_labels
                         for a in (app, bare_torso(app)))
    assert (dressed == TOP).sum() > 1000 and not (bare == TOP).any()
    assert ((bare == SKIN) | (bare == BOTTOM))[dressed == TOP].all()  # skin where the top was (trousers over its hem)
    assert torch.equal(dressed[dressed != TOP], bare[dressed != TOP])


def test_front_hair_shows_long_hair_at_the_front_and_leaves_short_hair(body):
    """Long hair seen from the front: hair where skin or the top was, down the sides of the neck and over the front of
    the shoulders (so points at the front of the body), nothing else changed; short hair stays as it is."""
    from dinar.data.appearance import HAIR, sample_appearance, with_front_hair
    from dinar.data.texture_bake import bake_person_texture

    app = sample_appearance(np.random.default_rng(0))
    with torch.no_grad():
        rest = body(shape=body.neutral_shape(1).float())
        bake = lambda a: bake_person_texture(body, a, rest.vertices[0], rest.normals[0], rest.joints[0], 128).vertex_labels
        long, front = (bake(a) for a in (replace(app, hair_style="long"), with_front_hair(replace(app, hair_style="long"))))
        short = replace(app, hair_style="short")
        assert not with_front_hair(short).hair_front and torch.equal(bake(short), bake(with_front_hair(short)))
    changed = long != front
    assert changed.sum() > 200 and (front[changed] == HAIR).all()
    forward = -1 if body.name == "anny" else 1  # Anny's subject faces -Y
    y = rest.vertices[0, :, 1] * forward
    assert (y[changed] > y[long == HAIR].mean()).float().mean() > 0.9  # in front of the long hair on the back


def test_a_look_paints_the_same_every_time_eyeballs_included(body):
    """Eyeball points near neither eye's pole (inside the head) were left as uninitialised memory: now black, every time."""
    from dinar.data.appearance import EYE, sample_appearance
    from dinar.data.texture_bake import bake_person_texture

    app = sample_appearance(np.random.default_rng(1))
    with torch.no_grad():
        rest = body(shape=body.neutral_shape(1).float())
        first, second = (bake_person_texture(body, app, rest.vertices[0], rest.normals[0], rest.joints[0], 64) for _ in range(2))
    assert torch.equal(first.vertex_colours, second.vertex_colours) and torch.equal(first.texture, second.texture)
    eye = first.vertex_colours[first.vertex_labels == EYE]
    assert (eye == 0).all(1).sum() > 0 and torch.isfinite(eye).all()


def test_a_cap_covers_the_scalp_all_round_in_its_colour_and_keeps_the_face(body):
    from dinar.data.appearance import CAP, EYE, HAIR, SKIN, sample_appearance, with_cap
    from dinar.data.texture_bake import bake_person_texture

    app = sample_appearance(np.random.default_rng(0))
    capped = with_cap(app, np.random.default_rng(1))
    with torch.no_grad():
        rest = body(shape=body.neutral_shape(1).float())
        plain, cap = (bake_person_texture(body, a, rest.vertices[0], rest.normals[0], rest.joints[0], 128) for a in (app, capped))
    on = cap.vertex_labels == CAP
    assert on.sum() > 200 and not (plain.vertex_labels == CAP).any()
    assert torch.equal(plain.vertex_labels[~on], cap.vertex_labels[~on])  # nothing else changes
    assert ((plain.vertex_labels == HAIR) | (plain.vertex_labels == SKIN))[on].all()  # over the hair and the scalp
    assert (cap.vertex_labels == EYE).sum() == (plain.vertex_labels == EYE).sum()  # the face is left
    depth = rest.vertices[0][on] @ torch.tensor(body.front_axis, dtype=torch.float32)
    assert depth.max() - depth.min() > 0.12  # from the forehead round to the back of the head
    colour = cap.vertex_colours[on]
    assert (colour - torch.tensor(capped.cap)).abs().max() < 0.1 and colour.std(0).max() < 0.05  # one colour, lightly shaded


@pytest.mark.parametrize("seed", [1, 2])  # dots and a print; stripes and a print over plain trousers
def test_plain_clothes_are_each_garment_in_its_main_colour_front_and_back(body, seed):
    from dinar.data.appearance import BOTTOM, TOP, plain_clothes, sample_appearance
    from dinar.data.texture_bake import bake_person_texture

    app = sample_appearance(np.random.default_rng(seed))
    with torch.no_grad():
        rest = body(shape=body.neutral_shape(1).float())
        patterned, plain = (bake_person_texture(body, a, rest.vertices[0], rest.normals[0], rest.joints[0], 128) for a in (app, plain_clothes(app)))
    assert torch.equal(patterned.vertex_labels, plain.vertex_labels)  # the same garments, cut the same
    assert patterned.vertex_colours[patterned.vertex_labels == TOP].std(0).max() > 0.1  # the sampled top has a pattern or print
    for label, garment in ((TOP, app.top), (BOTTOM, app.bottom)):
        colours = plain.vertex_colours[plain.vertex_labels == label]
        assert colours.std(0).max() < 0.03  # one colour, with the cloth's light shading
        assert (colours.mean(0) - torch.tensor(garment.colours[0])).abs().max() < 0.01
    rest_of_body = (plain.vertex_labels != TOP) & (plain.vertex_labels != BOTTOM)
    assert torch.equal(patterned.vertex_colours[rest_of_body], plain.vertex_colours[rest_of_body])  # painted alike (eyeballs included)
