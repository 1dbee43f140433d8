"""The public API on images in memory: kinds in and out, errors, payload forms (files: test_api_files.py)."""

import functools
import io
import weakref

import cv2
import numpy as np
import pytest
from photos import photo
from PIL import Image

import watermark as wm

PAYLOAD = 0x5EED_CAFE_F00D_D00D


@pytest.fixture(scope="module")
def coffee():
    return photo("coffee")


def test_round_trip_returns_same_kind_and_leaves_input_alone(coffee, key):
    original = coffee.copy()
    marked = wm.embed(coffee, PAYLOAD, key)
    assert marked.shape == coffee.shape and marked.dtype == coffee.dtype
    np.testing.assert_array_equal(coffee, original)
    result = wm.detect(marked, key)
    assert result.found and result.payload == PAYLOAD and result.p_value < 1e-20


@pytest.mark.parametrize("convert", [
    lambda a: a.astype(np.uint16) * 257,
    lambda a: a.astype(np.float32) / 255,
    lambda a: a.mean(axis=2).astype(np.uint8),
    lambda a: np.dstack([a, np.full(a.shape[:2], 200, np.uint8)]),
], ids=["uint16", "float", "gray", "rgba"])
def test_array_kinds(coffee, key, convert):
    image = convert(coffee)
    marked = wm.embed(image, PAYLOAD, key)
    assert marked.shape == image.shape and marked.dtype == image.dtype
    if image.ndim == 3 and image.shape[2] == 4:
        np.testing.assert_array_equal(marked[:, :, 3], image[:, :, 3])     # alpha untouched
    assert wm.detect(marked, key).payload == PAYLOAD


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "I;16", "CMYK", "P"])
def test_pil_modes(coffee, key, mode):
    image = Image.fromarray(coffee).convert(mode) if mode != "I;16" else \
        Image.fromarray((coffee.mean(axis=2) * 257).astype(np.uint16))
    marked = wm.embed(image, PAYLOAD, key)
    assert isinstance(marked, Image.Image) and marked.mode == image.mode and marked.size == image.size
    if mode != "P":           # a palette cannot hold the mark's fine steps
        assert wm.detect(marked, key).payload == PAYLOAD


def test_bytes_payload(coffee, key):
    marked = wm.embed(coffee, b"licence7", key)
    assert wm.detect(marked, key).payload == int.from_bytes(b"licence7", "big")


@pytest.mark.parametrize("payload", [2**64, -1, b"123456789"])
def test_payload_too_large(coffee, key, payload):
    with pytest.raises(wm.PayloadTooLargeError):
        wm.embed(coffee, payload, key)


def test_float_outside_unit_range_is_an_error(coffee, key):
    with pytest.raises(wm.InvalidImageError, match="must lie in \\[0, 1\\]"):
        wm.embed(coffee.astype(np.float32), PAYLOAD, key)


def test_too_small(key):
    tiny = np.zeros((100, 120, 3), np.uint8)
    with pytest.raises(wm.ImageTooSmallError, match="120x100 px is below the lattice scheme's 128x128 minimum"):
        wm.embed(tiny, PAYLOAD, key)
    result = wm.detect(tiny, key)
    assert not result.found and result.p_value == 1.0


def test_a_small_picture_that_cannot_hold_a_readable_mark_is_refused(coffee, key):
    """At the minimum size some pictures hold a mark and some do not: the mark is read back there,
    never handed out unreadable; a little larger it reads."""
    import cv2

    small = cv2.resize(coffee, (128, 128), interpolation=cv2.INTER_AREA)
    with pytest.raises(wm.ImageTooSmallError, match="128x128 px is too small for this picture to hold a mark"):
        wm.embed(small, PAYLOAD, key)
    larger = cv2.resize(coffee, (160, 160), interpolation=cv2.INTER_AREA)
    assert wm.detect(wm.embed(larger, PAYLOAD, key), key).payload == PAYLOAD


