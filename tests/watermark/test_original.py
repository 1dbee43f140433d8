"""The master at hand (`watermark.original`): found only when unchanged, the registration refined on
its pixels, and a read against it that finds in a small crop the mark its host hid, and nothing in an
unmarked one."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from photos import PHOTO_NAMES, photo
from PIL import Image
from scipy import fft

import watermark as wm
from eval import suspects
from watermark import color
from watermark.features import master_print
from watermark.original import (
    MIN_DETAIL,
    as_suspect,
    could_be_crop,
    could_be_whole,
    load_original,
    place,
    place_whole,
    refine,
)
from watermark.registration import Registration, to_master_frame
from watermark.schemes.lattice import informed, masking, sync
from watermark.schemes.lattice.layout import layout_for

SIZE = (1920, 1080)
CANDIDATES = [0x5EED, 0xBEEF]


@pytest.fixture(scope="module")
def master():
    return cv2.resize(photo("astronaut"), SIZE, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def marked(master):
    return wm.embed(master, payload=CANDIDATES[0], key=wm.Key.from_passphrase("original test key"))


def _luma(rgb):
    return color.luminance(rgb.astype(np.float32) / 255.0)


def _translation(x, y):
    return Registration(True, np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]]), 50, 60)


def test_the_master_file_is_read_only_while_it_is_where_it_was_and_unchanged(master, tmp_path):
    path = tmp_path / "master.png"
    Image.fromarray(master).save(path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    luma = load_original(str(path), sha256, SIZE)
    assert luma is not None and luma.shape == (1080, 1920)
    assert np.abs(luma - _luma(master)).max() < 1e-5
    assert load_original(str(path), sha256, (1280, 720)) is None                  # not the registered size
    assert load_original(str(tmp_path / "moved.png"), sha256, SIZE) is None
    Image.fromarray(master[:, ::-1].copy()).save(path)                              # edited since
    assert load_original(str(path), sha256, SIZE) is None


def test_the_master_as_a_quarter_size_copy_shows_it(master):
    """A copy at a quarter of the master's size: the master resampled onto it is that copy (area-averaged)."""
    small = cv2.resize(master, (480, 270), interpolation=cv2.INTER_AREA)
    registration = _translation(1.5, 1.5)          # pixel centres: x_master = 4 (x + 0.5) - 0.5
    registration = Registration(True, registration.homography @ np.diag([4.0, 4.0, 1.0]), 50, 60)
    seen = as_suspect(_luma(master), SIZE, registration, (270, 480))
    assert np.abs(seen[4:-4, 4:-4] - _luma(small)[4:-4, 4:-4]).mean() < 0.01


def test_refinement_recovers_what_features_left_of_a_crops_place(master):
    """A crop registered 1.4 px off (a feature registration's typical error at this size) is placed
    back to a fifth of a pixel or so on the master's pixels."""
    left, top, true_dx, true_dy = 700, 300, 0.6, -0.4
    shift = np.float32([[1, 0, -true_dx], [0, 1, -true_dy]])
    moved = cv2.warpAffine(master, shift, SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    crop = np.ascontiguousarray(moved[top:top + 240, left:left + 430])             # crop(x) = master(x + offset + d)
    rough = _translation(left + true_dx + 1.0, top + true_dy - 1.0)
    shape = color.working_shape((1080, 1920))
    framed, valid = to_master_frame(crop, rough, SIZE, shape=shape)
    template, _ = to_master_frame(as_suspect(_luma(master), SIZE, rough, crop.shape[:2]), rough, SIZE, shape=shape)
    refined = refine(rough, _luma(framed), valid, template, SIZE)
    assert refined is not rough
    for x, y in ((0, 0), (429, 0), (0, 239), (429, 239), (215, 120)):
        u, v, w = refined.homography @ [x, y, 1.0]
        assert np.hypot(u / w - (x + left + true_dx), v / w - (y + top + true_dy)) < 0.3


def test_refinement_corrects_the_scale_features_left_of_a_whole_copy(master):
    """A whole copy at 0.6 registered 0.15 % too small (what features left of a screenshot, 2.4 master
    px at its far side): an affine correction puts every corner back within a third of a pixel, where a
    shift alone left the far corners off."""
    copy = cv2.resize(master, (1152, 648), interpolation=cv2.INTER_AREA)
    scale = SIZE[0] / 1152                                       # pixel centres: x_master = s (x + 0.5) - 0.5
    exact = np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5], [0.0, 0.0, 1.0]])
    rough = Registration(True, np.diag([0.9985, 0.9985, 1.0]) @ exact, 400, 500)
    shape = color.working_shape((1080, 1920))
    framed, valid = to_master_frame(copy, rough, SIZE, shape=shape)
    template, _ = to_master_frame(as_suspect(_luma(master), SIZE, rough, copy.shape[:2]), rough, SIZE, shape=shape)
    refined = refine(rough, _luma(framed), valid, template, SIZE)
    for x, y in ((0, 0), (1151, 0), (0, 647), (1151, 647), (576, 324)):
        found, expected = refined.homography @ [x, y, 1.0], exact @ [x, y, 1.0]
        assert np.hypot(*(found[:2] / found[2] - expected[:2])) < 1.0 / 3.0, (x, y)


