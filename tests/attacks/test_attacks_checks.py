"""Each attack against an independent computation, where one exists."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from attack_images import grey8, rgb8
from PIL import Image, JpegImagePlugin
from scipy import ndimage

import attacks
from attacks import codec
from watermark.errors import MissingExtraError


def _psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


# --- geometry ---------------------------------------------------------------------------------

def test_rotation_by_90_is_rot90():
    square = rgb8()[:, :96]
    for k in range(-3, 5):
        assert np.array_equal(attacks.rotate(square, degrees=90 * k), np.rot90(square, k))
    assert np.array_equal(attacks.rotate(rgb8(), degrees=90, expand=True), np.rot90(rgb8()))
    assert np.array_equal(attacks.rot90(rgb8(), k=-1), np.rot90(rgb8(), -1))
    assert np.array_equal(attacks.rotate(rgb8(), degrees=180), rgb8()[::-1, ::-1])


@pytest.mark.parametrize("degrees", [-5, 2, 10])
def test_rotation_matches_scipy_in_the_middle(degrees):
    image = grey8()
    ours = attacks.rotate(image, degrees=degrees)
    theirs = ndimage.rotate(image.astype(np.float64), degrees, reshape=False, order=3, mode="constant")
    middle = (slice(24, 72), slice(32, 96))
    assert _psnr(ours[middle], np.clip(theirs, 0, 255)[middle]) > 35


def test_rotation_crop_keeps_the_largest_inner_rectangle():
    image = rgb8()
    height, width = image.shape[:2]
    for degrees in (0.5, 2, 15, -30):
        out = attacks.rotate(image, degrees=degrees, crop=True)
        t = math.radians(abs(degrees))
        k = min(width / (width * math.cos(t) + height * math.sin(t)),
                height / (width * math.sin(t) + height * math.cos(t)))
        assert out.shape[:2] == (int(height * k), int(width * k))
        white = attacks.rotate(np.full_like(image, 255), degrees=degrees, crop=True)
        assert white[[0, -1]][:, [0, -1]].min() > 100     # no black corner left (edges interpolate)
    scaled = attacks.rotate(image, degrees=2, scale=True)
    assert scaled.shape == image.shape and _psnr(scaled, image) > 12


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 75, 100])
def test_crop_keeps_the_stated_percentage_of_each_side(percent):
    image = rgb8()
    height, width = image.shape[:2]
    h, w = int(height * percent / 100), int(width * percent / 100)
    out = attacks.crop(image, percent=percent)
    assert out.shape[:2] == (max(h, 1), max(w, 1))
    y, x = (height - out.shape[0]) // 2, (width - out.shape[1]) // 2
    assert np.array_equal(out, image[y:y + out.shape[0], x:x + out.shape[1]])


def test_crop_positions_and_random_placement():
    image = rgb8()
    assert np.array_equal(attacks.crop(image, percent=50, position="top-left"), image[:48, :64])
    assert np.array_equal(attacks.crop(image, percent=50, position="bottom-right"), image[48:, 64:])
    assert np.array_equal(attacks.crop(image, percent=50, position="top-right"), image[:48, 64:])
    assert np.array_equal(attacks.crop(image, percent=50, position="bottom"), image[48:, 32:96])
    out = attacks.crop(image, percent=50, position="random", seed=4)
    matches = [(y, x) for y in range(49) for x in range(65) if np.array_equal(image[y:y + 48, x:x + 64], out)]
    assert matches and out.size / image.size == pytest.approx(0.25)


def test_rescale_sizes_and_area_average():
    image = grey8()
    assert attacks.rescale(image, factor=1.1).shape == (math.ceil(96 * 1.1), math.ceil(128 * 1.1))
    half = attacks.rescale(image, factor=0.5)
    blocks = image.astype(np.float64).reshape(48, 2, 64, 2).mean(axis=(1, 3))
    assert np.abs(half.astype(np.float64) - blocks).max() <= 1.0


def test_flip_translate_remove_lines_are_exact():
    image = rgb8()
    assert np.array_equal(attacks.flip(image), np.fliplr(image))
    assert np.array_equal(attacks.flip(image, axis="vertical"), np.flipud(image))
    moved = attacks.translate(image, dx=5, dy=-3)
    assert np.array_equal(moved[:-3, 5:], image[3:, :-5]) and not moved[-3:].any() and not moved[:, :5].any()
    for every in (10, 30, 100):
        out = attacks.remove_lines(image, every=every)
        rows = [i for i in range(96) if i % every]
        cols = [j for j in range(128) if j % every]
        assert np.array_equal(out, image[rows][:, cols])
        assert out.shape[:2] == (96 - (95 // every + 1), 128 - (127 // every + 1))     # SMB 4.0's sizes


def test_delete_lines_drops_count_random_rows_and_columns():
    image = rgb8()
    with attacks.recording() as drawn:
        out = attacks.delete_lines(image, count=5, seed=3)
    [(name, where)] = drawn
    assert name == "delete_lines" and out.shape == (96 - 5, 128 - 5, 3)
    assert len(set(where["rows"])) == 5 and len(set(where["columns"])) == 5
    assert np.array_equal(out, np.delete(np.delete(image, where["rows"], axis=0), where["columns"], axis=1))
    assert np.array_equal(out, attacks.delete_lines(image, count=5, seed=3))
    with attacks.recording() as again:
        attacks.delete_lines(image, count=5, seed=4)
    assert again[0][1] != where
    assert attacks.delete_lines(grey8(), count=1, seed=0).shape == (95, 127)


def test_affine_identity_and_shear_geometry():
    image = rgb8()
    assert np.abs(attacks.affine(image, matrix=(1, 0, 0, 1)).astype(int) - image).max() <= 1
    sheared = attacks.affine(image, matrix=(1, 0.05, 0, 1))
    assert sheared.shape[:2] == (96, 128 + math.ceil(0.05 * 96))
    # y points up in StirMark's convention: the top row moves right, the bottom row stays.
    dot = np.zeros((40, 40), np.uint8)
    dot[0, 10] = dot[39, 10] = 255
    out = attacks.affine(dot, matrix=(1, 0.5, 0, 1))
    assert np.argmax(out[0]) > np.argmax(out[-1])
    moved = attacks.affine(image, matrix=(1, 0, 7, 0, 1, 0), expand=False)     # 7 px to the right
    assert np.abs(moved[:, 7:].astype(int) - image[:, :-7]).max() <= 1


def test_downscale_only_shrinks():
    image = rgb8()
    assert attacks.downscale(image, max_side=64).shape[:2] == (48, 64)
    assert np.array_equal(attacks.downscale(image, max_side=1080), image)


@pytest.mark.parametrize("fill, around", [("white", 255), ("black", 0), ("blur", None)])
def test_canvas_fits_the_whole_picture_centred_in_a_frame_of_another_shape(fill, around):
    image = np.zeros((90, 160, 3), np.uint8)
    image[:, :, 1] = 200
    image[:, 80:, 2] = 255                                                       # the right half: another colour
    out = attacks.canvas(image, ratio=0.8, fill=fill, side=100)
    assert out.shape == (100, 80, 3)
    assert np.abs(out[39:61, :, 1].astype(int) - 200).max() <= 1                 # 160x90 fitted: 80x45, centred
    if around is None:                                                           # the picture, blurred, around it
        assert (out[:25, :, 1] == 200).all() and out[0, 0, 2] < out[0, 40, 2] < out[0, -1, 2]
    else:
        assert (out[:25] == around).all() and (out[-25:] == around).all()


# --- codecs -----------------------------------------------------------------------------------

_IJG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


def _ijg_table(quality: int) -> np.ndarray:
    """libjpeg's jpeg_quality_scaling and jpeg_add_quant_table, in integers."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_IJG_LUMINANCE * scale + 50) // 100, 1, 255)