def test_a_one_bit_image_is_refused_for_embedding_and_read_for_detection(coffee, key):
    bilevel = Image.fromarray(coffee).convert("1")
    with pytest.raises(wm.InvalidImageError, match="1-bit .* cannot hold a mark"):
        wm.embed(bilevel, PAYLOAD, key)
    assert not wm.detect(bilevel, key).found


def test_an_animated_pil_image_is_refused_rather_than_flattened(coffee, key, tmp_path):
    frames = [Image.fromarray(coffee), Image.fromarray(coffee[::-1])]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "a.gif") as animated, pytest.raises(wm.InvalidImageError, match="2 frames"):
        wm.embed(animated, PAYLOAD, key)


def test_wrong_key_finds_nothing(coffee, key):
    marked = wm.embed(coffee, PAYLOAD, key)
    assert not wm.detect(marked, wm.Key.from_passphrase("someone else")).found


def test_strength_trades_quality_for_robustness(coffee, key):
    psnrs, scores = [], []
    for strength in (0.5, 1.0, 2.0):
        marked = wm.embed(coffee, PAYLOAD, key, strength=strength)
        psnrs.append(10 * np.log10(255**2 / np.mean((marked.astype(float) - coffee) ** 2)))
        buffer = io.BytesIO()
        Image.fromarray(marked).save(buffer, "JPEG", quality=40)
        scores.append(wm.detect(np.asarray(Image.open(buffer)), key).score)
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert scores[0] < scores[1] < scores[2]


def test_detection_is_a_small_frozen_value(coffee, key):
    result = wm.detect(wm.embed(coffee, PAYLOAD, key), key)
    assert str(result).startswith("payload 0x5eedcafef00dd00d (p=")
    assert set(result.to_dict()) >= {"found", "payload", "p_value", "score", "scheme"}
    with pytest.raises(ValueError):
        result.bits[0] = 1.0
    with pytest.raises(AttributeError):
        result.found = False


@pytest.mark.parametrize("size", [(256, 256), (6000, 8000)])
def test_extreme_sizes(key, size):
    import cv2
    interpolation = cv2.INTER_AREA if size[0] < 512 else cv2.INTER_LINEAR
    image = cv2.resize(photo("astronaut"), size[::-1], interpolation=interpolation)
    assert wm.detect(wm.embed(image, PAYLOAD, key), key).payload == PAYLOAD


def test_a_cmyk_image_keeps_its_black_plate_and_the_mark_goes_to_its_inks_as_far_as_they_go(coffee, key):
    rgb = coffee.astype(np.float32)
    black = 255.0 - rgb.max(axis=2, keepdims=True)        # a separation's black generation: grey is K only
    inks = 255.0 * (1.0 - rgb / np.maximum(255.0 - black, 1.0))
    plates = np.clip(np.rint(np.concatenate([inks, black], axis=2)), 0, 255).astype(np.uint8)
    image = Image.frombytes("CMYK", plates.shape[1::-1], plates.tobytes())
    marked = wm.embed(image, PAYLOAD, key)
    after = np.asarray(marked)
    lowered = plates[:, :, 3].astype(int) - after[:, :, 3]
    assert marked.mode == "CMYK" and lowered.min() >= 0 and np.mean(lowered > 0) < 0.5     # before: K all gone
    shown = np.asarray(marked.convert("RGB"), dtype=int)               # what Pillow (and a screen) shows
    expected = np.asarray(wm.embed(image.convert("RGB"), PAYLOAD, key), dtype=int)
    visible = plates[:, :, 3] <= 191                                      # K leaves a quarter of the paper
    assert np.abs(shown - expected)[visible].max() <= 2
    assert wm.detect(marked, key).payload == PAYLOAD


