"""Take out of a file's metadata the small pictures of the unmarked original it carries.

A camera's or an editor's metadata holds previews of the picture: the EXIF thumbnail (IFD1, often
160x120, some cameras 640 px or more), Photoshop's thumbnail resources in a JPEG's APP13 segment, and
XMP thumbnails (base64 JPEG). A marked copy that kept them would hand out the unmarked original beside
the mark. Everything else stays byte for byte: the EXIF's maker notes hold offsets that a rewrite would
break, so the thumbnail's bytes are zeroed in place and its directory unlinked, nothing moves. The XMP
also loses what points to the pictures and video a marked copy does not carry (a phone's motion-photo
video after the JPEG, an Ultra HDR gain map in MPF), which a reader would otherwise look for.
"""

from __future__ import annotations

import re
import struct

__all__ = ["exif_without_thumbnail", "app13_without_thumbnails", "xmp_without_previews", "names_a_video"]

_EXIF_PREFIX = b"Exif\x00\x00"
_THUMBNAIL_OFFSET, _THUMBNAIL_LENGTH = 0x0201, 0x0202      # JPEG thumbnail: where, how many bytes
_STRIP_OFFSETS, _STRIP_BYTE_COUNTS = 0x0111, 0x0117      # an uncompressed thumbnail's strips
_TYPE_SIZES = {3: 2, 4: 4}                                  # SHORT, LONG: the types those tags take
_PHOTOSHOP = b"Photoshop 3.0\x00"
_PHOTOSHOP_THUMBNAILS = (0x0409, 0x040C)                    # Photoshop 4 and 5+ thumbnail resources
_XMP_PREVIEWS = re.compile(
    rb"<(xmp|xap):Thumbnails\b.*?</\1:Thumbnails>"                      # thumbnails, base64 JPEG
    rb"|<Container:Directory\b.*?</Container:Directory>"                # items after the JPEG: video, gain map
    rb"|\s[\w.-]+:(?:MotionPhoto|MicroVideo)\w*=\"[^\"]*\""               # a motion photo's video, attributes
    rb"|<([\w.-]+):((?:MotionPhoto|MicroVideo)\w*)\b[^>]*?(?:/>|>.*?</\2:\3>)"   # and elements
    rb"|\shdrgm:\w+=\"[^\"]*\"",                                             # Ultra HDR: its gain map is gone
    re.DOTALL)
_MOTION_PHOTO = re.compile(rb":(?:MotionPhoto|MicroVideo)\w*\s*(?:=\s*\"\s*[1-9]|>\s*[1-9])")


def exif_without_thumbnail(exif: bytes) -> bytes:
    """``exif`` (with or without its ``Exif\\0\\0`` prefix) with its IFD1 thumbnail zeroed and unlinked;
    ``exif`` as it is when it has none, or when it cannot be walked (then there is nothing to find)."""
    start = len(_EXIF_PREFIX) if exif.startswith(_EXIF_PREFIX) else 0
    tiff = bytearray(exif[start:])
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(tiff[:2])]
        first = _unpack(order + "I", tiff, 4)
        count = _unpack(order + "H", tiff, first)
        link = first + 2 + 12 * count                       # where IFD0 names the next directory
        ifd1 = _unpack(order + "I", tiff, link)
        if ifd1 == 0:
            return exif
        tags = _entries(tiff, ifd1, order)
        spans = []
        if _THUMBNAIL_OFFSET in tags and _THUMBNAIL_LENGTH in tags:
            spans.append((tags[_THUMBNAIL_OFFSET][0], tags[_THUMBNAIL_LENGTH][0]))
        if _STRIP_OFFSETS in tags and _STRIP_BYTE_COUNTS in tags:
            spans += zip(tags[_STRIP_OFFSETS], tags[_STRIP_BYTE_COUNTS])
    except (KeyError, struct.error):
        return exif
    for offset, length in spans:
        end = min(offset + length, len(tiff))
        tiff[offset:end] = bytes(max(end - offset, 0))
    tiff[link:link + 4] = bytes(4)
    return exif[:start] + bytes(tiff)


def _unpack(fmt: str, data: bytearray, offset: int) -> int:
    if offset < 0:
        raise struct.error("negative offset")
    return int(struct.unpack_from(fmt, data, offset)[0])


def _entries(tiff: bytearray, ifd: int, order: str) -> dict[int, list[int]]:
    """The SHORT and LONG values of the directory at ``ifd``, by tag."""
    values = {}
    for index in range(_unpack(order + "H", tiff, ifd)):
        entry = ifd + 2 + 12 * index
        tag, kind, count = struct.unpack_from(order + "HHI", tiff, entry)
        size = _TYPE_SIZES.get(kind)
        if size is None or count > 4096:
            continue
        where = entry + 8 if size * count <= 4 else _unpack(order + "I", tiff, entry + 8)
        code = order + ("H" if size == 2 else "I") * count
        values[tag] = list(struct.unpack_from(code, tiff, where))
    return values


def app13_without_thumbnails(segment: bytes) -> bytes:
    """A JPEG APP13 ``segment`` (marker and length included) without Photoshop's thumbnail resources;
    as it is when it is not Photoshop's or cannot be walked."""
    body = segment[4:]
    if not body.startswith(_PHOTOSHOP):
        return segment
    kept, position = [_PHOTOSHOP], len(_PHOTOSHOP)
    try:
        while position < len(body):
            if body[position:position + 4] != b"8BIM":
                return segment
            resource = struct.unpack_from(">H", body, position + 4)[0]
            name = body[position + 6]
            name_end = position + 6 + ((name + 2) & ~1)          # a Pascal string padded to even length
            size = struct.unpack_from(">I", body, name_end)[0]
            end = name_end + 4 + size + (size & 1)
            if end > len(body) + 1:
                return segment
            if resource not in _PHOTOSHOP_THUMBNAILS:
                kept.append(body[position:end])
            position = end
    except (IndexError, struct.error):
        return segment
    data = b"".join(kept)
    return segment[:2] + struct.pack(">H", len(data) + 2) + data


def xmp_without_previews(xmp: bytes | str) -> bytes | str:
    """``xmp`` without its thumbnails (``xmp:Thumbnails``, older ``xap:Thumbnails``) and without what names
    the pictures and video a marked copy does not carry (``Container:Directory``, motion-photo and Ultra
    HDR properties)."""
    if isinstance(xmp, str):
        return _XMP_PREVIEWS.sub(b"", xmp.encode("utf-8")).decode("utf-8")
    return _XMP_PREVIEWS.sub(b"", xmp)


def names_a_video(xmp: bytes | str | None) -> bool:
    """Whether ``xmp`` says a motion photo's video follows the picture in its file."""
    if not xmp:
        return False
    return _MOTION_PHOTO.search(xmp.encode("utf-8") if isinstance(xmp, str) else xmp) is not None
