"""Image files in and out, safely: one clear error per bad file, atomic writes, metadata kept.

`load_image` reads JPEG (and MPO), PNG (and APNG), WebP, TIFF, GIF, BMP and AVIF, fully decoded, in
the file's own mode (1, L, LA, P, PA, RGB, RGBA, CMYK, I;16, I;16B, I, F), turned upright by the EXIF
Orientation tag; `LoadedImage.info` holds the metadata for an output as ``save()`` keywords
(``icc_profile``, ``exif`` with Orientation reset to 1, ``dpi``, ``xmp``). A bad file raises one
error whose one-line message names the file, the problem and the fix: `InvalidImageError` for its
content (empty, not an image, truncated, corrupt, more than ``max_pixels`` by its header, checked
before decoding; animated; unsupported mode), `ImageFileError`, an `OSError`, for what the file
system refused (missing, a directory, permission denied, disk full). Animated GIF, APNG and WebP
and multi-page TIFF: ``animated="error"`` (marking) refuses them, as an output would keep one frame;
``animated="first"`` (detection) reads the first frame. An MPO is read at its primary picture.
Pillow's own bomb check is process-wide: opening takes a lock and sets it to ``max_pixels``.

`save_image` picks the format from the extension, writes a temporary file beside the output, fsyncs
it and moves it into place: readers see the old file or the new one, never half. An existing file,
above all the input, is replaced only with ``overwrite=True`` (else `OutputExistsError`). A mode the
format cannot hold is converted only when nothing is lost (1 -> L, P -> RGB, LA -> RGBA, fully
opaque alpha dropped); otherwise the save is refused, naming formats that work: transparency into
JPEG, BMP or GIF, 16-bit or float into JPEG, WebP, GIF or BMP, CMYK outside JPEG and TIFF, colour
into GIF. A JPEG from a JPEG source keeps its quality (estimated from its quantisation tables, see
`jpegquality`; else 95, or ``quality`` when given), progressive encoding and chroma subsampling
(4:4:4 for one Pillow does not write, 4:4:0 or 4:1:1); WebP is lossless when the source WebP was
(the quality of a lossy WebP cannot be read back: 95 unless ``quality`` is given); TIFF keeps a
source TIFF's lossless compression (a lossy one's copy is Deflate).
An output of the source's format also keeps, byte for byte, a JPEG's APP13 segments (IPTC: byline,
copyright) and a PNG's text chunks (tEXt, iTXt, zTXt); another format drops them, as a format without
a place for XMP or DPI drops those.
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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeGuard, cast

import numpy as np
import PIL
from PIL import ExifTags, Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from . import atomic, deepio, jpegquality, previews
from .errors import (
    FiligraneWarning,
    ImageFileError,
    InvalidImageError,
    OutputExistsError,
    ParameterError,
    UnknownNameError,
    WatermarkError,
)

__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_QUALITY", "NUL_IN_NAME", "IMAGE_EXTENSIONS", "OUTPUT_EXTENSIONS",
           "UNREAD_EXTENSIONS", "LoadedImage", "load_image", "load_image_bytes", "save_image", "image_bytes",
           "kept_jpeg_quality",
           "check_writable", "extension_of", "iter_image_files", "no_image_files", "walked", "walk", "Unlisted",
           "printable", "exists_message", "left_out_line",
           "parse_max_pixels", "environment_problem", "misnamed", "copy_changes", "lossy_format"]

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
# an MPO's copy is a plain JPEG (its primary picture), which MPO readers read; an APNG's, one frame, a PNG
_WRITE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".mpo": "JPEG", ".png": "PNG",
                  ".apng": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP", ".gif": "GIF"}
OUTPUT_EXTENSIONS = frozenset(_WRITE_FORMATS)                                 # what save_image writes
IMAGE_EXTENSIONS = OUTPUT_EXTENSIONS | {".avif"}                              # what load_image reads
# pictures a folder walk leaves out, counted and said (`left_out_line`): phones' HEIF, cameras' raw files,
# layered and newer formats, which a photographer converts before marking
UNREAD_EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".jxl", ".jp2", ".psd", ".psb", ".dng", ".cr2", ".cr3",
                               ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".rwl",
                               ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf"})
_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr",
          "I;16", "I;16B", "I;16L", "I", "F"}
_DEEP = {"I;16", "I;16B", "I;16L", "I", "F"}
_NATIVE = {"JPEG": {"L", "RGB", "CMYK"},
           "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B", "I"},
           "WEBP": {"RGB", "RGBA"},
           "TIFF": {"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I;16L", "I", "F"},
           "BMP": {"1", "L", "P", "RGB"},  # Pillow reads 32-bit BMP back as RGB
           "GIF": {"1", "L", "P"}}
_SUGGEST = {"alpha": ".png, .webp or .tiff", "deep": ".png or .tiff", "CMYK": ".jpg or .tiff",
            "colour": ".png, .webp or .jpg"}
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "CMYK", "I", "F"}
DEFAULT_QUALITY = 95   # JPEG and WebP, when the source's cannot be known
_NO_ICC = ("BMP", "GIF")  # formats Pillow writes without an ICC profile
_LOSSLESS_TIFF = {"tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
_LOSSY_TIFF = {"jpeg", "tiff_jpeg", "webp"}
_PNG_TEXT = (b"tEXt", b"iTXt", b"zTXt")
_PNG_COLOUR = (b"gAMA", b"cHRM", b"sRGB")    # how the file's numbers are colours when it has no ICC profile
_PNG_TEXT_CARRIED = (b"XML:com.adobe.xmp", b"Raw profile type exif")  # kept as xmp and exif, not as text
_TIFF_KEPT_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, date...
_SUB_IFDS = (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo)    # EXIF's camera and GPS sub-directories
_JPEG_SEGMENT_BYTES = 65533    # the most EXIF (its "Exif\0\0" included) Pillow writes in a JPEG's one APP1
_PILLOW_DIR = Path(PIL.__file__).resolve().parent
_ORIENTATION = ExifTags.Base.Orientation
_PIXEL_X, _PIXEL_Y = ExifTags.Base.ExifImageWidth, ExifTags.Base.ExifImageHeight
_X_RESOLUTION, _RESOLUTION_UNIT = ExifTags.Base.XResolution, ExifTags.Base.ResolutionUnit
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"          # a JPEG's APP1 holding XMP starts so
_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"  # and one holding a part of a longer packet
_XMP_DIMENSION = re.compile(rb"((?:exif:Pixel([XY])Dimension|tiff:Image(Width|Length))\s*(?:=\s*[\"']|>)\s*)[0-9]+")
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation\s*(?:=\s*[\"']|>)\s*)[0-9]")
_PILLOW_LOCK = threading.Lock()


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
    >>> save_image(loaded.image, folder / "out.jpg", like=loaded)
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
        if not (_os_error(exc) or _raised_by_pillow(exc)):
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


def _os_error(exc: BaseException) -> TypeGuard[OSError]:
    """The file system refused (the exception carries an errno)."""
    return isinstance(exc, OSError) and exc.errno is not None


def _raised_by_pillow(exc: BaseException) -> bool:
    """Whether Pillow's own code raised ``exc`` (its innermost Python frame is in Pillow): on a file,
    that is bad data, truncated, corrupt or unsupported, whatever the type (Pillow's TIFF reader
    raises TypeError on a missing size)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and Path(frame.tb_frame.f_code.co_filename).resolve().is_relative_to(_PILLOW_DIR)


