"""A marked copy does not carry the unmarked original's previews: EXIF thumbnail, Photoshop thumbnail, XMP."""

from __future__ import annotations

import base64
import io
import struct

import pytest
from photos import photo
from PIL import Image

import watermark as wm
from watermark.previews import app13_without_thumbnails, exif_without_thumbnail, names_a_video, xmp_without_previews

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
    cleaned = xmp_without_previews(_xmp(_preview((160, 100))))
    assert thumbnail not in cleaned and b'xmp:CreatorTool="Filigrane tests"' in cleaned
    assert xmp_without_previews(_xmp(b"x").decode()) == xmp_without_previews(_xmp(b"x")).decode()


MOTION_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description GCamera:MicroVideo="1" '
              b'GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="4128" hdrgm:Version="1.0" '
              b'xmp:CreatorTool="Filigrane tests"><Camera:MotionPhoto>1</Camera:MotionPhoto>'
              b'<Container:Directory><rdf:Seq><rdf:li Item:Mime="video/mp4" Item:Length="4128"/></rdf:Seq>'
              b'</Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>')


def test_what_names_a_video_or_a_gain_map_the_copy_does_not_carry_goes_from_the_xmp():
    cleaned = xmp_without_previews(MOTION_XMP)
    assert cleaned == (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
                       b'xmp:CreatorTool="Filigrane tests"></rdf:Description></rdf:RDF></x:xmpmeta>')
    assert names_a_video(MOTION_XMP) and not names_a_video(cleaned) and not names_a_video(None)
    assert not names_a_video(b'<rdf:Description GCamera:MotionPhoto="0"/>')


def test_a_motion_photo_is_marked_as_its_still_picture_and_says_so(tmp_path, key):
    encoded = io.BytesIO()
    Image.fromarray(photo("coffee")).save(encoded, "JPEG", quality=95, xmp=MOTION_XMP)
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(4104)
    source = tmp_path / "motion.jpg"
    source.write_bytes(encoded.getvalue() + video)
    with pytest.warns(wm.FiligraneWarning, match="motion.jpg: a motion photo: its video, after the picture, is not"):
        wm.embed_file(source, tmp_path / "marked.jpg", PAYLOAD, key)
    data = (tmp_path / "marked.jpg").read_bytes()
    assert b"ftypmp42" not in data and b"MicroVideo" not in data and b"Filigrane tests" in data


def test_a_phone_s_mpo_is_marked_at_its_primary_picture_and_its_gain_map_left_out(tmp_path, key):
    primary = Image.fromarray(photo("coffee"))
    gain_map = primary.convert("L").resize((300, 200))
    source = tmp_path / "ultrahdr.jpg"
    primary.save(source, format="MPO", save_all=True, append_images=[gain_map], quality=95)
    with pytest.warns(wm.FiligraneWarning, match="keeps only the primary picture of the 2 this file holds"):
        wm.embed_file(source, tmp_path / "marked.jpg", PAYLOAD, key)
    with Image.open(tmp_path / "marked.jpg") as marked:
        assert marked.format == "JPEG" and getattr(marked, "n_frames", 1) == 1 and marked.size == primary.size
    assert wm.detect_file(tmp_path / "marked.jpg", key).payload == PAYLOAD
    assert wm.detect_file(source, key).payload is None         # read at its primary picture, without a warning


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
