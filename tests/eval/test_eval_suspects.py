"""`eval.suspects`' plain crops: where each is cut, how much of the image it holds, and how it is saved."""

import numpy as np
import pytest

from eval import suspects

# (height, width), fraction -> the boxes (left, top, width, height) at PLACES' five places, worked out by
# hand: a side of int(side * sqrt(fraction)), the centre's offset rounded down
_BOXES = {
    ((1080, 1920), 0.6): [(216, 122, 1487, 836), (0, 0, 1487, 836), (433, 0, 1487, 836), (0, 244, 1487, 836),
                          (433, 244, 1487, 836)],
    ((1080, 1920), 0.4): [(353, 198, 1214, 683), (0, 0, 1214, 683), (706, 0, 1214, 683), (0, 397, 1214, 683),
                          (706, 397, 1214, 683)],
    ((333, 500), 0.6): [(56, 38, 387, 257), (0, 0, 387, 257), (113, 0, 387, 257), (0, 76, 387, 257),
                        (113, 76, 387, 257)],
}


def _picture(height: int, width: int) -> np.ndarray:
    """A smooth RGB picture whose every pixel says where it is (JPEG keeps it close)."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.dstack([rows * 255 // height, columns * 255 // width, (rows + columns) * 255 // (height + width)]
                     ).astype(np.uint8)


@pytest.mark.parametrize(("shape", "fraction"), list(_BOXES))
def test_a_placed_crop_is_cut_at_each_place_in_turn(shape, fraction):
    assert suspects.PLACES == ("centre", "top left", "top right", "bottom left", "bottom right")
    boxes = [suspects.placed_box((*shape, 3), fraction=fraction, seed=seed) for seed in range(10)]
    assert boxes == _BOXES[(shape, fraction)] * 2                     # seeds 5 to 9 go round again
    image = _picture(*shape)
    for seed, (left, top, width, height) in enumerate(boxes):
        crop = suspects.crop_area(image, fraction=fraction, seed=seed, placed=True)
        assert np.array_equal(crop, image[top:top + height, left:left + width]) and crop.flags.c_contiguous


@pytest.mark.parametrize("shape", [(1080, 1920), (333, 500), (4000, 3000), (512, 512)])
@pytest.mark.parametrize("fraction", [0.6, 0.4])
def test_a_placed_crop_holds_the_fraction_of_the_area_at_the_same_aspect(shape, fraction):
    height, width = shape
    for seed in range(5):
        left, top, w, h = suspects.placed_box(shape, fraction=fraction, seed=seed)
        assert 0 <= left and 0 <= top and left + w <= width and top + h <= height
        assert fraction - 2 * (w + h) / (width * height) <= w * h / (width * height) <= fraction
        assert abs(w / h - width / height) <= width / height / h + 1 / h      # each side rounded down
    left, top, w, h = suspects.placed_box(shape, fraction=fraction, seed=0)
    assert abs(2 * left + w - width) <= 1 and abs(2 * top + h - height) <= 1        # seed 0: centred


def test_placed_and_random_crops_are_the_same_size():
    for seed in range(5):
        assert suspects.placed_box((700, 900), fraction=0.3, seed=seed)[2:] == suspects.crop_box(
            (700, 900), fraction=0.3, seed=seed)[2:]


def test_the_random_crops_are_cut_where_they_were():
    """Placing crops left `crop_box` (hence "crop 5% area" and "mirrored crop 30%") as it was."""
    assert [suspects.crop_box((1080, 1920), fraction=0.05, seed=seed) for seed in range(4)] == [
        (950, 714, 429, 241), (763, 397, 429, 241), (390, 703, 429, 241), (127, 681, 429, 241)]
    assert [suspects.crop_box((512, 512, 3), fraction=0.3, seed=seed) for seed in range(4)] == [
        (148, 198, 280, 280), (119, 110, 280, 280), (60, 195, 280, 280), (19, 189, 280, 280)]


@pytest.mark.parametrize("fraction", [60, 40])
def test_the_partial_change_is_the_placed_crop_saved_as_jpeg_90(fraction):
    make = suspects.PARTIAL[f"crop {fraction}% at a corner or centre"]
    image = _picture(333, 500)
    for seed in range(5):
        left, top, width, height = suspects.placed_box(image.shape, fraction=fraction / 100, seed=seed)
        crop = np.ascontiguousarray(image[top:top + height, left:left + width])
        suspect = make(image, [], seed)
        assert suspect.dtype == np.uint8 and suspect.shape == (height, width, 3)
        assert np.array_equal(suspect, suspects.jpeg(crop, 90))
        assert not np.array_equal(suspect, crop) and not np.array_equal(suspect, suspects.jpeg(crop, 85))
