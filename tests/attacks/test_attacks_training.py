"""A machine-learning data pipeline's transforms (torchvision's Resize + CenterCrop, RandomResizedCrop)."""

from __future__ import annotations

import numpy as np

import attacks


def _ramp(height, width):
    rows, cols = np.mgrid[0:height, 0:width]
    return ((rows * 7 + cols * 3) % 256).astype(np.uint8)


def test_resize_crop_resizes_the_shorter_side_then_keeps_the_centred_square():
    image = np.dstack([_ramp(480, 640)] * 3)
    out = attacks.resize_crop(image, short_side=256, size=224)
    resized = attacks.resize_short(image, side=256)
    assert resized.shape == (256, 341, 3) and out.shape == (224, 224, 3)
    np.testing.assert_array_equal(out, resized[16:240, 58:282])
    assert attacks.resize_crop(image, short_side=200, size=224).shape == (200, 200, 3)    # never padded


def test_random_resized_crop_draws_a_crop_of_the_documented_area_and_ratio_from_its_seed():
    image = _ramp(480, 640)
    for seed in range(20):
        with attacks.recording() as drawn:
            out = attacks.random_resized_crop(image, size=224, scale_min=0.5, seed=seed)
        (name, crop), = drawn
        assert name == "random_resized_crop"
        assert out.shape == (224, 224)
        assert 0.5 * 480 * 640 * 0.98 <= crop["width"] * crop["height"] <= 480 * 640
        assert 3 / 4 * 0.98 <= crop["width"] / crop["height"] <= 4 / 3 * 1.02
        assert 0 <= crop["x"] <= 640 - crop["width"] and 0 <= crop["y"] <= 480 - crop["height"]
        np.testing.assert_array_equal(out, attacks.random_resized_crop(image, size=224, scale_min=0.5, seed=seed))


def test_the_training_suite_names_what_a_data_pipeline_does():
    assert [str(a) for a in attacks.suite("training")] == [
        "resize_crop()", "resize_crop() + jpeg(quality=90)", "resize_crop() + jpeg(quality=75)",
        "resize_crop() + flip() + jpeg(quality=75)", "resize_short(side=256) + jpeg(quality=75)",
        "resize_short(side=512) + jpeg(quality=75)", "random_resized_crop(scale_min=0.5)", "random_resized_crop()"]
