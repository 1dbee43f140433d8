"""The perceptual mask: how much mark each part of an image may take at strength 1."""

import numpy as np

from watermark import color
from watermark.schemes.lattice import masking


def _shadow_to_light(short_side: int) -> float:
    """The mask in a flat, grainy shadow (12 of 255) over the mask in the same grain at 160 of 255."""
    rng = np.random.default_rng(5)
    luma = np.full((short_side, short_side * 3 // 2), 160 / 255, np.float32)
    luma[:, : luma.shape[1] // 2] = 12 / 255
    luma += rng.normal(0.0, 1 / 255, luma.shape).astype(np.float32)
    shape = color.working_shape(luma.shape)
    mask = masking.perceptual_mask(luma, shape)
    middle = shape[1] // 2
    return float(np.median(mask[:, : middle - 16]) / np.median(mask[:, middle + 16:]))


def test_a_small_image_takes_less_mark_in_its_shadows():
    # SSIM, the small images' measure, weighs a change in the shadows more
    assert _shadow_to_light(512) < 0.5


def test_a_large_image_takes_as_much_mark_in_its_shadows_as_in_its_light():
    # the eye's measures at 1:1 do not (SSIMULACRA2, Butteraugli); a dark photograph's mark needs it
    assert abs(_shadow_to_light(1080) - 1.0) < 0.05
