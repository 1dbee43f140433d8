"""Working resolution and the walk over large planes in strips: the same numbers as in one piece."""

import cv2
import numpy as np
import pytest
from photos import photo

import watermark as wm
from watermark import color


@pytest.mark.parametrize("strip_pixels", [1, 7000, 100_000])
def test_strips_cover_every_row_once(monkeypatch, strip_pixels):
    monkeypatch.setattr(color, "STRIP_PIXELS", strip_pixels)
    rows = np.concatenate([np.arange(1000)[part] for part in color.strips((1000, 1531, 3))])
    np.testing.assert_array_equal(rows, np.arange(1000))


def test_embedding_in_strips_gives_the_image_made_in_one_piece(monkeypatch, key):
    image = cv2.resize(photo("motorcycle_left"), (800, 600), interpolation=cv2.INTER_AREA)
    grey16 = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    monkeypatch.setattr(color, "STRIP_PIXELS", 10**9)                  # one strip: the whole image
    whole = [wm.embed(image, 0xABC, key), wm.embed(grey16, 0xABC, key)]
    monkeypatch.setattr(color, "STRIP_PIXELS", 40 * 800)               # 15 strips of 40 rows
    np.testing.assert_array_equal(wm.embed(image, 0xABC, key), whole[0])
    np.testing.assert_array_equal(wm.embed(grey16, 0xABC, key), whole[1])


def test_the_working_side_is_512_px_on_small_images_and_grows_half_an_octave_on_large_ones():
    sides = [color.working_side((short, 2 * short)) for short in (300, 768, 900, 1080, 1086, 3000)]
    assert sides == [512, 512, 600, 720, 724, 724]
    assert color.working_shape((1080, 1920)) == (720, 1280)
    assert color.working_shape((1080, 1920), 512) == (512, 910)
