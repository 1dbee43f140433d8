"""Luminance, the canonical working resolution every scheme measures its patterns in, and the
walk over a full-resolution plane a strip of rows at a time (bounded memory for large images)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

__all__ = ["luminance", "WORKING_SHORT_SIDE", "working_shape", "resize", "STRIP_PIXELS", "strips"]

WORKING_SHORT_SIDE = 512   # px of the short side at which patterns are defined
STRIP_PIXELS = 1 << 22     # pixels per strip of a full-resolution plane (16 MB of float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (as JPEG uses) of float32 RGB ``(H, W, 3)`` (or the image itself when already ``(H, W)``)."""
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def working_shape(shape: tuple[int, ...], short_side: int = WORKING_SHORT_SIDE) -> tuple[int, int]:
    """(height, width) of an image of ``shape`` scaled so that its short side is ``short_side``."""
    height, width = shape[:2]
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a float32 plane to ``shape`` (area averaging down, bicubic up)."""
    height, width = shape
    if (height, width) == plane.shape[:2]:
        return plane
    shrinking = height * width < plane.shape[0] * plane.shape[1]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(plane, (width, height), interpolation=method)


def strips(shape: tuple[int, ...]) -> Iterator[slice]:
    """Consecutive row ranges of an image of ``shape`` covering about :data:`STRIP_PIXELS` each."""
    height, width = shape[:2]
    step = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, step):
        yield slice(top, min(top + step, height))