def _decode_error(path: Path, exc: BaseException) -> WatermarkError:
    if _os_error(exc):
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
    own limit is decoded (its TIFF reader checks each strip or tile again). Process-wide: only there, and
    one such decode at a time; `_open` leaves Pillow's settings alone."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(fp: IO[bytes]) -> ImageFile.ImageFile:
    """``fp`` opened as one of the formats Filigrane reads, as `Image.open` opens it but without its bomb check,
    which reads and changes settings shared by the whole process (the host's threads' too): the caller checks
    the size against its own limit."""
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
    return _open(io.BytesIO(data))


def _decode(path: Path, fp: IO[bytes], max_pixels: int | None, animated: str,
            reduce_to: int | None, luminance: bool) -> LoadedImage:
    im = _open(fp)
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
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
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
    orientation = im.getexif().get(_ORIENTATION, 1)
    ImageOps.exif_transpose(im, in_place=True)
    info = _carried_info(im, source_format, upright=orientation in range(2, 9))
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
                       depth_reduced=depth_reduced, jpeg_app13=_jpeg_app13(im),
                       extended_xmp=_extended_xmp(im),
                       png_text=_png_chunks(fp, _PNG_TEXT) if source_format == "PNG" else (),
                       png_colour=_png_chunks(fp, _PNG_COLOUR) if source_format == "PNG" else ())


