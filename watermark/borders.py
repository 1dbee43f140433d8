"""The picture inside flat borders: a copy posted whole in a frame of another shape.

Apps post a 16:9 picture whole in a 4:5 or square frame, or with bars above and below (a letterbox)
or beside it (a pillarbox): the mark then lies in a smaller part of a larger image, at a period
shorter than any the search expects of an image that size, and diluted by borders that carry none.
Read again inside the borders (the lattice scheme's detector, the scan's near-duplicate lookup), such
a copy is an ordinary resized one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["inside"]

_TOLERANCE = 6.0 / 255.0    # a border line: every pixel within this of the line's median (JPEG's noise)
_LEAST_BORDER = 0.04        # share of a side under which flat lines are a picture's edge, not a border
_LEAST_PICTURE = 0.25       # share of each side the picture inside keeps at least
_SMALLEST = 16              # px: an image this small has no borders worth reading inside


def inside(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right): the rows ``top:bottom`` and columns ``left:right`` of ``luma``
    (float, [0, 1]) inside its flat borders; None when it has none as wide as ``_LEAST_BORDER`` of
    its side, or when they leave less than ``_LEAST_PICTURE`` of a side."""
    height, width = luma.shape
    if min(height, width) < _SMALLEST:
        return None
    edges = (luma[0], luma[-1], luma[:, 0], luma[:, -1])
    if not any(_flat(edge[None, :])[0] for edge in edges):       # most images: one look at each edge
        return None
    top = _run(luma[: height // 2])
    bottom = height - _run(luma[::-1][: height // 2])
    left = _run(luma[:, : width // 2].T)
    right = width - _run(luma[:, ::-1][:, : width // 2].T)
    if max(top, height - bottom) < _LEAST_BORDER * height and max(left, width - right) < _LEAST_BORDER * width:
        return None
    if bottom - top < _LEAST_PICTURE * height or right - left < _LEAST_PICTURE * width:
        return None
    return top, bottom, left, right


def _flat(lines: np.ndarray) -> np.ndarray:
    """Whether each of ``lines`` (n, m) is one colour, within ``_TOLERANCE`` of its median."""
    colour = np.median(lines, axis=1, keepdims=True)
    return np.abs(lines - colour).max(axis=1) <= _TOLERANCE


def _run(lines: np.ndarray) -> int:
    """How many of ``lines``, from the first, are flat and of the first's colour."""
    flat = _flat(lines) & (np.abs(np.median(lines, axis=1) - np.median(lines[0])) <= _TOLERANCE)
    return len(flat) if flat.all() else int(np.argmin(flat))
