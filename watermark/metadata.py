"""The metadata a copy keeps: what a read carries for the output (ICC, EXIF, resolution, XMP, a JPEG's
IPTC, a PNG's text and colour chunks), with the previews of the unmarked picture taken out and the
orientation made upright, and what a JPEG output can hold of it (one EXIF segment, one XMP segment).

`imageio` reads it with the picture (`carried_info`, into `LoadedImage`), `imageencode` writes it (for
`imagewrite`).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import IO, Any

from PIL import ExifTags, Image, JpegImagePlugin

from . import previews
from .errors import FiligraneWarning

__all__ = ["ORIENTATION", "EXIF_SUB_IFDS", "PNG_TEXT", "PNG_COLOUR", "carried_info", "jpeg_app13", "extended_xmp",
           "png_chunks", "xmp_bytes", "JPEG_SEGMENT_BYTES", "without_sub_ifds", "exif_in_one_segment", "xmp_too_long"]

ORIENTATION = ExifTags.Base.Orientation
EXIF_SUB_IFDS = (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo)    # EXIF's camera and GPS sub-directories
_PIXEL_X, _PIXEL_Y = ExifTags.Base.ExifImageWidth, ExifTags.Base.ExifImageHeight
_X_RESOLUTION, _RESOLUTION_UNIT = ExifTags.Base.XResolution, ExifTags.Base.ResolutionUnit
_TIFF_KEPT_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, date...
PNG_TEXT = (b"tEXt", b"iTXt", b"zTXt")
PNG_COLOUR = (b"gAMA", b"cHRM", b"sRGB")    # how the file's numbers are colours when it has no ICC profile
_PNG_TEXT_CARRIED = (b"XML:com.adobe.xmp", b"Raw profile type exif")  # kept as xmp and exif, not as text
_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"  # a JPEG's APP1 holding a part of a longer XMP packet
_XMP_DIMENSION = re.compile(rb"((?:exif:Pixel([XY])Dimension|tiff:Image(Width|Length))\s*(?:=\s*[\"']|>)\s*)[0-9]+")
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*(?:=\s*[\"']|>)\s*)[0-9]")
JPEG_SEGMENT_BYTES = 65533    # the most EXIF (its "Exif\0\0" included) Pillow writes in a JPEG's one APP1
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"          # a JPEG's APP1 holding XMP starts so


def carried_info(im: Image.Image, source_format: str, *, upright: bool) -> dict:
    """ICC, EXIF (Orientation 1 when the pixels were turned), DPI and XMP as save() keywords; the previews
    of the unmarked picture they hold taken out (`watermark.previews`)."""
    info: dict[str, Any] = {}
    for key in ("icc_profile", "dpi", "xmp"):
        if im.info.get(key):
            info[key] = im.info[key]
    if not _states_resolution(im, source_format):
        info.pop("dpi", None)
    if info.get("xmp"):
        info["xmp"] = previews.xmp_without_previews(info["xmp"])
        if upright:
            info["xmp"] = _xmp_upright(info["xmp"], im.size)
    exif = im.getexif()
    if source_format == "TIFF":  # the tags are the file's own IFD: keep only the descriptive ones
        kept = Image.Exif()
        kept.update({tag: exif[tag] for tag in _TIFF_KEPT_TAGS if tag in exif})
        for ifd in EXIF_SUB_IFDS:       # set through get_ifd: a sub-directory set as a tag's value broke get_ifd
            kept.get_ifd(ifd).update(exif.get_ifd(ifd))
        exif, upright = kept, upright or len(kept) > 0
    elif not im.info.get("exif"):
        return info
    if upright:
        exif[ORIENTATION] = 1
        sizes = exif.get_ifd(ExifTags.IFD.Exif) if ExifTags.IFD.Exif in exif else {}
        for tag, side in ((_PIXEL_X, im.width), (_PIXEL_Y, im.height)):
            if tag in sizes:                # the stored picture's, which a quarter turn swapped
                sizes[tag] = side
        info["exif"] = exif.tobytes()
    elif im.info.get("exif"):
        info["exif"] = previews.exif_without_thumbnail(im.info["exif"])  # else untouched: maker notes survive
    return info


def _states_resolution(im: Image.Image, source_format: str) -> bool:
    """Whether the file gives the resolution Pillow reads as ``dpi``: Pillow assumes 72 dpi for a JPEG
    whose JFIF header gives none and whose EXIF has no XResolution, and 1 dpi for a TIFF without the tag."""
    if source_format in ("JPEG", "MPO"):   # Pillow reads EXIF's resolution only with its unit, else assumes 72
        exif = im.getexif()
        return im.info.get("jfif_unit") in (1, 2) or _X_RESOLUTION in exif and _RESOLUTION_UNIT in exif
    if source_format == "TIFF":
        return _X_RESOLUTION in getattr(im, "tag_v2", {})
    return True


def _xmp_upright(xmp: bytes | str, size: tuple[int, int]) -> bytes | str:
    """``xmp`` of a picture turned upright to ``size`` (width, height): its orientation 1, its pixel
    dimensions the upright picture's."""
    data = xmp_bytes(xmp)
    data = _XMP_DIMENSION.sub(lambda found: found[1] + str(size[b"Y" == found[2] or b"Length" == found[3]]).encode(
        "ascii"), data)
    data = _XMP_ORIENTATION.sub(rb"\g<1>1", data)
    return data.decode("utf-8") if isinstance(xmp, str) else data