def _finish_deep(path: Path, im: ImageFile.ImageFile, fp: IO[bytes], n_frames: int) -> LoadedImage:
    """A 16-bit colour PNG or TIFF, decoded by OpenCV into a uint16 array (Pillow would keep 8 bits)."""
    orientation = im.getexif().get(_ORIENTATION, 1)
    info = _carried_info(im, im.format or "", upright=orientation in range(2, 9))
    fp.seek(0)
    pixels = deepio.upright(deepio.decode(fp.read(), str(path)), orientation)
    copied, lossy = _tiff_compressions(im.info.get("compression") if im.format == "TIFF" else None)
    return LoadedImage(path=path, image=pixels, format=im.format or "", info=info, n_frames=n_frames,
                       original_size=(pixels.shape[1], pixels.shape[0]),
                       tiff_compression=copied, tiff_lossy=lossy,
                       png_text=_png_chunks(fp, _PNG_TEXT) if im.format == "PNG" else (),
                       png_colour=_png_chunks(fp, _PNG_COLOUR) if im.format == "PNG" else ())


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


def _jpeg_app13(im: Image.Image) -> tuple[bytes, ...]:
    """A JPEG's APP13 segments (Photoshop's, which hold IPTC) as stored: marker, length, data."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return ()
    return tuple(previews.app13_without_thumbnails(b"\xff\xed" + (len(data) + 2).to_bytes(2, "big") + data)
                 for marker, data in im.applist if marker == "APP13")


def _extended_xmp(im: Image.Image) -> int:
    """The bytes of a JPEG's extended XMP (an XMP packet too long for one segment, in further APP1s): not
    carried, as it may hold the unmarked picture itself (Google Camera's GImage:Data) or its previews."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return 0
    return sum(len(data) for marker, data in im.applist if marker == "APP1" and data.startswith(_EXTENDED_XMP))


def _png_chunks(fp: IO[bytes], kinds: tuple[bytes, ...]) -> tuple[tuple[bytes, bytes], ...]:
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


def _carried_info(im: Image.Image, source_format: str, *, upright: bool) -> dict:
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
        for ifd in _SUB_IFDS:       # set through get_ifd: a sub-directory set as a tag's value broke get_ifd
            kept.get_ifd(ifd).update(exif.get_ifd(ifd))
        exif, upright = kept, upright or len(kept) > 0
    elif not im.info.get("exif"):
        return info
    if upright:
        exif[_ORIENTATION] = 1
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
    data = _as_bytes(xmp)
    data = _XMP_DIMENSION.sub(lambda found: found[1] + str(size[b"Y" == found[2] or b"Length" == found[3]]).encode(
        "ascii"), data)
    data = _XMP_ORIENTATION.sub(rb"\g<1>1", data)
    return data.decode("utf-8") if isinstance(xmp, str) else data


def save_image(image: Image.Image | np.ndarray, path: PathLike, *, like: LoadedImage | None = None,
               quality: int | None = None, overwrite: bool = False,
               finish: Callable[[bytes], bytes] | None = None) -> None:
    """Write ``image`` to ``path`` atomically, in the format its extension names.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        An array is uint8 ``(H, W[, 2|3|4])`` or uint16 ``(H, W)``.
    path : str or os.PathLike
        ``.jpg``/``.jpeg``, ``.png``, ``.webp``, ``.tif``/``.tiff``, ``.bmp`` or ``.gif``.
    like : LoadedImage, optional
        The source, whose metadata and encoding choices are kept and whose path is never written
        unless ``overwrite``. Without it, the metadata of ``image.info`` is kept.
    quality : int, optional
        JPEG and WebP quality, 1 to 100. By default a JPEG source's own, when its tables tell it,
        for a JPEG output; else 95.
    finish : callable, optional
        A last step from the encoded file's bytes to the bytes written (Content Credentials signing).

    Raises
    ------
    OutputExistsError
        ``path`` exists, or is the source, and ``overwrite`` is false.
    ParameterError
        Unknown extension or bad ``quality``.
    InvalidImageError
        A mode the format cannot hold without loss.
    ImageFileError
        Missing or read-only directory, full disk, ...
    """
    path = Path(path)
    fmt = _output_format(path)
    _check_quality(path, quality)
    if os.path.isdir(path):
        raise ImageFileError(f"{path}: is a directory; give a file name for the output")
    if not overwrite:
        if like is not None and _same_file(path, like.path):
            raise OutputExistsError(f"{path}: is the input image; write elsewhere, or pass "
                                    "overwrite=True (--overwrite) to replace it")
        if os.path.lexists(path):
            raise OutputExistsError(exists_message(path))
    _write_atomic(path, _writer(image, path, fmt, like, quality), fmt, overwrite, finish)


def image_bytes(image: Image.Image | np.ndarray, name: PathLike, *, like: LoadedImage | None = None,
                quality: int | None = None) -> bytes:
    """The bytes `save_image` would write to a file named ``name`` (whose extension names the format), made
    in memory."""
    path = Path(name)
    fmt = _output_format(path)
    _check_quality(path, quality)
    buffer = io.BytesIO()
    _writer(image, path, fmt, like, quality)(buffer)
    return buffer.getvalue()


def _check_quality(path: Path, quality: int | None) -> None:
    if quality is not None and not (isinstance(quality, (int, np.integer)) and 1 <= quality <= 100):
        raise ParameterError(f"{path}: quality must be an integer from 1 to 100, got {quality!r}")


def _writer(image: Image.Image | np.ndarray, path: Path, fmt: str, like: LoadedImage | None,
            quality: int | None) -> Callable[[IO[bytes]], None]:
    """What writes ``image`` as ``fmt`` (``path``'s) with ``like``'s metadata and encoding choices to a file
    object: 16-bit colour by `watermark.deepio`, the rest by Pillow (`_encoder`)."""
    if _deep_colour(image):
        _check_deep(fmt, path)
        meta = like.info if like is not None else {}
        if fmt == "PNG":
            chunks = like.png_colour + like.png_text if like is not None else ()
            return lambda fp: deepio.write_png(fp, image, meta, chunks)
        compressed = like is not None and like.tiff_compression is not None
        return lambda fp: deepio.write_tiff(fp, image, meta, compressed=compressed)
    picture = _fit_mode(_as_pil(image, path), fmt, path)
    if fmt in _NO_ICC and (like.info if like is not None else picture.info).get("icc_profile"):
        warnings.warn(f"{path}: a {fmt} file cannot carry the source's ICC profile; colour-managed viewers will "
                      "show other colours (.png, .tif, .jpg or .webp keep it)", FiligraneWarning, stacklevel=3)
    return _encoder(picture, fmt, like, quality)


def kept_jpeg_quality(path: PathLike, like: LoadedImage | None, quality: int | None) -> int | None:
    """The JPEG source's own quality that `save_image` keeps for ``path`` given ``like`` and ``quality``;
    None when it keeps none (not a JPEG output, ``quality`` given, the source's not estimable)."""
    return None if quality is not None else _kept_quality(_output_format(Path(path)), like)


def lossy_format(path: PathLike, like: LoadedImage | None) -> str | None:
    """The format `save_image` writes ``path`` (given ``like``) in at a quality, lossily: "JPEG", "WebP" (but a
    lossless source WebP's copy); None for the others."""
    fmt = _output_format(Path(path))
    if fmt == "JPEG" or fmt == "WEBP" and not (like is not None and like.webp_lossless):
        return "WebP" if fmt == "WEBP" else fmt
    return None


def _kept_quality(fmt: str, like: LoadedImage | None) -> int | None:
    """The quality of ``like``, a JPEG source, that a ``fmt`` output keeps: a JPEG output's only."""
    return like.jpeg_quality if fmt == "JPEG" and like is not None else None


def _encoder(picture: Image.Image, fmt: str, like: LoadedImage | None, quality: int | None
             ) -> Callable[[IO[bytes]], None]:
    """What writes ``picture`` as ``fmt`` with ``like``'s metadata and encoding choices to a file object."""
    options = _save_options(picture, fmt, like, quality)
    if fmt == "JPEG" and like is not None and like.jpeg_app13:
        segments = like.jpeg_app13
        return lambda fp: _save_jpeg(fp, picture, options, segments)
    if fmt == "PNG" and like is not None and like.png_colour:
        colour = like.png_colour

        def write_png(fp: IO[bytes]) -> None:
            fp.write(deepio.with_chunks(_encoded(picture, fmt, options), colour))
        return write_png
    return lambda fp: picture.save(fp, format=fmt, **options)


def _encoded(picture: Image.Image, fmt: str, options: dict) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _save_jpeg(fp: IO[bytes], image: Image.Image, options: dict, segments: tuple[bytes, ...]) -> None:
    """Pillow's JPEG of ``image`` with ``segments`` after the application segments it starts with."""
    jpeg = _encoded(image, "JPEG", options)
    end = 2                                                    # after SOI
    while jpeg[end] == 0xFF and 0xE0 <= jpeg[end + 1] <= 0xEF:   # APP0 to APP15: marker, then length
        end += 2 + int.from_bytes(jpeg[end + 2:end + 4], "big")
    fp.write(jpeg[:end] + b"".join(segments) + jpeg[end:])


def check_writable(image: Image.Image | np.ndarray, path: PathLike) -> None:
    """Raise what `save_image` would for ``path``'s extension and ``image``'s mode and depth, so that
    a caller refuses before the work rather than after it."""
    path = Path(path)
    fmt = _output_format(path)
    if _deep_colour(image):
        _check_deep(fmt, path)
    else:
        _fit_mode(_as_pil(image, path), fmt, path)


def misnamed(loaded: LoadedImage) -> str | None:
    """How ``loaded``'s file name misleads, when its extension names another format than its content's
    ("a PNG file named .jpg"); None when it does not."""
    named = _WRITE_FORMATS.get(loaded.path.suffix.lower())
    real = "JPEG" if loaded.format == "MPO" else loaded.format
    return f"a {real} file named {loaded.path.suffix}" if named and real and named != real else None


def copy_changes(loaded: LoadedImage, path: PathLike) -> list[str]:
    """What a copy of ``loaded`` written to ``path`` does not keep of the source, a line each: a lossy TIFF
    compression; the source's format, when the source's name says the copy's; a JPEG's extended XMP; an
    XMP too long for a JPEG copy."""
    path, changes = Path(path), []
    fmt = _output_format(path)
    if fmt == "TIFF" and loaded.tiff_lossy:
        changes.append(f"{path}: written with lossless Deflate compression, not the source's {loaded.tiff_lossy} "
                       "(which could erase the mark)")
    lie = misnamed(loaded)
    if lie and _WRITE_FORMATS.get(loaded.path.suffix.lower()) == fmt:
        changes.append(f"{loaded.path}: {lie}; its copy {path} is written as {fmt}, as its name says")
    if loaded.extended_xmp:
        changes.append(f"{loaded.path}: its extended XMP ({loaded.extended_xmp:,} bytes) is left out of the copy: it "
                       "may hold the unmarked picture (a phone's GImage:Data) or its previews")
    xmp = loaded.info.get("xmp")
    if fmt == "JPEG" and xmp and _xmp_too_long(xmp):
        changes.append(f"{loaded.path}: its XMP ({len(_as_bytes(xmp)):,} bytes) is more than a JPEG segment holds; "
                       "the copy carries none of it (a .png, .webp or .tif copy would)")
    return changes


def extension_of(source_format: str) -> str | None:
    """The output extension that writes a file read as ``source_format`` (Pillow's name) in its own format
    (an MPO's primary picture as a JPEG), the first `_WRITE_FORMATS` lists for it; None for one not written."""
    wanted = "JPEG" if source_format == "MPO" else source_format
    return next((extension for extension, fmt in _WRITE_FORMATS.items() if fmt == wanted), None)


def _output_format(path: Path) -> str:
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = "is read but not written" if path.suffix.lower() in IMAGE_EXTENSIONS else "is not an image extension"
        raise ParameterError(f"{path}: {path.suffix!r} {what}; write one of {', '.join(sorted(OUTPUT_EXTENSIONS))}")
    return fmt


def _deep_colour(image: Image.Image | np.ndarray) -> TypeGuard[np.ndarray]:
    """A uint16 colour array, as `load_image` gives for a 16-bit colour file."""
    return isinstance(image, np.ndarray) and image.dtype == np.uint16 and image.ndim == 3 and image.shape[2] in (3, 4)


def _check_deep(fmt: str, path: Path) -> None:
    if fmt not in deepio.FORMATS:
        raise InvalidImageError(f"{path}: {fmt} holds 8 bits per channel and this 16-bit colour image has more; "
                                f"save as {_SUGGEST['deep']}, or convert to 8-bit first")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _as_pil(image: Image.Image | np.ndarray, path: Path) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    shape: tuple[int, ...] = getattr(image, "shape", ())
    dtype = getattr(image, "dtype", None)
    if (dtype == np.uint8 and (len(shape) == 2 or (len(shape) == 3 and shape[2] in (2, 3, 4)))
            or (dtype == np.uint16 and len(shape) == 2)):
        return Image.fromarray(image)
    raise InvalidImageError(f"{path}: cannot save {type(image).__name__} {dtype} {shape}; give a PIL image, "
                            "a uint8 array (H, W[, 2|3|4]) or a uint16 array (H, W)")


def _fit_mode(image: Image.Image, fmt: str, path: Path) -> Image.Image:
    """Convert ``image`` to a mode ``fmt`` holds, only when no information is lost; else refuse."""
    mode, native = image.mode, _NATIVE[fmt]
    if mode in native and not (fmt in ("JPEG", "BMP") and image.has_transparency_data):
        return image
    if mode == "I;16L" and fmt == "PNG":     # Pillow writes 16-bit grey PNG from I;16, not I;16L: same values
        same = Image.frombytes("I;16", image.size, np.asarray(image).astype("<u2").tobytes())
        same.info.update(image.info)
        return same
    if mode == "F":
        raise InvalidImageError(f"{path}: {fmt} cannot hold floating-point samples (mode F); save as .tiff, or "
                                "convert to 8 or 16 bits first")
    if mode in _DEEP:
        raise InvalidImageError(f"{path}: {fmt} holds 8 bits per channel and this {mode} image has more; "
                                f"save as {_SUGGEST['deep']}, or convert to 8-bit first")
    if mode == "CMYK":
        raise InvalidImageError(f"{path}: {fmt} cannot hold CMYK; save as {_SUGGEST['CMYK']}")
    grey = mode in ("1", "L", "LA")
    if image.has_transparency_data:
        for target in (("LA", "RGBA") if grey else ("RGBA",)):
            if target in native:
                return image.convert(target)
        lowest, _ = image.convert("RGBA").getchannel("A").getextrema()
        assert isinstance(lowest, int | float)        # one band: (min, max), not a pair per band
        if lowest < 255:
            raise InvalidImageError(f"{path}: {fmt} cannot store transparency and this image has some; "
                                    f"save as {_SUGGEST['alpha']}, or flatten it first")
    for target in (("L", "RGB") if grey else ("RGB",)):
        if target in native:
            return image.convert(target)
    raise InvalidImageError(f"{path}: {fmt} holds at most 256 colours; this {mode} image would be "
                            f"quantised; save as {_SUGGEST['colour']}")


def _icc_fits(icc: bytes, mode: str) -> bool:
    """Whether the profile's colour space (header bytes 16-19) is the image's: no grey profile on RGB."""
    grey = mode in ("1", "L", "LA") or mode in _DEEP
    return icc[16:20] == (b"CMYK" if mode == "CMYK" else b"GRAY" if grey else b"RGB ")


def _without_sub_ifds(exif: bytes) -> bytes:
    """``exif`` without its camera and GPS sub-directories: libtiff, which writes a compressed TIFF for
    Pillow, cannot write them (it refused the whole file), as 16-bit TIFF outputs drop them too."""
    tags = Image.Exif()
    tags.load(exif)
    if not any(ifd in tags for ifd in _SUB_IFDS):
        return exif
    for ifd in _SUB_IFDS:
        tags.pop(ifd, None)
    return tags.tobytes()


def _exif_in_one_segment(exif: bytes, like: LoadedImage | None) -> bytes:
    """``exif``, longer than one JPEG segment holds (exiftool spreads a large one over several), as its tags
    that Pillow reads serialised anew (IFD0, the camera and GPS sub-directories); nothing when even they do
    not fit. Said in a warning: the JPEG encoder refused the file, and a batch stopped there."""
    tags = Image.Exif()
    tags.load(exif)
    for ifd in _SUB_IFDS:
        if ifd in tags:
            tags.get_ifd(ifd)                 # read now: serialised as directories, not as stale offsets
    tags.pop(ExifTags.Base.JpegIFOffset, None)
    rewritten = tags.tobytes()
    kept = rewritten if len(rewritten) <= _JPEG_SEGMENT_BYTES else b""
    source = like.path if like is not None else "the source"
    warnings.warn(f"{source}: its EXIF ({len(exif):,} bytes) is more than a JPEG segment holds; the copy carries "
                  + (f"the tags Pillow reads of it ({len(kept):,} bytes), not the rest" if kept else "none of it"),
                  FiligraneWarning, stacklevel=4)
    return kept


def _as_bytes(text: bytes | str) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else text


def _xmp_too_long(xmp: bytes | str) -> bool:
    """Whether ``xmp`` is more than a JPEG's one XMP segment holds (the JPEG encoder refused the file, after
    the marking): left out of a JPEG copy, said by `copy_changes`."""
    return len(_as_bytes(xmp)) > _JPEG_SEGMENT_BYTES - len(_XMP_HEADER)


def _save_options(image: Image.Image, fmt: str, like: LoadedImage | None, quality: int | None) -> dict:
    meta = like.info if like is not None else _carried_info(image, image.format or "", upright=False)
    icc = meta.get("icc_profile")
    options: dict[str, Any] = {"icc_profile": icc if icc and _icc_fits(icc, image.mode) else None}
    exif, xmp = meta.get("exif") or b"", meta.get("xmp")
    if fmt == "TIFF" and exif and like is not None and like.tiff_compression:
        exif = _without_sub_ifds(exif)
    if fmt == "TIFF" and xmp:  # Pillow writes a TIFF's tags from its EXIF: XMP is tag 700
        tags = Image.Exif()
        tags.load(exif)
        tags[700] = _as_bytes(xmp)
        options["exif"] = tags
    elif exif or fmt != "TIFF":
        if fmt == "JPEG" and len(exif) > _JPEG_SEGMENT_BYTES:
            exif = _exif_in_one_segment(exif, like)
        options["exif"] = exif  # b"" too: it stops Pillow falling back to image.info
    if meta.get("dpi"):
        options["dpi"] = meta["dpi"]
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality or _kept_quality(fmt, like) or DEFAULT_QUALITY
        if xmp and fmt == "JPEG" and _xmp_too_long(xmp):
            xmp = None
        if xmp:
            options["xmp"] = xmp
    png_text = like.png_text if fmt == "PNG" and like is not None else ()
    if fmt == "PNG" and (xmp or png_text):
        text = PngImagePlugin.PngInfo()
        if xmp:
            text.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp)
        for kind, data in png_text:
            text.add(kind, data)
        options["pnginfo"] = text
    if fmt == "JPEG" and like is not None and like.jpeg_progressive:
        options["progressive"] = True
    if fmt == "JPEG" and like is not None and like.jpeg_subsampling is not None and image.mode == "RGB":
        options["subsampling"] = like.jpeg_subsampling
    if fmt == "WEBP" and like is not None and like.webp_lossless:
        options.update(lossless=True, exact=True)  # exact: keep colours under transparent pixels
    if fmt == "TIFF":   # said each time: else Pillow takes the image's own info, a lossy source's "jpeg"
        options["compression"] = (like.tiff_compression if like is not None else None) or "raw"
    return options


