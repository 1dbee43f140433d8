"""16-bit colour files: Pillow holds 16 bits per channel only for greyscale, so 16-bit RGB and RGBA
(and grey + alpha) PNG and TIFF files are decoded by OpenCV into uint16 arrays, and written back at
16 bits: PNG by OpenCV with the metadata chunks added here (ICC profile, EXIF, DPI, XMP, text), TIFF by
tifffile (ICC profile, DPI, XMP, the descriptive tags; not EXIF's sub-directories, which tifffile
cannot write)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from typing import IO, Any

import cv2
import numpy as np
from PIL import Image, ImageFile

from .errors import InvalidImageError

__all__ = ["is_deep_colour", "decode", "upright", "write_png", "write_tiff", "FORMATS"]

FORMATS = ("PNG", "TIFF")          # what holds 16 bits per colour channel
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_XMP_KEYWORD = b"XML:com.adobe.xmp"
# TIFF tags kept from the source's EXIF: description, make, model, software, date, artist, copyright
_TEXT_TAGS = {270: "description", 271: "make", 272: "model", 305: "software", 306: "datetime", 315: "artist",
              33432: "copyright"}


def is_deep_colour(im: ImageFile.ImageFile) -> bool:
    """Whether ``im`` (opened, not loaded) stores more than 8 bits per colour channel, which Pillow
    would read as 8."""
    return im.format in FORMATS and im.mode in ("RGB", "RGBA", "LA") and any(
        ";16" in str(tile.args) for tile in im.tile)


def decode(data: bytes, name: str) -> np.ndarray:
    """The first image of a 16-bit colour PNG or TIFF as a uint16 array, RGB(A) order, as stored
    (EXIF orientation not applied); grey + alpha comes as RGBA."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # libtiff speaks on stderr; we raise
    try:
        pixels = cv2.imdecode(np.frombuffer(_as_stored(data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InvalidImageError(f"{name}: corrupt 16-bit image data ({str(exc).strip().splitlines()[-1]})") from None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (2, 3, 4):
        raise InvalidImageError(f"{name}: corrupt or unsupported 16-bit colour image data")
    if pixels.shape[2] == 2:
        return np.ascontiguousarray(pixels[:, :, [0, 0, 0, 1]])
    return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def _as_stored(data: bytes) -> bytes:
    """A classic TIFF's ``data`` with its first directory's Orientation set to 1 (other files as they
    are): OpenCV's TIFF reader applies it itself, and fails on the quarter turns; `upright` does it."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    try:
        if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
            return data
        directory = struct.unpack(order + "I", data[4:8])[0]
        entries = struct.unpack(order + "H", data[directory:directory + 2])[0]
        for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
            if struct.unpack(order + "HH", data[entry:entry + 4]) == (274, 3):      # Orientation, SHORT
                return data[:entry + 8] + struct.pack(order + "H", 1) + data[entry + 10:]
    except struct.error:   # a truncated directory: OpenCV will say it cannot decode
        pass
    return data


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``pixels`` turned as the EXIF Orientation tag (1 to 8) says, as Pillow's ``exif_transpose`` does."""
    turned = {2: pixels[:, ::-1], 3: pixels[::-1, ::-1], 4: pixels[::-1], 5: pixels.swapaxes(0, 1),
              6: np.rot90(pixels, -1), 7: pixels[::-1, ::-1].swapaxes(0, 1), 8: np.rot90(pixels)}
    return np.ascontiguousarray(turned.get(orientation, pixels))


def write_png(fp: IO[bytes], pixels: np.ndarray, meta: dict[str, Any],
              text: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A 16-bit PNG of ``pixels`` (uint16 RGB or RGBA) with ``meta``'s icc_profile, exif, dpi and xmp, then
    the ``text`` chunks, (type, data) pairs such as (b"tEXt", b"Author\\0Ann")."""
    order = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, order), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise InvalidImageError("OpenCV could not encode the 16-bit PNG")
    chunks = []
    if meta.get("icc_profile"):
        chunks.append((b"iCCP", b"ICC profile\0\0" + zlib.compress(meta["icc_profile"])))
    exif = meta.get("exif") or b""
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    if meta.get("dpi"):
        per_metre = [round(value / 0.0254) for value in meta["dpi"]]
        chunks.append((b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1)))
    if meta.get("xmp"):
        xmp = meta["xmp"].encode("utf-8") if isinstance(meta["xmp"], str) else meta["xmp"]
        chunks.append((b"iTXt", _XMP_KEYWORD + b"\0\0\0\0\0" + xmp))
    fp.write(with_chunks(encoded.tobytes(), [*chunks, *text]))


def with_chunks(png: bytes, chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    """``png`` with the ``chunks`` ((type, data) pairs) right after its header (IHDR), where the colour
    chunks gAMA, cHRM and sRGB must come, before the palette and the pixels."""
    end_of_header = len(_PNG_SIGNATURE) + 8 + 13 + 4            # signature, then IHDR (length, type, data, CRC)
    return png[:end_of_header] + b"".join(_chunk(kind, data) for kind, data in chunks) + png[end_of_header:]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_tiff(fp: IO[bytes], pixels: np.ndarray, meta: dict[str, Any], *, compressed: bool) -> None:
    """A 16-bit TIFF of ``pixels`` (uint16 RGB or RGBA), deflate-compressed if ``compressed``, with
    ``meta``'s icc_profile, dpi, xmp and the descriptive tags of its exif."""
    import tifffile  # only 16-bit colour TIFF output needs it

    tags = Image.Exif()
    if meta.get("exif"):
        tags.load(meta["exif"])
    text = {name: str(tags[tag]) for tag, name in _TEXT_TAGS.items() if tag in tags}
    extratags: list[tuple[int, str, int, str | bytes, bool]] = [
        (tag, "s", 0, text[name], True) for tag, name in _TEXT_TAGS.items()
        if name in text and name not in ("description", "software", "datetime")]
    if meta.get("xmp"):
        xmp = meta["xmp"].encode("utf-8") if isinstance(meta["xmp"], str) else meta["xmp"]
        extratags.append((700, "B", len(xmp), xmp, True))
    dpi = meta.get("dpi")
    buffer = io.BytesIO()                  # tifffile wants a named file or a memory buffer
    tifffile.imwrite(buffer, pixels, photometric="rgb", extrasamples=("unassalpha",) if pixels.shape[2] == 4 else None,
                     compression="zlib" if compressed else None, iccprofile=meta.get("icc_profile") or None,
                     resolution=(float(dpi[0]), float(dpi[1])) if dpi else None,
                     resolutionunit="INCH" if dpi else None, description=text.get("description"),
                     software=text.get("software", False), datetime=text.get("datetime"), metadata=None,
                     extratags=extratags)
    fp.write(buffer.getbuffer())
