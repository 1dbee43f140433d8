"""watermark/imageio.py and imagewrite.py, with the modules beside them (pixellimit, imageopen, imageencode,
imageplace): round trips, metadata, orientation, bad files, atomic writes."""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from watermark import imageio, imageopen, metadata, pixellimit
from watermark.errors import (
    FiligraneWarning,
    ImageFileError,
    InvalidImageError,
    OutputExistsError,
    ParameterError,
    UnknownNameError,
    WatermarkError,
)
from watermark.imageio import load_image
from watermark.imagewrite import save_image

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
RNG = np.random.default_rng(1234)
RGB = RNG.integers(0, 256, (24, 36, 3), dtype=np.uint8)


def _file(tmp_path: Path, name: str, image: Image.Image, **options) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def _roundtrip(tmp_path: Path, image: Image.Image, src: str, dst: str, **options) -> Image.Image:
    loaded = load_image(_file(tmp_path, src, image, **options))
    save_image(loaded.image, tmp_path / dst, like=loaded)
    return load_image(tmp_path / dst).image


@pytest.mark.parametrize("mode, ext", [
    ("RGB", "png"), ("RGBA", "png"), ("LA", "png"), ("L", "png"), ("1", "png"), ("P", "png"),
    ("I;16", "png"), ("I;16", "tif"), ("RGB", "tif"), ("RGBA", "tif"), ("CMYK", "tif"), ("RGB", "bmp"),
    ("P", "gif"), ("RGBA", "webp"),
])
def test_lossless_round_trip_keeps_mode_and_pixels(tmp_path, mode, ext):
    if mode == "I;16":
        image = Image.fromarray(RNG.integers(0, 65536, (24, 36), dtype=np.uint16))
    elif mode == "P":
        image = Image.fromarray(RGB).quantize(16)
    elif mode == "CMYK":
        image = Image.frombytes("CMYK", RGB.shape[1::-1], np.concatenate([RGB, RGB[:, :, :1]], axis=2).tobytes())
    else:
        image = Image.fromarray(np.concatenate([RGB, RGB[:, :, :1]], axis=2)).convert(mode)
    options = {"lossless": True, "exact": True} if ext == "webp" else {}
    back = _roundtrip(tmp_path, image, f"in.{ext}", f"out.{ext}", **options)
    assert back.mode == image.mode
    if mode == "P":
        back, image = back.convert("RGB"), image.convert("RGB")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(image))


@pytest.mark.parametrize("mode, src, dst", [("CMYK", "jpg", "jpg"), ("CMYK", "jpg", "tif"),
                                            ("RGB", "jpg", "jpg"), ("RGB", "webp", "webp"), ("L", "jpg", "png")])
def test_lossy_round_trip_keeps_mode_and_looks_alike(tmp_path, mode, src, dst):
    smooth = cv2.GaussianBlur(RGB, (7, 7), 2)
    image = Image.fromarray(smooth).convert(mode)
    back = _roundtrip(tmp_path, image, f"in.{src}", f"out.{dst}", quality=95)
    assert back.mode == mode and back.size == image.size
    error = np.abs(np.asarray(back, dtype=float) - np.asarray(image, dtype=float))
    assert error.mean() < 3


