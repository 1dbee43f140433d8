"""Pixels at the boundary: any supported image in, float32 in [0, 1] inside, the same kind out.

Supported inputs are numpy arrays ``(H, W)``, ``(H, W, 2)`` (grey and alpha), ``(H, W, 3)`` or
``(H, W, 4)`` of uint8, uint16 or float in [0, 1] (RGB order), and PIL images in modes L, LA, RGB,
RGBA, I;16 (I;16B, I;16L: either byte order), I, CMYK and P.
Palette and CMYK images are worked on as RGB and returned in their own mode; a CMYK image keeps its
black (K) plate, the change going to its cyan, magenta and yellow (K lowered only where a lighter
channel needs it).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import cv2
import numpy as np
from PIL import Image

from .color import luminance, strips
from .errors import InvalidImageError

__all__ = ["PixelFormat", "pixels_of", "to_float", "from_float", "luminance_of", "add_to_luminance", "image_op",
           "shaped_as", "ImageLike", "SIXTEEN_BIT_MODES"]

ImageLike = Any  # numpy.ndarray or PIL.Image.Image
F = TypeVar("F", bound=Callable[..., Any])

_MAXIMUM = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_PIL_WORKING_MODE = {"P": "RGB", "PA": "RGBA", "CMYK": "RGB", "1": "L", "I": "I", "I;16": "I;16",
                     "I;16B": "I;16B", "I;16L": "I;16L", "L": "L", "LA": "LA", "RGB": "RGB",
                     "RGBA": "RGBA", "RGBX": "RGB", "YCbCr": "RGB", "F": "F"}
_SIXTEEN_BITS = {"I;16": "<u2", "I;16B": ">u2", "I;16L": "<u2"}   # Pillow's 16-bit grey modes, their byte order
SIXTEEN_BIT_MODES = tuple(_SIXTEEN_BITS)


@dataclass(frozen=True)
class PixelFormat:
    """What an input image was, so that a result can be handed back in the same kind."""

    dtype: np.dtype            # dtype of the caller's array (uint8, uint16 or a float type)
    channels: int              # 1, 3 or 4 as the caller gave them
    pil_mode: str | None       # the PIL mode when the input was a PIL image
    pil_info: dict | None      # PIL ``info`` (ICC profile, EXIF, ...) to carry over
    plates: np.ndarray | None = field(default=None, repr=False, compare=False)   # a CMYK image's (H, W, 4)

    @property
    def maximum(self) -> float:
        return _MAXIMUM.get(self.dtype, 1.0)


def _pil_to_array(image: Image.Image, name: str) -> tuple[np.ndarray, str]:
    mode = image.mode
    working = _PIL_WORKING_MODE.get(mode)
    if working is None:
        raise InvalidImageError(f"{name}: PIL mode {mode!r} is not supported")
    try:
        image.load()
    except (OSError, ValueError) as exc:      # a truncated or corrupt file opened lazily; a closed image
        raise InvalidImageError(f"{name}: cannot read the PIL image's pixels ({exc})") from None
    if mode == "P" and "transparency" in image.info:
        working = "RGBA"
    if working == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise InvalidImageError(f"{name}: 32-bit integer image with values outside 0..65535")
        if array.size and array.max() <= 255:   # marked as 16 bits, the mark would be 257 times too strong
            raise InvalidImageError(f"{name}: 32-bit integer image whose values stay within 0..255: 8 or 16 bits? "
                                    "convert it to mode 'L' (8 bits) or 'I;16' (16 bits) first")
        return array.astype(np.uint16), mode
    if working == "F":
        return np.asarray(image, dtype=np.float32), mode
    if working != mode:
        image = image.convert(working)
    array = np.asarray(image)
    if working in _SIXTEEN_BITS:     # numpy reads the bytes in their own order; Pillow's convert would not
        array = array.astype(np.uint16)
    return array, mode


def pixels_of(image: ImageLike, *, name: str = "image") -> tuple[np.ndarray, PixelFormat]:
    """The pixels of ``image`` as an array, checked as :func:`to_float` checks them, and their format.

    The array is uint8, uint16 or float in [0, 1], shape ``(H, W)`` or ``(H, W, C)`` with C in
    {2, 3, 4}; an array input is handed back as it is (a view at most), never copied or written.

    Raises
    ------
    InvalidImageError
        Unsupported type, dtype, shape, or float values outside [0, 1].
    """
    pil_mode = pil_info = plates = None
    if isinstance(image, Image.Image):
        pil_info = dict(image.info)
        array, pil_mode = _pil_to_array(image, name)
        if pil_mode == "CMYK":
            plates = np.asarray(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise InvalidImageError(f"{name}: expected a numpy array or PIL image, got {type(image).__name__}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise InvalidImageError(f"{name}: expected shape (H, W), (H, W, 2), (H, W, 3) or (H, W, 4), "
                                f"got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImageError(f"{name}: image has no pixels ({array.shape[1]}x{array.shape[0]})")
    dtype = array.dtype
    if np.issubdtype(dtype, np.floating):
        with np.errstate(over="ignore"):      # what float32 makes of them: 1 + 1e-12 is 1, 1e300 is inf
            low, high = float(np.float32(array.min())), float(np.float32(array.max()))
        if not (np.isfinite(low) and np.isfinite(high)):
            raise InvalidImageError(f"{name}: float image contains NaN or infinity")
        if low < 0.0 or high > 1.0:
            raise InvalidImageError(
                f"{name}: float images must lie in [0, 1], got values in [{low:.6g}, {high:.6g}]; "
                "divide by 255 (or 65535) first")
    elif dtype not in _MAXIMUM:
        swapped = dtype.kind == "u" and not dtype.isnative and dtype.newbyteorder("=") in _MAXIMUM
        raise InvalidImageError(f"{name}: dtype {dtype} is not supported (use uint8, uint16 or float in [0, 1])"
                                + (f"; this one is {dtype.newbyteorder('=')} in the other byte order: "
                                   f".astype(np.{dtype.newbyteorder('=')}) converts it" if swapped else ""))
    channels = 1 if array.ndim == 2 else array.shape[2]
    return array, PixelFormat(dtype=np.dtype(dtype), channels=channels, pil_mode=pil_mode, pil_info=pil_info,
                              plates=plates)


def to_float(image: ImageLike, *, name: str = "image") -> tuple[np.ndarray, PixelFormat]:
    """Convert ``image`` to float32 in [0, 1], shape ``(H, W)`` or ``(H, W, C)``, C in {3, 4}
    (grey with alpha comes as RGBA), always a new array.

    Raises
    ------
    InvalidImageError
        Unsupported type, dtype, shape, or float values outside [0, 1].
    """
    array, fmt = pixels_of(image, name=name)
    return _float_pixels(array), fmt


def _float_pixels(array: np.ndarray) -> np.ndarray:
    """A checked array (see :func:`pixels_of`) as a new float32 array in [0, 1]; grey + alpha as RGBA."""
    if array.ndim == 3 and array.shape[2] == 2:  # grey + alpha: work on it as RGBA
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    if array.dtype in _MAXIMUM:
        return np.multiply(array, np.float32(1.0 / _MAXIMUM[array.dtype]), dtype=np.float32)
    return array.astype(np.float32)  # always a copy: never write into the caller's array


def luminance_of(array: np.ndarray) -> np.ndarray:
    """BT.601 luminance, float32 ``(H, W)``, of a checked array (see :func:`pixels_of`), converted a
    strip of rows at a time: never a float copy of the whole image."""
    luma = np.empty(array.shape[:2], np.float32)
    for rows in strips(array.shape):
        pixels = _float_pixels(array[rows])
        luma[rows] = luminance(pixels)
    return luma


def add_to_luminance(array: np.ndarray, fmt: PixelFormat, change: np.ndarray) -> ImageLike:
    """``array`` (as :func:`pixels_of` gave it, with ``fmt``) with ``change`` (float ``(H, W)``)
    added to R, G and B alike, handed back as :func:`from_float` would, a strip of rows at a time.

    Where the change is mostly under half a level (its RMS is: a smooth, large photograph's mark),
    integer levels are rounded stochastically: a channel that the change moves by a fraction ``f`` of a
    level moves by one level with probability ``f``, so that the change is kept on average instead
    of rounded away. The draws are seeded by the change: the same input gives the same output; no
    change, no noise. A change of a level or more is rounded to the nearest level."""
    plain = replace(fmt, pil_mode=None, pil_info=None)
    levels = _MAXIMUM.get(np.dtype(fmt.dtype))
    rms = float(np.sqrt(np.mean(np.square(change[::7, ::7], dtype=np.float64))))
    # the stochastic rounding's spread: just under a level, so that a zero change never moves a pixel
    spread = np.float32(0.998 / levels) if levels is not None and rms < 0.5 / levels else None
    dither = np.random.default_rng(zlib.crc32(np.ascontiguousarray(change[::61, ::59]).tobytes()))
    key = _colour_key(fmt)
    result = None
    for rows in strips(array.shape):
        pixels = _float_pixels(array[rows])
        colour = pixels if pixels.ndim == 2 else pixels[:, :, :3]       # a view: alpha untouched
        colour += change[rows] if pixels.ndim == 2 else change[rows, :, None]
        if spread is not None:      # rounded up with the probability of the fraction: kept on average
            noise = dither.random(colour.shape, dtype=np.float32)
            noise -= np.float32(0.5)
            noise *= spread
            colour += noise
        part = from_float(pixels, plain)
        if key is not None:
            _keep_colour_key(part, array[rows], key)
        if result is None:
            result = np.empty(array.shape[:2] + part.shape[2:], part.dtype)
        result[rows] = part
    assert result is not None      # pixels_of refused an image without rows: strips() gave at least one
    return result if fmt.pil_mode is None else _array_to_pil(result, fmt)


def _colour_key(fmt: PixelFormat) -> np.ndarray | None:
    """The colour an L or RGB PIL image shows transparent (PNG's tRNS: ``info["transparency"]``), or None."""
    key = (fmt.pil_info or {}).get("transparency")
    if fmt.pil_mode == "L" and isinstance(key, int) or fmt.pil_mode == "RGB" and isinstance(key, tuple):
        return np.array(key, dtype=fmt.dtype)
    return None


def _keep_colour_key(marked: np.ndarray, original: np.ndarray, key: np.ndarray) -> None:
    """The pixels of ``original`` that had the transparent colour ``key`` get it back in ``marked``; those
    the mark moved onto it move one level off (their first channel), so that transparency is as it was."""
    def keyed(pixels: np.ndarray) -> np.ndarray:
        return np.all(pixels == key, axis=-1) if pixels.ndim == 3 else pixels == key

    was = keyed(original)
    landed = keyed(marked) & ~was
    marked[was] = key
    channel = marked[landed] if marked.ndim == 2 else marked[landed, 0]
    moved = np.where(channel < np.iinfo(marked.dtype).max, channel + 1, channel - 1).astype(marked.dtype)
    if marked.ndim == 2:
        marked[landed] = moved
    else:
        marked[landed, 0] = moved


def from_float(pixels: np.ndarray, fmt: PixelFormat) -> ImageLike:
    """Hand ``pixels`` (float in [0, 1]) back in the kind, dtype and mode that ``fmt`` describes.

    Values are clipped to [0, 1] and rounded (never truncated) for integer types.
    """
    if fmt.channels == 1 and pixels.ndim == 3:
        pixels = luminance(pixels)
    elif fmt.channels == 2:
        pixels = np.stack([luminance(pixels), pixels[:, :, 3]], axis=2)
    elif fmt.channels in (3, 4) and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    array = _quantise(pixels, fmt.dtype)
    if fmt.pil_mode is None:
        return array
    return _array_to_pil(array, fmt)


def _quantise(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip to [0, 1] and convert to ``dtype``, rounding to the nearest level for integer types."""
    if dtype == np.uint8:  # the common case, in one pass: OpenCV rounds and saturates at 255
        return cv2.convertScaleAbs(np.maximum(pixels, 0.0), alpha=255.0)
    if dtype in _MAXIMUM:
        scaled = np.clip(pixels, 0.0, 1.0) * np.float32(_MAXIMUM[dtype])
        return np.rint(scaled, out=scaled).astype(dtype)
    return np.clip(pixels, 0.0, 1.0).astype(dtype)


def _array_to_pil(array: np.ndarray, fmt: PixelFormat) -> Image.Image:
    mode = fmt.pil_mode
    if mode in _SIXTEEN_BITS:
        height, width = array.shape[:2]
        image = Image.frombytes(mode, (width, height), array.astype(_SIXTEEN_BITS[mode]).tobytes())
    elif mode == "I":
        image = Image.fromarray(array.astype(np.int32))
    elif mode == "F":
        image = Image.fromarray(array.astype(np.float32))
    else:
        image = Image.fromarray(array)
        if mode == "P" and image.mode == "RGBA":
            image = _palette_keeping_alpha(array)
        elif mode == "P":   # a new palette: the old one's transparency index would point anywhere
            image = image.quantize(256, method=Image.Quantize.MEDIANCUT)
        elif mode == "1":
            image = image.convert("1", dither=Image.Dither.NONE)
        elif mode == "CMYK" and fmt.plates is not None and fmt.plates.shape[:2] == array.shape[:2]:
            image = _cmyk_keeping_black(array, fmt.plates)
        elif mode != image.mode:
            image = image.convert(mode)
    info = dict(fmt.pil_info or {})
    if mode == "P":
        info.pop("transparency", None)
    image.info.update(info)
    return image


def _cmyk_keeping_black(rgb: np.ndarray, plates: np.ndarray) -> Image.Image:
    """The CMYK ``plates`` changed only where what Pillow shows of them (a channel is ``(255 - ink)
    (255 - K) / 255``) differs from ``rgb``, and there by the cyan, magenta and yellow inks that show
    ``rgb`` on the same black (K) plate; K is lowered only as far as a channel lighter than the paper it
    leaves needs. Where K leaves under a quarter of the paper (nearly black) the plates stay: a level
    there is four or more levels of ink. Row strips at a time (`strips`): a whole frame's float copies took
    many times the decoded picture's memory."""
    result = plates.copy()
    for rows in strips(plates.shape):
        shown, inks = rgb[rows], result[rows]
        before = np.asarray(_image_of(inks, "CMYK").convert("RGB"))
        paper = 255.0 - inks[:, :, 3].astype(np.float32)
        changed = np.any(shown != before, axis=2) & (paper >= 64.0)
        target = shown[changed].astype(np.float32)
        room = np.maximum(paper[changed], target.max(axis=1))          # the paper the lightest channel needs
        inks[changed, :3] = np.clip(np.rint(255.0 - target * (255.0 / room)[:, None]), 0, 255).astype(np.uint8)
        inks[changed, 3] = np.clip(np.rint(255.0 - room), 0, 255).astype(np.uint8)
    return _image_of(result, "CMYK")


def _image_of(array: np.ndarray, mode: str) -> Image.Image:
    """A PIL image of mode ``mode`` holding ``array``'s bytes (uint8), as ``Image.fromarray(array, mode)``
    made it before Pillow 11.3 deprecated its ``mode``."""
    return Image.frombytes(mode, (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())


def _palette_keeping_alpha(rgba: np.ndarray) -> Image.Image:
    """A palette image of ``rgba`` in which every pixel keeps its alpha: one entry for the clear pixels,
    and each other alpha level's colours quantised into entries in proportion to its pixels (median cut,
    as an opaque image's are: it keeps the mark, where the octree's RGBA quantisation lost it and changed
    the alpha). A palette source has at most 256 alpha levels. Alpha that is only clear or opaque is one
    transparent index (what GIF holds), else a table of each entry's alpha (PNG's tRNS)."""
    alpha = rgba[:, :, 3].ravel()
    order = np.argsort(alpha, kind="stable")              # each level's pixels together: one pass, not one a level
    levels, counts = np.unique(alpha, return_counts=True)
    opaque = levels != 0
    shares = np.ones(len(levels), dtype=np.int64)
    if opaque.any():                                      # entries beyond one a level, shared out by pixel count
        shares += np.floor((256 - len(levels)) * np.where(opaque, counts, 0) / counts[opaque].sum()).astype(np.int64)
    colours = rgba.reshape(-1, 4)[order, :3]
    indices = np.zeros(alpha.size, dtype=np.uint8)
    palette, transparency, start, first = [], [], 0, 0
    for level, count, share in zip(levels.tolist(), counts.tolist(), shares.tolist()):
        if level == 0:
            indices[order[first:first + count]] = start
            entries = [0, 0, 0]
        else:
            row = Image.fromarray(np.ascontiguousarray(colours[None, first:first + count]))
            quantised = row.quantize(share, method=Image.Quantize.MEDIANCUT)
            indices[order[first:first + count]] = start + np.asarray(quantised)[0]
            entries = (quantised.getpalette() or [])[:3 * share]
        palette += entries + [0] * (3 * share - len(entries))
        transparency += [level] * share
        start, first = start + share, first + count
    image = _image_of(indices.reshape(rgba.shape[:2]), "P")
    image.putpalette(palette + [0] * (256 * 3 - len(palette)))
    if set(levels.tolist()) <= {0, 255}:
        if levels[0] == 0:
            image.info["transparency"] = 0                # the clear pixels' entry, the first
    else:
        image.info["transparency"] = bytes(transparency)
    return image


def shaped_as(result: ImageLike, image: ImageLike) -> ImageLike:
    """``result`` (as :func:`from_float` gives it) back in ``image``'s shape when that was an (H, W, 1)
    array, which :func:`pixels_of` reads as (H, W)."""
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 1 and np.ndim(result) == 2:
        return result[:, :, None]
    return result


def image_op(func: F | None = None, *, geometric: bool = False) -> F:
    """Decorate ``func(pixels, ...)`` so that it sees float32 in [0, 1] and returns the caller's kind.

    With ``geometric=False`` the function gets ``(H, W)`` or ``(H, W, 3)`` and alpha is kept aside and
    put back untouched; with ``geometric=True`` it gets alpha as a fourth channel, so that crops,
    rotations and resizes move alpha along with the colours. Either way the caller's image is never
    written to.
    """
    def decorate(inner: F) -> F:
        @functools.wraps(inner)
        def wrapper(image: ImageLike, *args: Any, **kwargs: Any) -> ImageLike:
            pixels, fmt = to_float(image)
            alpha = None
            if pixels.ndim == 3 and pixels.shape[2] == 4 and not geometric:
                pixels, alpha = pixels[:, :, :3], pixels[:, :, 3]
            result = np.asarray(inner(pixels, *args, **kwargs), dtype=np.float32)
            if alpha is not None:
                if result.ndim == 2:
                    result = np.repeat(result[:, :, None], 3, axis=2)
                result = np.concatenate([result, alpha[:, :, None]], axis=2)
            return shaped_as(from_float(result, fmt), image)
        return wrapper  # type: ignore[return-value]
    return decorate(func) if func is not None else decorate  # type: ignore[return-value]
