"""What the bending and print-and-scan attacks promise, beyond test_attacks_checks.py's sizes of effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attack_images import grey8, rgb8
from scipy import ndimage

import attacks

_STILL = {"inwards": 0.0, "outwards": 0.0, "bending": 0.0, "randomisation": 0.0, "deviation": 0.0}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_random_bending_ends_with_jpeg_at_its_quality():
    image = rgb8()
    psnrs = {q: _psnr(attacks.random_bending(image, **_STILL, quality=q, seed=3), image) for q in (0, 90, 20)}
    assert psnrs[0] > psnrs[90] > psnrs[20] + 3
    out = attacks.random_bending(image, **_STILL, quality=20, seed=3)
    assert _psnr(out, attacks.jpeg(image, quality=20)) > 30               # the JPEG's own blocks, up to the dither


def test_random_bending_as_shipped_differs_only_on_images_that_are_not_square():
    square, wide = rgb8()[:, :96], rgb8()
    assert np.array_equal(attacks.random_bending(square, as_shipped=True, seed=2),
                          attacks.random_bending(square, seed=2))
    assert not np.array_equal(attacks.random_bending(wide, as_shipped=True, seed=2),
                              attacks.random_bending(wide, seed=2))


@pytest.mark.parametrize("deviation", [0.0, 1.5, 8.0])
def test_random_bending_shifts_the_levels_by_at_most_its_deviation(deviation):
    with attacks.recording() as drawn:
        attacks.random_bending(rgb8(), deviation=deviation, seed=4)
    offsets = np.abs(np.array(dict(drawn)["random_bending"]["level_offsets"]))
    assert offsets.max() <= deviation and offsets.max() >= deviation / 2


def test_random_bending_mirrors_the_picture_where_a_corner_moves_out():
    white = np.full((96, 128, 3), 255, np.uint8)
    out = attacks.random_bending(white, outwards=6.0, quality=0, deviation=0.0, seed=5)
    assert out.min() >= 254                                              # no black border read from outside


def test_random_bending_bends_by_half_a_period_across_each_side():
    stripes = np.repeat(grey8()[:, 64:65], 128, axis=1)                  # the photograph's middle column, repeated
    amplitude = 20 * (128 + 96) / 400                                    # 11.2 px
    out = attacks.random_bending(stripes, **{**_STILL, "bending": 20.0}, quality=0, seed=1).astype(float)

    def shift(x):        # how far down column x's content moved, in the middle rows
        rows = slice(30, 66)
        errors = {s: np.mean((out[rows, x] - stripes.astype(float)[rows.start - s:rows.stop - s, x]) ** 2)
                  for s in range(-15, 16)}
        return min(errors, key=errors.get)

    assert abs(abs(shift(64)) - amplitude) <= 1.5                        # the middle moves the most
    assert abs(shift(127)) < amplitude / 2 and abs(shift(0)) < amplitude / 2


@pytest.mark.parametrize("name", ["small_random_distortions", "latest_small_random_distortions"])
def test_distortions_of_factor_0_leave_the_picture_where_it_was(name):
    image = rgb8()
    still = attacks.attack(name, factor=0.0)(image, seed=6)
    assert np.abs(still.astype(int) - image).max() <= 1                  # the dithering only
    assert _psnr(attacks.attack(name, factor=1.0)(image, seed=6), image) < 30


def test_print_scan_s_tone_curve_blur_and_noise_are_its_parameters():
    image = np.clip(grey8(), 40, 215)
    flat = {"warp": 0.0, "blur": 0.0, "noise": 0.0, "gamma": 1.0}
    assert np.abs(attacks.print_scan(image, **flat, seed=1).astype(int) - image).max() <= 1
    curved = attacks.print_scan(image, **{**flat, "gamma": 1.8}, seed=1)
    assert np.abs(curved - np.rint((image / 255.0) ** 1.8 * 255)).max() <= 1
    blurred = attacks.print_scan(image, **{**flat, "blur": 2.0}, seed=1)
    expected = ndimage.gaussian_filter(image.astype(float), 2.0, mode="mirror", truncate=4.0)
    assert np.abs(blurred - expected).max() <= 1
    noisy = attacks.print_scan(image, **{**flat, "noise": 0.05}, seed=1)
    assert np.std(noisy.astype(float) - image) / 255 == pytest.approx(0.05, rel=0.05)
