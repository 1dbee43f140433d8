"""Luminance, the canonical working resolution every scheme measures its patterns in, and the
walk over a full-resolution plane a strip of rows at a time (bounded memory for large images)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

__all__ = ["luminance", "WORKING_SHORT_SIDE", "LARGEST_WORKING_SIDE", "working_side", "working_shape", "at_most",
           "resize", "STRIP_PIXELS", "strips"]

WORKING_SHORT_SIDE = 512     # px: the short side at which patterns are defined, on images up to 768 px
LARGEST_WORKING_SIDE = 724   # px: the same from a 1086 px short side (half an octave finer on the image)
_PIXELS_PER_WORKING = 1.5    # in between: the image's short side over its working side
STRIP_PIXELS = 1 << 22     # pixels per strip of a full-resolution plane (16 MB of float32)


def luminance(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma (as JPEG uses), float32 ``(H, W)``, of float pixels: RGB or RGBA ``(H, W, 3 or 4)``,
    grey with or without alpha ``(H, W, 1 or 2)`` (alpha left out), or a plane ``(H, W)`` (itself)."""
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] < 3:
        return pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, :3], dtype=np.float32), cv2.COLOR_RGB2GRAY)


def working_side(shape: tuple[int, ...]) -> int:
    """The short side, in px, of the working resolution of an image of ``shape`` (at full size).

    A pattern defined there has a period of at most 1.5 times its working size in the image's pixels
    until the image's short side passes 1086 px: on a photograph, the mark sits half an octave finer
    than at 512 px, away from the scales where the eye (and SSIMULACRA2) weighs structure most."""
    side = round(min(shape[:2]) / _PIXELS_PER_WORKING)
    return int(min(max(side, WORKING_SHORT_SIDE), LARGEST_WORKING_SIDE))


def working_shape(shape: tuple[int, ...], short_side: int | None = None) -> tuple[int, int]:
    """(height, width) of an image of ``shape`` scaled so that its short side is ``short_side`` (by
    default its working side, :func:`working_side`)."""
    height, width = shape[:2]
    short_side = working_side(shape) if short_side is None else short_side
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def at_most(shape: tuple[int, ...], short_side: int) -> tuple[int, int]:
    """(height, width) of an image of ``shape`` scaled so that its short side is at most ``short_side``
    (never enlarged)."""
    return working_shape(shape, min(min(shape[:2]), short_side))


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
