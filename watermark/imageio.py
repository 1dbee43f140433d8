"""Image files in, safely: fully decoded, upright, one clear error per bad file, the metadata an output keeps.

`load_image` reads JPEG (and MPO), PNG (and APNG), WebP, TIFF, GIF, BMP and AVIF, fully decoded, in
the file's own mode (1, L, LA, P, PA, RGB, RGBA, CMYK, I;16, I;16B, I, F), turned upright by the EXIF
Orientation tag; `LoadedImage.info` holds the metadata for an output as ``save()`` keywords
(``icc_profile``, ``exif`` with Orientation reset to 1, ``dpi``, ``xmp``), and its other fields the
source's encoding choices that `imagewrite.save_image` keeps. A bad file raises one
error whose one-line message names the file, the problem and the fix: `InvalidImageError` for its
content (empty, not an image, truncated, corrupt, more than ``max_pixels`` by its header, checked
before decoding; animated; unsupported mode), `ImageFileError`, an `OSError`, for what the file
system refused (missing, a directory, permission denied, disk full). Animated GIF, APNG and WebP
and multi-page TIFF: ``animated="error"`` (marking) refuses them, as an output would keep one frame;
``animated="first"`` (detection) reads the first frame. An MPO is read at its primary picture.
Pillow's own bomb check is process-wide: images are opened without it and their size checked against
``max_pixels``; only an image above Pillow's own limit is decoded with that limit set to ``max_pixels``,
under a lock.

Writing image files is `imagewrite`'s job, listing a folder's `listing`'s, which extensions name
which formats `imageformats`', and the metadata a copy keeps (read here into ``LoadedImage``)
`metadata`'s.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import stat
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeGuard

import numpy as np
import PIL
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin

from . import deepio, jpegquality, metadata, previews
from .errors import (
    FiligraneWarning,
    ImageFileError,
    InvalidImageError,
    ParameterError,
    UnknownNameError,
    WatermarkError,
)

__all__ = ["DEFAULT_MAX_PIXELS", "NUL_IN_NAME", "LoadedImage", "load_image", "load_image_bytes", "open_own",
           "parse_max_pixels", "environment_problem", "raised_by_file_system", "raised_by_pillow"]

PathLike = str | os.PathLike

def parse_max_pixels(text: str) -> int | None:
    """Parse a pixel limit: a positive integer (``_`` allowed), ``none`` or ``0`` for no limit.

    Raises `ParameterError`, a `ValueError`, otherwise.
    """
    cleaned = text.strip().lower().replace("_", "")
    if cleaned in ("none", "0"):
        return None
    if cleaned.isdigit():
        return int(cleaned)
    raise ParameterError(f"pixel limit must be a positive integer or 'none', got {text!r}")


def environment_problem() -> str | None:
    """What is wrong with the ``FILIGRANE_MAX_PIXELS`` variable; None when it is unset or valid."""
    text = os.environ.get("FILIGRANE_MAX_PIXELS", "").strip()
    try:
        parse_max_pixels(text or "none")
    except ParameterError:
        return f"FILIGRANE_MAX_PIXELS={text!r} is not a positive integer or 'none'"
    return None


def _default_max_pixels() -> int | None:
    """``FILIGRANE_MAX_PIXELS`` when it is set and valid, else twice Pillow's warning limit (its hard limit)."""
    text = os.environ.get("FILIGRANE_MAX_PIXELS", "").strip()
    if not text or environment_problem():
        return None if Image.MAX_IMAGE_PIXELS is None else 2 * Image.MAX_IMAGE_PIXELS
    return parse_max_pixels(text)