def _srgb_profile() -> bytes:
    """An sRGB ICC profile, the same bytes on every call: LittleCMS stamps the creation time into the
    header (bytes 24-35), so that field is fixed."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile[:24] + bytes([7, 232, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5]) + profile[36:]   # 2024-01-02 03:04:05


ICC = _srgb_profile()


@pytest.mark.parametrize("dst", ["jpg", "png", "webp", "tif"])
def test_icc_exif_dpi_and_xmp_are_kept(tmp_path, dst):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x8298] = "Camera Co", "Model 7", "(c) Someone"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"  # DateTimeOriginal
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    src = _file(tmp_path, "in.jpg", Image.fromarray(RGB), icc_profile=ICC, exif=exif, dpi=(300, 300), xmp=xmp)
    loaded = load_image(src)
    save_image(loaded.image, tmp_path / f"out.{dst}", like=loaded)
    with Image.open(tmp_path / f"out.{dst}") as out:
        assert out.info["icc_profile"] == ICC
        assert dst == "webp" or round(out.info["dpi"][0]) == 300   # WebP has no DPI
        kept = out.getexif()
        assert kept[0x010F] == "Camera Co" and kept[0x8298] == "(c) Someone"
        assert kept.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"
        assert b"adobe:ns:meta" in (out.info["xmp"].encode() if isinstance(out.info["xmp"], str) else out.info["xmp"])


def test_exif_orientation_is_applied_and_reset(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)      # as stored: 40 wide, left red, right blue
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6                                     # display rotated 90 degrees clockwise
    exif[0x010F] = "Camera Co"
    exif.get_ifd(0x8769).update({0xA002: 40, 0xA003: 20})          # the stored picture's pixel dimensions
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description exif:PixelXDimension="40" '
           b'exif:PixelYDimension="20" xmp:CreatorTool="Camera Co"/></rdf:RDF></x:xmpmeta>')
    loaded = load_image(_file(tmp_path, "in.jpg", Image.fromarray(stored), exif=exif, xmp=xmp, quality=95))
    assert loaded.image.size == (20, 40) and loaded.original_size == (20, 40)
    pixels = np.asarray(loaded.image).astype(int)
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 50     # red on top after turning clockwise
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 50   # blue below
    save_image(loaded.image, tmp_path / "out.png", like=loaded)
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (20, 40)
        assert out.getexif()[0x0112] == 1 and out.getexif()[0x010F] == "Camera Co"
        assert out.getexif().get_ifd(0x8769)[0xA002] == 20 and out.getexif().get_ifd(0x8769)[0xA003] == 40
        assert b'exif:PixelXDimension="20" exif:PixelYDimension="40"' in out.info["xmp"]
    assert load_image(tmp_path / "out.png").image.size == (20, 40)


def test_jpeg_subsampling_of_the_source_is_kept(tmp_path):
    loaded = load_image(_file(tmp_path, "in.jpg", Image.fromarray(RGB), subsampling=0))
    assert loaded.jpeg_subsampling == 0
    save_image(loaded.image, tmp_path / "out.jpg", like=loaded, quality=80)
    with Image.open(tmp_path / "out.jpg") as out:
        assert JpegImagePlugin.get_sampling(out) == 0


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_output_keeps_the_sources_quality_and_progression(tmp_path, progressive):
    from watermark.jpegquality import estimate_quality

    smooth = Image.fromarray(cv2.GaussianBlur(cv2.resize(RGB, (96, 64)), (5, 5), 1))
    loaded = load_image(_file(tmp_path, "in.jpg", smooth, quality=83, progressive=progressive))
    assert loaded.jpeg_quality == 83 and loaded.jpeg_progressive == progressive
    save_image(loaded.image, tmp_path / "kept.jpg", like=loaded)
    save_image(loaded.image, tmp_path / "given.jpg", like=loaded, quality=60)     # a given quality wins
    save_image(loaded.image, tmp_path / "plain.jpg")                               # no source: 95
    for name, quality in [("kept.jpg", 83), ("given.jpg", 60), ("plain.jpg", 95)]:
        with Image.open(tmp_path / name) as out:
            assert estimate_quality(out.quantization) == quality
            assert bool(out.info.get("progressive")) == (progressive and name != "plain.jpg")


def test_jpeg_tables_of_another_design_fall_back_to_quality_95(tmp_path):
    from watermark.jpegquality import estimate_quality

    loaded = load_image(_file(tmp_path, "in.jpg", Image.fromarray(RGB), qtables=[[30] * 64, [60] * 64]))
    assert loaded.jpeg_quality is None
    save_image(loaded.image, tmp_path / "out.jpg", like=loaded)
    with Image.open(tmp_path / "out.jpg") as out:
        assert estimate_quality(out.quantization) == 95


def test_lossy_webp_stays_lossy_lossless_stays_lossless(tmp_path):
    for lossless in (False, True):
        loaded = load_image(_file(tmp_path, f"in{lossless}.webp", Image.fromarray(RGB), lossless=lossless, quality=50))
        save_image(loaded.image, tmp_path / f"out{lossless}.webp", like=loaded)
        assert load_image(tmp_path / f"out{lossless}.webp").webp_lossless == lossless


def test_a_file_made_at_the_output_while_it_is_encoded_is_kept(tmp_path):
    """Another process that writes the same name after the existence check keeps its file."""
    out = tmp_path / "out.png"

    def theirs_first(encoded: bytes) -> bytes:
        out.write_bytes(b"theirs")
        return encoded
    with pytest.raises(OutputExistsError, match="out.png: already exists"):
        save_image(np.zeros((8, 8, 3), np.uint8), out, finish=theirs_first)
    assert out.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["out.png"]


def test_a_written_file_and_its_folder_entry_are_flushed_to_the_disk(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)
    monkeypatch.setattr(os, "fsync", fsync)
    save_image(np.zeros((8, 8, 3), np.uint8), tmp_path / "out.png")
    assert synced == ["file", "folder"]


def test_reduce_to_decodes_jpeg_at_a_smaller_scale(tmp_path):
    photo = Image.fromarray(cv2.resize(RGB, (400, 300)))
    loaded = load_image(_file(tmp_path, "big.jpg", photo), reduce_to=70)
    assert loaded.image.size == (100, 75) and loaded.scale == 0.25 and loaded.original_size == (400, 300)
    loaded = load_image(_file(tmp_path, "big.png", photo), reduce_to=70)
    assert loaded.image.size == (100, 75) and loaded.scale == 0.25
    assert load_image(tmp_path / "big.png", reduce_to=1000).scale == 1.0


def test_luminance_decodes_a_colour_jpeg_straight_to_its_luma(tmp_path):
    photo = Image.fromarray(cv2.resize(RGB, (400, 300), interpolation=cv2.INTER_CUBIC))
    path = _file(tmp_path, "big.jpg", photo, quality=95)
    grey = load_image(path, reduce_to=70, luminance=True)
    colour = load_image(path, reduce_to=70)
    assert grey.image.mode == "L" and grey.image.size == colour.image.size == (100, 75)
    assert grey.scale == colour.scale and grey.original_size == colour.original_size
    luma = cv2.cvtColor(np.asarray(colour.image), cv2.COLOR_RGB2GRAY).astype(int)
    assert np.abs(np.asarray(grey.image).astype(int) - luma).mean() < 1.0   # the same BT.601 luma
    assert load_image(_file(tmp_path, "in.png", photo), luminance=True).image.mode == "RGB"


BAD_FILES = [
    ("empty.png", "empty file (0 bytes)"),
    ("not_an_image.png", "not an image file"),
    ("truncated.png", "truncated file"),
    ("truncated.jpg", "truncated file"),
    ("bomb.png", "exceeds the limit of 178,956,970 pixels"),
    ("bomb_mild.png", "225,000,000 pixels exceeds the limit of 178,956,970 pixels"),
    ("animated.gif", "animated image with 3 frames; marking would drop frames, extract one first"),
]


@pytest.mark.parametrize("name, problem", BAD_FILES)
def test_each_bad_file_gives_one_line_naming_the_file(name, problem):
    with pytest.raises(InvalidImageError) as caught:
        load_image(BAD / name)
    message = str(caught.value)
    assert message.startswith(f"{BAD / name}: ") and problem in message and "\n" not in message
    if name.startswith("bomb"):
        assert "--max-pixels" in message and "FILIGRANE_MAX_PIXELS" in message


def test_pixel_limit_is_checked_before_decoding_and_can_be_raised(tmp_path):
    path = _file(tmp_path, "in.png", Image.fromarray(RGB))
    with pytest.raises(InvalidImageError, match="864 pixels exceeds the limit of 100 pixels"):
        load_image(path, max_pixels=100)
    assert load_image(path, max_pixels=1000).image.size == (36, 24)
    with pytest.raises(InvalidImageError, match="truncated"):   # past the size check: decoding fails
        load_image(BAD / "bomb_mild.png", max_pixels=300_000_000)
    assert Image.MAX_IMAGE_PIXELS == 1024 * 1024 * 1024 // 4 // 3   # Pillow's setting restored


def test_pixel_limit_from_text_and_environment(monkeypatch):
    assert pixellimit.parse_max_pixels("250_000_000") == 250_000_000
    assert pixellimit.parse_max_pixels("none") is None and pixellimit.parse_max_pixels("0") is None
    with pytest.raises(ParameterError):
        pixellimit.parse_max_pixels("lots")
    monkeypatch.setenv("FILIGRANE_MAX_PIXELS", "1234")
    assert pixellimit._default_max_pixels() == 1234
    assert pixellimit.environment_problem() is None
    monkeypatch.setenv("FILIGRANE_MAX_PIXELS", "lots")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # said where the limit is used, not at import
        assert pixellimit._default_max_pixels() == 2 * Image.MAX_IMAGE_PIXELS
    assert pixellimit.environment_problem() == "FILIGRANE_MAX_PIXELS='lots' is not a positive integer or 'none'"
    with pytest.warns(FiligraneWarning, match="FILIGRANE_MAX_PIXELS='lots' .* using the limit of"):
        load_image(BAD / "animated.gif", animated="first")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a limit given is the caller's: the variable does not matter
        load_image(BAD / "animated.gif", animated="first", max_pixels=10_000)


def test_animated_first_reads_frame_zero():
    loaded = load_image(BAD / "animated.gif", animated="first")
    assert loaded.n_frames == 3 and loaded.image.size == (16, 16)
    assert loaded.image.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(UnknownNameError, match="'error' or 'first'"):
        load_image(BAD / "animated.gif", animated="all")


def test_multipage_tiff_is_refused_for_marking(tmp_path):
    path = tmp_path / "pages.tif"
    Image.fromarray(RGB).save(path, save_all=True, append_images=[Image.fromarray(RGB[::-1])])
    with pytest.raises(InvalidImageError, match="multi-page image with 2 pages"):
        load_image(path)
    assert load_image(path, animated="first").n_frames == 2


def test_a_tiff_of_a_layout_pillow_cannot_read_is_named_a_tiff(tmp_path):
    import tifffile

    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.full((64, 64, 3), 0.5, np.float32), photometric="rgb")
    with pytest.raises(InvalidImageError, match=r"a TIFF whose sample layout Filigrane cannot read \(float32, 3 "
                                                 r"samples per pixel, rgb\)"):
        load_image(path)


def test_a_file_with_only_a_tiff_header_is_called_broken_not_an_unread_layout(tmp_path, capfd):
    """Twelve bytes ('II*\\0garbage') were 'a TIFF whose sample layout Filigrane cannot read ...: save it as
    8- or 16-bit RGB', advice for a file that holds no image."""
    path = tmp_path / "f_bad.TIFF"
    path.write_bytes(b"II*\x00garbage")
    with pytest.raises(InvalidImageError, match="f_bad.TIFF: a TIFF header, but no image Filigrane can read after "
                                                r"it \(the file is truncated or corrupt\)$"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # Pillow's own "Corrupt EXIF data"
        load_image(path)
    assert capfd.readouterr().err == ""                      # nothing logged by the reader that names it


def test_missing_and_directory_inputs_are_file_errors(tmp_path):
    with pytest.raises(ImageFileError, match=f"^{tmp_path / 'nope.png'}: no such file$"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageFileError, match="is a directory") as caught:
        load_image(tmp_path)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, WatermarkError)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input_is_a_file_error(tmp_path):
    path = _file(tmp_path, "in.png", Image.fromarray(RGB))
    path.chmod(0)
    with pytest.raises(ImageFileError, match="permission denied"):
        load_image(path)