def xmp_bytes(xmp: bytes | str) -> bytes:
    """An XMP packet, which Pillow gives as text or bytes, as bytes (UTF-8)."""
    return xmp.encode("utf-8") if isinstance(xmp, str) else xmp


def jpeg_app13(im: Image.Image) -> tuple[bytes, ...]:
    """A JPEG's APP13 segments (Photoshop's, which hold IPTC) as stored: marker, length, data."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return ()
    return tuple(previews.app13_without_thumbnails(b"\xff\xed" + (len(data) + 2).to_bytes(2, "big") + data)
                 for marker, data in im.applist if marker == "APP13")


def extended_xmp(im: Image.Image) -> int:
    """The bytes of a JPEG's extended XMP (an XMP packet too long for one segment, in further APP1s): not
    carried, as it may hold the unmarked picture itself (Google Camera's GImage:Data) or its previews."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return 0
    return sum(len(data) for marker, data in im.applist if marker == "APP1" and data.startswith(_EXTENDED_XMP))


def png_chunks(fp: IO[bytes], kinds: tuple[bytes, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """A PNG's chunks of ``kinds`` as (type, data), in file order, but text chunks holding XMP or EXIF."""
    chunks = []
    fp.seek(8)
    while len(header := fp.read(8)) == 8 and header[4:] != b"IEND":
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if kind not in kinds:
            fp.seek(length + 4, os.SEEK_CUR)       # data and CRC
            continue
        data = fp.read(length)
        if len(data) == length and data.split(b"\0", 1)[0] not in _PNG_TEXT_CARRIED:
            chunks.append((kind, data))
        fp.seek(4, os.SEEK_CUR)
    return tuple(chunks)


def without_sub_ifds(exif: bytes) -> bytes:
    """``exif`` without its camera and GPS sub-directories: libtiff, which writes a compressed TIFF for
    Pillow, cannot write them (it refused the whole file), as 16-bit TIFF outputs drop them too."""
    tags = Image.Exif()
    tags.load(exif)
    if not any(ifd in tags for ifd in EXIF_SUB_IFDS):
        return exif
    for ifd in EXIF_SUB_IFDS:
        tags.pop(ifd, None)
    return tags.tobytes()


def exif_in_one_segment(exif: bytes, source: str) -> bytes:
    """``exif``, longer than one JPEG segment holds (exiftool spreads a large one over several), as its tags
    that Pillow reads serialised anew (IFD0, the camera and GPS sub-directories); nothing when even they do
    not fit. Said in a warning naming ``source``: the JPEG encoder refused the file, and a batch stopped there."""
    tags = Image.Exif()
    tags.load(exif)
    for ifd in EXIF_SUB_IFDS:
        if ifd in tags:
            tags.get_ifd(ifd)                 # read now: serialised as directories, not as stale offsets
    tags.pop(ExifTags.Base.JpegIFOffset, None)
    rewritten = tags.tobytes()
    kept = rewritten if len(rewritten) <= JPEG_SEGMENT_BYTES else b""
    warnings.warn(f"{source}: its EXIF ({len(exif):,} bytes) is more than a JPEG segment holds; the copy carries "
                  + (f"the tags Pillow reads of it ({len(kept):,} bytes), not the rest" if kept else "none of it"),
                  FiligraneWarning, stacklevel=4)
    return kept


def xmp_too_long(xmp: bytes | str) -> bool:
    """Whether ``xmp`` is more than a JPEG's one XMP segment holds (the JPEG encoder refused the file, after
    the marking): left out of a JPEG copy, said by `imagewrite.copy_changes`."""
    return len(xmp_bytes(xmp)) > JPEG_SEGMENT_BYTES - len(_XMP_HEADER)
