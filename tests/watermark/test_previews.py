"""A marked copy does not carry the unmarked original's previews: EXIF thumbnail, Photoshop thumbnail, XMP."""

from __future__ import annotations

import base64
import io
import struct

import pytest
from photos import photo
from PIL import Image

import watermark as wm
from watermark.previews import app13_without_thumbnails, exif_without_thumbnail, xmp_without_thumbnails

PAYLOAD = 0x5EED_CAFE


def _preview(size: tuple[int, int]) -> bytes:
    """The unmarked original, small, as a JPEG: what a camera puts in its metadata."""
    encoded = io.BytesIO()
    Image.fromarray(photo("coffee")).resize(size).save(encoded, "JPEG", quality=80)
    return encoded.getvalue()


def _exif(thumbnail: bytes, order: str = "<") -> bytes:
    """EXIF: IFD0 with the camera's make, IFD1 with a JPEG thumbnail, as a camera writes them."""
    make = b"Filigrane camera\x00"
    ifd0 = 8
    ifd1 = ifd0 + 2 + 12 + 4
    make_at = ifd1 + 2 + 2 * 12 + 4
    thumbnail_at = make_at + len(make)
    header = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", ifd0)
    first = struct.pack(order + "H", 1) + struct.pack(order + "HHII", 0x010F, 2, len(make), make_at)
    first += struct.pack(order + "I", ifd1)
    second = struct.pack(order + "H", 2) + struct.pack(order + "HHII", 0x0201, 4, 1, thumbnail_at)
    second += struct.pack(order + "HHII", 0x0202, 4, 1, len(thumbnail)) + struct.pack(order + "I", 0)
    return b"Exif\x00\x00" + header + first + second + make + thumbnail


def _app13(thumbnail: bytes) -> bytes:
    """Photoshop's APP13: an IPTC byline (0x0404) and a thumbnail resource (0x040C)."""
    def resource(number: int, data: bytes) -> bytes:
        return b"8BIM" + struct.pack(">H", number) + b"\x00\x00" + struct.pack(">I", len(data)) + data + \
            b"\x00" * (len(data) % 2)
    iptc = b"\x1c\x02\x50" + struct.pack(">H", 16) + b"Ann Photographer"
    body = b"Photoshop 3.0\x00" + resource(0x040C, struct.pack(">6I2H", 1, 160, 100, 480, 48000, len(thumbnail),
                                                               24, 1) + thumbnail) + resource(0x0404, iptc)
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def _xmp(thumbnail: bytes) -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="Filigrane tests">'
            b'<xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType="Resource"><xmpGImg:image>'
            + base64.b64encode(thumbnail) + b'</xmpGImg:image></rdf:li></rdf:Alt></xmp:Thumbnails>'
            b'</rdf:Description></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("order", ["<", ">"])
def test_the_exif_thumbnail_is_zeroed_and_unlinked_and_the_rest_stays_in_place(order):
    thumbnail = _preview((160, 100))
    exif = _exif(thumbnail, order)
    cleaned = exif_without_thumbnail(exif)
    assert len(cleaned) == len(exif) and thumbnail not in cleaned
    tags = Image.Exif()
    tags.load(cleaned)
    assert tags[0x010F] == "Filigrane camera" and not tags.get_ifd(1)
    assert exif_without_thumbnail(cleaned) == cleaned and exif_without_thumbnail(exif[6:]) == cleaned[6:]
    assert exif_without_thumbnail(b"Exif\x00\x00II*\x00\xff\xff") == b"Exif\x00\x00II*\x00\xff\xff"   # cut short


def test_photoshop_s_thumbnail_goes_and_its_iptc_stays():
    thumbnail = _preview((160, 100))
    cleaned = app13_without_thumbnails(_app13(thumbnail))
    assert thumbnail not in cleaned and b"Ann Photographer" in cleaned
    assert int.from_bytes(cleaned[2:4], "big") == len(cleaned) - 2
    assert app13_without_thumbnails(cleaned) == cleaned
    assert app13_without_thumbnails(b"\xff\xed\x00\x06abcd") == b"\xff\xed\x00\x06abcd"     # not Photoshop's


def test_xmp_thumbnails_go_and_the_rest_stays():
    thumbnail = base64.b64encode(_preview((160, 100)))
    cleaned = xmp_without_thumbnails(_xmp(_preview((160, 100))))
    assert thumbnail not in cleaned and b'xmp:CreatorTool="Filigrane tests"' in cleaned
    assert xmp_without_thumbnails(_xmp(b"x").decode()) == xmp_without_thumbnails(_xmp(b"x")).decode()


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_marked_copy_carries_no_preview_of_the_unmarked_original(tmp_path, key, suffix):
    small, large = _preview((160, 100)), _preview((640, 400))
    encoded = io.BytesIO()
    Image.fromarray(photo("coffee")).save(encoded, "JPEG", quality=95, exif=_exif(large), xmp=_xmp(small))
    jpeg = encoded.getvalue()
    source = tmp_path / "camera.jpg"
    source.write_bytes(jpeg[:2] + _app13(small) + jpeg[2:])
    assert large in source.read_bytes() and small in source.read_bytes()
    marked = tmp_path / f"marked{suffix}"
    wm.embed_file(source, marked, PAYLOAD, key)
    data = marked.read_bytes()
    assert large not in data and small not in data and base64.b64encode(small) not in data
    with Image.open(marked) as out:
        assert out.getexif()[0x010F] == "Filigrane camera"
    if suffix == ".jpg":
        assert b"Ann Photographer" in data and b"Filigrane tests" in data
    assert wm.detect_file(marked, key).payload == PAYLOAD