DEEP = RNG.integers(0, 65536, (24, 36, 4), dtype=np.uint16)


def _deep_file(path: Path, pixels: np.ndarray, orientation: int = 1) -> Path:
    import tifffile

    tags = [(271, "s", 0, "Camera Co", True), (700, "B", 9, b"<x:xmp/>", True)]
    if orientation != 1:
        tags.append((274, "H", 1, orientation, True))
    if path.suffix == ".tif":
        tifffile.imwrite(path, pixels, photometric="rgb",
                         extrasamples=("unassalpha",) if pixels.shape[2] == 4 else None,
                         iccprofile=ICC, resolution=(300.0, 300.0), resolutionunit="INCH", compression="zlib",
                         metadata=None, extratags=tags)
    else:                           # PNG: OpenCV's encoder and our metadata chunks
        from watermark import deepio

        exif = Image.Exif()
        exif[0x010F] = "Camera Co"
        if orientation != 1:
            exif[0x0112] = orientation
        with open(path, "wb") as fp:
            deepio.write_png(fp, pixels, {"icc_profile": ICC, "dpi": (300, 300), "xmp": b"<x:xmp/>",
                                          "exif": exif.tobytes()})
    return path


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("src, dst", [("tif", "tif"), ("tif", "png"), ("png", "png"), ("png", "tif")])
def test_sixteen_bit_colour_keeps_its_depth_and_metadata(tmp_path, channels, src, dst):
    pixels = DEEP[:, :, :channels]
    loaded = load_image(_deep_file(tmp_path / f"in.{src}", pixels))
    assert loaded.image.dtype == np.uint16 and loaded.image.shape == pixels.shape
    np.testing.assert_array_equal(loaded.image, pixels)
    save_image(loaded.image, tmp_path / f"out.{dst}", like=loaded)
    back = load_image(tmp_path / f"out.{dst}")
    np.testing.assert_array_equal(back.image, pixels)
    with Image.open(tmp_path / f"out.{dst}") as out:
        assert out.info["icc_profile"] == ICC and round(out.info["dpi"][0]) == 300
        assert out.getexif()[0x010F] == "Camera Co"
        xmp = out.tag_v2.get(700, b"") if dst == "tif" else out.info["xmp"]
        assert b"<x:xmp/>" in (xmp.encode() if isinstance(xmp, str) else xmp)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("ext", ["tif", "png"])