@pytest.mark.parametrize("quality", [15, 30, 50, 75, 90, 100])
def test_jpeg_quality_is_what_a_decoder_reads_back(quality):
    image = rgb8()
    data = attacks.codec.jpeg_bytes(image, quality=quality)
    with Image.open(io.BytesIO(data)) as decoded:
        table = np.array(decoded.quantization[0])
        assert JpegImagePlugin.get_sampling(decoded) == 2          # 4:2:0
        pixels = np.asarray(decoded.convert("RGB"))
    assert np.array_equal(table, _ijg_table(quality))   # the IJG luminance table scaled for `quality`
    assert np.array_equal(attacks.jpeg(image, quality=quality), pixels)


def test_jpeg_of_16_bit_goes_through_8_bits():
    image = rgb8().astype(np.uint16) * 257
    out = attacks.jpeg(image, quality=90)
    assert out.dtype == np.uint16 and not (out % 257).any()
    assert np.array_equal(out // 257, attacks.jpeg(rgb8(), quality=90))


def test_webp_and_metadata():
    image = Image.fromarray(rgb8())
    image.info["icc_profile"] = b"profile"
    image.info["exif"] = b"Exif\x00\x00"
    assert attacks.strip_metadata(image).info == {}
    assert image.info["icc_profile"] == b"profile"
    assert _psnr(np.asarray(attacks.webp(image, quality=90)), rgb8()) > 28
    assert np.array_equal(attacks.webp(rgb8(), lossless=True), rgb8())


def test_avif_loses_more_the_lower_its_quality_and_gives_the_same_pixels_each_run():
    image = rgb8()
    assert _psnr(attacks.avif(image, quality=90), image) > _psnr(attacks.avif(image, quality=30), image) + 3
    assert _psnr(attacks.avif(image, quality=90), image) > 30
    assert np.array_equal(attacks.avif(image, quality=50), attacks.avif(image, quality=50))
    assert attacks.avif(grey8(), quality=50).shape == grey8().shape


def test_avif_without_an_encoder_says_what_to_install(monkeypatch):
    monkeypatch.setattr(codec.features, "check", lambda feature: False)
    with pytest.raises(MissingExtraError, match=r"^avif: this Pillow \(.*\) cannot write AVIF; pip install"):
        attacks.avif(rgb8(), quality=50)


# --- noise and filters ------------------------------------------------------------------------

def test_denoise_takes_noise_away_and_keeps_edges():
    clean = np.where(np.arange(96)[None, :] < 48, 60, 190).astype(np.uint8).repeat(64, axis=0)
    clean = np.repeat(clean[:, :, None], 3, axis=2)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 6, clean.shape), 0, 255).astype(np.uint8)
    cleaned = attacks.denoise(noisy, strength=10.0)
    assert _psnr(cleaned, clean) > _psnr(noisy, clean) + 6          # the noise goes
    assert abs(float(cleaned[:, 44:46].mean()) - 60) < 3 and abs(float(cleaned[:, 50:52].mean()) - 190) < 3
    assert _psnr(attacks.denoise(noisy, strength=3.0), noisy) > _psnr(cleaned, noisy)   # gentler is closer
    assert attacks.denoise(noisy[:, :, 0], strength=10.0).shape == noisy.shape[:2]

