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


# SSIMULACRA2 of libjxl's C++ tool on synthetic pairs anyone can rebuild (scores as published with the
# Rust port's reference tests): 256 x 256 grey 128 against grey 128 + shift. The pure-Python package
# scores such flat images 1.8-3.5 higher; on photographs at high quality it is much closer (README).
_UNIFORM_SHIFT_REFERENCE = {1: 96.15027098, 5: 89.73209436, 10: 80.29149136, 20: 59.77892918}


def test_ssimulacra2_is_near_libjxl_on_reference_pairs(perceptual):
    grey = np.full((256, 256, 3), 128, np.uint8)
    scores = {shift: perceptual.ssimulacra2(grey, grey + np.uint8(shift)) for shift in _UNIFORM_SHIFT_REFERENCE}
    for shift, reference in _UNIFORM_SHIFT_REFERENCE.items():
        assert abs(scores[shift] - reference) < 4.0, (shift, scores[shift], reference)
    assert scores[1] > scores[5] > scores[10] > scores[20]
    assert perceptual.ssimulacra2(grey, grey) == pytest.approx(100.0)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_perceptual_metrics_rank_jpeg_qualities_of_a_photograph(perceptual):
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[100:356, 150:406])
    jpeg = _jpeg
    s2 = [perceptual.ssimulacra2(photo, jpeg(photo, quality)) for quality in (30, 70, 95)]
    ba = [perceptual.butteraugli(photo, jpeg(photo, quality)) for quality in (30, 70, 95)]
    assert s2[0] < s2[1] < s2[2] < 100.0
    assert ba[0] > ba[1] > ba[2] > 0.0
    assert perceptual.butteraugli(photo, photo) == pytest.approx(0.0, abs=1e-6)


def test_butteraugli_writes_its_heatmap(perceptual, tmp_path):
    photo = np.ascontiguousarray(np.asarray(np.broadcast_to(np.arange(64, dtype=np.uint8)[:, None, None] * 3,
                                                            (64, 64, 3))))
    noisy = np.clip(photo + np.random.default_rng(0).integers(-6, 7, photo.shape), 0, 255).astype(np.uint8)
    distance = perceptual.butteraugli(photo, noisy, heatmap=tmp_path / "map.ppm")
    assert distance > 0.5
    assert (tmp_path / "map.ppm").stat().st_size > 64 * 64 * 3


def test_a_missing_butteraugli_names_the_package(monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    with pytest.raises(metrics.MissingMetricError, match="apt-get install butteraugli"):
        metrics.butteraugli(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))


def test_luma_is_bt601_s_weighting_of_red_green_and_blue():
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    assert metrics.luma(primaries)[0] == pytest.approx([0.299 * 255, 0.587 * 255, 0.114 * 255])


def test_nothing_read_is_nan_not_a_rate():
    assert math.isnan(metrics.bit_accuracy(np.array([], np.uint8), np.array([1, 0, 1])))
    assert math.isnan(metrics.exact_payload_rate([]))


def test_a_threshold_leaves_out_unmarked_scores_that_are_not_numbers():
    scores = np.concatenate([np.arange(1000.0), [np.nan, np.inf, -np.inf]])
    assert metrics.threshold_at_fpr(scores, fpr=0.01) == 989.0


def test_a_score_equal_to_the_threshold_is_not_declared_marked():
    null = np.arange(1000.0)                        # whole-number scores, as counts of matching bits are
    assert metrics.threshold_at_fpr(null, 1e-3) == 998.0
    assert metrics.detection_rate_at_fpr([998.0, 999.0, 1000.0, 5.0], null, 1e-3) == 0.5


def test_calibration_reports_the_smallest_p_value():
    assert metrics.calibration([0.3, 0.02, np.nan, 0.9]).min_p == 0.02


def _photo_and_jpeg() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[100:228, 150:278])
    return photo, _jpeg(photo, 40)


def test_ssimulacra2_scores_the_test_image_against_the_reference_as_the_package_does(perceptual, tmp_path):
    from PIL import Image

    photo, jpeg = _photo_and_jpeg()
    Image.fromarray(photo).save(tmp_path / "reference.png")
    Image.fromarray(jpeg).save(tmp_path / "test.png")
    package = perceptual.ssimulacra2_package()
    expected = package.compute_ssimulacra2(str(tmp_path / "reference.png"), str(tmp_path / "test.png"))
    assert perceptual.ssimulacra2(photo, jpeg) == pytest.approx(expected, abs=1e-9)
    assert perceptual.ssimulacra2(jpeg, photo) != pytest.approx(expected, abs=0.1)     # the order matters


def test_butteraugli_gives_the_binary_s_distance_for_the_images_as_given(perceptual, tmp_path):
    import shutil
    import subprocess

    from PIL import Image

    photo, jpeg = _photo_and_jpeg()
    Image.fromarray(photo).save(tmp_path / "reference.png")
    Image.fromarray(jpeg).save(tmp_path / "test.png")
    done = subprocess.run([shutil.which("butteraugli"), str(tmp_path / "reference.png"), str(tmp_path / "test.png")],
                          capture_output=True, text=True, check=True)
    assert perceptual.butteraugli(photo, jpeg) == pytest.approx(float(done.stdout.split()[0]), abs=1e-6)
