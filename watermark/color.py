"""Luminance, and the canonical working resolution every scheme measures its patterns in."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["luminance", "WORKING_SHORT_SIDE", "working_shape", "resize"]

WORKING_SHORT_SIDE = 512   # px of the short side at which patterns are defined


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