@pytest.mark.parametrize("call, message", [
    (lambda image, key: wm.embed(image, PAYLOAD, key, strength=0), "strength must be a number in \\(0, 10\\]"),
    (lambda image, key: wm.embed(image, PAYLOAD, key, strength=float("inf")), "strength must be a number in"),
    (lambda image, key: wm.embed(image, PAYLOAD, key, strength=11), "strength must be a number in"),
    (lambda image, key: wm.embed(image, PAYLOAD, None), "key must be a watermark.Key"),
    (lambda image, key: wm.embed(image, PAYLOAD, "studio.key"), "key must be a watermark.Key"),
    (lambda image, key: wm.embed(image, "lic-42", key), "payload must be an int or bytes"),
    (lambda image, key: wm.detect(image, None), "key must be a watermark.Key"),
    (lambda image, key: wm.detect(image, key, false_alarm=0), "false-alarm rate must lie in \\(0, 1\\)"),
    (lambda image, key: wm.detect(image, key, false_alarm=1.5), "false-alarm rate must lie in \\(0, 1\\)"),
    (lambda image, key: wm.detect(image, key, false_alarm="0.1"), "false-alarm rate must lie in \\(0, 1\\)"),
    (lambda image, key: wm.detect(image, key, marked_shape=(0, 0)), "marked_shape must be \\(height, width\\)"),
    (lambda image, key: wm.detect(image, key, marked_shape=(100,)), "marked_shape must be \\(height, width\\)"),
    (lambda image, key: wm.detect(image, key, marked_shape=(-5, 10)), "marked_shape must be \\(height, width\\)"),
])
def test_bad_parameters_are_parameter_errors_not_image_errors(call, message, key):
    """Not a Python error from deep inside (AttributeError, ZeroDivisionError, TypeError)."""
    image = np.zeros((256, 256), np.uint8)
    with pytest.raises(wm.ParameterError, match=message) as caught:
        call(image, key)
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, wm.InvalidImageError)
    assert "ParameterError" in wm.__all__ and "ParameterError" in wm.errors.__all__


@pytest.mark.parametrize("payload, text", [
    (b"lic-42", "lic-42"), ("café".encode(), "café"), (b"\x00\x00ab", "ab"), (0xC0FFEE, None), (7, None),
    (b"a\nb", None), (None, None),
])
def test_payload_text_when_the_bytes_are_printable(payload, text):
    value = int.from_bytes(payload, "big") if isinstance(payload, bytes) else payload
    detection = wm.Detection(found=value is not None, payload=value, p_value=1e-12, score=9.0, bits=np.zeros(3),
                             scheme="lattice")
    assert detection.payload_text == text and detection.to_dict()["payload_text"] == text
    assert (f" {text!r} (p=" in str(detection)) == (text is not None)


@pytest.mark.parametrize("mode, order", [("I;16B", ">u2"), ("I;16L", "<u2")])
def test_sixteen_bit_grey_in_either_byte_order_is_marked_as_native_sixteen_bits(coffee, key, mode, order):
    """Pillow's convert("I;16") kept a big-endian image's low byte only: 771..65535 came out as 3..255."""
    grey = coffee.mean(axis=2).astype(np.uint16) * 257
    native = wm.embed(Image.fromarray(grey), PAYLOAD, key)
    marked = wm.embed(Image.frombytes(mode, grey.shape[::-1], grey.astype(order).tobytes()), PAYLOAD, key)
    assert marked.mode == mode
    np.testing.assert_array_equal(np.asarray(marked), np.asarray(native))
    assert wm.detect(marked, key).payload == PAYLOAD


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_large_grey_with_alpha_or_one_channel_reads_as_grey(key, dtype):
    """Above 512 px the luminance is averaged down before conversion; that step took only RGB(A)."""
    import cv2
    grey = cv2.cvtColor(cv2.resize(photo("astronaut"), (900, 700), interpolation=cv2.INTER_LINEAR),
                        cv2.COLOR_RGB2GRAY).astype(dtype) * (257 if dtype == np.uint16 else 1)
    grey = wm.embed(grey, PAYLOAD, key)
    expected = wm.detect(grey, key)
    assert expected.payload == PAYLOAD
    for image in (np.dstack([grey, np.full_like(grey, 200)]), grey[:, :, None]):
        found = wm.detect(image, key)
        assert (found.payload, found.p_value) == (expected.payload, expected.p_value)