def test_sixteen_bit_colour_is_turned_upright_like_pillow_does(tmp_path, orientation, ext):
    pixels = DEEP[:, :, :3]
    loaded = load_image(_deep_file(tmp_path / f"in.{ext}", pixels, orientation))
    reference = Image.fromarray((pixels[:, :, 0] >> 8).astype(np.uint8))
    reference.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(reference))
    np.testing.assert_array_equal(loaded.image[:, :, 0] >> 8, expected)
    assert loaded.original_size == (expected.shape[1], expected.shape[0])


def test_sixteen_bit_colour_into_an_eight_bit_format_is_refused_before_the_work(tmp_path, monkeypatch, key):
    import watermark as wm
    from watermark import api_files

    source = _deep_file(tmp_path / "in.tif", DEEP[:, :, :3])
    for work in ("warn_if_marked", "embed_as_given"):         # the read for an earlier mark, the marking
        monkeypatch.setattr(api_files, work, lambda *args, **kwargs: pytest.fail("worked before refusing"))
    with pytest.raises(InvalidImageError, match="out.jpg: JPEG holds 8 bits per channel and this 16-bit colour "
                                                "image has more; save as .png or .tiff"):
        wm.embed_file(source, tmp_path / "out.jpg", 1, key)
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


def test_sixteen_bit_cmyk_is_read_but_refused_for_marking(tmp_path, key):
    import tifffile

    import watermark as wm

    tifffile.imwrite(tmp_path / "in.tif", DEEP, photometric="separated", metadata=None)
    assert load_image(tmp_path / "in.tif").depth_reduced and wm.detect_file(tmp_path / "in.tif", key).p_value > 0
    with pytest.raises(InvalidImageError, match="in.tif: 16-bit CMYK, read at 8 bits per channel"):
        wm.embed_file(tmp_path / "in.tif", tmp_path / "out.tif", 1, key)
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


