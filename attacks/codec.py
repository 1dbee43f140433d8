"""Lossy codecs and what platforms do to files: JPEG, WebP, AVIF, metadata stripping, screenshots.

Codecs go through Pillow, on RGB (or L) at 8 bits: a 16-bit image is rounded to 8 bits for the
codec and handed back as 16 bits (its values are then multiples of 257), since none of JPEG, WebP
and AVIF as platforms use them carries more. Alpha is kept aside and put back untouched.
:func:`encoded` gives the file a codec attack decodes, to keep it as it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, features

from watermark.errors import MissingExtraError
from watermark.image import image_op, to_float

from ._spec import SPECS, Param, registered

__all__ = ["jpeg", "jpeg_bytes", "webp", "avif", "strip_metadata", "screenshot", "encoded", "roundtrip", "EXTENSIONS"]

EXTENSIONS = {"jpeg": (".jpg", ".jpeg"), "webp": (".webp",), "avif": (".avif",)}   # codec attack -> its files

_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def _to_pil8(pixels: np.ndarray) -> Image.Image:
    array = cv2.convertScaleAbs(np.maximum(pixels, 0.0), alpha=255.0)   # rounds and saturates
    return Image.fromarray(array)


def _from_pil8(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) * np.float32(1.0 / 255.0)


def _encode(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    _to_pil8(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def roundtrip(pixels: np.ndarray, fmt: str, **options: object) -> np.ndarray:
    """``pixels`` (float32 in [0, 1], ``(H, W)`` grey or ``(H, W, 3)`` RGB) rounded to 8 bits, encoded by
    Pillow as ``fmt`` (``"JPEG"``, ``"WEBP"``, ``"AVIF"``) with its save ``options``, and decoded again:
    float32 in [0, 1], the same shape. The codec attacks' common step, without their parameter checks."""
    with Image.open(io.BytesIO(_encode(pixels, fmt, **options))) as decoded:
        decoded.load()
        mode = "L" if pixels.ndim == 2 else "RGB"
        return _from_pil8(decoded.convert(mode) if decoded.mode != mode else decoded)


@registered(family="codec", primary="quality",
            quality=Param(int, 1, 100, doc="libjpeg quality factor, as StirMark's JPEG test"),
            subsampling=Param(str, choices=tuple(_SUBSAMPLING), doc="chroma subsampling of colour images"))
@image_op
def jpeg(image: np.ndarray, *, quality: int = 75, subsampling: str = "4:2:0") -> np.ndarray:
    """Compress to JPEG with Pillow (libjpeg) and decode again.

    Parameters
    ----------
    quality : int
        1 to 100, the libjpeg (IJG) quality factor: the quantisation tables a decoder reads back
        are the IJG tables scaled for this quality. StirMark Benchmark 4.0's JPEG test uses
        {15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 90, 100}.
    subsampling : {"4:2:0", "4:2:2", "4:4:4"}
        Chroma subsampling of colour images (platforms use 4:2:0); ignored for grayscale.

    Examples
    --------
    >>> import numpy as np
    >>> jpeg(np.full((16, 16, 3), 128, np.uint8), quality=50).dtype
    dtype('uint8')
    """
    return roundtrip(image, "JPEG", **_jpeg_options(image, quality, subsampling))


def _jpeg_options(pixels: np.ndarray, quality: int, subsampling: str) -> dict[str, object]:
    options: dict[str, object] = {"quality": quality, "optimize": False}
    if pixels.ndim == 3:
        options["subsampling"] = _SUBSAMPLING[subsampling]
    return options


def jpeg_bytes(image: object, *, quality: int = 75, subsampling: str = "4:2:0") -> bytes:
    """The JPEG file that :func:`jpeg` decodes, for a look at its size or its tables (alpha dropped).

    Examples
    --------
    >>> import numpy as np
    >>> jpeg_bytes(np.zeros((8, 8), np.uint8), quality=90)[:2]
    b'\\xff\\xd8'
    """
    return encoded(image, "jpeg", {"quality": quality, "subsampling": subsampling})


@registered(family="codec", primary="quality",
            quality=Param(int, 1, 100, doc="libwebp quality"),
            lossless=Param(bool, doc="lossless WebP (only 8-bit rounding then)"))
@image_op
def webp(image: np.ndarray, *, quality: int = 80, lossless: bool = False) -> np.ndarray:
    """Compress to WebP with Pillow (libwebp) and decode again.

    Parameters
    ----------
    quality : int
        1 to 100, libwebp's quality (lossy WebP always subsamples chroma 4:2:0).
    lossless : bool
        Lossless WebP: only the rounding to 8 bits remains.
    """
    return roundtrip(image, "WEBP", **_webp_options(image, quality, lossless))


