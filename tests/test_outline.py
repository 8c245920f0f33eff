"""The mask outline shared by the fit, its overlays and the occlusion band's silhouette error (geometry/outline.py)."""

import numpy as np

from dinar.geometry.outline import outline


def test_a_square_s_outline_is_its_ring():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    ring = mask.copy()
    ring[2, 2] = False
    assert (outline(mask) == ring).all()


def test_numbers_are_inside_from_one_half_and_the_image_edge_is_outside():
    mask = np.zeros((4, 4), np.float32)
    mask[:, :2] = 0.5
    mask[:, 2] = 0.49
    got = outline(mask)
    assert got[:, :2].all() and not got[:, 2:].any()  # two columns wide: every pixel touches the edge or the outside
    assert not outline(np.zeros((3, 3), bool)).any()
