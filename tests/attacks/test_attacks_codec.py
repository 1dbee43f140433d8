"""What the codec attacks promise, beyond the checks against decoders in test_attacks_checks.py."""

from __future__ import annotations

import math

import cv2
import numpy as np
from attack_images import rgb8

import attacks
from attacks import codec


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_webp_loses_more_and_writes_less_the_lower_its_quality():
    image = rgb8()
    assert _psnr(attacks.webp(image, quality=90), image) > _psnr(attacks.webp(image, quality=20), image) + 3
    assert len(codec.encoded(image, "webp", {"quality": 20})) < len(codec.encoded(image, "webp", {"quality": 90}))


def test_a_screenshot_has_the_size_the_image_has_on_screen():
    image = rgb8()                                                   # 128 x 96
    assert attacks.screenshot(image, scale=0.75).shape == (72, 96, 3)
    assert attacks.screenshot(image, scale=1.25).shape == (120, 160, 3)


def _detail(image: np.ndarray) -> float:
    """The energy of the finest detail: the mean squared Laplacian."""
    return float(np.mean(cv2.Laplacian(image.astype(np.float64), cv2.CV_64F) ** 2))


def test_a_screenshot_is_resampled_then_sharpened_by_its_amount():
    image = rgb8()
    plain = attacks.screenshot(image, scale=0.5, sharpen=0.0)
    area = cv2.resize(image.astype(np.float32), (64, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(plain.astype(np.float64) - area).max() <= 0.5 + 1e-3     # resampled and rounded, nothing else
    sharper = [_detail(attacks.screenshot(image, scale=0.5, sharpen=amount)) for amount in (0.0, 0.5, 1.5)]
    assert sharper[0] < sharper[1] < sharper[2]


def test_a_screenshot_of_a_16_bit_image_is_8_bit():
    image = rgb8().astype(np.uint16) * 257 + 100                      # 16-bit values off the 8-bit grid
    out = attacks.screenshot(image, scale=0.8)
    assert out.dtype == np.uint16 and not (out % 257).any()
