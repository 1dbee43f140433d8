"""Placing a small crop in a master by the mark's tile phase and the master's thumbnail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import photo

import watermark as wm
from eval import suspects
from watermark import placement
from watermark.features import master_print

SIZE = (1920, 1080)


def _frame(name):
    return cv2.resize(photo(name), SIZE, interpolation=cv2.INTER_AREA)


def _cut(pixels, seed, fraction=0.05):
    """A JPEG 90 crop and where it was cut, (left, top)."""
    left, top, _, _ = suspects.crop_box(pixels.shape, fraction=fraction, seed=seed)
    return suspects.jpeg(suspects.crop_area(pixels, fraction=fraction, seed=seed), 90), (left, top)


@pytest.fixture(scope="module")
def marked(key):
    master = _frame("coffee")
    return master, np.asarray(wm.embed(master, 0x5EED, key))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_marked_crop_is_placed_where_it_was_cut(marked, key, seed):
    master, copy = marked
    crop, (left, top) = _cut(copy, seed)
    phase = placement.phase_at(crop, crop.shape[1::-1], SIZE, key)
    assert phase is not None and phase.p_value <= placement.PHASE_GATE
    registration, rms = placement.place(crop, crop.shape[1::-1], master_print(master), phase)
    assert registration.matched and rms <= placement.MAX_RMS
    assert abs(registration.homography[0, 2] - left) <= 2 and abs(registration.homography[1, 2] - top) <= 2


def test_a_reduced_suspect_maps_its_own_pixels(marked, key):
    master, copy = marked
    crop, (left, top) = _cut(copy, 0)
    phase = placement.phase_at(crop, crop.shape[1::-1], SIZE, key)
    half = cv2.resize(crop, (crop.shape[1] // 2, crop.shape[0] // 2), interpolation=cv2.INTER_AREA)
    registration, _ = placement.place(half, crop.shape[1::-1], master_print(master), phase)
    corner = registration.homography @ [half.shape[1], half.shape[0], 1.0]
    assert abs(corner[0] - (left + crop.shape[1])) <= 3 and abs(corner[1] - (top + crop.shape[0])) <= 3


def test_no_place_in_a_master_that_does_not_show_the_crop(marked, key):
    _, copy = marked
    crop, _ = _cut(copy, 0)
    phase = placement.phase_at(crop, crop.shape[1::-1], SIZE, key)
    assert placement.place(crop, crop.shape[1::-1], master_print(_frame("motorcycle_left")), phase) is None


def test_a_suspect_larger_than_the_master_or_too_small_is_not_searched(key):
    assert placement.phase_at(np.zeros((1200, 2000)), (2000, 1200), SIZE, key) is None
    assert placement.phase_at(np.zeros((40, 40)), (40, 40), SIZE, key) is None


def test_the_phase_p_value_of_unmarked_crops_is_uniform_or_larger(key):
    """Calibration: 60 crops of unmarked photographs; under the null at most a few in 20 reach 0.05."""
    p_values = []
    for name in ("coffee", "rocket", "chelsea", "astronaut", "motorcycle_left", "immunohistochemistry"):
        frame = _frame(name)
        for seed in range(10):
            crop, _ = _cut(frame, seed, fraction=0.03 + 0.01 * (seed % 4))
            p_values.append(placement.phase_at(crop, crop.shape[1::-1], SIZE, key).p_value)
    p_values = np.array(p_values)
    assert np.mean(p_values <= placement.PHASE_GATE) <= 0.15 and p_values.min() > 1e-4


def test_the_same_colours_without_the_same_shapes_do_not_match():
    """A dark, low-contrast crop of another photograph can be close in RMS to a dark area of a master:
    the correlation of the deviations is what tells them apart."""
    bright = placement.smoothed_thumbnail(master_print(_frame("coffee")))
    thumbnail = (0.1 + 0.15 * (bright - bright.mean())).astype(np.float32)    # a dark, low-contrast master
    small = np.ascontiguousarray(thumbnail[20:44, 60:103])
    assert placement.compare(thumbnail, small, 60.0, 20.0) == pytest.approx((0.0, 1.0), abs=1e-6)
    other = np.ascontiguousarray(small[::-1, ::-1])            # the same colours in other shapes
    rms, correlation = placement.compare(thumbnail, other, 60.0, 20.0)
    assert rms <= placement.MAX_RMS and correlation < placement.MIN_CORRELATION
