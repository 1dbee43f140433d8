"""Registration of suspects to master prints on real photographs, and resampling into the master's frame."""

import cv2
import numpy as np
import pytest

from eval import suspects
from tests.photos import PHOTO_NAMES, photo, rgb8_photo
from tests.scenes import dark_band
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
    return [rgb8_photo(name) for name in FILLERS]


@pytest.mark.parametrize("case", ["perspective 6%", "camera tilt 20", "bending 5 px", "collage 2x2 at 0.25",
                                  "mirrored crop 30%", "crop 40% at a corner or centre"])
def test_suspects_register_to_their_master(case, prints):
    for seed, name in enumerate(MASTERS):           # five seeds: the placed crops at each of their five places
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


def _corner_error(homography, box):
    """The largest distance, in the master's pixels, between where ``homography`` and the truth put the
    corners of the crop ``box`` (x, y, width, height)."""
    x, y, width, height = box
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    mapped = corners @ homography.T
    return float(np.hypot(*(mapped[:, :2] / mapped[:, 2:] - corners[:, :2] - [x, y]).T).max())


@pytest.mark.parametrize("seed", [0, 7])
def test_a_plain_crop_of_a_smooth_image_registers_as_a_similarity(seed):
    """A dark, smooth scene's keypoints lie in one strip (a far shore): a homography fitted on them fits
    their noise and put the crop's corners up to 14 px off; the matches support no more than a
    similarity (Torr's GRIC), which puts them within a pixel."""
    master = dark_band(np.random.default_rng(seed), (1280, 800))
    for box in ((470, 294, 810, 506), (290, 180, 990, 620)):
        x, y, width, height = box
        result = register(suspects.jpeg(np.ascontiguousarray(master[y:y + height, x:x + width]), 90),
                          master_print(master))
        assert result.matched and np.array_equal(result.homography[2], [0.0, 0.0, 1.0]), (box, result)
        assert _corner_error(result.homography, box) < 1.0, box


def test_a_perspective_warp_keeps_its_homography():
    """The similarity replaces the homography only where the matches support no more: a copy seen in
    perspective (its top edge 8 % narrower) still registers as a homography, to a pixel."""
    image = cv2.resize(photo("astronaut"), (1024, 1024), interpolation=cv2.INTER_AREA)
    square = np.array([[0, 0], [1024, 0], [1024, 1024], [0, 1024]], np.float32)
    seen = np.array([[41, 20], [983, 0], [1024, 1024], [0, 1010]], np.float32)
    warp = cv2.getPerspectiveTransform(square, seen)
    suspect = suspects.jpeg(cv2.warpPerspective(image, warp, (1024, 1024)), 90)
    result = register(suspect, master_print(image))
    assert result.matched and np.abs(result.homography[2, :2]).max() > 1e-5
    back = np.linalg.inv(warp)
    corners = np.array([[100, 100, 1], [900, 100, 1], [900, 900, 1], [100, 900, 1]], float)
    found, true = corners @ result.homography.T, corners @ back.T
    assert np.abs(found[:, :2] / found[:, 2:] - true[:, :2] / true[:, 2:]).max() < 1.0


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
