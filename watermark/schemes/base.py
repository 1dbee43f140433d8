"""The interface every scheme implements: float32 luminance in, a residual or a Detection out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .. import color
from ..detection import Detection
from ..keys import Key
from ..visibility import Budget

__all__ = ["Scheme", "DEFAULT_FALSE_ALARM"]

DEFAULT_FALSE_ALARM = 1e-9   # per image; `found` means p_value <= this


class Scheme(ABC):
    """A watermarking scheme. It sees luminance only; `watermark.embed` does the edges once.

    ``luma`` is float32 in [0, 1], shape ``(H, W)``: at the image's full resolution to embed; to detect,
    possibly reduced to `analysis_shape` (a file may be decoded straight to it).
    """

    name: ClassVar[str]
    min_size: ClassVar[int]          # smallest short side, in pixels, that can hold a mark
    # the largest short side the detector works at (its working side, `color.working_side`, is never
    # more: a file may be decoded straight to it); None: full size
    analysis_short_side: ClassVar[int | None] = None

    def analysis_shape(self, shape: tuple[int, ...]) -> tuple[int, int] | None:
        """The (height, width) the detector scales an image of ``shape`` to, if smaller; the caller
        may hand over luminance already reduced to it (cheaper for large images), with the image's own
        shape. None: full size."""
        if self.analysis_short_side is None:
            return None
        working = color.working_shape(shape)
        return working if working[0] < shape[0] else None

    @abstractmethod
    def residual(self, luma: np.ndarray, payload: int, key: Key, *, strength: float = 1.0,
                 budget: Budget | None = None) -> np.ndarray:
        """The luminance change, shape of ``luma``, that marks ``luma`` with ``payload`` (< 2**64); a
        scheme that calibrates its default amplitude keeps it within the picture's ``budget``."""

    @abstractmethod
    def detect(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
               source_shape: tuple[int, int] | None = None,
               marked_shape: tuple[int, int] | None = None) -> Detection:
        """Look for this key's mark in ``luma``; never raises for an unmarked or attacked image.

        ``source_shape`` is the (height, width) of the image as it was encoded, before any reduction
        (a codec's 8-pixel blocks live on that grid); None: the shape of ``luma``. ``marked_shape`` is
        the (height, width) of the marked image, when the caller knows it: a detection's ``transform``
        maps the suspect's pixels to that image's (None: the marked image is taken at the suspect's
        own size, see `Detection.transform`).
        """

    def detect_keys(self, luma: np.ndarray, keys: Sequence[Key], *, false_alarm: float = DEFAULT_FALSE_ALARM,
                    source_shape: tuple[int, int] | None = None,
                    marked_shape: tuple[int, int] | None = None) -> list[Detection]:
        """`detect` with each of ``keys``, in order; a scheme whose search uses no key shares it."""
        return [self.detect(luma, key, false_alarm=false_alarm, source_shape=source_shape,
                            marked_shape=marked_shape) for key in keys]

    def detect_in_place(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
                        source_shape: tuple[int, int] | None = None) -> Detection:
        """`detect` without any geometric search: the mark where it was put, which is cheap; for
        checking an original before marking it. A scheme without a search simply detects."""
        return self.detect(luma, key, false_alarm=false_alarm, source_shape=source_shape)
