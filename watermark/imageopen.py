"""A file's bytes opened as one of the formats Filigrane reads, and what Pillow does not say of them.

`open_image` opens a file as `Image.open` does, but without Pillow's bomb check, which reads and changes
settings shared by the whole process: `imageio` checks the size against its ``max_pixels`` instead
(`pixellimit`). `open_own` opens bytes this process encoded, or already decoded within its limit. What a
file's headers say that Pillow does not: a JPEG's frame, its sample precision and arithmetic coding
(`jpeg_frame`, `arithmetic_jpeg`), a WebP's codec (`webp_codec`), a TIFF's sample layout that Pillow
cannot read (`unread_tiff`, as tifffile describes it). Whose code raised an error, the file system's
(`raised_by_file_system`) or Pillow's (`raised_by_pillow`), tells a bad file from a full disk or a bug.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
from pathlib import Path
from typing import IO, TypeGuard

import PIL
from PIL import Image, ImageFile

from .pixellimit import pillow_limit_at

__all__ = ["open_image", "open_own", "jpeg_frame", "arithmetic_jpeg", "webp_codec", "unread_tiff",
           "raised_by_file_system", "raised_by_pillow"]

_READ_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "GIF", "BMP", "AVIF")
_PILLOW_DIR = Path(PIL.__file__).resolve().parent


def open_image(fp: IO[bytes], max_pixels: int | None) -> ImageFile.ImageFile:
    """``fp`` opened as one of the formats Filigrane reads, as `Image.open` opens it but without its bomb check,
    which reads and changes settings shared by the whole process (the host's threads' too): the caller checks
    the size against ``max_pixels``, which a reader that checks the size itself as it opens (WebP's) is held
    to instead of Pillow's limit."""
    try:
        return _opened(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        fp.seek(0)
        with pillow_limit_at(max_pixels):
            return _opened(fp)


def _opened(fp: IO[bytes]) -> ImageFile.ImageFile:
    Image.init()
    prefix = fp.read(16)
    for name in _READ_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None or accept is not None and accept(prefix) is not True:
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):      # as Image.open: not this format
            continue
    raise Image.UnidentifiedImageError("cannot identify image file")


def open_own(data: bytes) -> ImageFile.ImageFile:
    """``data`` opened as a PIL image without a bomb check: bytes this process encoded, or already decoded
    within its pixel limit (Pillow's default, 89 Mpx, refused a 16000 x 12000 JPEG marked under
    ``max_pixels=None``, after all the work)."""
    return open_image(io.BytesIO(data), None)


def unread_tiff(path: Path, fp: IO[bytes]) -> str:
    """Why Pillow could not open a file with a TIFF's header: a sample layout it does not read (as tifffile,
    which reads any, describes it), or no readable image at all."""
    import tifffile  # only this message needs it

    fp.seek(0)
    quiet = logging.getLogger("tifffile")          # it logs what it finds wrong: the message below says it
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with tifffile.TiffFile(fp) as tiff:
            page = tiff.pages.first
            photometric = tifffile.PHOTOMETRIC(page.photometric).name.lower()
            layout = f"{page.dtype}, {page.samplesperpixel} samples per pixel, {photometric}"
    except Exception:            # tifffile's errors on a broken file are of many kinds: it is broken
        return f"{path}: a TIFF header, but no image Filigrane can read after it (the file is truncated or corrupt)"
    finally:
        quiet.setLevel(level)
    return (f"{path}: a TIFF whose sample layout Filigrane cannot read ({layout}); save it as 8- or 16-bit RGB, "
            "RGBA or grey")


def jpeg_frame(fp: IO[bytes]) -> tuple[int, int] | None:
    """The frame marker of ``fp``, a JPEG (SOF0 to SOF15 but DHT's, JPG's and DAC's markers), and its
    sample precision in bits; None for another file."""
    with contextlib.suppress(OSError, ValueError):
        fp.seek(0)
        if fp.read(2) != b"\xff\xd8":
            return None
        while len(marker := fp.read(4)) == 4 and marker[0] == 0xFF:
            if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
                precision = fp.read(1)
                return (marker[1], precision[0]) if precision else None
            fp.seek(int.from_bytes(marker[2:], "big") - 2, os.SEEK_CUR)
    return None


def arithmetic_jpeg(fp: IO[bytes]) -> bool:
    """Whether ``fp`` is a JPEG whose frame (SOF9 to SOF15) is arithmetic-coded."""
    frame = jpeg_frame(fp)
    return frame is not None and frame[0] >= 0xC9


def webp_codec(fp: IO[bytes]) -> bytes:
    """The fourcc of a WebP file's image chunk: b"VP8 " (lossy) or b"VP8L" (lossless)."""
    fp.seek(12)
    while len(header := fp.read(8)) == 8 and header[:4] not in (b"VP8 ", b"VP8L"):
        fp.seek(int.from_bytes(header[4:], "little") + 1 & ~1, os.SEEK_CUR)
    return header[:4]


def raised_by_file_system(exc: BaseException) -> TypeGuard[OSError]:
    """The file system refused (the exception carries an errno)."""
    return isinstance(exc, OSError) and exc.errno is not None


def raised_by_pillow(exc: BaseException) -> bool:
    """Whether Pillow's own code raised ``exc`` (its innermost Python frame is in Pillow): on a file,
    that is bad data, truncated, corrupt or unsupported, whatever the type (Pillow's TIFF reader
    raises TypeError on a missing size)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and Path(frame.tb_frame.f_code.co_filename).resolve().is_relative_to(_PILLOW_DIR)
