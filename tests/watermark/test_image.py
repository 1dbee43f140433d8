"""The pixel boundary: every supported kind to float32 in [0, 1] and back, exactly."""

import io

import numpy as np
import pytest
from photos import photo
from PIL import Image

import watermark as wm
from watermark.image import add_to_luminance, from_float, pixels_of, to_float

EVERY_UINT8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
EVERY_UINT16 = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256)


def _rgb(shape=(24, 40)):
    """A small crop of a real photograph (uint8 RGB)."""
    return np.ascontiguousarray(photo("coffee")[100:100 + shape[0], 200:200 + shape[1]])


@pytest.mark.parametrize("array", [
    EVERY_UINT8, EVERY_UINT16,
    np.dstack([EVERY_UINT8] * 3), np.dstack([EVERY_UINT16, EVERY_UINT16[::-1], EVERY_UINT16.T, EVERY_UINT16]),
    np.dstack([EVERY_UINT8, EVERY_UINT8.T]),
], ids=["uint8 grey", "uint16 grey", "uint8 RGB", "uint16 RGBA", "uint8 grey+alpha"])
def test_integer_arrays_round_trip_exactly_at_every_level(array):
    pixels, fmt = to_float(array)
    assert pixels.dtype == np.float32 and 0.0 <= pixels.min() and pixels.max() <= 1.0
    back = from_float(pixels, fmt)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_arrays_come_back_in_their_dtype(dtype):
    array = (_rgb().astype(np.float64) / 255).astype(dtype)
    pixels, fmt = to_float(array)
    assert pixels.dtype == np.float32
    back = from_float(pixels, fmt)
    assert back.dtype == dtype and back.shape == array.shape
    np.testing.assert_allclose(back, array, atol=1e-7)


@pytest.mark.parametrize("dtype, maximum", [(np.uint8, 255), (np.uint16, 65535)])
def test_values_between_levels_are_rounded_not_truncated(dtype, maximum):
    levels = np.array([0, 1, 7, maximum // 2, maximum - 1], dtype=np.float64)
    fmt = to_float(np.zeros((1, 5), dtype))[1]
    up = from_float(((levels + 0.6) / maximum).astype(np.float32)[None], fmt)
    down = from_float(((levels + 0.4) / maximum).astype(np.float32)[None], fmt)
    np.testing.assert_array_equal(up[0], levels + 1)
    np.testing.assert_array_equal(down[0], levels)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_out_of_range_results_are_clipped(dtype):
    fmt = to_float(np.zeros((1, 3), dtype))[1]
    back = from_float(np.array([[-0.2, 0.5, 1.3]], np.float32), fmt)
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    assert back[0, 0] == 0 and back[0, 2] == top


@pytest.mark.parametrize("array", [_rgb(), _rgb().astype(np.uint16) * 257, _rgb().astype(np.float32) / 255,
                                   np.dstack([_rgb(), np.full((24, 40), 9, np.uint8)])],
                         ids=["uint8", "uint16", "float32", "RGBA"])
def test_the_callers_array_is_never_written(array):
    original = array.copy()
    pixels, _ = to_float(array)
    assert not np.shares_memory(pixels, array)
    pixels += 0.5                                          # what embed does to its working copy
    np.testing.assert_array_equal(array, original)


def test_alpha_is_untouched_when_colours_change():
    rgba = np.dstack([_rgb().astype(np.uint16) * 257, EVERY_UINT16[:24, :40]])
    pixels, fmt = to_float(rgba)
    pixels[:, :, :3] = 1.0 - pixels[:, :, :3]
    back = from_float(pixels, fmt)
    np.testing.assert_array_equal(back[:, :, 3], rgba[:, :, 3])
    np.testing.assert_array_equal(back[:, :, :3], 65535 - rgba[:, :, :3])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_a_change_under_half_a_level_survives_on_average(mode):
    # A large photograph's mark is a fraction of a level in its flat areas: rounded to the nearest
    # level it would vanish there. Rounded stochastically, it stays there on average.
    flat = Image.new(mode, (96, 64), (128, 90, 200, 77)[:len(mode)] if mode != "L" else 128)
    array, fmt = pixels_of(flat)
    change = np.full((64, 96), 0.3 / 255, np.float32)
    change[:, 48:] *= -1
    marked = np.asarray(add_to_luminance(array, fmt, change), np.float64)
    moved = marked - np.asarray(flat, np.float64)
    colour = moved if mode == "L" else moved[:, :, :3]
    assert abs(colour[:, :48].mean() - 0.3) < 0.03 and abs(colour[:, 48:].mean() + 0.3) < 0.03
    assert np.abs(moved).max() == 1                              # a level at most, never more
    if mode == "RGBA":
        assert not moved[:, :, 3].any()                          # alpha untouched
    again = np.asarray(add_to_luminance(array, fmt, change))
    np.testing.assert_array_equal(again, marked)                 # the same input, the same output
    still = np.asarray(add_to_luminance(array, fmt, np.zeros_like(change)))
    np.testing.assert_array_equal(still, np.asarray(flat))       # no change, no noise
    larger = np.asarray(add_to_luminance(array, fmt, change * (1.3 / 0.3)), np.float64) - np.asarray(flat)
    assert np.all(np.abs(larger if mode == "L" else larger[:, :, :3]) == 1)   # a level or more: to the nearest


def _pil(mode):
    rgb = _rgb()
    if mode == "I;16":
        return Image.fromarray(rgb.mean(axis=2).astype(np.uint16) * 257)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, np.resize(EVERY_UINT8, rgb.shape[:2])]))
    if mode == "LA":
        return Image.merge("LA", (Image.fromarray(rgb).convert("L"), Image.fromarray(rgb[:, :, 0])))
    if mode == "P":
        return Image.fromarray(rgb).quantize(64)
    return Image.fromarray(rgb).convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "P", "CMYK"])
