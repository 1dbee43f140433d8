"""watermark/api_files.py: image files and their bytes marked and read, format and metadata kept, written at
a quality that keeps the mark."""

import io
import re
import warnings
from pathlib import Path

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


def test_detect_file_says_it_read_the_first_of_several_frames(coffee, key, tmp_path):
    frames = [Image.fromarray(wm.embed(coffee, PAYLOAD, key)), Image.fromarray(coffee[::-1])]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], lossless=True)
    with pytest.warns(wm.FiligraneWarning, match=r"a.webp: 2 frames \(animated, or pages\): the first was read"):
        assert wm.detect_file(tmp_path / "a.webp", key).payload == PAYLOAD
    with pytest.warns(wm.FiligraneWarning, match=r"upload.webp: 2 frames \(animated, or pages\): the first was read"):
        assert wm.detect_bytes((tmp_path / "a.webp").read_bytes(), key, name="upload.webp").payload == PAYLOAD


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_large_file_decoded_smaller_is_read_as_well_as_its_pixels(coffee, key, tmp_path, suffix):
    # a 1707 x 2560 file is decoded at half size, 854 x 1280 (its last row half a block), which was scaled
    # to an 854 px image's working side (569) and up again to the file's (724), then stretched over the
    # file's size: the untouched copy read scaled 0.999 or 1.001, offsets of a tile, and z lost 8-15 %
    big = np.asarray(Image.fromarray(coffee).resize((2560, 1707), Image.LANCZOS))
    Image.fromarray(wm.embed(big, PAYLOAD, key)).save(tmp_path / f"big{suffix}", quality=90)
    pixels = wm.detect(np.asarray(Image.open(tmp_path / f"big{suffix}")), key)
    read = wm.detect_file(tmp_path / f"big{suffix}", key)
    assert read.payload == pixels.payload == PAYLOAD and read.score > 0.97 * pixels.score
    np.testing.assert_allclose(read.transform, [[1, 0, 0], [0, 1, 0]], atol=1e-3)


def test_files_keep_format_and_metadata(tmp_path, coffee, key):
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    exif = Image.Exif()
    exif[0x010F] = "Filigrane test camera"
    Image.fromarray(coffee).save(src, "JPEG", quality=95, exif=exif, icc_profile=b"")
    wm.embed_file(src, dst, PAYLOAD, key)
    with Image.open(dst) as out:
        assert out.format == "JPEG" and out.size == (coffee.shape[1], coffee.shape[0])
        assert out.getexif()[0x010F] == "Filigrane test camera"
    assert wm.detect_file(dst, key).payload == PAYLOAD
    with pytest.raises(wm.OutputExistsError):
        wm.embed_file(src, dst, PAYLOAD, key)
    with pytest.raises(wm.OutputExistsError):
        wm.embed_file(src, src, PAYLOAD, key)


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_a_low_quality_jpeg_source_is_written_finer_so_that_the_mark_stays(tmp_path, key, name):
    """On its source's own tables a re-encoded mark snaps back onto the source's grid: a quality-60 photograph's
    copy lost it; the copy is written at a quality that keeps it, and says so. A quality-95 one keeps its own."""
    from watermark.jpegquality import estimate_quality

    for quality in (60, 95):
        src, dst = tmp_path / f"{name}{quality}.jpg", tmp_path / f"{name}{quality}-marked.jpg"
        Image.fromarray(photo(name)).save(src, "JPEG", quality=quality)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wm.embed_file(src, dst, PAYLOAD, key)
        said = [str(warning.message) for warning in caught if issubclass(warning.category, wm.FiligraneWarning)]
        with Image.open(dst) as out:
            written = estimate_quality(out.quantization)
        read = wm.detect_file(dst, key)
        if quality == 60:
            assert written > 60 and len(said) == 1 and re.fullmatch(
                f"{re.escape(str(dst))}: written at JPEG quality {written}, not the source's 60: on the source's own "
                "quantisation the mark kept [0-8]?[0-9]% of its strength", said[0])
        else:
            assert written == 95 and said == []
        assert read.payload == PAYLOAD and read.p_value < 1e-20


