"""An image encoded as the format its output's extension names, with its source's metadata and choices.

`output_format` is the format an extension names (or a one-line refusal); `writer` writes an image in it.
A mode the format cannot hold is converted only when nothing is lost (1 -> L, P -> RGB, LA -> RGBA, fully
opaque alpha dropped); otherwise the save is refused, naming formats that work: transparency into
JPEG, BMP or GIF, 16-bit or float into JPEG, WebP, GIF or BMP, CMYK outside JPEG and TIFF, colour
into GIF; `check_writable` raises that refusal before the work. A JPEG from a JPEG source keeps its
quality (estimated from its quantisation tables, see `jpegquality`; else 95, or ``quality`` when given:
`kept_quality`), progressive encoding and chroma subsampling
(4:4:4 for one Pillow does not write, 4:4:0 or 4:1:1); WebP is lossless when the source WebP was
(the quality of a lossy WebP cannot be read back: 95 unless ``quality`` is given); TIFF keeps a
source TIFF's lossless compression (a lossy one's copy is Deflate).
An output of the source's format also keeps, byte for byte, a JPEG's APP13 segments (IPTC: byline,
copyright) and a PNG's text chunks (tEXt, iTXt, zTXt); another format drops them, as a format without
a place for XMP or DPI drops those. 16-bit colour is written by `deepio`, the rest by Pillow.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeGuard

import numpy as np
from PIL import Image, PngImagePlugin

from . import deepio, metadata
from .errors import FiligraneWarning, InvalidImageError, ParameterError
from .imageformats import IMAGE_EXTENSIONS, OUTPUT_EXTENSIONS, OUTPUT_FORMATS
from .imageio import LoadedImage

__all__ = ["DEFAULT_QUALITY", "output_format", "check_writable", "writer", "kept_quality"]

PathLike = str | os.PathLike

_DEEP = {"I;16", "I;16B", "I;16L", "I", "F"}
_NATIVE = {"JPEG": {"L", "RGB", "CMYK"},
           "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B", "I"},
           "WEBP": {"RGB", "RGBA"},
           "TIFF": {"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I;16L", "I", "F"},
           "BMP": {"1", "L", "P", "RGB"},  # Pillow reads 32-bit BMP back as RGB
           "GIF": {"1", "L", "P"}}
_SUGGEST = {"alpha": ".png, .webp or .tiff", "deep": ".png or .tiff", "CMYK": ".jpg or .tiff",
            "colour": ".png, .webp or .jpg"}
DEFAULT_QUALITY = 95   # JPEG and WebP, when the source's cannot be known
_NO_ICC = ("BMP", "GIF")  # formats Pillow writes without an ICC profile


def writer(image: Image.Image | np.ndarray, path: Path, fmt: str, like: LoadedImage | None,
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


def kept_quality(fmt: str, like: LoadedImage | None) -> int | None:
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
    fmt = output_format(path)
    if _deep_colour(image):
        _check_deep(fmt, path)
    else:
        _fit_mode(_as_pil(image, path), fmt, path)


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
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


def _save_options(image: Image.Image, fmt: str, like: LoadedImage | None, quality: int | None) -> dict:
    meta = like.info if like is not None else metadata.carried_info(image, image.format or "", upright=False)
    icc = meta.get("icc_profile")
    options: dict[str, Any] = {"icc_profile": icc if icc and _icc_fits(icc, image.mode) else None}
    exif, xmp = meta.get("exif") or b"", meta.get("xmp")
    if fmt == "TIFF" and exif and like is not None and like.tiff_compression:
        exif = metadata.without_sub_ifds(exif)
    if fmt == "TIFF" and xmp:  # Pillow writes a TIFF's tags from its EXIF: XMP is tag 700
        tags = Image.Exif()
        tags.load(exif)
        tags[700] = metadata.xmp_bytes(xmp)
        options["exif"] = tags
    elif exif or fmt != "TIFF":
        if fmt == "JPEG" and len(exif) > metadata.JPEG_SEGMENT_BYTES:
            exif = metadata.exif_in_one_segment(exif, str(like.path) if like is not None else "the source")
        options["exif"] = exif  # b"" too: it stops Pillow falling back to image.info
    if meta.get("dpi"):
        options["dpi"] = meta["dpi"]
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality or kept_quality(fmt, like) or DEFAULT_QUALITY
        if xmp and fmt == "JPEG" and metadata.xmp_too_long(xmp):
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