@pytest.mark.parametrize("target", [20, 30, 40, 50])
@pytest.mark.parametrize("kind", ["rgb8", "grey8", "rgb16"])
def test_psnr_attack_lands_within_a_tenth_of_a_db(target, kind):
    image = {"rgb8": rgb8(), "grey8": grey8(), "rgb16": rgb8().astype(np.uint16) * 257}[kind]
    peak = 65535.0 if image.dtype == np.uint16 else 255.0
    out = attacks.psnr(image, db=target, seed=11)
    assert abs(_psnr(out, image, peak) - target) < 0.1


def test_add_noise_levels_intended_and_as_shipped():
    image = rgb8()
    assert np.array_equal(attacks.add_noise(image, level=0, seed=1), image)
    values = [_psnr(attacks.add_noise(image, level=level, seed=1), image) for level in (20, 40, 60, 80, 100)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[0] > 22
    shipped = [_psnr(attacks.add_noise(image, level=level, as_shipped=True, seed=1), image) for level in (20, 100)]
    assert all(5 < value < 11 for value in shipped)


def test_gaussian_noise_has_the_stated_sigma():
    flat = np.full((200, 200), 0.5)
    out = attacks.gaussian_noise(flat, sigma=0.05, seed=0)
    assert np.std(out - flat) == pytest.approx(0.05, rel=0.03)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.3])
def test_gaussian_blur_window_is_the_documented_one(sigma):
    impulse = np.zeros((121, 121), np.float32)
    impulse[60, 60] = 1.0
    support = np.flatnonzero(attacks.gaussian_blur(impulse, sigma=sigma)[60])
    assert support[-1] - support[0] + 1 == round(8 * sigma + 1) | 1
    assert "window 8 sigma + 1" in attacks.describe("gaussian_blur")


def test_median_borders_are_replicated_as_documented():
    image = np.zeros((9, 9), np.uint8)
    image[0, :2] = 200        # the corner's window: 6 bright of 9 with replicated borders, 3 with dcb|abcd
    assert attacks.median(image, size=3)[0, 0] == 200
    assert "replicate" in attacks.median.__doc__ and "median's by replication" in attacks.filters.__doc__


@pytest.mark.parametrize("size", [3, 5, 7, 9])
def test_median_matches_scipy(size):
    image = grey8()
    assert np.array_equal(attacks.median(image, size=size), ndimage.median_filter(image, size=size, mode="nearest"))