class _WithoutDescriptor:
    """A file an encoder writes through its ``write``, not its descriptor: Pillow writes to the descriptor
    of a file that has one in C, and takes a short write (a full disk's last block, a file-size limit) for
    a whole one, which left a truncated image under the final name; Python's own file raises."""

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


def _write_atomic(path: Path, write: Callable[[IO[bytes]], None], fmt: str, overwrite: bool,
                  finish: Callable[[bytes], bytes] | None = None) -> None:
    """``write`` the file into a temporary file beside ``path`` (through ``finish``, when given: encoded
    in memory, then finished), then move it into place."""
    directory = path.parent
    temp = atomic.temporary(path)
    try:
        # os.open applies the umask to 0o666, so the output gets the usual permissions
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileNotFoundError as exc:
        if not directory.is_dir():
            raise ImageFileError(f"{path}: directory {str(directory)!r} does not exist") from None
        raise ImageFileError(f"{path}: cannot write in {str(directory)!r} ({exc.strerror})") from None
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot write in {str(directory)!r} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(descriptor, "wb") as fp:
            try:
                if finish is None:
                    write(cast(IO[bytes], _WithoutDescriptor(fp)))
                else:
                    encoded = io.BytesIO()
                    write(encoded)
                    fp.write(finish(encoded.getvalue()))
            except Exception as exc:
                if _os_error(exc) or not _raised_by_pillow(exc):
                    raise
                raise InvalidImageError(f"{path}: cannot encode as {fmt} ({type(exc).__name__}: {exc})") from None
            fp.flush()
            os.fsync(fp.fileno())
        if overwrite:
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(os.stat(path).st_mode))  # keep a replaced file's permissions
            os.replace(temp, path)
        else:
            _move_no_clobber(temp, path)
    except OSError as exc:
        if isinstance(exc, WatermarkError):
            raise
        raise ImageFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    with contextlib.suppress(OSError):  # make the rename durable, where a directory can be synced
        folder = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _move_no_clobber(temp: Path, path: Path) -> None:
    """Move ``temp`` to ``path`` unless ``path`` exists (`atomic.link_new`)."""
    try:
        atomic.link_new(temp, path)
    except FileExistsError:
        raise OutputExistsError(exists_message(path)) from None


