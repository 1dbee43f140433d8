"""eval.metrics against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eval import metrics


def test_psnr_matches_the_formula():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / mse), rel=1e-12)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a.astype(np.float32) / 255, b.astype(np.float32) / 255) == pytest.approx(
        metrics.psnr(a, b), abs=1e-4)


def test_psnr_refuses_mismatched_images():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="dtypes differ"):
        metrics.psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16))


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_ssim_agrees_with_scikit_image_on_luma(name, small_photo):
    from skimage.metrics import structural_similarity

    original = small_photo(name)
    rng = np.random.default_rng(2)
    for sigma in (2.0, 8.0, 25.0):
        noisy = np.clip(original + rng.normal(0, sigma, original.shape), 0, 255).astype(np.uint8)
        reference = structural_similarity(metrics.luma(original), metrics.luma(noisy), gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False, data_range=255)
        assert metrics.ssim(original, noisy) == pytest.approx(reference, abs=1e-3)
    assert metrics.ssim(original, original) == pytest.approx(1.0)


def test_bit_accuracy_and_error_rate():
    truth = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    read = truth.copy()
    read[[0, 5]] ^= 1
    assert metrics.bit_accuracy(read, truth) == 0.75
    assert metrics.bit_error_rate(read, truth) == 0.25
    assert math.isnan(metrics.bit_accuracy(None, truth))
    with pytest.raises(ValueError):
        metrics.bit_accuracy(read[:4], truth)
    assert metrics.exact_payload_rate([True, False, True, True]) == 0.75


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1000, 5000), fpr=st.sampled_from([1e-3, 1e-2, 0.05]), seed=st.integers(0, 2**32 - 1))
def test_threshold_at_fpr_lets_at_most_fpr_of_the_null_through(n, fpr, seed):
    null = np.random.default_rng(seed).normal(size=n)
    threshold = metrics.threshold_at_fpr(null, fpr)
    above = int(np.sum(null > threshold))
    assert above <= fpr * n
    assert above >= math.floor(fpr * n) - 1e-9    # ... and not needlessly fewer (no ties in continuous data)


def test_detection_rate_at_fpr_on_synthetic_scores():
    rng = np.random.default_rng(3)
    null = rng.normal(size=100_000)
    marked = rng.normal(loc=4.0, size=20_000)
    threshold = 3.090232   # the 0.999 quantile of N(0, 1)
    expected = 0.5 * math.erfc((threshold - 4.0) / math.sqrt(2))     # P(N(4, 1) > t)
    assert metrics.detection_rate_at_fpr(marked, null, 1e-3) == pytest.approx(expected, abs=0.01)
    assert metrics.detection_rate_at_fpr([np.nan, 10.0], null, 1e-3) == 0.5
    assert math.isnan(metrics.detection_rate_at_fpr([], null, 1e-3))


def test_detection_rate_at_p_counts_the_scheme_threshold():
    assert metrics.detection_rate_at_p([1e-12, 1e-9, 1e-8, np.nan], 1e-9) == 0.5


def test_calibration_tells_uniform_from_liberal_p_values():
    rng = np.random.default_rng(4)
    good = metrics.calibration(rng.uniform(size=2000))
    assert good.ks < 0.05 and good.ks_p_value > 0.001 and abs(good.below_001 - 0.01) < 0.01
    liberal = metrics.calibration(rng.uniform(size=2000) ** 3)    # too many small p-values
    assert liberal.ks > 0.2 and liberal.ks_p_value < 1e-6 and liberal.below_001 > 0.1
    assert metrics.calibration([]).n == 0
