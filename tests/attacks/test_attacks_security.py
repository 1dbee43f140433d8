"""Security attacks: what they need, what they refuse, and that they use no key."""

import ast
import functools
import inspect

import cv2
import numpy as np
import pytest
from attack_images import rgb8

import attacks
import watermark
from watermark.errors import AttackParameterError


def test_multi_image_attacks_refuse_what_they_cannot_use():
    image = rgb8()
    with pytest.raises(AttackParameterError, match="give source="):
        attacks.copy_mark(image)
    with pytest.raises(AttackParameterError, match="copies of one picture"):
        attacks.collude_average(image, copies=[image[:-2]])


def test_zero_gain_changes_nothing_and_averaging_a_picture_with_itself_is_the_picture():
    image = rgb8()
    assert np.array_equal(attacks.remove_mark(image, gain=0.0), image)
    assert np.array_equal(attacks.collude_average(image, copies=[image, image]), image)
    assert np.array_equal(attacks.collude_mosaic(image, copies=[image], seed=1), image)


def test_the_mosaic_takes_every_block_from_one_of_the_copies():
    image = rgb8()
    other = 255 - image
    out = attacks.collude_mosaic(image, copies=[other], block=16, seed=4)
    for row in range(0, image.shape[0], 16):
        for col in range(0, image.shape[1], 16):
            block = out[row:row + 16, col:col + 16]
            assert np.array_equal(block, image[row:row + 16, col:col + 16]) or \
                np.array_equal(block, other[row:row + 16, col:col + 16])


def test_the_attacks_draw_on_no_keyed_stream():
    from attacks import security

    tree = ast.parse(inspect.getsource(security))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    keyed = {"layout_for", "Layout", "copy_chips", "chips", "words", "permutation", "content_bits", "digest"}
    assert not used & keyed          # only the attacker's own key, drawn from a seed, in remark


def test_a_wider_residual_band_pastes_the_sources_coarser_content_too():
    from attack_images import _small

    source, target = _small("astronaut", (640, 512)), _small("coffee", (640, 512))

    def coarse(image: np.ndarray) -> np.ndarray:        # luminance between 16 and 64 px: what band=8 leaves out
        luma = image.astype(np.float64) @ [0.299, 0.587, 0.114]
        return (cv2.GaussianBlur(luma, (0, 0), 16) - cv2.GaussianBlur(luma, (0, 0), 64)).ravel()

    def carried(band: float) -> float:
        """How much of the source's coarse content the paste adds (regression slope, 1: all of it)."""
        change = attacks.copy_mark(target, gain=0.0, residual=1.0, band=band, source=source).astype(np.float64) - target
        return float(coarse(change) @ coarse(source) / (coarse(source) @ coarse(source)))

    assert carried(8.0) < 0.15 and carried(64.0) > 0.6


def test_a_band_swap_keeps_the_finer_detail_and_takes_the_published_band_from_the_source():
    image = cv2.resize(rgb8(), (480, 360), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    published = attacks.jpeg(cv2.resize(image, (240, 180), interpolation=cv2.INTER_AREA), quality=85)
    assert np.abs(attacks.swap_band(image, source=published, quality=85) - image).max() < 1e-5   # its own: itself
    other = np.clip(published + 0.1, 0.0, 1.0)            # another copy, as published: brighter
    swapped = attacks.swap_band(image, source=other, quality=85)
    coarse = [cv2.resize(picture, (60, 45), interpolation=cv2.INTER_AREA) for picture in (swapped, image)]
    assert abs(float(np.mean(coarse[0] - coarse[1])) - 0.1) < 0.01          # the band is the other's
    fine = [picture - cv2.GaussianBlur(picture, (0, 0), 3.0) for picture in (swapped, image)]
    assert np.corrcoef(fine[0].ravel(), fine[1].ravel())[0, 1] > 0.9        # the finer detail stays


PAYLOAD = 0x5EED_0000_0000_0007


@functools.cache
def _marked(name: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A small photograph (``size``: width, height) and its copy marked with the suite's test key."""
    from attack_images import _small

    image = _small(name, size)
    return image, watermark.embed(image, PAYLOAD, watermark.Key.from_passphrase("filigrane test suite"))


def test_gain_one_subtracts_about_what_the_embedder_added_on_a_small_image():
    def luma(image: np.ndarray) -> np.ndarray:
        return image.astype(np.float64) @ [0.299, 0.587, 0.114]

    for size in ((192, 144), (384, 288)):        # below the working resolution (512 px): the mark is resampled
        image, marked = _marked("astronaut", size)
        embedded = np.sqrt(np.mean((luma(marked) - luma(image)) ** 2))
        subtracted = np.sqrt(np.mean((luma(attacks.remove_mark(marked, gain=1.0)) - luma(marked)) ** 2))
        assert 0.8 < subtracted / embedded < 1.3, size