@pytest.mark.parametrize("mode, ext, problem", [
    ("RGBA", "jpg", "cannot store transparency"), ("LA", "gif", "cannot store transparency"),
    ("RGBA", "bmp", "cannot store transparency"),
    ("I;16", "jpg", "holds 8 bits per channel"), ("I;16", "webp", "holds 8 bits per channel"),
    ("CMYK", "png", "cannot hold CMYK"), ("RGB", "gif", "at most 256 colours"),
    ("F", "png", "PNG cannot hold floating-point samples \\(mode F\\); save as .tiff"),
])
def test_lossy_mode_changes_are_refused(tmp_path, mode, ext, problem):
    if mode == "I;16":
        image = Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16))
    elif mode == "F":
        image = Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32))
    else:
        image = Image.fromarray(np.concatenate([RGB, RGB[:, :, :1]], axis=2)).convert(mode)
    with pytest.raises(InvalidImageError, match=problem):
        save_image(image, tmp_path / f"out.{ext}")
    assert os.listdir(tmp_path) == []


def test_lossless_mode_changes_are_made(tmp_path):
    opaque = Image.fromarray(RGB).convert("RGBA")
    save_image(opaque, tmp_path / "opaque.jpg")
    assert load_image(tmp_path / "opaque.jpg").image.mode == "RGB"
    save_image(Image.fromarray(RGB).quantize(8), tmp_path / "palette.jpg")
    save_image(Image.fromarray(RGB[:, :, 0]).convert("1"), tmp_path / "bits.jpg")
    assert load_image(tmp_path / "bits.jpg").image.mode == "L"
    save_image(RGB, tmp_path / "array.png")          # arrays are accepted too
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "array.png").image), RGB)