def _small_crop(image, seed):
    """5 % of the area, saved as JPEG 90, in the master's frame: the pixels and where they are."""
    left, top, width, height = suspects.crop_box(image.shape, fraction=0.05, seed=seed)
    framed = np.zeros_like(image)
    framed[top:top + height, left:left + width] = suspects.jpeg(
        np.ascontiguousarray(image[top:top + height, left:left + width]), 90)
    valid = np.zeros(image.shape[:2], bool)
    valid[top + 1:top + height - 1, left + 1:left + width - 1] = True
    return framed, valid


@pytest.mark.parametrize("seed", [0, 1])
def test_a_small_crop_read_against_its_master_shows_the_mark_its_host_hid(master, marked, seed):
    key = wm.Key.from_passphrase("original test key")
    framed, valid = _small_crop(marked, seed)
    blind = wm.read_in_frame(framed, key, CANDIDATES, valid=valid)
    informed = wm.read_in_frame(framed, key, CANDIDATES, valid=valid, original=master)
    assert informed.payload == CANDIDATES[0] and informed.p_value < 1e-20
    assert informed.score > blind.score + 10.0            # the host, not the codec, hid it (z 4-7 -> 17-19)


def test_an_unmarked_crop_read_against_its_master_shows_nothing(master):
    key = wm.Key.from_passphrase("original test key")
    for seed in range(3):
        framed, valid = _small_crop(master, seed)
        reading = wm.read_in_frame(framed, key, CANDIDATES, valid=valid, original=master)
        assert not reading.found and reading.named == () and reading.p_value > 1e-3


def test_an_original_of_another_shape_is_refused(master, marked):
    with pytest.raises(wm.InvalidImageError, match="original: shape"):
        wm.read_in_frame(marked, wm.Key.from_passphrase("k"), CANDIDATES, original=master[:500])


