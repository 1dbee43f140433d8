"""What the filters promise, beyond the checks against scipy in test_attacks_checks.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from attack_images import grey8, rgb8
from scipy import ndimage

import attacks


def _photo16() -> np.ndarray:
    """The colour photograph at 16 bits, off the 8-bit grid: the filters' general (not 8-bit) path."""
    return rgb8().astype(np.uint16) * 257 + 100


def test_median_of_a_16_bit_image_replicates_the_borders_and_keeps_the_channels_apart():
    image = _photo16()
    expected = np.stack([ndimage.median_filter(image[:, :, c], size=5, mode="nearest") for c in range(3)], axis=2)
    assert np.array_equal(attacks.median(image, size=5), expected)


def test_gaussian_blur_reflects_at_the_borders():
    image = grey8().astype(np.float64) / 255
    for sigma in (1.0, 2.5):
        expected = ndimage.gaussian_filter(image, sigma, mode="mirror", truncate=4.0)      # dcb|abcd|cba
        assert np.abs(attacks.gaussian_blur(image, sigma=sigma) - expected).max() < 1e-4


@pytest.mark.parametrize("amount, radius", [(0.5, 1.0), (2.0, 1.0), (1.0, 3.0)])
def test_sharpen_adds_amount_times_the_detail_finer_than_radius(amount, radius):
    image = grey8().astype(np.float64) / 255
    blurred = ndimage.gaussian_filter(image, radius, mode="mirror", truncate=4.0)
    expected = np.clip(image + amount * (image - blurred), 0.0, 1.0)             # a float image stays in [0, 1]
    assert np.abs(attacks.sharpen(image, amount=amount, radius=radius) - expected).max() < 1e-4


def test_denoise_keeps_each_colour_in_its_channel():
    image = rgb8()
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    cleaned = attacks.denoise(noisy, strength=10.0)
    assert np.abs(cleaned.mean(axis=(0, 1)) - image.mean(axis=(0, 1))).max() < 2     # red stays red
    assert np.abs(cleaned[:, :, 0].astype(int) - image[:, :, 0]).mean() < np.abs(
        cleaned[:, :, 2].astype(int) - image[:, :, 0]).mean()


def test_denoise_of_a_grey_image_takes_away_as_much_as_its_strength():
    image = grey8()
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    gentle, strong = (attacks.denoise(noisy, strength=s).astype(float) for s in (3.0, 15.0))
    assert np.mean((gentle - noisy) ** 2) < 0.5 * np.mean((strong - noisy) ** 2)


def _ycrcb(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2YCrCb)


@pytest.mark.parametrize("mode, kept, changed", [(1, (1, 2), (0,)), (2, (0,), (1, 2))])
def test_self_similarities_modes_attack_luminance_or_chrominance_only(mode, kept, changed):
    image = rgb8()
    before, after = _ycrcb(image), _ycrcb(attacks.self_similarities(image, mode=mode))
    difference = np.abs(after - before).mean(axis=(0, 1))
    assert all(difference[c] < 0.004 for c in kept)                    # rounding to 8 bits only
    assert all(difference[c] > 0.004 for c in changed)
