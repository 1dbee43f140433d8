"""The embedder's SSIMULACRA 2 (OpenCV) against the ``ssimulacra2`` package the benchmark uses,
and the visibility budget built on it."""

import io

import cv2
import numpy as np
import pytest
from photos import photo
from PIL import Image

import watermark as wm
from watermark.image import pixels_of
from watermark.schemes.lattice.calibration import visible_scale
from watermark.ssimulacra2 import SMALLEST, Reference
from watermark.visibility import MARGIN, Budget


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _distorted(original: np.ndarray) -> dict[str, np.ndarray]:
    noise = np.random.default_rng(5).normal(0.0, 2.0, original.shape)
    return {"jpeg 90": _jpeg(original, 90), "jpeg 40": _jpeg(original, 40),
            "blur": cv2.GaussianBlur(original, (0, 0), 1.2),
            "noise": np.clip(original + noise, 0, 255).astype(np.uint8),
            "shifted a level": np.clip(original.astype(np.int16) + 1, 0, 255).astype(np.uint8)}


@pytest.mark.parametrize("shape", [(300, 451), (333, 517)])     # even, and odd sides (their last row and column)
def test_it_scores_as_the_package_does(perceptual, shape):
    original = np.ascontiguousarray(photo("chelsea")[:shape[0], :shape[1]])
    reference = Reference(original)
    for name, test in _distorted(original).items():
        assert reference.score(test) == pytest.approx(perceptual.ssimulacra2(original, test), abs=0.05), name
    assert reference.score(original) == 100.0


def test_it_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="at least"):
        Reference(np.zeros((SMALLEST - 1, 400, 3), np.uint8))    # too few scales: the weights would shift
    with pytest.raises(ValueError, match="RGB"):
        Reference(np.zeros((300, 400), np.uint8))
    with pytest.raises(ValueError, match="shapes differ"):
        Reference(np.zeros((300, 400, 3), np.uint8)).score(np.zeros((300, 401, 3), np.uint8))


def test_the_budget_is_the_pictures_own_jpeg_90_cost(perceptual):
    original = np.ascontiguousarray(photo("coffee")[:300, :400])
    budget = Budget.of(*pixels_of(original))
    assert budget is not None
    assert budget.target == pytest.approx(perceptual.ssimulacra2(original, _jpeg(original, 90)) + MARGIN, abs=0.05)
    assert budget.score(np.zeros(original.shape[:2], np.float32)) == 100.0
    faint, strong = (np.random.default_rng(1).normal(0.0, level / 255, original.shape[:2]).astype(np.float32)
                     for level in (0.5, 3.0))
    assert 100.0 > budget.score(faint) > budget.score(strong)


def test_grey_and_alpha_pictures_have_a_budget_others_are_marked_without():
    grey = np.ascontiguousarray(photo("coffee")[:300, :400, 1])
    with_alpha = np.dstack([photo("coffee")[:300, :400], np.full((300, 400), 200, np.uint8)])
    for image in (grey, with_alpha, Image.fromarray(grey)):
        budget = Budget.of(*pixels_of(image))
        assert budget is not None and budget.score(np.zeros((300, 400), np.float32)) == 100.0
    for image in (grey.astype(np.uint16) * 257, grey.astype(np.float32) / 255, grey[:200]):
        assert Budget.of(*pixels_of(image)) is None


def test_the_scale_within_budget_is_the_largest_tried_that_scores_the_target():
    def score_at(scale: float) -> float:
        tried.append(scale)
        return 100.0 - 12.0 * scale**1.4

    tried: list[float] = []
    assert visible_scale(score_at, 80.0) == 1.0 and tried == [1.0]      # within it already: one score
    tried.clear()
    scale = visible_scale(score_at, 95.0)
    assert score_at(scale) >= 95.0 and score_at(scale + 0.02) < 95.0 + 0.6
    tried.clear()
    assert visible_scale(score_at, 99.9) == pytest.approx(0.35)          # out of reach: the least it may go
    assert min(tried) == pytest.approx(0.35)


def test_a_photograph_more_visible_than_its_jpeg_90_is_marked_less_visibly(key, perceptual):
    # immunohistochemistry at 1920x1080 (upscaled, smooth: JPEG q90 costs it little) scored 89.7
    # against its JPEG q90's 92.4 before its amplitude was checked against the budget
    original = cv2.resize(photo("immunohistochemistry"), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    marked = wm.embed(original, 0x5EED, key)
    assert perceptual.ssimulacra2(original, marked) >= perceptual.ssimulacra2(original, _jpeg(original, 90))
    assert wm.detect(marked, key).payload == 0x5EED