def _webp_options(pixels: np.ndarray, quality: int, lossless: bool) -> dict[str, object]:
    return {"quality": quality, "lossless": lossless, "method": 4}


@registered(family="codec", primary="quality",
            quality=Param(int, 1, 100, doc="Pillow's AVIF quality (libavif)"))
@image_op
def avif(image: np.ndarray, *, quality: int = 50) -> np.ndarray:
    """Compress to AVIF (an AV1 still image) with Pillow and decode again.

    AV1's large transforms and in-loop filters (deblocking, CDEF, loop restoration) smooth what JPEG
    keeps as blocks; CDNs and browsers serve it in place of JPEG. Encoded as web encoders do (chroma
    4:2:0, Pillow's default speed 6), on one thread so that a run gives the same bytes.

    Parameters
    ----------
    quality : int
        1 to 100, Pillow's AVIF quality (75 its default; lower, smaller files and a smoother image).

    Raises
    ------
    MissingExtraError
        This Pillow was built without AVIF (Pillow 11.3 and later ship it in their wheels).
    """
    return roundtrip(image, "AVIF", **_avif_options(image, quality))


def _avif_options(pixels: np.ndarray, quality: int) -> dict[str, object]:
    """Pillow's AVIF options; MissingExtraError when this Pillow cannot write AVIF."""
    if not features.check("avif"):
        raise MissingExtraError(f"avif: this Pillow ({Image.__version__}) cannot write AVIF; "
                                "pip install 'Pillow>=11.3'")
    return {"quality": quality, "subsampling": "4:2:0", "max_threads": 1}


_CODECS: dict[str, tuple[str, Callable[..., dict[str, object]]]] = {   # attack -> Pillow's format, its options
    "jpeg": ("JPEG", _jpeg_options), "webp": ("WEBP", _webp_options), "avif": ("AVIF", _avif_options)}


def encoded(image: object, attack: str, params: dict[str, object], **metadata: object) -> bytes:
    """The file that the codec attack ``attack`` (a key of :data:`EXTENSIONS`) with ``params`` decodes,
    alpha dropped; ``metadata`` (Pillow's ``exif``, ``icc_profile``) goes beside the pixels, unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> encoded(np.zeros((8, 8), np.uint8), "webp", {"quality": 50})[8:12]
    b'WEBP'
    """
    fmt, options = _CODECS[attack]
    chosen = {**SPECS[attack].defaults, **SPECS[attack].check(params)}
    pixels, _ = to_float(image)
    if pixels.ndim == 3:
        pixels = pixels[:, :, :3]
    return _encode(pixels, fmt, **options(pixels, **chosen), **metadata)


@registered(family="codec")
def strip_metadata(image: object) -> object:
    """Drop the metadata a platform drops (EXIF, ICC profile, XMP, comments); pixels untouched.

    A PIL image comes back as a new image with empty ``info``; an array (which has no metadata)
    comes back as a copy.
    """
    if isinstance(image, Image.Image):
        result = image.copy()
        result.info.clear()
        return result
    to_float(image)   # refuses what every other attack refuses
    return np.array(image, copy=True)


@registered(family="codec", primary="scale",
            scale=Param(float, 0.1, 4.0, doc="display scale of the screen"),
            sharpen=Param(float, 0.0, 3.0, doc="unsharp-mask amount of the display pipeline"))
@image_op(geometric=True)
def screenshot(image: np.ndarray, *, scale: float = 0.8, sharpen: float = 0.5) -> np.ndarray:
    """What a screenshot of a displayed image keeps: resampled, sharpened, 8-bit RGB (PNG).

    Parameters
    ----------
    scale : float
        The size on screen relative to the file (0.8: shown at 80 %); the screenshot has that size.
    sharpen : float
        Amount of the unsharp mask (radius 1 px) that viewers and browsers apply when resampling.
    """
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    shown = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if sharpen > 0:   # on the colours; alpha (a fourth channel here) is only resampled
        colour = shown[:, :, :3] if shown.ndim == 3 else shown
        blurred = cv2.GaussianBlur(colour, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
        colour = colour + np.float32(sharpen) * (colour - blurred)
        shown = np.concatenate([colour, shown[:, :, 3:]], axis=2) if shown.ndim == 3 else colour
    # PNG of an 8-bit screen capture: the values are rounded to 8 bits.
    return np.rint(np.clip(shown, 0.0, 1.0) * 255.0) / np.float32(255.0)
