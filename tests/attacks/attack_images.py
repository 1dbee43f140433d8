"""Small real photographs (scikit-image's), in every layout an attack must accept."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image


@functools.cache
def _small(name: str, size: tuple[int, int] = (128, 96)) -> np.ndarray:
    from skimage import data

    image = cv2.resize(getattr(data, name)(), size, interpolation=cv2.INTER_AREA)
    image.setflags(write=False)
    return image


def rgb8() -> np.ndarray:
    """Astronaut, 128 x 96, RGB uint8, read-only."""
    return _small("astronaut")


def grey8() -> np.ndarray:
    """Camera man, 128 x 96, uint8, read-only."""
    return _small("camera")


def layouts() -> dict[str, object]:
    """The same kinds of image in every supported layout (fresh objects each call)."""
    colour, grey = rgb8(), grey8()
    ramp = np.linspace(0, 255, colour.shape[1], dtype=np.uint8)[None, :].repeat(colour.shape[0], 0)
    alpha = np.dstack([colour, ramp])
    return {
        "rgb8": colour.copy(),
        "grey8": grey.copy(),
        "grey8-one-channel": grey[:, :, None].copy(),
        "rgb16": colour.astype(np.uint16) * 257 + 3,
        "grey16": grey.astype(np.uint16) * 257,
        "rgba8": alpha,
        "float": colour.astype(np.float64) / 255.0,
        "pil-rgb": Image.fromarray(colour),
        "pil-l": Image.fromarray(grey),
        "pil-rgba": Image.fromarray(alpha),
        "pil-i16": Image.fromarray(grey.astype(np.uint16) * 257),
        "pil-la": Image.fromarray(np.dstack([grey, grey[::-1]])),
        "pil-p": Image.fromarray(colour).quantize(64),
    }