def test_grey_icc_profile_is_not_attached_to_colour_output(tmp_path):
    grey_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()[:16] + b"GRAY" + b"\0" * 8
    grey = Image.fromarray(RGB[:, :, 0])
    grey.info["icc_profile"] = grey_icc
    save_image(grey, tmp_path / "grey.webp")           # WebP stores RGB: the grey profile would lie
    with Image.open(tmp_path / "grey.webp") as out:
        assert not out.info.get("icc_profile")


@pytest.mark.parametrize("suffix, fmt", [(".jfif", "JPEG"), (".mpo", "JPEG"), (".apng", "PNG")])
def test_jfif_mpo_and_apng_outputs_a_directory_walk_picks_up_are_written_in_their_formats(tmp_path, suffix, fmt):
    save_image(Image.fromarray(RGB), tmp_path / f"out{suffix}")
    with Image.open(tmp_path / f"out{suffix}") as out:
        assert out.format == fmt and out.size == (RGB.shape[1], RGB.shape[0])


def test_an_arithmetic_coded_jpeg_larger_than_pillow_s_read_block_is_decoded():
    """tests/data/arithmetic.jpg is ``jpegtran -arithmetic`` of 240x240 px of noise (``default_rng(1)``,
    uint8) saved by Pillow at quality 95, 4:4:4: 115 kB, over the 64 kB Pillow hands libjpeg at a time,
    which its arithmetic decoder cannot wait for ("broken data stream": read as a corrupt file)."""
    loaded = load_image(Path(__file__).resolve().parents[1] / "data" / "arithmetic.jpg")
    noise = np.random.default_rng(1).integers(0, 256, (240, 240, 3)).astype(np.uint8)
    assert loaded.image.size == (240, 240) and loaded.format == "JPEG"
    assert np.abs(np.asarray(loaded.image, dtype=float) - noise).mean() < 4      # JPEG 95 of noise: about 3