@pytest.mark.parametrize("shape, problem", [
    ((700, 900, 5), "expected shape"), ((700, 900, 0), "expected shape"), ((300, 300, 5), "expected shape"),
    ((0, 300), "image has no pixels"), ((300, 0, 3), "image has no pixels"),
])
def test_detect_refuses_what_embed_refuses_in_one_line(key, shape, problem):
    image = np.zeros(shape, np.uint8)
    for call in (lambda: wm.embed(image, PAYLOAD, key), lambda: wm.detect(image, key),
                 lambda: wm.detect_keys(image, [key])):
        with pytest.raises(wm.InvalidImageError, match=problem) as info:
            call()
        assert "\n" not in str(info.value)


def test_a_one_channel_array_comes_back_in_its_shape(coffee, key):
    image = coffee[:, :, 1:2]
    marked = wm.embed(image, PAYLOAD, key)
    assert marked.shape == image.shape and marked.dtype == image.dtype
    assert wm.detect(marked, key).payload == PAYLOAD


def test_a_closed_or_truncated_pil_image_is_an_invalid_image(tmp_path, coffee, key):
    Image.fromarray(coffee).save(tmp_path / "whole.jpg", quality=90)
    closed = Image.open(tmp_path / "whole.jpg")
    closed.close()
    truncated = Image.open(io.BytesIO((tmp_path / "whole.jpg").read_bytes()[:5000]))   # opened, not yet decoded
    for call in (functools.partial(wm.embed, payload=PAYLOAD), wm.detect):
        for image in (closed, truncated):
            with pytest.raises(wm.InvalidImageError, match="image: cannot read the PIL image's pixels") as info:
                call(image, key=key)
            assert "\n" not in str(info.value)


@pytest.mark.parametrize("options, message", [
    ({"false_alarm": 5}, "false-alarm rate must lie in \\(0, 1\\)"),
    ({"false_alarm": float("nan")}, "false-alarm rate must lie in \\(0, 1\\)"),
    ({"phase_searches": -1}, "phase_searches must be a whole number >= 0"),
    ({"phase_searches": 1.5}, "phase_searches must be a whole number >= 0"),
    ({"phase_searches": "a"}, "phase_searches must be a whole number >= 0"),
    ({"master_shape": (0, 1)}, "master_shape must be \\(height, width\\)"),
    ({"key": "studio.key"}, "key must be a watermark.Key"),
])
def test_read_in_frame_checks_its_parameters(key, options, message):
    image = np.zeros((256, 256), np.uint8)
    options = {"key": key} | options
    with pytest.raises(wm.ParameterError, match=message):
        wm.read_in_frame(image, options.pop("key"), [PAYLOAD], **options)


def test_detect_keys_reads_an_iterator_once_and_refuses_a_single_key(coffee, key):
    marked = wm.embed(coffee, PAYLOAD, key)
    assert [d.payload for d in wm.detect_keys(marked, (k for k in [key]))] == [PAYLOAD]
    with pytest.raises(wm.ParameterError, match="got a single Key; pass \\[key\\]"):
        wm.detect_keys(marked, key)
    assert wm.detect_keys(marked, []) == []
    with pytest.raises(wm.InvalidImageError, match="expected a numpy array or PIL image"):
        wm.detect_keys("marked.png", [])


@pytest.mark.parametrize("level", [0, 255])
def test_a_picture_mostly_pure_black_or_white_whose_mark_does_not_read_back_is_refused(key, level):
    """Half of the mark clips there: a flat black or white frame of 1200 px came back unmarked, silently."""
    with pytest.raises(wm.InvalidImageError, match="mostly pure black or white"):
        wm.embed(np.full((1200, 1200), level, np.uint8), 1, key)
    assert wm.detect(wm.embed(np.full((1200, 1200), 2, np.uint8), 1, key), key).payload == 1   # not clipped


