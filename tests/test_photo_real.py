"""The photo path on real photos of people (``tests/data/README.md``: where each comes from, its licence).

A real photo has no ground truth. These tests check what its content makes certain: how many people
it shows, that each can be chosen, that the fitted body agrees with the detected keypoints and
person mask (:func:`~dinar.fitting.agreement.fit_agreement`), stands upright, and faces the way the
person visibly faces. ``python benchmarks/fit.py --source real --sheet ...`` draws the overlays
(``docs/real_photo_fits.jpg``) for a person to judge the rest. Needs the ``photo`` extra.
"""

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def fitter(body):
    from dinar.fitting.fitter import BodyFitter, FitConfig
    from dinar.fitting.photo_fit import library_prior

    return BodyFitter(body, FitConfig.preset("default"), prior_poses=library_prior(body))


@pytest.mark.parametrize(
    "name, count",
    [("sports2d_walk_two_people.jpg", 2), ("pose2sim_lab_two_people.jpg", 2), ("sports2d_jumping_jack.jpg", 1), ("loc_furnace_worker.jpg", 1)],
)
def test_counts_the_people_in_real_photos(mediapipe, name, count):
    """The background people (~half the subject's size, one backlit, one masked) are found too."""
    from dinar.fitting.detection import detect_people
    from dinar.fitting.photo import load_photo

    people = detect_people(load_photo(DATA / name))
    assert len(people) == count, [p.box for p in people]


def test_a_real_photo_with_two_people_needs_a_choice(mediapipe):
    from dinar.fitting.observe import observe_person
    from dinar.fitting.photo import SeveralPeopleError, load_photo

    photo = load_photo(DATA / "pose2sim_lab_two_people.jpg")
    with pytest.raises(SeveralPeopleError, match="found 2 people.*--person-index 0..1") as err:
        observe_person(photo)
    man, woman = observe_person(photo, person_index=0), observe_person(photo, person_index=1)
    man_hips, woman_hips = man.landmarks[23:25].mean(0), woman.landmarks[23:25].mean(0)
    assert man_hips[0] < 450 < woman_hips[0]  # the man stands left of x 450, the woman right of it
    assert man.crop.size > 1.5 * woman.crop.size  # he is nearer the camera
    # the boxes the message lists hold each person whole: given back as --box, they pick the same person
    for listed, chosen in zip(err.value.boxes, (man, woman)):
        boxed = observe_person(photo, box=listed)
        assert abs(boxed.landmarks[23:25].mean(0) - chosen.landmarks[23:25].mean(0)).max() < 10


def _body_axes(body, fit) -> tuple[torch.Tensor, torch.Tensor]:
    """The fitted body's up and forward directions in the camera's frame (x right, y down, z ahead)."""
    from dinar.fitting.points import fit_points_for

    r = fit.result
    kp = fit_points_for(body)(r.pose, r.shape, r.global_orient, r.transl).keypoints[0]
    kp = kp @ r.camera.R[0].T + r.camera.t[0]
    left = kp[5] - kp[6]  # right shoulder -> left shoulder
    up = (kp[5] + kp[6]) / 2 - (kp[15] + kp[16]) / 2  # ankles -> shoulders
    forward = torch.linalg.cross(left, up)
    return up / up.norm(), forward / forward.norm()


# photo, person, most mean keypoint distance (fraction of the person's height), least mask IoU, the
# way the person visibly faces (camera frame) and the least cosine of the fitted body's forward with it
LEFT, RIGHT, TOWARDS = (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)
CASES = [
    ("sports2d_walk_two_people.jpg", 0, 0.02, 0.75, LEFT, 0.8),  # walking right to left, ponytail behind
    ("sports2d_walk_two_people.jpg", 1, 0.02, 0.75, RIGHT, 0.8),  # standing on the box, looking right
    ("pose2sim_lab_two_people.jpg", 0, 0.02, 0.8, TOWARDS, 0.8),  # stepping towards the camera
    ("pose2sim_lab_two_people.jpg", 1, 0.03, 0.7, TOWARDS, 0.5),  # facing the camera, turned a little
    ("sports2d_jumping_jack.jpg", None, 0.02, 0.7, TOWARDS, 0.8),  # jumping jack, facing the camera
]


@pytest.mark.slow
@pytest.mark.parametrize("name, index, max_keypoints, min_iou, facing, min_cos", CASES)
def test_fits_real_photos_plausibly(body, mediapipe, fitter, name, index, max_keypoints, min_iou, facing, min_cos):
    from dinar.fitting.photo_fit import fit_photo

    fit = fit_photo(DATA / name, person_index=index, fitter=fitter)
    agreement = fit.agreement
    up, forward = _body_axes(body, fit)
    print(f"{name} person {index}: {agreement.as_dict()}, up {up.tolist()}, forward {forward.tolist()}")
    assert agreement.keypoints_rel < max_keypoints
    assert agreement.silhouette_iou > min_iou
    assert up[1] < -0.85  # upright: shoulders above the ankles in the image's vertical
    assert float(forward @ torch.tensor(facing)) > min_cos


@pytest.mark.slow
def test_an_avatar_of_a_person_in_a_real_photo(body, mediapipe, tmp_path):
    """`dinar avatar PHOTO --person-index 0` on a two-person photo with the shipped model: in the photo's
    view the avatar shows the person's colours (on the person's pixels its error is well under a black
    or white image's and under its own back view's). The shipped model never saw a real person: on
    these pixels it does about as well as the person's flat mean colour, so that is not asserted."""
    import numpy as np
    from PIL import Image

    from dinar.avatar import Avatar
    from dinar.cli import main
    from dinar.data.photo_files import fit_photos
    from dinar.demo import turned_views

    photo = DATA / "pose2sim_lab_two_people.jpg"
    out = tmp_path / "lab.avatar"
    assert main(["avatar", str(photo), "--person-index", "0", "--device", "cpu", "--diffusion-steps", "5", "-o", str(out)]) == 0
    crop, mask, fit = fit_photos([photo], body, person_index=0)[0]  # the fit the command made (deterministic)
    front, back = (np.asarray(v, dtype=float) for v in turned_views(Avatar.load(out).bind(), fit, [0.0, 180.0]))
    n = front.shape[0]
    target = np.asarray(Image.fromarray(crop).resize((n, n), Image.Resampling.BOX), dtype=float)
    person = np.asarray(Image.fromarray(mask).resize((n, n), Image.Resampling.BOX)) > 127

    def error(image):
        return float(np.abs(image - target)[person].mean())

    errors = {"front": error(front), "back": error(back), "black": error(np.zeros_like(target)), "white": error(np.full_like(target, 255.0))}
    print({k: round(v, 1) for k, v in errors.items()})
    assert errors["front"] < 0.5 * min(errors["black"], errors["white"])
    assert errors["front"] < 0.5 * errors["back"]