def exists_message(path: PathLike) -> str:
    """The one line that refuses to replace the existing ``path`` without being asked."""
    return f"{path}: already exists; pass overwrite=True (--overwrite) to replace it"


def left_out_line(left_out: Counter[str]) -> str | None:
    """The line that says which pictures of a format Filigrane does not read a walk left out, or None."""
    if not left_out:
        return None
    counts = ", ".join(f"{extension} {count}" for extension, count in sorted(left_out.items()))
    total = left_out.total()
    return (f"left out {total} file{'s' if total > 1 else ''} of a format Filigrane does not read ({counts}): "
            "convert them to JPEG, PNG or TIFF first")


def no_image_files(where: str, left_out: Counter[str] | None = None) -> str:
    """The one line of a batch that found nothing to read in ``where``, with what its walk left out."""
    said = left_out_line(left_out or Counter())
    return f"no image files in {where}" + (f"; {said}" if said else "")


NUL_IN_NAME = ("no file name holds a NUL byte: a list of paths gives one a line (find -print0 | tr '\\0' "
               "'\\n')")


def iter_image_files(paths: PathLike | Iterable[PathLike], *, recursive: bool = True,
                     left_out: Counter[str] | None = None, follow_links: bool = False,
                     unlisted: list[Unlisted] | None = None) -> Iterator[Path]:
    """Expand files and directories into image files, for batch commands; each file once.

    A file named explicitly is yielded whatever its extension (a missing one too, so that the batch
    reports it); a directory gives its files with an image extension (any case), hidden names
    (``.git``, macOS ``._photo.jpg``) skipped, sorted by name, files before sub-directories, which are
    entered when ``recursive``. Symbolic links to directories are followed once each with ``follow_links``
    (what reads, as a scan's walk: a link back to one already listed, a loop, is not entered), never
    otherwise (what writes: ``embed --in-place`` rewrote pictures a link reached outside the folder named,
    and ``-o`` inside a linked folder marked its own outputs again). ``left_out`` counts, by
    extension, the pictures of a format Filigrane does not read (`UNREAD_EXTENSIONS`) that it leaves out;
    ``unlisted`` receives the directories the walk could not list and the links it did not enter again
    (without it, a `WatermarkError` names the first).
    """
    seen: set[str] = set()
    for item in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        root = Path(item)
        if not root.is_dir():
            candidates: Iterable[Path] = [root]
        else:
            candidates = (Path(path) for path in _listed(str(root), recursive, left_out, follow_links, unlisted))
        for candidate in candidates:
            key = str(candidate) if "\0" in str(candidate) else os.path.realpath(candidate)   # load_image says so
            if key not in seen:
                seen.add(key)
                yield candidate