def test_convolution_kernels_and_the_shipped_divisor():
    image = grey8().astype(np.float64)
    kernel = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    expected = np.clip(np.rint(ndimage.convolve(image, kernel, mode="mirror")), 0, 255)
    assert np.abs(attacks.convolution(grey8(), kernel="gaussian").astype(float) - expected).max() <= 1
    dark = (grey8() // 4).astype(np.uint8)
    shipped = attacks.convolution(dark, kernel="gaussian", as_shipped=True)
    assert shipped.mean() / dark.mean() == pytest.approx(16 / 9, rel=0.02)
    darker = attacks.convolution(grey8(), kernel="sharpen", as_shipped=True)
    assert darker.astype(float).mean() < 0.2 * grey8().mean()
    assert abs(attacks.convolution(grey8(), kernel="sharpen").astype(float).mean() - grey8().mean()) < 3


def test_self_similarities_modes():
    image = rgb8()
    luminance, chroma, both = (attacks.self_similarities(image, mode=m) for m in (1, 2, 3))
    assert _psnr(chroma, image) > _psnr(luminance, image) > 15
    assert _psnr(both, image) <= _psnr(luminance, image) + 0.5
    assert np.array_equal(attacks.self_similarities(grey8(), mode=2), grey8())


# --- colour, overlays, bending ----------------------------------------------------------------

def test_grayscale_is_bt601_luma():
    luma = rgb8().astype(np.float64) @ [0.299, 0.587, 0.114]
    out = attacks.grayscale(rgb8())
    assert np.abs(out[:, :, 0].astype(float) - luma).max() <= 1 and (out == out[:, :, :1]).all()


def test_palette_limits_the_colours():
    for colors in (8, 64):
        out = attacks.palette(rgb8(), colors=colors)
        assert len(np.unique(out.reshape(-1, 3), axis=0)) <= colors


def test_hue_turns_and_saturation_zero_is_grey():
    out = attacks.hue(rgb8(), degrees=360)
    assert np.abs(out.astype(int) - rgb8()).max() <= 1
    grey = attacks.saturation(rgb8(), factor=0)
    assert (np.ptp(grey.astype(int), axis=2) <= 1).all()


def test_overlays_stay_in_their_corner():
    image = rgb8()
    for out in (attacks.text(image, position="bottom-right"), attacks.logo(image, position="bottom-right")):
        assert np.array_equal(out[:40, :60], image[:40, :60]) and not np.array_equal(out, image)


def test_random_bending_with_only_the_transfer_function_moves_levels_a_little():
    image = rgb8()
    out = attacks.random_bending(image, inwards=0, outwards=0, bending=0, randomisation=0, quality=0, seed=3)
    assert np.abs(out.astype(int) - image).max() <= 3
    full = attacks.random_bending(image, seed=3)
    assert full.shape == image.shape and 12 < _psnr(full, image) < 35


def test_small_random_distortions_grow_with_the_factor():
    image = rgb8()
    weak, strong = (_psnr(attacks.small_random_distortions(image, factor=f, seed=2), image) for f in (0.2, 2.0))
    assert weak > strong


def _colourful():
    return (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)


def test_jpeg_subsampling_is_the_one_asked_for():
    for name, code in (("4:4:4", 0), ("4:2:2", 1), ("4:2:0", 2)):
        image = Image.open(io.BytesIO(codec.jpeg_bytes(_colourful(), quality=90, subsampling=name)))
        assert JpegImagePlugin.get_sampling(image) == code, name
    assert not np.array_equal(attacks.jpeg(_colourful(), quality=90, subsampling="4:4:4"),
                              attacks.jpeg(_colourful(), quality=90, subsampling="4:2:0"))


def test_sharpen_s_radius_changes_the_result():
    image = _colourful()
    assert not np.array_equal(attacks.sharpen(image, amount=1.0, radius=1.0),
                              attacks.sharpen(image, amount=1.0, radius=3.0))


def test_every_attack_is_described_by_its_whole_first_paragraph():
    """A newcomer's probe: `attack --list` cut six descriptions at their docstring's first line break
    (canvas's ended "as apps post a")."""
    for name in attacks.names():
        summary = attacks.describe(name).rpartition(" -- ")[2]
        assert summary.endswith((".", ")")) and "\n" not in summary, (name, summary)
    assert attacks.describe("canvas").endswith("as Instagram's story fill).")
