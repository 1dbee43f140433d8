"""Quality at default strength: PSNR and SSIM on real photographs at their own and larger sizes."""

import cv2
import numpy as np
import pytest
from photos import PHOTO_NAMES, photo
from skimage.metrics import structural_similarity

import watermark as wm

# One worker runs the module, so that `quality` (sixteen photographs marked) is made once.
pytestmark = pytest.mark.xdist_group("quality")


def _psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def quality(key):
    rows = []
    for size in (None, (1080, 1920)):
        for name in PHOTO_NAMES:
            image = photo(name) if size is None else cv2.resize(photo(name), size[::-1], interpolation=cv2.INTER_CUBIC)
            marked = wm.embed(image, 0xC0FFEE, key)
            rows.append((name, size, _psnr(image, marked),
                         structural_similarity(image, marked, channel_axis=2, data_range=255)))
    return rows


def test_mean_psnr_at_least_40_db(quality):
    assert np.mean([psnr for _, _, psnr, _ in quality]) >= 40.0


def test_every_ssim_at_least_0_98(quality):
    worst = min(quality, key=lambda row: row[3])
    assert worst[3] >= 0.98, worst


def test_flat_areas_stay_clean(key):
    # A flat grey card with one textured corner: the mark must stay far below a grey level in the
    # flat part (no visible structure), and go where the texture is.
    rng = np.random.default_rng(0)
    card = np.full((512, 512, 3), 128, np.uint8)
    card[:200, :200] = np.clip(128 + rng.normal(0, 25, (200, 200, 3)), 0, 255).astype(np.uint8)
    difference = wm.embed(card, 0xC0FFEE, key).astype(float) - card
    assert np.abs(difference[300:, 300:]).mean() < 1.0
    assert np.abs(difference[:200, :200]).std() > 2 * np.abs(difference[300:, 300:]).std()