def printable(path: str) -> str:
    """``path`` (or a command line) as valid UTF-8: undecodable bytes (surrogate escapes) become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class Unlisted(NamedTuple):
    """A directory a walk could not list, or a link to one it listed already, and the line that says so."""

    path: Path
    problem: str


def _listed(root: str, recursive: bool, left_out: Counter[str] | None, follow_links: bool,
            unlisted: list[Unlisted] | None) -> Iterator[str]:
    for path, problem in walk(root, recursive=recursive, left_out=left_out, follow_links=follow_links):
        if problem is None:
            yield path
        elif unlisted is None:
            raise WatermarkError(problem)
        else:
            unlisted.append(Unlisted(Path(path), problem))


def walk(root: str, *, recursive: bool, left_out: Counter[str] | None,
         follow_links: bool) -> Iterator[tuple[str, str | None]]:
    """The image files under the directory ``root``, each as ``(path, None)`` (`walked`: hidden names
    skipped, pictures of a format not read counted in ``left_out``), sorted by name, files before
    sub-directories, entered when ``recursive``; and each directory that cannot be listed, or link to a
    directory listed already (a loop, or the same directory twice: not entered again), as ``(path,
    the line that says so)``. Symbolic links to directories are followed when ``follow_links``."""
    problems: list[tuple[str, str | None]] = []
    listed: set[tuple[int, int]] = set()         # (device, inode) of every directory listed: a few per thousand files

    def report(exc: OSError) -> None:
        where = exc.filename if isinstance(exc.filename, str) else root
        problems.append((where, f"{printable(where)}: cannot list directory ({exc.strerror or exc}); check its "
                                "permissions"))

    def first_time(folder: str) -> bool:
        if not follow_links and os.path.islink(folder):
            return False                         # never entered
        try:
            status = os.stat(folder)
        except OSError:
            return True                          # os.walk reports what cannot be listed
        identity = (status.st_dev, status.st_ino)
        if identity in listed:
            problems.append((folder, f"{printable(folder)}: a symbolic link to a directory listed already (a loop, "
                                     "or the same directory twice); not listed again"))
            return False
        listed.add(identity)
        return True

    first_time(root)
    for folder, dirnames, filenames in os.walk(root, onerror=report, followlinks=follow_links):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and first_time(os.path.join(folder, d))
                             ) if recursive else []
        yield from problems
        problems.clear()
        for name in sorted(filenames):
            if walked(name, left_out):
                yield os.path.join(folder, name), None
    yield from problems


def walked(name: str, left_out: Counter[str] | None) -> bool:
    """Whether a folder's walk takes the file ``name``: not hidden, an image extension Filigrane reads. A
    picture of a format it does not read (`UNREAD_EXTENSIONS`) is counted in ``left_out``, by extension."""
    if name.startswith("."):
        return False
    extension = os.path.splitext(name)[1].lower()
    if extension in UNREAD_EXTENSIONS and left_out is not None:
        left_out[extension] += 1
    return extension in IMAGE_EXTENSIONS
