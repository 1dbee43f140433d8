"""Registration of suspects to master prints on real photographs, and resampling into the master's frame."""

import cv2
import numpy as np
import pytest

from eval import suspects
from eval.images import _skimage, _to_rgb8
from tests.photos import PHOTO_NAMES, photo
from watermark.features import master_print
from watermark.registration import Suspect, register, to_master_frame

MASTERS = ("astronaut", "coffee", "rocket", "motorcycle_left", "immunohistochemistry")
FILLERS = ("camera", "coins", "brick", "page", "clock", "grass", "gravel", "text")

# One worker runs the module, so that `prints` (a print of each photograph) is made once.
pytestmark = pytest.mark.xdist_group("registration")


@pytest.fixture(scope="module")
def prints():
    return {name: master_print(photo(name)) for name in PHOTO_NAMES}


def _fillers():
    return [_to_rgb8(_skimage(name)) for name in FILLERS]


@pytest.mark.parametrize("case", ["perspective 6%", "camera tilt 20", "bending 5 px", "collage 2x2 at 0.25",
                                  "mirrored crop 30%"])
def test_suspects_register_to_their_master(case, prints):
    for seed, name in enumerate(MASTERS):
        result = register(suspects.PARTIAL[case](photo(name), _fillers(), seed), prints[name])
        assert result.matched, (case, name, result)


def test_a_crop_registers_where_it_was_cut(prints):
    image = photo("astronaut")
    for top, left, size in ((40, 300, 160), (300, 60, 120), (200, 200, 240)):
        crop = suspects.jpeg(np.ascontiguousarray(image[top:top + size, left:left + size]), 90)
        result = register(crop, prints["astronaut"])
        assert result.matched
        corners = np.array([[0, 0, 1], [size, size, 1]], float) @ result.homography.T
        assert np.abs(corners[:, :2] / corners[:, 2:] - [[left, top], [left + size, top + size]]).max() < 2.0
        assert result.coverage == pytest.approx(size * size / (512 * 512), rel=0.1)


@pytest.mark.parametrize("name", ["coffee", "rocket"])
def test_a_whole_copy_registers_at_the_prints_scale(name):
    """A copy known to be whole (a hash match) is registered from keypoints at the master print's
    scale: to under a pixel at full size after resizing to 0.83 and JPEG 80."""
    master = cv2.resize(photo(name), (1920, 1080), interpolation=cv2.INTER_AREA)
    copy = suspects.jpeg(cv2.resize(master, (1600, 900), interpolation=cv2.INTER_AREA), 80)
    result = register(Suspect(copy, whole=True), master_print(master))
    assert result.matched and result.inliers >= 100
    expected = np.array([[1.2, 0.0, 0.1], [0.0, 1.2, 0.1], [0.0, 0.0, 1.0]])   # pixel centres on pixel centres
    corners = np.array([[0, 0, 1], [1599, 0, 1], [0, 899, 1], [1599, 899, 1]], float)
    found, true = corners @ result.homography.T, corners @ expected.T
    assert np.abs(found[:, :2] / found[:, 2:] - true[:, :2]).max() < 1.0


def test_a_mirrored_copy_is_registered_with_the_flip_in_its_homography(prints):
    image = photo("coffee")
    result = register(np.ascontiguousarray(image[:, ::-1]), prints["coffee"])
    assert result.matched and result.mirrored
    x, y, w = result.homography @ [10.0, 20.0, 1.0]
    assert abs(x / w - (image.shape[1] - 1 - 10)) < 2 and abs(y / w - 20) < 2


def test_unrelated_pictures_do_not_register(prints):
    # Each picture is a `Suspect` made once, as the scan makes one per file: its keypoints (and its
    # mirror image's) are computed on first use and reused against every master.
    fillers = _fillers()
    tiles = [tile for _, tile in suspects.unrelated_tiles(fillers, sizes=(192, 320))]
    photos = {name: Suspect(photo(name)) for name in PHOTO_NAMES}
    others = [Suspect(picture) for picture in fillers + tiles[::3]]
    false, pairs = [], 0
    for name in PHOTO_NAMES:
        for other in [photos[n] for n in PHOTO_NAMES if n != name] + others:
            pairs += 1
            if register(other, prints[name]).matched:
                false.append(name)
    assert pairs >= 150 and false == []


def test_to_master_frame_puts_the_suspect_back_with_its_mask(prints):
    image = photo("rocket")
    suspect = suspects.camera_tilt(image, degrees=15, seed=3)
    result = register(suspect, prints["rocket"])
    height, width = image.shape[:2]
    back, mask = to_master_frame(suspect, result, (width, height))
    assert back.dtype == np.uint8 and back.shape == image.shape and mask.shape == (height, width)
    assert mask.mean() > 0.9
    error = np.abs(back.astype(float) - image.astype(float))[mask].mean()
    assert error < 6.0
    small, small_mask = to_master_frame(suspect, result, (width, height), shape=(height // 2, width // 2))
    assert small.shape == (height // 2, width // 2, 3) and small_mask.mean() > 0.9