def test_an_eight_bit_picture_in_16_bits_is_refused_not_marked_257_times_too_strong(key, tmp_path):
    """After .astype(np.uint16) (or convert("I;16")) the values held 0..255: the mark, made for 0..65535,
    took PSNR to 14 dB. A 16-bit file that dark is marked if its mark reads back: its values are what they say."""
    pixels = photo("coffee")[:256, :256]
    for eight_bits in (pixels.astype(np.uint16), Image.fromarray(pixels[:, :, 0]).convert("I;16")):
        with pytest.raises(wm.InvalidImageError, match="16-bit values that stay within 0..255: 8 or 16 bits"):
            wm.embed(eight_bits, 7, key)
    marked = wm.embed(pixels.astype(np.uint16) * 257, 7, key)        # the same picture in 16 bits is marked
    assert marked.dtype == np.uint16 and wm.detect(marked, key).payload == 7
    cv2.imwrite(str(tmp_path / "dark.png"), pixels.astype(np.uint16))   # a 16-bit file, nearly black
    with pytest.raises(wm.InvalidImageError, match="nearly black, where the mark is too faint"):
        wm.embed_file(tmp_path / "dark.png", tmp_path / "out.png", 7, key)   # its mark, dimmed, did not read back
    assert not (tmp_path / "out.png").exists()
    brighter = (pixels.astype(np.uint16) + 8) * 16                     # dark too, but above the detector's blank
    cv2.imwrite(str(tmp_path / "brighter.png"), brighter)
    wm.embed_file(tmp_path / "brighter.png", tmp_path / "out.png", 7, key)
    assert wm.detect_file(tmp_path / "out.png", key).payload == 7


def test_messages_about_an_array_s_values_and_byte_order_say_what_is_wrong(key):
    """A float image up to 1.0001 was told its values lay "in [0, 1]"; a big-endian uint16 array that it was
    not uint16."""
    almost = photo("coffee")[:256, :256].astype(np.float64) / 255.0
    almost[0, 0, 0] = 1.0001
    with pytest.raises(wm.InvalidImageError, match=r"got values in \[0, 1\.0001\]"):
        wm.embed(almost, 7, key)
    with pytest.raises(wm.InvalidImageError, match=r"this one is uint16 in the other byte order: "
                                                   r"\.astype\(np\.uint16\) converts it"):
        wm.embed((photo("coffee")[:256, :256].astype(np.uint16) * 257).astype(">u2"), 7, key)


def test_read_in_frame_never_names_a_candidate_whose_payload_only_neighbours_the_marks(coffee, key):
    """A statistician's probe: a copy carrying 0x5eedcafc read against candidates 0x5eedcafe and 0x5eedcaff
    (sequential licences) named 0x5eedcaff at p ~ 1e-25: payloads a bit apart share most coded bits, and the
    match's null is a random payload. The decoder's own payload, CRC-checked, decides."""
    marked = wm.embed(coffee, 0x5EED_CAFC, key)
    neighbours = [0x5EED_CAFE, 0x5EED_CAFF, 0x5EED_CAFC ^ 0x100]
    reading = wm.read_in_frame(marked, key, neighbours)
    assert reading.found and reading.payload == 0x5EED_CAFC
    assert wm.read_in_frame(marked, key, [*neighbours, 0x5EED_CAFC]).payload == 0x5EED_CAFC


def test_embed_lets_the_luminance_plane_go_before_it_makes_the_output(key, monkeypatch):
    """A newcomer's probe measured a 12000 x 8000 embed at 1577 MiB against the README's 1155: a view of
    the luminance kept for the clipping check (9f0129f) held the whole float plane (366 MiB there)
    while the output was made."""
    from watermark import api

    planes = []
    alive_then = []

    def luminance_for(*args, **kwargs):
        pixels, luma, fmt = real_luminance(*args, **kwargs)
        planes.append(weakref.ref(luma))
        return pixels, luma, fmt

    def add_to_luminance(*args, **kwargs):
        alive_then.append(planes[-1]() is not None)
        return real_add(*args, **kwargs)

    real_luminance, real_add = api.luminance_for, api.add_to_luminance
    monkeypatch.setattr(api, "luminance_for", luminance_for)
    monkeypatch.setattr(api, "add_to_luminance", add_to_luminance)
    image = photo("coffee")
    assert wm.detect(wm.embed(image, 7, key), key).payload == 7
    assert alive_then == [False]
