"""Honest statistics: unmarked images and wrong keys are never found, and their p-values are uniform."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import stats as scipy_stats

import watermark as wm
from photos import PHOTO_NAMES, photo

NULL_SOURCES = ("camera", "moon", "coins", "brick", "grass", "gravel", "page", "clock", "text", "cell",
                "microaneurysms", "motorcycle_right")


def _source(name):
    from skimage import data

    image = data.stereo_motorcycle()[1] if name == "motorcycle_right" else getattr(data, name)()
    image = np.asarray(image, dtype=np.uint8)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]


def _unmarked(count, seed):
    """Crops, resizes and JPEG/noise versions of photographs that are never marked."""
    rng = np.random.default_rng(seed)
    sources = [_source(name) for name in NULL_SOURCES]
    for index in range(count):
        image = sources[index % len(sources)]
        height, width = image.shape[:2]
        h, w = (int(rng.integers(min(height, 160), height + 1)), int(rng.integers(min(width, 160), width + 1)))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        crop = image[top:top + h, left:left + w]
        scale = rng.uniform(0.8, 2.0)
        crop = cv2.resize(crop, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        kind = index % 3
        if kind == 1:
            buffer = io.BytesIO()
            Image.fromarray(crop).save(buffer, "JPEG", quality=int(rng.integers(30, 95)))
            crop = np.asarray(Image.open(buffer))
        elif kind == 2:
            crop = np.clip(crop + rng.normal(0, 4, crop.shape), 0, 255).astype(np.uint8)
        yield crop


@pytest.fixture(scope="module")
def null_p_values(key):
    return np.array([wm.detect(image, key).p_value for image in _unmarked(1000, seed=11)])


def test_no_unmarked_image_is_found(null_p_values):
    assert len(null_p_values) >= 1000
    assert null_p_values.min() > wm.schemes.DEFAULT_FALSE_ALARM


def test_unmarked_p_values_are_valid_and_close_to_uniform(null_p_values):
    # Valid: never more small p-values than a uniform law allows (one-sided KS, and the 1 % tail
    # within a binomial band for 1000 draws) ...
    assert scipy_stats.kstest(null_p_values, "uniform", alternative="greater").pvalue > 1e-3
    assert np.mean(null_p_values <= 0.01) <= 0.025
    # ... and not far from uniform: the union bound over every offset, symmetry and lattice the
    # search tries makes them conservative by about a factor of two, no more.
    assert np.mean(null_p_values <= 0.1) >= 0.03
    assert np.mean(null_p_values <= 0.5) >= 0.25


def test_wrong_keys_behave_like_no_mark(key):
    rng = np.random.default_rng(5)
    p_values = []
    for index in range(120):
        image = photo(PHOTO_NAMES[index % len(PHOTO_NAMES)])
        image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if image.shape[0] > 800 else image
        marked = wm.embed(image, int(rng.integers(0, 2**63)), key)
        p_values.append(wm.detect(marked, wm.Key(rng.bytes(32))).p_value)
    p_values = np.array(p_values)
    assert p_values.min() > wm.schemes.DEFAULT_FALSE_ALARM
    assert np.mean(p_values <= 0.05) <= 0.12
    assert scipy_stats.kstest(p_values, "uniform", alternative="greater").pvalue > 1e-3