@pytest.mark.parametrize("name", ["astronaut", "hubble_deep_field"])
def test_the_matched_view_reads_a_quarter_size_copy_better_than_the_whitened_one(name):
    """A collage's cell (the copy at a quarter of the master's size, JPEG 85) minus its master: weighting
    by the mark's amplitude over the local noise (`masking.matched`) reads the pilot more strongly than
    the whitened, phase-only view, and the read against the master gives the payload."""
    key = wm.Key.from_passphrase("original test key")
    master = cv2.resize(photo(name), SIZE, interpolation=cv2.INTER_AREA)
    cell = suspects.jpeg(cv2.resize(wm.embed(master, payload=CANDIDATES[0], key=key), (480, 270),
                                    interpolation=cv2.INTER_AREA), 85)
    registration = Registration(True, np.array([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5], [0.0, 0.0, 1.0]]), 50, 60)
    shape = color.working_shape((1080, 1920))
    framed, valid = to_master_frame(cell, registration, SIZE, shape=shape)
    template, _ = to_master_frame(as_suspect(_luma(master), SIZE, registration, (270, 480)), registration, SIZE,
                                  shape=shape)
    marks = informed.without_host(_luma(framed), template, valid)
    layout = layout_for(key)
    whitened = sync.fold(np.where(valid, masking.whiten(marks)[0], 0.0).astype(np.float32), sync.TILE)
    whitened = fft.irfft2(sync.flattened(whitened, sync.PHASE_ONLY), s=whitened.shape)   # as read_in_frame takes it
    matched = sync.fold(np.where(valid, masking.matched(marks, template), 0.0).astype(np.float32), sync.TILE)
    z = {"whitened": float(layout.pilot_z(whitened)), "matched": float(layout.pilot_z(matched))}
    assert z["matched"] > z["whitened"]
    reading = wm.read_in_frame(framed, key, CANDIDATES, valid=valid, original=template, master_shape=SIZE[::-1])
    assert reading.payload == CANDIDATES[0] and reading.p_value < 1e-20


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_small_crop_is_placed_in_its_master_file_where_it_was_cut(master, marked, seed):
    left, top, width, height = suspects.crop_box(marked.shape, fraction=0.02, seed=seed)
    crop = suspects.jpeg(np.ascontiguousarray(marked[top:top + height, left:left + width]), 90)
    registration, detail = place(crop, (width, height), _luma(master), SIZE)
    assert detail >= MIN_DETAIL
    assert np.allclose(registration.homography, [[1, 0, left], [0, 1, top], [0, 0, 1]], atol=1.0)
    half = cv2.resize(crop, (width // 2, height // 2), interpolation=cv2.INTER_AREA)   # the registration maps
    registration, _ = place(half, (width, height), _luma(master), SIZE)              # the pixels it was given
    assert np.allclose(registration.homography, [[2, 0, left], [0, 2, top], [0, 0, 1]], atol=1.0)


def test_a_crop_of_another_photograph_or_one_too_small_or_too_large_is_not_placed(master):
    other = cv2.resize(photo("chelsea"), SIZE, interpolation=cv2.INTER_AREA)
    for seed in range(3):
        left, top, width, height = suspects.crop_box(other.shape, fraction=0.05, seed=seed)
        crop = np.ascontiguousarray(other[top:top + height, left:left + width])
        assert place(crop, (width, height), _luma(master), SIZE) is None
    assert place(master[:40, :60], (60, 40), _luma(master), SIZE) is None             # too small to search
    assert place(master, (1920, 1081), _luma(master), SIZE) is None                     # larger than the master


def _frame(name):
    return cv2.resize(photo(name), SIZE, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("grid, seed", [(2, 0), (3, 1)])
def test_a_master_whole_in_a_collage_is_found_in_it_to_a_pixel(master, marked, grid, seed):
    """A quarter-size copy in a collage (JPEG 85): placed by the master file alone, the map from the
    collage's pixels to the master's right to about a master pixel at the cell's corners."""
    others = [_frame(name) for name in PHOTO_NAMES if name != "astronaut"]
    collage = suspects.collage(marked, others, grid=grid, seed=seed)
    registration, detail = place_whole(collage, _luma(master), SIZE)
    assert detail >= MIN_DETAIL
    row, column = divmod(int(np.random.default_rng(seed).integers(grid * grid)), grid)   # where collage() put it
    corners = np.array([[0, 0, 1], [479, 269, 1], [0, 269, 1], [479, 0, 1]], float) + [480 * column, 270 * row, 0]
    mapped = corners @ registration.homography.T
    truth = (corners[:, :2] - [480 * column, 270 * row] + 0.5) * 4 - 0.5            # 4 master px per cell px
    assert np.abs(mapped[:, :2] / mapped[:, 2:] - truth).max() < 1.5


def test_a_page_without_the_master_or_with_its_stereo_twin_does_not_place_it():
    """Other photographs, and the same scene from the second camera of a stereo pair, at a quarter size."""
    from skimage import data

    left = _frame("motorcycle_left")
    right = cv2.resize(data.stereo_motorcycle()[1], SIZE, interpolation=cv2.INTER_AREA)
    others = [_frame(name) for name in ("chelsea", "coffee", "rocket", "astronaut")]
    assert place_whole(suspects.collage(others[0], others[1:], grid=2, seed=0), _luma(left), SIZE) is None
    assert place_whole(suspects.collage(right, others, grid=2, seed=0), _luma(left), SIZE) is None


@pytest.fixture(scope="module")
def thumbnail(master):
    """The luminance of the master's thumbnail as the registry's print keeps it."""
    return _luma(master_print(master).thumbnail_image())


@pytest.mark.parametrize("grid, seed", [(2, 0), (3, 1)])
def test_the_thumbnail_shows_where_the_master_file_is_worth_reading_for_a_page(master, marked, thumbnail, grid,
                                                                                  seed):
    others = [_frame(name) for name in PHOTO_NAMES if name != "astronaut"]
    assert could_be_whole(_luma(suspects.collage(marked, others, grid=grid, seed=seed)), thumbnail)
    assert not could_be_whole(_luma(suspects.collage(others[0], others[1:], grid=grid, seed=seed)), thumbnail)


def test_the_thumbnail_shows_where_the_master_file_is_worth_reading_for_a_crop(master, marked, thumbnail):
    """Small crops where they were cut; not other photographs at half the master's size (a small crop of
    one often looks like some place of a 192 px thumbnail: those files are still read)."""
    for seed in range(3):
        left, top, width, height = suspects.crop_box(marked.shape, fraction=0.02, seed=seed)
        crop = suspects.jpeg(np.ascontiguousarray(marked[top:top + height, left:left + width]), 90)
        assert could_be_crop((width, height), _luma(crop), thumbnail, SIZE)
    for name in PHOTO_NAMES[1:]:
        other = cv2.resize(photo(name), (960, 540), interpolation=cv2.INTER_AREA)
        assert not could_be_crop((960, 540), _luma(other), thumbnail, SIZE), name
    assert could_be_crop((60, 40), _luma(master[:40, :60]), thumbnail, SIZE)            # too small to judge there
    assert not could_be_crop((1920, 1081), _luma(master), thumbnail, SIZE)              # larger than the master