def test_bad_extension_and_quality_are_parameter_errors(tmp_path):
    with pytest.raises(ParameterError, match=r"out.xyz: '\.xyz' is not an image extension; write one of .*\.png"):
        save_image(Image.fromarray(RGB), tmp_path / "out.xyz")
    with pytest.raises(ParameterError, match=r"out.avif: '\.avif' is read but not written; write one of .*\.png"):
        save_image(Image.fromarray(RGB), tmp_path / "out.avif")
    with pytest.raises(ParameterError, match="quality must be an integer from 1 to 100") as caught:
        save_image(Image.fromarray(RGB), tmp_path / "out.jpg", quality=0)
    assert not isinstance(caught.value, InvalidImageError)
    with pytest.raises(ParameterError, match="reduce_to"):
        load_image(tmp_path / "whatever.png", reduce_to=0)


def test_existing_output_and_the_input_itself_are_never_clobbered(tmp_path):
    src = _file(tmp_path, "in.png", Image.fromarray(RGB))
    loaded = load_image(src)
    before = src.read_bytes()
    with pytest.raises(OutputExistsError, match="in.png: is the input image; .*--overwrite"):
        save_image(Image.new("RGB", (36, 24)), src, like=loaded)
    (tmp_path / "out.png").write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="out.png: already exists; pass overwrite=True") as caught:
        save_image(loaded.image, tmp_path / "out.png", like=loaded)
    assert isinstance(caught.value, FileExistsError)
    assert src.read_bytes() == before and (tmp_path / "out.png").read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["in.png", "out.png"]


def test_overwrite_replaces_atomically_and_keeps_permissions(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    out.chmod(0o640)
    save_image(Image.fromarray(RGB), out, overwrite=True)
    np.testing.assert_array_equal(np.asarray(load_image(out).image), RGB)
    assert out.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["out.png"]


def test_new_output_gets_umask_permissions(tmp_path):
    save_image(Image.fromarray(RGB), tmp_path / "new.png")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_leaves_no_temp_file_and_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")

    def broken_save(self, fp, format=None, **options):
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageFileError, match="out.png: cannot write \\(No space left on device\\)"):
        save_image(Image.fromarray(RGB), out, overwrite=True)
    assert out.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.png"]


def test_missing_output_directory_is_a_file_error(tmp_path):
    with pytest.raises(ImageFileError, match="does not exist"):
        save_image(Image.fromarray(RGB), tmp_path / "no" / "out.png")


def test_loaded_image_is_detached_from_the_file(tmp_path):
    path = _file(tmp_path, "in.gif", Image.fromarray(RGB).quantize(8))
    loaded = load_image(path)
    path.unlink()
    assert loaded.image.copy().size == (36, 24) and isinstance(io.BytesIO(), io.BytesIO)


def test_a_tiff_whose_strip_offsets_are_fractions_is_a_corrupt_image(tmp_path):
    data = bytearray(_file(tmp_path, "in.tif", Image.fromarray(RGB)).read_bytes())
    entry = data.index(bytes.fromhex("1101040001000000"))      # tag 273 StripOffsets, LONG, count 1
    data[entry + 2] = 10                                        # now SRATIONAL
    (tmp_path / "in.tif").write_bytes(data)
    with pytest.raises(InvalidImageError, match="in.tif: corrupt image data \\(TypeError"):   # raised by Pillow
        load_image(tmp_path / "in.tif")


@pytest.mark.parametrize("bug", [TypeError, KeyError, IndexError])
def test_a_bug_of_ours_is_not_reported_as_a_corrupt_image(tmp_path, monkeypatch, bug):
    path = _file(tmp_path, "in.jpg", Image.fromarray(RGB))

    def broken(*args, **kwargs):
        raise bug("a bug in our code")

    monkeypatch.setattr(metadata, "carried_info", broken)
    with pytest.raises(bug):
        load_image(path)
    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(bug):
        save_image(Image.fromarray(RGB), tmp_path / "out.jpg")
    assert sorted(os.listdir(tmp_path)) == ["in.jpg"]


