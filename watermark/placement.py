"""Placement: where a small crop lies in a master when it has too few features to register.

A crop of a marked copy at the master's own scale (a detail cut out of a published photograph: sky,
bokeh, water, the plain areas where local features find nothing) still carries the mark's tile grid.
Resampled to the master's working scale, this key's pilot, sought at every offset of the tile
(`watermark.schemes.lattice.informed.tile_phase`), says where the crop lies modulo the tile: a few
dozen places in the master. The crop is placed at one of them only if the master's thumbnail (in its
registry print) shows the crop's content there: colour and shape at the thumbnail's scale (both
smoothed by a pixel there), RMS difference at most :data:`MAX_RMS`. Chosen on 112 crops to 5 % of
28 photographs: 0.027 at most where the crop was cut, 0.049 at least anywhere in any of the 27
other photographs' thumbnails. The result is a `Registration` (a translation) that the informed
read takes like any other, its p-value paying for the phase search.

What it cannot do: a crop that was also resized, turned or mirrored (the pilot is sought at the
master's scale, upright), and content the thumbnail cannot tell apart (a crop of one flat colour
matches wherever the master has that colour; the mark, read there, still has to name the copy).
"""

from __future__ import annotations

import cv2
import numpy as np

from . import color
from .features import MasterPrint
from .image import ImageLike, to_float
from .keys import Key
from .registration import Registration
from .schemes.lattice.informed import Phase, tile_phase
from .schemes.lattice.sync import TILE

__all__ = ["phase_at", "place", "MAX_RMS", "PHASE_GATE"]

PHASE_GATE = 0.05       # a phase whose pilot p-value is above this places nothing (no mark to read)
MAX_RMS = 0.035         # RGB RMS difference (0..1) between the crop and the thumbnail where it is placed
_SMOOTH = 1.0           # px at the thumbnail's scale: the Gaussian both are smoothed by first
_MIN_WORKING = 32       # px: the smallest side, at the master's working scale, worth a search
_MIN_THUMBNAIL = 6      # px: the smallest side of the crop at the thumbnail's scale
_SLACK = 2.0            # px at full resolution a place may stick out of the master (rounding)


def _working_scale(master_size: tuple[int, int]) -> tuple[float, float]:
    """(row, column) scale from a master's pixels to its working frame."""
    width, height = master_size
    rows, cols = color.working_shape((height, width))
    return rows / height, cols / width


def phase_at(luma: ImageLike, original_size: tuple[int, int], master_size: tuple[int, int], key: Key) -> Phase | None:
    """The tile phase of a suspect (its luminance ``luma``, possibly reduced from ``original_size``,
    width and height) at the working scale of a master of ``master_size``; None when the suspect, at
    the master's scale, would not fit in the master or is too small to search."""
    width, height = original_size
    if width > master_size[0] + _SLACK or height > master_size[1] + _SLACK:
        return None
    row_scale, col_scale = _working_scale(master_size)
    shape = (round(height * row_scale), round(width * col_scale))
    if min(shape) < _MIN_WORKING:
        return None
    pixels, _ = to_float(luma)
    if pixels.ndim == 3:
        pixels = color.luminance(pixels[:, :, :3])
    return tile_phase(color.resize(pixels, shape), key)


def _places(phase: Phase, size: tuple[int, int], master_size: tuple[int, int]) -> list[tuple[float, float]]:
    """Every (x, y) in the master's pixels where a suspect of ``size`` with this phase may start."""
    row_scale, col_scale = _working_scale(master_size)
    axes = []
    for offset, scale, extent, limit in ((phase.offset[1], col_scale, size[0], master_size[0]),
                                         (phase.offset[0], row_scale, size[1], master_size[1])):
        first, step = (-offset % TILE) / scale, TILE / scale
        starts = first + step * np.arange(int((limit - extent + _SLACK - first) // step) + 1)
        axes.append(starts[starts >= -_SLACK])
    return [(float(x), float(y)) for y in axes[1] for x in axes[0]]


def place(colour: ImageLike, original_size: tuple[int, int], master: MasterPrint,
          phase: Phase) -> tuple[Registration, float] | None:
    """The suspect placed in ``master`` at the place its ``phase`` allows where the master's thumbnail
    looks most like it; with that RMS difference. None when no place looks like it (RMS above
    :data:`MAX_RMS`) or the suspect is too small at the thumbnail's scale.

    ``colour`` is the suspect (RGB or grey, at its full size ``original_size`` or reduced); the
    registration maps ``colour``'s pixels to the master's.
    """
    thumbnail = cv2.GaussianBlur(master.thumbnail_image().astype(np.float32) / 255.0, (0, 0), _SMOOTH)
    x_scale, y_scale = thumbnail.shape[1] / master.width, thumbnail.shape[0] / master.height
    width, height = original_size
    small_size = (round(width * x_scale), round(height * y_scale))
    if min(small_size) < _MIN_THUMBNAIL:
        return None
    pixels, _ = to_float(colour)
    pixels = np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels[:, :, :3]
    small = cv2.GaussianBlur(cv2.resize(pixels, small_size, interpolation=cv2.INTER_AREA), (0, 0), _SMOOTH)
    best: tuple[float, float, float] | None = None
    for x, y in _places(phase, original_size, (master.width, master.height)):
        shift = np.array([[1.0, 0.0, x * x_scale], [0.0, 1.0, y * y_scale]])
        patch = cv2.warpAffine(thumbnail, shift, small_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        rms = float(np.sqrt(np.mean((patch - small) ** 2)))
        if best is None or rms < best[0]:
            best = (rms, x, y)
    if best is None or best[0] > MAX_RMS:
        return None
    rms, x, y = best
    reduced = pixels.shape[1] / width, pixels.shape[0] / height
    homography = np.array([[1.0 / reduced[0], 0.0, x], [0.0, 1.0 / reduced[1], y], [0.0, 0.0, 1.0]])
    coverage = width * height / (master.width * master.height)
    return Registration(True, homography, 0, 0, False, min(1.0, coverage)), rms
