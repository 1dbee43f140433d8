"""`watermark.cells`: the rectangles a page is made of, found by its straight lines."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import PHOTO_NAMES, photo

from eval import suspects
from watermark import color
from watermark.cells import rectangles


def _frame(name):
    return cv2.resize(photo(name), (1920, 1080), interpolation=cv2.INTER_AREA)


def _luma(rgb):
    return color.luminance(rgb.astype(np.float32) / 255.0)


@pytest.mark.parametrize("grid, seed", [(2, 0), (3, 1)])
def test_a_collages_cells_are_among_its_rectangles(grid, seed):
    pictures = [_frame(name) for name in PHOTO_NAMES]
    page = suspects.collage(pictures[0], pictures[1:], grid=grid, seed=seed)
    found = rectangles(_luma(page))
    height, width = page.shape[0] // grid, page.shape[1] // grid
    cells = {(row * height, (row + 1) * height, column * width, (column + 1) * width)
             for row in range(grid) for column in range(grid)}
    assert cells <= set(found) and len(found) <= 100


def test_a_picture_inside_a_border_or_another_is_its_rectangle():
    picture = cv2.resize(photo("coffee"), (480, 270), interpolation=cv2.INTER_AREA)
    bordered = np.full((400, 600, 3), 255, np.uint8)
    bordered[40:310, 60:540] = picture
    assert (40, 310, 60, 540) in rectangles(_luma(bordered))
    page = cv2.resize(photo("chelsea"), (1440, 810), interpolation=cv2.INTER_AREA)
    page[300:570, 700:1180] = cv2.resize(picture, (480, 270), interpolation=cv2.INTER_AREA)
    assert (300, 570, 700, 1180) in rectangles(_luma(suspects.jpeg(page, 85)))


def test_a_page_of_many_lines_gives_at_most_a_hundred_rectangles():
    checks = ((np.arange(900)[:, None] // 30 + np.arange(1200)[None, :] // 30) % 2).astype(np.float32)  # 30 px
    found = rectangles(checks)
    assert 0 < len(found) <= 100


def test_small_flat_or_odd_pages_give_no_rectangles():
    for shape in [(1, 1), (5, 300), (300, 5), (64, 64)]:
        assert rectangles(np.zeros(shape, np.float32)) == []
    assert rectangles(np.full((200, 300), 0.5, np.float32)) == []
