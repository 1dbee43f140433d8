"""eval.ssimulacra2_terms: the terms add up to the score, and they say at which scale a difference sits."""

from __future__ import annotations

import io

import numpy as np
import pytest


def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[0:256, 0:256])


def _score(total: float) -> float:
    """libjxl's map from the sum of SSIMULACRA 2's weighted terms to its score (ssimulacra2.cc)."""
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0


def _grating(photo: np.ndarray, period: int) -> np.ndarray:
    """``photo`` plus a vertical luminance grating of ``period`` px and 3 levels."""
    wave = 3.0 * np.sin(2 * np.pi * np.arange(photo.shape[1]) / period)
    return np.clip(np.rint(photo + wave[None, :, None]), 0, 255).astype(np.uint8)


def test_the_terms_add_up_to_the_score(perceptual):
    from PIL import Image

    from eval import ssimulacra2_terms

    photo = _photo()
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=70)
    for test in (np.asarray(Image.open(buffer).convert("RGB")), _grating(photo, 16)):
        total = sum(ssimulacra2_terms.terms(photo, test).values())
        assert _score(total) == pytest.approx(perceptual.ssimulacra2(photo, test), abs=1e-6)
    assert sum(ssimulacra2_terms.terms(photo, photo).values()) == 0.0


def test_the_terms_place_a_pattern_at_its_scale(perceptual):
    from eval import ssimulacra2_terms

    photo = _photo()
    fine, coarse = (ssimulacra2_terms.terms(photo, _grating(photo, period)) for period in (4, 32))
    assert ssimulacra2_terms.shares(fine, top=1)[0][0].startswith(("Y scale 0", "Y scale 1"))
    assert ssimulacra2_terms.shares(coarse, top=1)[0][0] == "Y scale 2 L1 ssim"
    # the same amplitude costs far more where the metric weighs structure 8-32 px across
    assert sum(coarse.values()) > 4 * sum(fine.values())
    assert sum(share for _, share in ssimulacra2_terms.shares(coarse, top=200)) == pytest.approx(1.0)


def test_terms_refuse_images_of_different_shapes(perceptual):
    from eval import ssimulacra2_terms

    with pytest.raises(ValueError, match="shapes differ"):
        ssimulacra2_terms.terms(_photo(), _photo()[:128])


def test_eval_visibility_prints_the_terms_it_was_given():
    from eval.visibility import Row, report

    rows = [Row("sky", "1920x1080", "jpeg90", 45.0, 0.99, 88.0, 1.5),
            Row("sky", "1920x1080", "strength 1", 50.0, 0.99, 85.0, 1.2,
                terms=(("Y scale 2 L1 ssim", 0.54), ("Y scale 3 L1 ssim", 0.17)))]
    lines, met = report(rows)
    assert not met
    assert "  sky 1920x1080 strength 1: Y scale 2 L1 ssim 54%, Y scale 3 L1 ssim 17%" in lines
    assert not any("jpeg90:" in line for line in lines)
    without_terms, _ = report(rows[:1] + [Row("sky", "1920x1080", "strength 1", 50.0, 0.99, 85.0, 1.2)])
    assert not any("error terms" in line for line in without_terms)
