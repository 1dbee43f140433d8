"""How visible a mark may be on one picture: no more than saving the picture as JPEG quality 90 costs it,
by SSIMULACRA 2 (issue 12's bar, which `python -m eval.visibility` measures)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from .image import PixelFormat, add_to_luminance
from .ssimulacra2 import SMALLEST, Reference

__all__ = ["Budget", "JPEG_QUALITY", "MARGIN"]

JPEG_QUALITY = 90
# Points of SSIMULACRA 2 kept in hand: libjxl's own tool and the package the benchmark uses differ
# by about 0.1 at this quality, and this module by up to 0.05 from the package.
MARGIN = 0.25


def _rgb8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels as RGB: grey repeated, alpha left out."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 2:
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])


class Budget:
    """The picture ``pixels`` (as :func:`image.pixels_of` gave them, with ``fmt``) and what its JPEG q90
    copy costs it: :meth:`score` says how visible a change is, :attr:`target` how visible it may be.
    The metric's planes and the JPEG copy are made at the first call."""

    def __init__(self, pixels: np.ndarray, fmt: PixelFormat) -> None:
        self._pixels = pixels
        self._format = replace(fmt, pil_mode=None, pil_info=None)
        self._reference: Reference | None = None
        self._target = 0.0

    @classmethod
    def of(cls, pixels: np.ndarray, fmt: PixelFormat) -> Budget | None:
        """The budget of an 8-bit grey or colour picture of at least ``SMALLEST`` px a side; None for
        others (16-bit, float, CMYK, smaller), which are marked without it."""
        if pixels.dtype != np.uint8 or fmt.plates is not None or min(pixels.shape[:2]) < SMALLEST:
            return None
        return cls(pixels, fmt)

    def _made(self) -> Reference:
        if self._reference is None:
            original = _rgb8(self._pixels)
            buffer = io.BytesIO()
            Image.fromarray(original).save(buffer, format="JPEG", quality=JPEG_QUALITY)
            self._reference = Reference(original)
            self._target = self._reference.score(np.asarray(Image.open(buffer).convert("RGB"))) + MARGIN
        return self._reference

    @property
    def target(self) -> float:
        """The least SSIMULACRA 2 a marked copy may score: JPEG q90's plus ``MARGIN``."""
        self._made()
        return self._target

    def score(self, change: np.ndarray) -> float:
        """SSIMULACRA 2 of the picture with the luminance ``change`` (float, the picture's shape, in
        [0, 1] units) added as `embed` adds it, rounding included."""
        marked = add_to_luminance(self._pixels, self._format, change)
        assert isinstance(marked, np.ndarray)       # a plain format gives an array back
        return self._made().score(_rgb8(marked))
