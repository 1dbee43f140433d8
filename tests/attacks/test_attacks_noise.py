"""What the noise attacks promise, beyond the measurements in test_attacks_checks.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attack_images import rgb8

import attacks


def test_psnr_rounds_to_the_callers_16_bits_and_reaches_targets_8_bits_cannot():
    image = rgb8().astype(np.uint16) * 257 + 100                      # 16-bit values off the 8-bit grid
    out = attacks.psnr(image, db=70, seed=2)                           # 8-bit rounding alone leaves ~56 dB
    mse = np.mean((out.astype(np.float64) - image) ** 2)
    assert out.dtype == np.uint16 and abs(10 * math.log10(65535.0**2 / mse) - 70) < 0.1


def test_add_noise_level_0_leaves_the_image_as_it_is_as_shipped_too():
    image = rgb8()
    assert np.array_equal(attacks.add_noise(image, level=0, as_shipped=True, seed=1), image)


@pytest.mark.parametrize("amount", [0.05, 0.3])
def test_salt_and_pepper_turns_the_amount_of_pixels_black_or_white_half_each(amount):
    image = np.clip(rgb8(), 1, 254)                                   # no pixel black or white before
    out = attacks.salt_pepper(image, amount=amount, seed=7)
    changed = (out != image).any(axis=2)
    black, white = (out == 0).all(axis=2), (out == 255).all(axis=2)
    hit = black | white
    assert np.array_equal(hit, changed)                                # whole pixels, every channel alike
    assert hit.mean() == pytest.approx(amount, rel=0.1)
    assert black.sum() / hit.sum() == pytest.approx(0.5, abs=0.06)