@pytest.mark.parametrize("mode, order, ext", [("I;16B", ">u2", "tif"), ("I;16B", ">u2", "png"),
                                              ("I;16L", "<u2", "tif"), ("I;16L", "<u2", "png")])
def test_sixteen_bit_grey_of_either_byte_order_is_saved_at_sixteen_bits(tmp_path, mode, order, ext):
    """It was refused: "PNG holds 8 bits per channel and this I;16B image has more; save as .png"."""
    values = RNG.integers(0, 65536, (24, 36), dtype=np.uint16)
    image = Image.frombytes(mode, values.shape[::-1], values.astype(order).tobytes())
    image.info["dpi"] = (300, 300)
    save_image(image, tmp_path / f"out.{ext}")
    back = load_image(tmp_path / f"out.{ext}")
    np.testing.assert_array_equal(np.asarray(back.image).astype(np.uint16), values)
    assert back.info["dpi"] == pytest.approx((300, 300), abs=0.01)     # PNG stores dots per metre
    with pytest.raises(InvalidImageError, match=f"JPEG holds 8 bits per channel and this {mode} image has more"):
        save_image(image, tmp_path / "out.jpg")


def test_reading_an_image_leaves_the_process_s_pillow_and_warnings_settings_alone(tmp_path, monkeypatch):
    """A service's probe: every decode set Pillow's process-wide bomb limit (to None for the copies read back)
    and swapped the warnings filters, which the host's other threads share: one of them opened a bomb, another
    lost the warnings it recorded. Images within Pillow's own limit now touch neither."""
    import types

    import PIL.Image

    written: list[str] = []

    class Watched(types.ModuleType):
        def __setattr__(self, name, value):
            written.append(f"{self.__name__}.{name}")
            super().__setattr__(name, value)

    monkeypatch.setattr(PIL.Image, "__class__", Watched)
    monkeypatch.setattr(warnings, "__class__", Watched)
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    for name in ("a.jpg", "a.png", "a.webp", "a.tif", "a.gif"):
        loaded = load_image(_file(tmp_path, name, picture))
        assert loaded.image.size == (400, 300)
        with imageopen.open_own(_file(tmp_path, name, picture).read_bytes()) as reopened:
            reopened.load()
    with pytest.raises(InvalidImageError, match="not an image file"):
        imageio.load_image_bytes(b"GIF89a but not quite", "x.gif")
    assert written == []


def _webp_claiming(side: int) -> bytes:
    """A small WebP whose header says ``side`` x ``side`` px (its picture data is a 64 px one's)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, "WEBP", quality=80)
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"
    data[26:30] = side.to_bytes(2, "little") * 2
    return bytes(data)


def test_a_webp_is_held_to_our_pixel_limit_not_pillow_s(monkeypatch):
    """A reviewer's probe: Pillow's WebP reader checks the size as it opens, which bf82e95's open (without
    Pillow's settings changed) left at Pillow's limit: a WebP of 268 Mpx was refused under max_pixels=None
    and named Pillow's 89 Mpx, and a host that lowered Pillow's limit had our reads of small WebPs refused."""
    claimed = _webp_claiming(16383)          # 268 Mpx: past the data, what matters is which limit is asked
    with pytest.raises(InvalidImageError, match="corrupt image data"):
        imageio.load_image_bytes(claimed, "big.webp", max_pixels=None)
    with pytest.raises(InvalidImageError, match="268,402,689 pixels exceeds the limit of 178,956,970 pixels"):
        imageio.load_image_bytes(claimed, "big.webp")
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "teal").save(buffer, "WEBP")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)           # the host's own, lower limit
    assert imageio.load_image_bytes(buffer.getvalue(), "small.webp", max_pixels=1_000_000).image.size == (300, 200)
    assert Image.MAX_IMAGE_PIXELS == 20_000
