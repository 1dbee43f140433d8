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

Opening a file as a format Filigrane reads, and what Pillow does not say of it, is `imageopen`'s job;
the pixel limit (``max_pixels``'s default) and Pillow's own, process-wide, are `pixellimit`'s. Writing
image files is `imagewrite`'s job, listing a folder's `listing`'s, which extensions name which formats
`imageformats`', and the metadata a copy keeps (read here into ``LoadedImage``) `metadata`'s.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
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
from .imageopen import (
    arithmetic_jpeg,
    jpeg_frame,
    open_image,
    raised_by_file_system,
    raised_by_pillow,
    unread_tiff,
    webp_codec,
)
from .pixellimit import DEFAULT_MAX_PIXELS, bomb_message, environment_problem, pillow_limit_at, pillow_own_limit

__all__ = ["NUL_IN_NAME", "LoadedImage", "load_image", "load_image_bytes"]

PathLike = str | os.PathLike

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr",
          "I;16", "I;16B", "I;16L", "I", "F"}
_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "CMYK", "I", "F"}
_LOSSLESS_TIFF = {"tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
_LOSSY_TIFF = {"jpeg", "tiff_jpeg", "webp"}
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
        raise InvalidImageError(bomb_message(path, size, max_pixels)) from None
    except Image.UnidentifiedImageError:
        fp.seek(0)
        if fp.read(4) in _TIFF_MAGIC:    # Pillow's TIFF reader knows the file, not its sample layout
            raise InvalidImageError(unread_tiff(path, fp)) from None
        frame = jpeg_frame(fp)
        if frame is not None and frame[1] != 8:
            raise InvalidImageError(f"{path}: a {frame[1]}-bit JPEG, which Filigrane does not read (only 8-bit "
                                    "JPEGs); convert it to a 16-bit TIFF or PNG, or to an 8-bit JPEG") from None
        raise InvalidImageError(f"{path}: not an image file, or not a format Filigrane reads "
                                "(JPEG, PNG, WebP, TIFF, GIF, BMP, AVIF)") from None
    except Exception as exc:
        if not (raised_by_file_system(exc) or raised_by_pillow(exc)):
            raise   # a bug of ours keeps its traceback rather than reading as "corrupt image"
        raise _decode_error(path, exc) from None


def _decode_error(path: Path, exc: BaseException) -> WatermarkError:
    if raised_by_file_system(exc):
        return ImageFileError(f"{path}: cannot read ({exc.strerror or exc})")
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return InvalidImageError(f"{path}: truncated file, the image data ends early ({exc}); "
                                 "copy or export it again")
    return InvalidImageError(f"{path}: corrupt image data ({type(exc).__name__}: {exc})")


def _decode(path: Path, fp: IO[bytes], max_pixels: int | None, animated: str,
            reduce_to: int | None, luminance: bool) -> LoadedImage:
    im = open_image(fp, max_pixels)
    width, height = im.size
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImageError(bomb_message(path, f"{width}x{height} px = {width * height:,} pixels",
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
    pillow_limit = pillow_own_limit()
    if pillow_limit is not None and width * height > pillow_limit:
        with pillow_limit_at(max_pixels):              # Pillow checks again while decoding a TIFF
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
    if jpeg and arithmetic_jpeg(fp):    # libjpeg's arithmetic decoder cannot wait for more data: give it all
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
                       webp_lossless=source_format == "WEBP" and webp_codec(fp) == b"VP8L",
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