# Pillow's hard limit (it only warns from half of it on): about 179 Mpx. Read once, at import; a wrong
# variable is said where the limit is used (`_load`), and the command line refuses to start with it.
DEFAULT_MAX_PIXELS: int | None = _default_max_pixels()

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_READ_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "GIF", "BMP", "AVIF")
_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr",
          "I;16", "I;16B", "I;16L", "I", "F"}
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "CMYK", "I", "F"}
_LOSSLESS_TIFF = {"tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
_LOSSY_TIFF = {"jpeg", "tiff_jpeg", "webp"}
_PILLOW_DIR = Path(PIL.__file__).resolve().parent
_PILLOW_LOCK = threading.Lock()
# the fix said for a path holding a NUL byte (a list of paths split wrongly): by load_image, by sources
NUL_IN_NAME = ("no file name holds a NUL byte: a list of paths gives one a line (find -print0 | tr '\\0' "
               "'\\n')")


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image file as read by `load_image`: upright pixels plus what a faithful output needs."""

    path: Path
    image: Image.Image | np.ndarray  # fully loaded, upright, first frame, in the file's mode; for 16-bit
                                     # colour, a uint16 array (H, W, 3 or 4), RGB(A) (see deepio)
    format: str                      # Pillow's name for the file's format: "JPEG", "PNG", "WEBP", ...
    info: dict                       # save() keywords to carry: icc_profile, exif, dpi, xmp
    n_frames: int = 1                # frames (or pages) in the file; only the first is in ``image``
    original_size: tuple[int, int] = (0, 0)   # (width, height) at full resolution, upright
    scale: float = 1.0               # image width / original width; < 1 after ``reduce_to``
    jpeg_subsampling: int | None = None       # 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 for a colour JPEG's copy
    jpeg_quality: int | None = None  # libjpeg quality of a JPEG, from its tables (None: not estimable)
    jpeg_progressive: bool = False   # the JPEG is progressive
    tiff_compression: str | None = None       # a TIFF copy's: the source's when lossless, e.g. "tiff_lzw"
    tiff_lossy: str | None = None    # a TIFF source's lossy compression ("jpeg"), which its copy does not keep
    webp_lossless: bool = False      # the source WebP was lossless (VP8L); a WebP output is too
    depth_reduced: bool = False      # the file holds more bits per channel than ``image`` (16-bit CMYK)
    jpeg_app13: tuple[bytes, ...] = ()        # a JPEG's APP13 segments (IPTC), marker and length included
    extended_xmp: int = 0            # bytes of a JPEG's extended XMP, which a copy does not carry
    png_text: tuple[tuple[bytes, bytes], ...] = ()   # a PNG's text chunks (type, data) but XMP and EXIF
    png_colour: tuple[tuple[bytes, bytes], ...] = ()  # a PNG's gAMA, cHRM and sRGB chunks (type, data)


def load_image(path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, animated: str = "error",
               reduce_to: int | None = None, luminance: bool = False) -> LoadedImage:
    """Read an image file completely, upright, with the metadata an output should keep.

    Parameters
    ----------
    max_pixels : int or None
        Refuse images whose header declares more pixels (width x height), before decoding them.
        Defaults to Pillow's limit (about 179 Mpx) or the ``FILIGRANE_MAX_PIXELS`` variable; None
        means no limit.
    animated : {"error", "first"}
        What to do with an animated or multi-page file: refuse it, or read its first frame.
    reduce_to : int, optional
        The caller needs only this many pixels on the short side: JPEGs are then decoded at 1/2, 1/4
        or 1/8 scale (DCT scaling), other images reduced by an integer factor after decoding, never
        below ``reduce_to``. `LoadedImage.scale` tells how much.
    luminance : bool
        The caller needs only luminance: a colour (YCbCr) JPEG is then decoded straight to its luma
        channel (mode "L", BT.601 as JPEG stores it), without its chroma or a colour conversion.
        Other files keep their mode.

    Raises
    ------
    InvalidImageError, ImageFileError, ParameterError

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (64, 48), "teal").save(folder / "in.png")
    >>> loaded = load_image(folder / "in.png")
    >>> loaded.format, loaded.image.mode, loaded.image.size
    ('PNG', 'RGB', (64, 48))
    """
    if animated not in ("error", "first"):
        raise UnknownNameError(f"animated must be 'error' or 'first', got {animated!r}")
    if reduce_to is not None and reduce_to < 1:
        raise ParameterError(f"reduce_to must be a positive number of pixels, got {reduce_to}")
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            kind = "is a directory, not an image file" if path.is_dir() else "not a regular file"
            raise ImageFileError(f"{path}: {kind}")
        fp = open(path, "rb")
    except FileNotFoundError:
        raise ImageFileError(f"{path}: no such file") from None
    except ValueError:                       # the only one os.stat raises: a NUL in the name
        raise ImageFileError(f"{path}: {NUL_IN_NAME}") from None
    except PermissionError:
        raise ImageFileError(f"{path}: permission denied; check the file's permissions") from None
    except ImageFileError:
        raise
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fp:
        if os.fstat(fp.fileno()).st_size == 0:
            raise InvalidImageError(f"{path}: empty file (0 bytes)")
        return _load(path, fp, max_pixels, animated, reduce_to, luminance)


def load_image_bytes(data: bytes, name: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                     animated: str = "error", reduce_to: int | None = None,
                     luminance: bool = False) -> LoadedImage:
    """`load_image` for a file's bytes already read (from a URL, a batch's reader); ``name`` is how
    error messages name it. ``LoadedImage.path`` is ``Path(name)``."""
    if animated not in ("error", "first"):
        raise UnknownNameError(f"animated must be 'error' or 'first', got {animated!r}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageError(f"{name}: expected the file's bytes, got {type(data).__name__}"
                                + (" (a path? use detect_file / embed_file)" if isinstance(data, (str, Path)) else ""))
    if not data:
        raise InvalidImageError(f"{name}: empty file (0 bytes)")
    return _load(Path(name), io.BytesIO(data), max_pixels, animated, reduce_to, luminance)


def _load(path: Path, fp: IO[bytes], max_pixels: int | None, animated: str, reduce_to: int | None,
          luminance: bool) -> LoadedImage:
    """Decode ``fp``, turning what goes wrong with the data into one error naming ``path``."""
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise ParameterError(f"max_pixels must be a positive int or None (no limit), got {max_pixels!r}")
    if max_pixels == DEFAULT_MAX_PIXELS and (problem := environment_problem()):
        warnings.warn(f"{problem}; using the limit of {max_pixels} pixels", FiligraneWarning, stacklevel=3)
    try:
        return _decode(path, fp, max_pixels, animated, reduce_to, luminance)
    except WatermarkError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "the image size"
        raise InvalidImageError(_bomb_message(path, size, max_pixels)) from None
    except Image.UnidentifiedImageError:
        fp.seek(0)
        if fp.read(4) in _TIFF_MAGIC:    # Pillow's TIFF reader knows the file, not its sample layout
            raise InvalidImageError(_unread_tiff(path, fp)) from None
        frame = _jpeg_frame(fp)
        if frame is not None and frame[1] != 8:
            raise InvalidImageError(f"{path}: a {frame[1]}-bit JPEG, which Filigrane does not read (only 8-bit "
                                    "JPEGs); convert it to a 16-bit TIFF or PNG, or to an 8-bit JPEG") from None
        raise InvalidImageError(f"{path}: not an image file, or not a format Filigrane reads "
                                "(JPEG, PNG, WebP, TIFF, GIF, BMP, AVIF)") from None
    except Exception as exc:
        if not (raised_by_file_system(exc) or raised_by_pillow(exc)):
            raise   # a bug of ours keeps its traceback rather than reading as "corrupt image"
        raise _decode_error(path, exc) from None


def _unread_tiff(path: Path, fp: IO[bytes]) -> str:
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


def _jpeg_frame(fp: IO[bytes]) -> tuple[int, int] | None:
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


def _arithmetic_jpeg(fp: IO[bytes]) -> bool:
    """Whether ``fp`` is a JPEG whose frame (SOF9 to SOF15) is arithmetic-coded."""
    frame = _jpeg_frame(fp)
    return frame is not None and frame[0] >= 0xC9


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


def _decode_error(path: Path, exc: BaseException) -> WatermarkError:
    if raised_by_file_system(exc):
        return ImageFileError(f"{path}: cannot read ({exc.strerror or exc})")
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return InvalidImageError(f"{path}: truncated file, the image data ends early ({exc}); "
                                 "copy or export it again")
    return InvalidImageError(f"{path}: corrupt image data ({type(exc).__name__}: {exc})")


def _bomb_message(path: Path, size: str, max_pixels: int | None) -> str:
    return (f"{path}: {size} exceeds the limit of {max_pixels or Image.MAX_IMAGE_PIXELS:,} pixels "
            "(a possible decompression bomb); if you trust the file, raise the limit with "
            "--max-pixels N or FILIGRANE_MAX_PIXELS=N ('none' for no limit)")


@contextlib.contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's process-wide bomb check warn (we raise) above ``max_pixels`` while an image larger than its
    own limit is decoded (its TIFF reader checks each strip or tile again) or opened by a reader that checks
    as it opens (WebP's). Process-wide: only there, and one such image at a time; `_pillow_own_limit` gives
    Pillow's own meanwhile."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _LIFTED.append(Image.MAX_IMAGE_PIXELS)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = _LIFTED.pop()


_LIFTED: list[int | None] = []     # Pillow's own limit while `_pillow_limit` has changed it


def _pillow_own_limit() -> int | None:
    """Pillow's bomb limit as the host set it, even while another thread's `_pillow_limit` has changed it."""
    return _LIFTED[0] if _LIFTED else Image.MAX_IMAGE_PIXELS


def _open(fp: IO[bytes], max_pixels: int | None) -> ImageFile.ImageFile:
    """``fp`` opened as one of the formats Filigrane reads, as `Image.open` opens it but without its bomb check,
    which reads and changes settings shared by the whole process (the host's threads' too): the caller checks
    the size against ``max_pixels``, which a reader that checks the size itself as it opens (WebP's) is held
    to instead of Pillow's limit."""
    try:
        return _opened(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        fp.seek(0)
        with _pillow_limit(max_pixels):
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
    return _open(io.BytesIO(data), None)


def _decode(path: Path, fp: IO[bytes], max_pixels: int | None, animated: str,
            reduce_to: int | None, luminance: bool) -> LoadedImage:
    im = _open(fp, max_pixels)
    width, height = im.size
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImageError(_bomb_message(path, f"{width}x{height} px = {width * height:,} pixels",
                                              max_pixels))
    if im.mode not in _MODES:
        raise InvalidImageError(f"{path}: unsupported pixel mode {im.mode!r} in this {im.format} file; "
                                "convert it to RGB, RGBA, L or 16-bit greyscale first")
    n_frames = getattr(im, "n_frames", 1)
    if im.format == "MPO":      # a phone's or camera's JPEG with further pictures: the first is the picture
        if n_frames > 1 and animated == "error":
            warnings.warn(f"{path}: keeps only the primary picture of the {n_frames} this file holds (MPF: "
                          "an HDR gain map, a depth map or a preview, none of them marked); the copy is a "
                          "plain JPEG", FiligraneWarning, stacklevel=2)
        n_frames = 1
    if animated == "error" and previews.names_a_video(im.info.get("xmp")):
        warnings.warn(f"{path}: a motion photo: its video, after the picture, is not kept (it would carry no "
                      "mark); the copy is the still picture", FiligraneWarning, stacklevel=2)
    if n_frames > 1 and animated == "error":
        what = ("multi-page image with {} pages; marking would drop pages, extract one first"
                if im.format == "TIFF" else
                "animated image with {} frames; marking would drop frames, extract one first")
        raise InvalidImageError(f"{path}: {what.format(n_frames)}")
    pillow_limit = _pillow_own_limit()
    if pillow_limit is not None and width * height > pillow_limit:
        with _pillow_limit(max_pixels):                 # Pillow checks again while decoding a TIFF
            return _finish(path, im, fp, n_frames, reduce_to, luminance)
    return _finish(path, im, fp, n_frames, reduce_to, luminance)


def _finish(path: Path, im: ImageFile.ImageFile, fp: IO[bytes], n_frames: int, reduce_to: int | None,
            luminance: bool) -> LoadedImage:
    source_format = im.format or ""
    full_width, full_height = im.size
    jpeg = source_format in ("JPEG", "MPO")
    subsampling = JpegImagePlugin.get_sampling(im) if jpeg else -1
    if subsampling < 0 and jpeg and getattr(im, "layers", 0) == 3:
        subsampling = 0    # 4:4:0 or 4:1:1, which Pillow does not write: 4:4:4 keeps all their chroma
    quality = jpegquality.estimate_quality(im.quantization) if isinstance(im, JpegImagePlugin.JpegImageFile) else None
    progressive = jpeg and bool(im.info.get("progressive") or im.info.get("progression"))
    if jpeg and (luminance or reduce_to and min(im.size) > reduce_to):
        ratio = reduce_to / min(im.size) if reduce_to and min(im.size) > reduce_to else 1.0
        im.draft("L" if luminance else None, (math.ceil(full_width * ratio), math.ceil(full_height * ratio)))
    if deepio.is_deep_colour(im):
        return _finish_deep(path, im, fp, n_frames)
    depth_reduced = im.mode == "CMYK" and any(";16" in str(tile.args) for tile in im.tile)
    if jpeg and _arithmetic_jpeg(fp):    # libjpeg's arithmetic decoder cannot wait for more data: give it all
        im.decodermaxblock = max(im.decodermaxblock, fp.seek(0, os.SEEK_END))
    im.load()
    orientation = im.getexif().get(metadata.ORIENTATION, 1)
    ImageOps.exif_transpose(im, in_place=True)
    info = metadata.carried_info(im, source_format, upright=orientation in range(2, 9))
    copied, lossy = _tiff_compressions(im.info.get("compression") if source_format == "TIFF" else None)
    scale = im.width / (full_height if orientation in range(5, 9) else full_width)
    picture: Image.Image = im.copy() if source_format == "MPO" else im     # a picture, not its file's frames
    if reduce_to and min(im.size) >= 2 * reduce_to and im.mode in _REDUCIBLE:
        factor = min(im.size) // reduce_to
        picture = im.reduce(factor)
        scale /= factor
    original = (full_height, full_width) if orientation in range(5, 9) else (full_width, full_height)
    return LoadedImage(path=path, image=picture, format=source_format, info=info, n_frames=n_frames,
                       original_size=original, scale=scale,
                       jpeg_subsampling=subsampling if subsampling >= 0 else None,
                       jpeg_quality=quality, jpeg_progressive=progressive,
                       tiff_compression=copied, tiff_lossy=lossy,
                       webp_lossless=source_format == "WEBP" and _webp_codec(fp) == b"VP8L",
                       depth_reduced=depth_reduced, jpeg_app13=metadata.jpeg_app13(im),
                       extended_xmp=metadata.extended_xmp(im),
                       png_text=metadata.png_chunks(fp, metadata.PNG_TEXT) if source_format == "PNG" else (),
                       png_colour=metadata.png_chunks(fp, metadata.PNG_COLOUR) if source_format == "PNG" else ())


def _finish_deep(path: Path, im: ImageFile.ImageFile, fp: IO[bytes], n_frames: int) -> LoadedImage:
    """A 16-bit colour PNG or TIFF, decoded by OpenCV into a uint16 array (Pillow would keep 8 bits)."""
    orientation = im.getexif().get(metadata.ORIENTATION, 1)
    info = metadata.carried_info(im, im.format or "", upright=orientation in range(2, 9))
    fp.seek(0)
    pixels = deepio.upright(deepio.decode(fp.read(), str(path)), orientation)
    copied, lossy = _tiff_compressions(im.info.get("compression") if im.format == "TIFF" else None)
    return LoadedImage(path=path, image=pixels, format=im.format or "", info=info, n_frames=n_frames,
                       original_size=(pixels.shape[1], pixels.shape[0]),
                       tiff_compression=copied, tiff_lossy=lossy,
                       png_text=metadata.png_chunks(fp, metadata.PNG_TEXT) if im.format == "PNG" else (),
                       png_colour=metadata.png_chunks(fp, metadata.PNG_COLOUR) if im.format == "PNG" else ())


def _tiff_compressions(compression: str | None) -> tuple[str | None, str | None]:
    """A TIFF source's ``compression`` as `LoadedImage` keeps it: the copy's (the source's when Pillow writes
    it losslessly, else Deflate), and a lossy one's name (JPEG or WebP in TIFF, which could erase the mark)."""
    if compression in (None, "raw") or compression in _LOSSLESS_TIFF:
        return None if compression == "raw" else compression, None
    return "tiff_adobe_deflate", compression if compression in _LOSSY_TIFF else None


def _webp_codec(fp: IO[bytes]) -> bytes:
    """The fourcc of a WebP file's image chunk: b"VP8 " (lossy) or b"VP8L" (lossless)."""
    fp.seek(12)
    while len(header := fp.read(8)) == 8 and header[:4] not in (b"VP8 ", b"VP8L"):
        fp.seek(int.from_bytes(header[4:], "little") + 1 & ~1, os.SEEK_CUR)
    return header[:4]
