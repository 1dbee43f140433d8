"""Luminance, the canonical working resolution every scheme measures its patterns in, and the
walk over a full-resolution plane a strip of rows at a time (bounded memory for large images)."""

from __future__ import annotations

import math
from typing import Callable, Iterator

import cv2
import numpy as np

__all__ = ["luminance", "WORKING_SHORT_SIDE", "working_shape", "resize", "STRIP_PIXELS", "strips",
           "reduce_in_strips"]

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


def reduce_in_strips(plane: np.ndarray, shape: tuple[int, int], function: Callable[[np.ndarray], np.ndarray],
                     halo: int) -> np.ndarray:
    """``resize(function(plane), shape)`` when it shrinks, with ``function(plane)`` never whole.

    ``function`` is pointwise in rows but for ``halo`` rows of context each way (a filter's radius):
    it is applied to one strip of rows and its halo at a time, and its result averaged down over
    areas as :func:`resize` does: OpenCV's ``INTER_AREA`` weights, summed in its order (the same
    floats as the whole plane would give).
    """
    height, width = plane.shape
    if shape[0] > height or shape[1] > width:
        return resize(function(plane), shape)
    target, source, weight = _area_weights(height, shape[0])
    reduced = np.zeros(shape, np.float32)
    for rows in strips(plane.shape):
        top, bottom = max(rows.start - halo, 0), min(rows.stop + halo, height)
        values = function(plane[top:bottom])[rows.start - top:rows.stop - top]
        values = cv2.resize(values, (shape[1], values.shape[0]), interpolation=cv2.INTER_AREA)   # along rows only
        first, last = np.searchsorted(source, (rows.start, rows.stop))
        for row, index, share in zip(target[first:last], source[first:last], weight[first:last]):
            reduced[row] += share * values[index - rows.start]          # OpenCV's order of sums
    return reduced


def _area_weights(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's ``INTER_AREA`` weights from ``source`` down to ``target`` samples: (target index,
    source index, weight) triples sorted by source index, each target's weights summing to 1."""
    scale = 1.0 / (target / source)
    entries = []
    for index in range(target):
        low = index * scale
        high = low + scale
        cell = min(scale, source - low)
        first, last = math.ceil(low), min(math.floor(high), source - 1)
        first = min(first, last)
        if first - low > 1e-3:
            entries.append((index, first - 1, (first - low) / cell))
        entries += [(index, covered, 1.0 / cell) for covered in range(first, last)]
        if high - last > 1e-3:
            entries.append((index, last, min(high - last, 1.0, cell) / cell))
    table = np.array(entries)
    table = table[np.argsort(table[:, 1], kind="stable")]
    return table[:, 0].astype(np.intp), table[:, 1].astype(np.intp), table[:, 2].astype(np.float32)
