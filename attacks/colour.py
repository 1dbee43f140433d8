"""Colour attacks: brightness, contrast, gamma, saturation, hue, grayscale, jitter, palettes.

Saturation and grayscale use BT.601 luma (0.299 R + 0.587 G + 0.114 B). On a grayscale image the
colour-only attacks (saturation, hue) change nothing; the others act on the grey level.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from watermark.color import luminance
from watermark.image import image_op

from ._spec import Param, RngLike, make_rng, record, registered

__all__ = ["brightness", "contrast", "gamma", "saturation", "hue", "grayscale", "colour_jitter", "palette"]

def _saturate(image: np.ndarray, factor: float) -> np.ndarray:
    if image.ndim == 2:
        return image
    grey = luminance(image)[:, :, None]
    return grey + np.float32(factor) * (image - grey)


def _hue_shift(image: np.ndarray, degrees: float) -> np.ndarray:
    if image.ndim == 2 or degrees == 0:
        return image
    hsv = cv2.cvtColor(np.clip(image, 0.0, 1.0), cv2.COLOR_RGB2HSV)   # float: H in [0, 360)
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + np.float32(degrees), 360.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _contrast(image: np.ndarray, factor: float) -> np.ndarray:
    mean = np.float32(luminance(image).mean())
    return mean + np.float32(factor) * (image - mean)


@registered(family="colour", primary="delta", delta=Param(float, -1.0, 1.0, doc="full scale"))
@image_op
def brightness(image: np.ndarray, *, delta: float = 0.1) -> np.ndarray:
    """Add ``delta`` (in units of full scale) to every channel."""
    return image + np.float32(delta)


@registered(family="colour", primary="factor", factor=Param(float, 0.0, 10.0, doc="1 keeps the image"))
@image_op
def exposure(image: np.ndarray, *, factor: float = 1.2) -> np.ndarray:
    """Multiply every channel by ``factor`` (brightness as a camera's exposure changes it)."""
    return image * np.float32(factor)


@registered(family="colour", primary="factor", factor=Param(float, 0.0, 10.0, doc="1 keeps the image"))
@image_op
def contrast(image: np.ndarray, *, factor: float = 1.2) -> np.ndarray:
    """Scale the deviations from the mean luma by ``factor``."""
    return _contrast(image, factor)


@registered(family="colour", primary="gamma", gamma=Param(float, 0.1, 10.0, doc="exponent"))
@image_op
def gamma(image: np.ndarray, *, gamma: float = 1.2) -> np.ndarray:
    """Tone curve ``out = in ** gamma`` (above 1 darkens the mid-tones)."""
    return np.power(np.clip(image, 0.0, 1.0), np.float32(gamma))


@registered(family="colour", primary="factor", factor=Param(float, 0.0, 10.0, doc="0 is grey, 1 keeps"))
@image_op
def saturation(image: np.ndarray, *, factor: float = 0.5) -> np.ndarray:
    """Scale the colourfulness: 0 gives the grey image, 1 keeps it, 2 doubles the chroma."""
    return _saturate(image, factor)


@registered(family="colour", primary="degrees", degrees=Param(float, -360.0, 360.0, doc="hue turn"))
@image_op
def hue(image: np.ndarray, *, degrees: float = 15) -> np.ndarray:
    """Turn every hue by ``degrees`` on the HSV colour wheel."""
    return _hue_shift(image, degrees)


@registered(family="colour")
@image_op
def grayscale(image: np.ndarray) -> np.ndarray:
    """Replace colours by their BT.601 luma (the output keeps the input's channels)."""
    return luminance(image)


@registered(family="colour", primary=None, random=True,
            brightness=Param(float, 0.0, 1.0, doc="largest relative change"),
            contrast=Param(float, 0.0, 1.0, doc="largest relative change"),
            saturation=Param(float, 0.0, 1.0, doc="largest relative change"),
            hue=Param(float, 0.0, 180.0, doc="largest hue turn, degrees"))
@image_op
def colour_jitter(image: np.ndarray, *, brightness: float = 0.2, contrast: float = 0.2,
                  saturation: float = 0.2, hue: float = 10, seed: RngLike = None) -> np.ndarray:
    """Random brightness, contrast, saturation and hue changes, as data augmentation does.

    Each factor is drawn uniformly in ``[1 - x, 1 + x]`` (brightness multiplies the levels) and the
    hue turn in ``[-hue, hue]`` degrees, from ``seed``; they apply in that order.
    """
    rng = make_rng(seed)
    gain, spread, chroma = (rng.uniform(1 - x, 1 + x) for x in (brightness, contrast, saturation))
    turn = rng.uniform(-hue, hue)
    record("colour_jitter", brightness=gain, contrast=spread, saturation=chroma, hue=turn)
    out = _contrast(image * np.float32(gain), spread)
    return _hue_shift(_saturate(np.clip(out, 0.0, 1.0), chroma), turn)


@registered(family="colour", primary="colors",
            colors=Param(int, 2, 256, doc="palette size"),
            dither=Param(bool, doc="Floyd-Steinberg dithering"))
@image_op
def palette(image: np.ndarray, *, colors: int = 256, dither: bool = True) -> np.ndarray:
    """Reduce to an adaptive palette of ``colors`` colours (median cut), as a GIF or PNG-8 does.

    ``colors=256, dither=True`` is a GIF conversion (StirMark 3.1's colour-reduction test used
    256 colours). Uses Pillow's quantiser on the 8-bit image.
    """
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    picture = Image.fromarray(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
    method = Image.Quantize.MEDIANCUT
    quantised = picture.quantize(colors, method=method,
                                 dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE)
    out = np.asarray(quantised.convert("RGB"), np.float32) / np.float32(255.0)
    return out if image.ndim == 3 else out[:, :, 0]