def test_a_big_endian_sixteen_bit_tiff_is_marked_as_its_little_endian_twin(tmp_path, coffee, key):
    """It was refused ("PNG holds 8 bits per channel and this I;16B image has more; save as .png")."""
    grey = coffee.mean(axis=2).astype(np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "native.tif")
    Image.frombytes("I;16B", grey.shape[::-1], grey.astype(">u2").tobytes()).save(tmp_path / "big.tif")
    wm.embed_file(tmp_path / "native.tif", tmp_path / "native-out.tif", PAYLOAD, key)
    with Image.open(tmp_path / "native-out.tif") as out:
        expected = np.asarray(out)
    for name, mode in (("out.tif", "I;16B"), ("out.png", "I;16")):
        wm.embed_file(tmp_path / "big.tif", tmp_path / name, PAYLOAD, key)
        with Image.open(tmp_path / name) as out:
            assert out.mode == mode
            np.testing.assert_array_equal(np.asarray(out), expected)
        assert wm.detect_file(tmp_path / name, key).payload == PAYLOAD


def test_an_upload_s_bytes_are_marked_as_embed_file_marks_a_file(key):
    """A service marks uploads in memory: embed's pixels saved again at the upload's own JPEG quality (60)
    lost the mark on a probe's photograph; embed_bytes writes what embed_file would, at a quality that
    keeps it."""
    upload = io.BytesIO()
    Image.fromarray(photo("astronaut")).resize((1024, 1024)).save(upload, "JPEG", quality=60)
    with pytest.warns(wm.FiligraneWarning, match="^image.jpg: written at JPEG quality (85|90|95), not the source.s 60"):
        marked = wm.embed_bytes(upload.getvalue(), 0x42, key)
    assert marked[:3] == b"\xff\xd8\xff" and wm.detect_bytes(marked, key).payload == 0x42
    webp = wm.embed_bytes(upload.getvalue(), 0x43, key, extension=".webp")
    assert webp[8:12] == b"WEBP" and wm.detect_bytes(webp, key).payload == 0x43


def test_embed_bytes_keeps_16_bits_and_names_the_upload_in_errors(key):
    deep = io.BytesIO()
    Image.fromarray(photo("coffee")[:, :, 1].astype(np.uint16) * 257).save(deep, "PNG")
    marked = Image.open(io.BytesIO(wm.embed_bytes(deep.getvalue(), 7, key)))
    assert marked.mode.startswith("I;16") and wm.detect(marked, key).payload == 7
    with pytest.raises(wm.InvalidImageError, match="^upload-17.jpg: "):
        wm.embed_bytes(b"\xff\xd8\xff\xe0 not a JPEG", 7, key, name="upload-17.jpg")


def test_bytes_functions_say_what_they_were_given_wrong(key):
    """`embed_bytes(..., extension="png")` raised pathlib's bare ValueError, `detect_bytes("a path")` a TypeError."""
    data = (Path(__file__).parents[2] / "samples" / "coffee.jpg").read_bytes()
    with pytest.raises(wm.ParameterError, match="a file extension with its dot, such as '.jpg', got 'png'"):
        wm.embed_bytes(data, 7, key, extension="png")
    with pytest.raises(wm.InvalidImageError, match="expected the file's bytes, got str \\(a path\\? use detect_file"):
        wm.detect_bytes("samples/coffee.jpg", key)


def test_a_jpeg_above_pillow_s_own_limit_is_marked_into_a_jpeg_when_no_limit_is_asked(tmp_path, key, monkeypatch):
    """A probe's 16000 x 12000 JPEG under --max-pixels none: marked, then "unexpected error
    (DecompressionBombError)" when the JPEG written was read back for its quality; Pillow's 89 Mpx stands as
    1 Mpx here, the picture 3 Mpx (above twice it, where Pillow raises rather than warns)."""
    source = tmp_path / "in.jpg"
    Image.fromarray(cv2.resize(photo("coffee"), (2000, 1500), interpolation=cv2.INTER_CUBIC)).save(source, quality=90)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    wm.embed_file(source, tmp_path / "out.jpg", 0x1234, key, max_pixels=None)
    assert wm.detect_file(tmp_path / "out.jpg", key, max_pixels=None).payload == 0x1234
    assert Image.MAX_IMAGE_PIXELS == 1_000_000
