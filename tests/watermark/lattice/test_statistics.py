"""Honest statistics: unmarked images and wrong keys are never found, and their p-values are uniform.

Each unmarked image costs the detector's whole geometric search, which is done at the working
resolution (short side 512 px): its cost depends on the image's aspect ratio, not its size, and the
search's grids are computed once per working shape and process. So the 1000 unmarked images are
crops, resizes (0.5x to 2.5x the working size), JPEGs and noisy copies of twelve photographs at
seven common aspect ratios (1:1 to 16:9, landscape and portrait), in runs of one shape, read by one
worker process per core.
"""

import io
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np
import pytest
from photos import PHOTO_NAMES, photo
from PIL import Image
from scipy import stats as scipy_stats

import watermark as wm
from watermark import color

# Run on one worker, one after the other: the 1000-image null test and the real Ctrl-C tests
# (timing-sensitive under a fully loaded machine) never overlap.
pytestmark = pytest.mark.xdist_group("heavy-and-signals")

NULL_SOURCES = ("camera", "moon", "coins", "brick", "grass", "gravel", "page", "clock", "text", "cell",
                "microaneurysms", "motorcycle_right")
NULL_COUNT = 1000
WORKING_SHAPES = ((512, 512), (512, 640), (512, 768), (512, 896), (640, 512), (768, 512), (896, 512))
SCALES = (0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 2.0, 2.5)     # image size / working size: exact shapes
CHUNK = 25                                                       # images per task of a worker process


def _source(name):
    from skimage import data

    image = data.stereo_motorcycle()[1] if name == "motorcycle_right" else getattr(data, name)()
    image = np.asarray(image, dtype=np.uint8)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]


def unmarked_image(index, seed=11):
    """The ``index``-th unmarked image: a crop of a photograph never marked, resized to a multiple of
    its working shape, and every third one JPEG-compressed or noisy. Depends on ``index`` alone."""
    rng = np.random.default_rng([seed, index])
    image = _source(NULL_SOURCES[index % len(NULL_SOURCES)])
    shape = WORKING_SHAPES[index * len(WORKING_SHAPES) // NULL_COUNT]      # runs of one shape
    height, width = image.shape[:2]
    most = min(height, width * shape[0] / shape[1])                         # tallest crop of that aspect
    h = int(rng.uniform(0.5, 1.0) * most)
    w = min(width, round(h * shape[1] / shape[0]))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    scale = SCALES[int(rng.integers(len(SCALES)))]
    size = (round(shape[1] * scale), round(shape[0] * scale))
    crop = image[top:top + h, left:left + w]
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if size[0] < w else cv2.INTER_CUBIC)
    kind = index % 3
    if kind == 1:
        buffer = io.BytesIO()
        Image.fromarray(crop).save(buffer, "JPEG", quality=int(rng.integers(30, 95)))
        crop = np.asarray(Image.open(buffer))
    elif kind == 2:
        crop = np.clip(crop + rng.normal(0, 4, crop.shape), 0, 255).astype(np.uint8)
    return crop


def _null_p_values(indices, key):
    return [wm.detect(unmarked_image(index), key).p_value for index in indices]


def _wrong_key_p_values(name, draws, key):
    image = photo(name)
    image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if image.shape[0] > 800 else image
    return [wm.detect(wm.embed(image, payload, key), wm.Key(wrong)).p_value for payload, wrong in draws]


@pytest.fixture(scope="module")
def workers():
    """One process per core, started fresh (spawn: nothing inherited from this process's threads), with
    warnings as errors as in the test process; shared by this module's tests."""
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=warnings.simplefilter, initargs=("error",)) as pool:
        yield pool


def test_the_unmarked_images_are_many_and_varied():
    images = [unmarked_image(index) for index in range(0, NULL_COUNT, 37)]
    assert len({image.shape for image in images}) >= 12
    shapes = {color.working_shape(image.shape) for image in images}
    assert {round(width / height, 2) for height, width in shapes} == {round(w / h, 2) for h, w in WORKING_SHAPES}
    assert {min(shape) for shape in shapes} >= {color.WORKING_SHORT_SIDE, 683, color.LARGEST_WORKING_SIDE}
    assert min(min(image.shape[:2]) for image in images) <= 320 and max(image.shape[0] for image in images) >= 1280


def test_unmarked_images_are_never_found_and_their_p_values_are_valid_and_close_to_uniform(workers, key):
    # One test, not one per property: under pytest-xdist two tests could each pay for the 1000 reads.
    chunks = [range(start, min(start + CHUNK, NULL_COUNT)) for start in range(0, NULL_COUNT, CHUNK)]
    p_values = np.concatenate(list(workers.map(_null_p_values, chunks, [key] * len(chunks))))
    assert len(p_values) == NULL_COUNT
    assert p_values.min() > wm.schemes.DEFAULT_FALSE_ALARM, "an unmarked image was found"
    # Valid: never more small p-values than a uniform law allows (one-sided KS, and the 1 % tail
    # within a binomial band for 1000 draws) ...
    assert scipy_stats.kstest(p_values, "uniform", alternative="greater").pvalue > 1e-3
    assert np.mean(p_values <= 0.01) <= 0.025
    # ... and not far from uniform: the union bound over every offset, symmetry and lattice the
    # search tries makes them conservative by about a factor of two, no more.
    assert np.mean(p_values <= 0.1) >= 0.03
    assert np.mean(p_values <= 0.5) >= 0.25


def test_wrong_keys_behave_like_no_mark(workers, key):
    rng = np.random.default_rng(5)
    draws = {name: [(int(rng.integers(0, 2**63)), rng.bytes(32)) for _ in range(15)] for name in PHOTO_NAMES}
    p_values = np.concatenate(list(workers.map(_wrong_key_p_values, draws, draws.values(), [key] * len(draws))))
    assert len(p_values) == 120
    assert p_values.min() > wm.schemes.DEFAULT_FALSE_ALARM
    assert np.mean(p_values <= 0.05) <= 0.12
    assert scipy_stats.kstest(p_values, "uniform", alternative="greater").pvalue > 1e-3
