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
from watermark import coding, color
from watermark.errors import AttackParameterError
from watermark.schemes.lattice import masking, sync
from watermark.schemes.lattice.layout import CHIP_AMPLITUDE, layout_for, slots_from_tile, tile_from_slots


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
    at_50 = attacks.jpeg(cv2.resize(image, (240, 180), interpolation=cv2.INTER_AREA), quality=50)
    assert np.abs(attacks.swap_band(image, source=at_50, quality=50) - image).max() < 1e-5       # at its quality
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


def _true_signs() -> np.ndarray:
    """The signs the embedder gave the tile's slots (chips times the payload's codeword): what an estimate aims at."""
    layout = layout_for(watermark.Key.from_passphrase("filigrane test suite"))
    signs = layout.chips.copy()
    signs[layout.payload] *= 2.0 * coding.encode(PAYLOAD)[layout.bit_of_slot] - 1.0
    return np.sign(signs)


def _agreement(tile: np.ndarray) -> float:
    """The share of the tile's slots whose sign is the embedder's."""
    return float(np.mean(np.sign(slots_from_tile(tile)) == _true_signs()))


def _periodic_left(image: np.ndarray) -> float:
    """How much of the periodic mark the detector's view of ``image`` still holds (its folded tile's
    correlation with the embedder's signs, 0: none)."""
    luma = color.luminance(image.astype(np.float32) / 255.0)
    whitened, _ = masking.whiten(color.resize(luma, color.working_shape(luma.shape)))
    slots = slots_from_tile(sync.fold(whitened, sync.TILE))
    return float(np.mean(slots * _true_signs()) / np.sqrt(np.mean(slots ** 2)))


def test_the_estimate_is_the_chip_signs_at_the_tiles_amplitudes():
    tile = attacks.estimate_tile([_marked("astronaut", (384, 288))[1]])
    signs = np.sign(slots_from_tile(tile))
    expected = tile_from_slots(signs * CHIP_AMPLITUDE)
    np.testing.assert_allclose(tile, expected / np.sqrt(np.mean(expected ** 2)), atol=1e-5)
    assert _agreement(tile) > 0.75                  # mostly the embedder's signs, from one small image


def test_other_published_images_of_the_key_sharpen_the_estimate_and_the_removal():
    marked = [_marked(name, (384, 288))[1] for name in ("astronaut", "coffee", "rocket")]
    assert _agreement(attacks.estimate_tile(marked)) > _agreement(attacks.estimate_tile(marked[:1])) + 0.05
    alone, helped = attacks.remove_mark(marked[0]), attacks.remove_mark(marked[0], others=marked[1:])
    assert _periodic_left(helped) < 0.7 * _periodic_left(alone) < 0.7 * _periodic_left(marked[0])


def test_the_pasted_residual_is_anchored_top_left_as_the_tiles_are():
    from attack_images import _small

    source, target = _small("astronaut", (384, 288)), _small("coffee", (384, 384))    # other shapes, other frames
    change = attacks.copy_mark(target, gain=0.0, residual=1.0, source=source).astype(np.float64) - target

    def fine_luma(image: np.ndarray) -> np.ndarray:
        luma = np.asarray(image, np.float64) @ [0.299, 0.587, 0.114]
        return (luma - cv2.GaussianBlur(luma, (0, 0), 3.0)).ravel()

    # Both working frames are 512 px high: the source is pasted at 4/3 of its size, from its top-left corner.
    enlarged = cv2.resize(source, (512, 384), interpolation=cv2.INTER_CUBIC)
    assert np.corrcoef(fine_luma(change), fine_luma(enlarged[:384, :384]))[0, 1] > 0.8


def test_copy_mark_pastes_nothing_at_zero_gain_and_residual():
    target, source = rgb8(), _marked("astronaut", (384, 288))[1]
    assert np.array_equal(attacks.copy_mark(target, gain=0.0, source=source), target)
    assert not np.array_equal(attacks.copy_mark(target, gain=1.0, source=source), target)


def test_a_colour_copy_colludes_with_a_grey_image_through_its_luminance():
    colour = rgb8()
    grey = np.round(colour.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    averaged = attacks.collude_average(grey, copies=[colour])
    assert averaged.shape == grey.shape and np.abs(averaged.astype(int) - grey).max() <= 1


def test_averaging_colluders_takes_their_mean():
    image = rgb8()
    copies = [255 - image, np.zeros_like(image)]
    expected = np.round((image.astype(np.float64) + copies[0]) / 3.0)
    assert np.abs(attacks.collude_average(image, copies=copies) - expected).max() <= 1


def test_the_attackers_strength_sets_how_much_the_second_mark_changes():
    image = _marked("coffee", (384, 288))[0]       # unmarked: large enough to hold a mark at strength 0.5

    def change(strength: float) -> float:
        return float(np.sqrt(np.mean((attacks.remark(image, strength=strength, seed=1) - image.astype(float)) ** 2)))

    assert change(2.0) > 2.0 * change(0.5) > 0.0


def test_each_seed_is_another_attacker_with_a_key_of_its_own():
    image = _marked("coffee", (384, 288))[0]
    first, second = (attacks.remark(image, seed=seed).astype(np.float64) - image for seed in (1, 2))
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.1      # one key's chips would correlate


def test_remove_and_remark_removes_the_first_mark_at_its_gain_before_adding_its_own():
    marked = _marked("astronaut", (384, 288))[1]
    assert np.array_equal(attacks.remove_and_remark(marked, gain=0.0, seed=1), attacks.remark(marked, seed=1))
    remarked = attacks.remark(marked, seed=1)
    assert _periodic_left(attacks.remove_and_remark(marked, gain=1.5, seed=1)) < 0.5 * _periodic_left(remarked)


def test_a_negative_gain_is_refused():
    for attack in (attacks.remove_mark, attacks.remove_and_remark):
        with pytest.raises(AttackParameterError, match=r"gain must be in \[0, 20\]"):
            attack(rgb8(), gain=-1.0)


def test_gain_one_subtracts_about_what_the_embedder_added_on_a_small_image():
    def luma(image: np.ndarray) -> np.ndarray:
        return image.astype(np.float64) @ [0.299, 0.587, 0.114]

    for size in ((192, 144), (384, 288)):        # below the working resolution (512 px): the mark is resampled
        image, marked = _marked("astronaut", size)
        embedded = np.sqrt(np.mean((luma(marked) - luma(image)) ** 2))
        subtracted = np.sqrt(np.mean((luma(attacks.remove_mark(marked, gain=1.0)) - luma(marked)) ** 2))
        assert 0.8 < subtracted / embedded < 1.3, size
