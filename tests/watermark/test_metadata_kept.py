"""What `embed_file` keeps besides ICC and EXIF: a JPEG's IPTC (APP13), a PNG's text chunks, a TIFF's XMP."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from photos import photo
from PIL import ExifTags, Image, ImageCms, PngImagePlugin, TiffImagePlugin

import watermark as wm
from watermark.imageio import load_image
from watermark.imagewrite import save_image

PAYLOAD = 0x5EED_CAFE_F00D_D00D
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _iptc_segment() -> bytes:
    """An APP13 segment in Photoshop's format: one image resource (0x0404, IPTC) holding a byline and a
    copyright notice."""
    iptc = b"".join(b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(text)) + text
                    for dataset, text in ((80, b"Ann Photographer"), (116, b"(c) 2024 Agency")))
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) % 2)
    data = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(data) + 2) + data


IPTC = _iptc_segment()


def _with_iptc(jpeg: bytes) -> bytes:
    """``jpeg`` with `IPTC` after its APP0 (JFIF) segment."""
    end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:end] + IPTC + jpeg[end:]


def _jpeg(**options) -> bytes:
    encoded = io.BytesIO()
    Image.fromarray(photo("coffee")).save(encoded, "JPEG", quality=95, **options)
    return encoded.getvalue()


def _segments(jpeg: bytes) -> list[bytes]:
    """The marker segments of ``jpeg`` before its first scan, each whole (marker, length, data)."""
    found, start = [], 2
    while jpeg[start + 1] != 0xDA:                                   # SOS: entropy-coded data follows
        end = start + 2 + int.from_bytes(jpeg[start + 2:start + 4], "big")
        found.append(jpeg[start:end])
        start = end
    return found


def _png_chunks(png: bytes) -> list[bytes]:
    """The chunks of ``png``, each whole (length, type, data, CRC)."""
    found, start = [], 8
    while start < len(png):
        end = start + 12 + int.from_bytes(png[start:start + 4], "big")
        found.append(png[start:end])
        start = end
    return found


def _text_chunks(png: bytes) -> list[bytes]:
    return [chunk for chunk in _png_chunks(png) if chunk[4:8] in (b"tEXt", b"iTXt", b"zTXt")]


def _png_info() -> PngImagePlugin.PngInfo:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Ann Photographer")
    text.add_text("Description", "A cup of coffee " * 20, zip=True)          # zTXt
    text.add_itxt("Copyright", "(c) 2024 Agence Étoile", lang="fr", tkey="Droits")
    return text


def _tiff_with_xmp(path: Path, image: Image.Image) -> Path:
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[315], tags[700] = "Ann Photographer", XMP                   # Artist, XMP
    image.save(path, tiffinfo=tags, compression="tiff_lzw")
    return path


def test_a_jpeg_keeps_its_iptc_byte_for_byte(tmp_path, key):
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    src.write_bytes(_with_iptc(_jpeg()))
    wm.embed_file(src, dst, PAYLOAD, key)
    kept = _segments(dst.read_bytes())
    assert kept[0][:2] == b"\xff\xe0" and kept[1] == IPTC                # after JFIF, as in the source
    with Image.open(src) as before, Image.open(dst) as after:
        assert after.info["photoshop"] == before.info["photoshop"]


def test_a_jpeg_keeps_iptc_exif_icc_and_xmp_together_and_its_mark_reads(tmp_path, key):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x013B], exif[0x8298] = "Ann Photographer", "(c) 2024 Agency"    # Artist, Copyright
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    src.write_bytes(_with_iptc(_jpeg(exif=exif, icc_profile=icc, xmp=XMP)))
    wm.embed_file(src, dst, PAYLOAD, key)
    with Image.open(dst) as out:
        assert out.info["icc_profile"] == icc and out.info["xmp"] == XMP
        assert out.getexif()[0x013B] == "Ann Photographer" and out.getexif()[0x8298] == "(c) 2024 Agency"
    segments = _segments(dst.read_bytes())
    markers = [segment[:2] for segment in segments]
    assert IPTC in segments
    assert markers.index(b"\xff\xed") > max(markers.index(b"\xff\xe1"), markers.index(b"\xff\xe2"))
    assert wm.detect_file(dst, key).payload == PAYLOAD


def test_a_png_keeps_its_text_chunks_byte_for_byte(tmp_path, key):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(photo("coffee")).save(src, pnginfo=_png_info())
    wm.embed_file(src, dst, PAYLOAD, key)
    assert len(_text_chunks(src.read_bytes())) == 3
    assert _text_chunks(dst.read_bytes()) == _text_chunks(src.read_bytes())
    with Image.open(dst) as out:
        assert out.text["Author"] == "Ann Photographer" and out.text["Copyright"] == "(c) 2024 Agence Étoile"


def test_a_png_with_text_and_xmp_keeps_one_xmp(tmp_path, key):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    text = _png_info()
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.fromarray(photo("coffee")).save(src, pnginfo=text)
    wm.embed_file(src, dst, PAYLOAD, key)
    keywords = [chunk[8:].split(b"\0", 1)[0] for chunk in _text_chunks(dst.read_bytes())]
    assert keywords == [b"XML:com.adobe.xmp", b"Author", b"Description", b"Copyright"]
    with Image.open(dst) as out:
        assert out.info["xmp"] == XMP


def test_a_sixteen_bit_png_keeps_its_text_chunks(tmp_path):
    pixels = (np.asarray(photo("coffee"), dtype=np.uint16) * 257)[:64, :96]
    png = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))[1].tobytes()
    author = b"Author\0Ann Photographer"
    chunk = struct.pack(">I", len(author)) + b"tEXt" + author + struct.pack(">I", zlib.crc32(b"tEXt" + author))
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(png[:33] + chunk + png[33:])                         # after the signature and IHDR
    loaded = load_image(src)
    assert loaded.image.dtype == np.uint16
    save_image(loaded.image, dst, like=loaded)
    assert _text_chunks(dst.read_bytes()) == [chunk]


def _colour_chunks(png: bytes) -> list[bytes]:
    return [chunk for chunk in _png_chunks(png) if chunk[4:8] in (b"gAMA", b"cHRM", b"sRGB")]


@pytest.mark.parametrize("deep", [False, True])
def test_a_png_keeps_the_gamma_and_chromaticities_that_say_what_its_numbers_are(tmp_path, key, deep):
    """A linear PNG (gAMA 1.0) without them is shown 39 levels off on average by a viewer that reads them."""
    pixels = np.asarray(photo("coffee"))
    if deep:
        pixels = pixels.astype(np.uint16) * 257
    png = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))[1].tobytes()
    colour = [struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
              for kind, data in [(b"gAMA", struct.pack(">I", 100000)),
                                 (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))]]
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(png[:33] + b"".join(colour) + png[33:])              # after the signature and IHDR
    wm.embed_file(src, dst, PAYLOAD, key)
    marked = dst.read_bytes()
    assert _colour_chunks(marked) == colour and _png_chunks(marked)[1:3] == colour
    with Image.open(dst) as out:
        assert out.info["gamma"] == 1.0
    assert wm.detect_file(dst, key).payload == PAYLOAD


def test_an_eight_bit_tiff_keeps_its_xmp(tmp_path, key):
    src = _tiff_with_xmp(tmp_path / "in.tif", Image.fromarray(photo("coffee")))
    dst = tmp_path / "out.tif"
    wm.embed_file(src, dst, PAYLOAD, key)
    with Image.open(dst) as out:
        assert out.tag_v2[700] == XMP and out.tag_v2[315] == "Ann Photographer"
        assert out.info["compression"] == "tiff_lzw"


@pytest.mark.parametrize("src_name, dst_name", [("in.jpg", "out.png"), ("in.jpg", "out.tif"),
                                                ("in.png", "out.jpg"), ("in.png", "out.webp")])
def test_another_format_drops_what_it_cannot_hold_as_for_other_metadata(tmp_path, src_name, dst_name):
    """IPTC into PNG, PNG text into JPEG, ...: left out without an error or a warning, as XMP into BMP."""
    src, dst = tmp_path / src_name, tmp_path / dst_name
    image = Image.fromarray(photo("coffee")[:64, :96])
    if src.suffix == ".jpg":
        image.save(src, quality=90)
        src.write_bytes(_with_iptc(src.read_bytes()))
    else:
        image.save(src, pnginfo=_png_info())
    loaded = load_image(src)
    save_image(loaded.image, dst, like=loaded)
    assert b"Ann Photographer" not in dst.read_bytes()


def test_an_icc_profile_a_bmp_cannot_carry_is_said_and_one_it_can_is_kept_without_a_word(tmp_path):
    src = tmp_path / "in.png"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo("coffee")[:64, :96]).save(src, icc_profile=icc)
    loaded = load_image(src)
    with pytest.warns(wm.FiligraneWarning, match=r"out.bmp: a BMP file cannot carry the source's ICC profile"):
        save_image(loaded.image, tmp_path / "out.bmp", like=loaded)
    save_image(loaded.image, tmp_path / "out.tif", like=loaded)          # no warning: it is kept
    with Image.open(tmp_path / "out.tif") as out:
        assert out.info["icc_profile"] == icc


@pytest.mark.parametrize("name", ["in.jpg", "in.png"])
def test_the_kept_metadata_is_all_that_differs_from_a_file_without_it(tmp_path, name):
    """The same picture with and without IPTC or text: the outputs differ by those bytes only."""
    image = Image.fromarray(photo("coffee"))
    plain, rich = tmp_path / f"plain-{name}", tmp_path / f"rich-{name}"
    if name.endswith(".jpg"):
        image.save(plain, quality=90)
        rich.write_bytes(_with_iptc(plain.read_bytes()))
    else:
        image.save(plain)
        image.save(rich, pnginfo=_png_info())
    outputs = []
    for path in (plain, rich):
        loaded = load_image(path)
        save_image(loaded.image, tmp_path / f"out-{path.name}", like=loaded)
        outputs.append((tmp_path / f"out-{path.name}").read_bytes())
    bare, kept = outputs
    if name.endswith(".jpg"):
        assert kept.replace(IPTC, b"", 1) == bare
    else:
        assert [chunk for chunk in _png_chunks(kept) if chunk not in _text_chunks(kept)] == _png_chunks(bare)


def _camera_tags() -> TiffImagePlugin.ImageFileDirectory_v2:
    """A TIFF's tags as a camera's export carries them: the artist, and EXIF's camera (exposure) and GPS
    sub-directories."""
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[315] = "Ann Photographer"
    tags[ExifTags.IFD.Exif] = {ExifTags.Base.ExposureTime: 0.004}
    tags[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N"}
    return tags


def test_a_tiff_with_camera_and_gps_exif_is_marked_and_read(tmp_path, key):
    """Lightroom's TIFF exports carry EXIF's camera directory: marking and reading such a file failed as
    "corrupt image data ('Exif' object has no attribute 'fp')"; with GPS, libtiff refused to write it."""
    src = tmp_path / "in.tif"
    Image.fromarray(photo("coffee")).save(src, tiffinfo=_camera_tags())
    with Image.open(src) as check:
        assert check.getexif().get_ifd(ExifTags.IFD.Exif)          # the sub-directory is in the source
    assert wm.detect_file(src, key).payload is None
    dst = tmp_path / "out.tif"
    wm.embed_file(src, dst, PAYLOAD, key)
    with Image.open(dst) as out:              # written by Pillow itself (uncompressed): everything kept
        exif = out.getexif()
        assert exif[315] == "Ann Photographer" and exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ExposureTime] == 0.004
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert wm.detect_file(dst, key).payload == PAYLOAD
    loaded = load_image(src)                  # as from an LZW source: libtiff writes it, without the sub-directories
    marked = Image.fromarray(np.asarray(loaded.image))     # new pixels, as embed_file writes them
    save_image(marked, tmp_path / "lzw.tif", like=dataclasses.replace(loaded, tiff_compression="tiff_lzw"))
    with Image.open(tmp_path / "lzw.tif") as out:
        assert out.info["compression"] == "tiff_lzw" and out.getexif()[315] == "Ann Photographer"
        assert not out.getexif().get_ifd(ExifTags.IFD.Exif) and not out.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_a_portrait_turned_upright_gives_xmp_the_upright_size_in_every_field(tmp_path, key):
    """XMP's tiff:ImageWidth / ImageLength kept the stored (landscape) size while EXIF's said the upright one."""
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description tiff:ImageWidth="96" '
           b'tiff:ImageLength="64" exif:PixelXDimension="96" exif:PixelYDimension="64" tiff:Orientation="6"/>'
           b"</rdf:RDF></x:xmpmeta>")
    exif = Image.Exif()
    exif[274] = 6
    Image.fromarray(photo("coffee")[:256, :384]).save(src, exif=exif.tobytes(), xmp=xmp, quality=95)
    wm.embed_file(src, dst, PAYLOAD, key)
    with Image.open(dst) as out:
        assert out.size == (256, 384)
        kept = out.info["xmp"]
    for field, value in ((b"tiff:ImageWidth", b"256"), (b"tiff:ImageLength", b"384"),
                         (b"exif:PixelXDimension", b"256"), (b"exif:PixelYDimension", b"384")):
        assert field + b'="' + value + b'"' in kept, field
    assert b'tiff:Orientation="6"' not in kept


def _app1(data: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(data) + 2) + data


def test_an_exif_spread_over_several_segments_is_kept_as_its_tags_and_the_batch_goes_on(tmp_path, key):
    """exiftool spreads an EXIF of more than 64 KB (a large thumbnail) over several APP1 segments: the JPEG
    encoder refused it ("EXIF data is too long"), a traceback, and the files after it were never marked."""
    tags = Image.Exif()
    tags[315] = "Ann Photographer"
    first = tags.tobytes()                                    # "Exif\0\0" and a TIFF of IFD0
    first += b"\0" * (65533 - len(first))                     # a segment's worth (where a thumbnail would be)
    second = b"Exif\x00\x00" + b"\0" * 40000                  # and its continuation
    plain = _jpeg()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b-split.jpg").write_bytes(plain[:2] + _app1(first) + _app1(second) + plain[2:])
    for name in ("a.jpg", "c.jpg"):
        (folder / name).write_bytes(plain)
    with Image.open(folder / "b-split.jpg") as split:
        assert len(split.info["exif"]) > 65533
    result = subprocess.run([sys.executable, "-m", "watermark", "embed", str(folder), "-o", str(tmp_path / "out"),
                             "--passphrase-env", "KEY", "--payload", "7"], capture_output=True, text=True,
                            env={**os.environ, "KEY": "split exif"}, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b-split.jpg", "c.jpg"]
    warning = [line for line in result.stderr.splitlines() if "more than a JPEG segment holds" in line]
    assert len(warning) == 1 and "b-split.jpg: its EXIF (" in warning[0]         # once, naming the file
    with Image.open(tmp_path / "out" / "b-split.jpg") as out:
        assert out.getexif()[315] == "Ann Photographer"
    assert wm.detect_file(tmp_path / "out" / "b-split.jpg", wm.Key.from_passphrase("split exif")).payload == 7