def test_pil_images_round_trip_in_their_own_mode(mode):
    image = _pil(mode)
    image.info["comment"] = b"kept"
    pixels, fmt = to_float(image)
    assert pixels.dtype == np.float32 and pixels.ndim == (2 if mode in ("L", "I;16") else 3)
    back = from_float(pixels, fmt)
    assert isinstance(back, Image.Image) and back.mode == mode and back.size == image.size
    assert back.info["comment"] == b"kept"
    if mode == "P":         # worked on as RGB: the same colours, perhaps another palette
        np.testing.assert_array_equal(np.asarray(back.convert("RGB")), np.asarray(image.convert("RGB")))
    else:
        np.testing.assert_array_equal(np.asarray(back), np.asarray(image))


@pytest.mark.parametrize("bad, problem", [
    (np.full((4, 4), 1.5, np.float32), "must lie in \\[0, 1\\]"),
    (np.full((4, 4), np.nan, np.float32), "NaN or infinity"),
    (np.zeros((4, 4), np.int64), "dtype int64 is not supported"),
    (np.zeros((4, 4, 5), np.uint8), "expected shape"),
    (np.zeros((0, 4), np.uint8), "no pixels"),
    ([[0, 1], [1, 0]], "expected a numpy array or PIL image"),
])
def test_unsupported_inputs_are_refused(bad, problem):
    with pytest.raises(wm.InvalidImageError, match=problem):
        to_float(bad)


def test_a_32_bit_integer_image_is_taken_as_16_bits_unless_its_depth_is_ambiguous():
    wide = Image.fromarray((np.arange(64 * 64, dtype=np.int32) * 9).reshape(64, 64))   # up to 36855
    pixels, fmt = to_float(wide)
    assert pixels.max() == pytest.approx(36855 / 65535) and from_float(pixels, fmt).mode == "I"
    eight_bits = Image.fromarray(np.asarray(_pil("L"))).convert("I")        # 0..255 stored in 32 bits
    with pytest.raises(wm.InvalidImageError, match="values stay within 0..255: 8 or 16 bits"):
        to_float(eight_bits)


@pytest.mark.parametrize("mode, order", [("I;16B", ">u2"), ("I;16L", "<u2")])
def test_sixteen_bit_grey_in_either_byte_order_keeps_its_values_and_mode(mode, order):
    """Pillow's convert("I;16") keeps only the low byte of a big-endian image: numpy reads the bytes."""
    image = Image.frombytes(mode, EVERY_UINT16.shape[::-1], EVERY_UINT16.astype(order).tobytes())
    pixels, fmt = to_float(image)
    np.testing.assert_array_equal(pixels, to_float(EVERY_UINT16)[0])
    back = from_float(pixels, fmt)
    assert back.mode == mode
    np.testing.assert_array_equal(np.asarray(back), EVERY_UINT16)


def test_a_closed_or_truncated_pil_image_is_an_invalid_image(tmp_path):
    Image.fromarray(photo("coffee")).save(tmp_path / "whole.jpg", quality=90)
    closed = Image.open(tmp_path / "whole.jpg")
    closed.close()
    truncated = Image.open(io.BytesIO((tmp_path / "whole.jpg").read_bytes()[:5000]))   # opened, not yet decoded
    for image, problem in ((closed, "closed image"), (truncated, "truncated")):
        with pytest.raises(wm.InvalidImageError, match=f"image: cannot read the PIL image's pixels .*{problem}") as err:
            pixels_of(image)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_colour_keyed_transparency_is_kept_exactly(key, mode):
    """PNG's tRNS on RGB or L: the pixels of the transparent colour stay it, no other pixel becomes it."""
    picture = _pil(mode).resize((400, 300))
    pixels = np.array(picture)
    pixels[:100, :100] = (0, 255, 0) if mode == "RGB" else 17
    picture = Image.fromarray(pixels)
    picture.info["transparency"] = (0, 255, 0) if mode == "RGB" else 17
    marked = wm.embed(picture, 5, key)
    keyed = [np.all(np.asarray(image) == image.info["transparency"], axis=-1) if mode == "RGB"
             else np.asarray(image) == image.info["transparency"] for image in (picture, marked)]
    np.testing.assert_array_equal(keyed[1], keyed[0])
    assert wm.detect(marked, key).payload == 5


def test_a_palette_image_with_a_transparent_index_keeps_it_and_the_mark(key):
    """Re-quantised as an RGBA image (Pillow's octree), such a copy lost the mark; as an opaque one with
    a transparent entry set aside, it keeps both."""
    opaque = _pil("RGB").resize((800, 600)).convert("P")
    indices = np.array(opaque)
    indices[:80, :80] = 0
    picture = Image.frombytes("P", indices.shape[1::-1], indices.tobytes())
    picture.putpalette(opaque.getpalette())
    picture.info["transparency"] = 0
    clear = np.asarray(picture.convert("RGBA"))[:, :, 3] == 0
    marked = wm.embed(picture, 7, key)
    assert marked.mode == "P" and clear.any()
    np.testing.assert_array_equal(np.asarray(marked.convert("RGBA"))[:, :, 3] == 0, clear)
    assert wm.detect(marked, key).payload == 7
