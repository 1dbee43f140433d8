"""Placement: where a small crop lies in a master when it has too few features to register.

A crop of a marked copy at the master's own scale (a detail cut out of a published photograph: sky,
bokeh, water, the plain areas where local features find nothing) still carries the mark's tile grid.
Resampled to the master's working scale, this key's pilot, sought at every offset of the tile
(`watermark.schemes.lattice.informed.tile_phase`), says where the crop lies modulo the tile: a few
dozen places in the master. The crop is placed at one of them only if the master's thumbnail (in its
registry print) shows the crop's content there, compared at the thumbnail's scale (both smoothed by
a pixel there): the same colours (RGB RMS difference at most :data:`MAX_RMS`) and the same shapes
(correlation of the deviations from the mean at least :data:`MIN_CORRELATION`: without it a dark
crop of any photograph matches a dark area of a master). ``python -m eval.placement`` measures
both margins. The result is a `Registration` (a translation) that the informed read takes like any
other, its p-value paying for the phase search.

What it cannot do: a crop that was also resized, turned or mirrored (the pilot is sought at the
master's scale, upright), and a crop without shapes at the thumbnail's scale (one flat colour): its
correlation is noise, so it is not placed, and not attributed.
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

__all__ = ["phase_at", "phase_shape", "plane_of", "phase_in",
           "place", "smoothed_thumbnail", "at_thumbnail_scale", "compare", "MAX_RMS", "MIN_CORRELATION",
           "PHASE_GATE"]

PHASE_GATE = 0.05       # a phase whose pilot p-value is above this places nothing (no mark to read)
MAX_RMS = 0.04          # RGB RMS difference (0..1) between the crop and the thumbnail where it is placed
MIN_CORRELATION = 0.85  # correlation of their deviations from their means there
AMBIGUOUS = (1.5, 0.002)  # a second place whose RMS is within best x 1.5 + 0.002 shows it as well: no place
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
    shape = phase_shape(original_size, master_size)
    return None if shape is None else phase_in(plane_of(luma), shape, key)


def phase_shape(original_size: tuple[int, int], master_size: tuple[int, int]) -> tuple[int, int] | None:
    """The (rows, columns) a suspect of ``original_size`` (width, height) takes at the working scale of a
    master of ``master_size``, where its tile phase is read; None when it would not fit in the master or
    is too small to search. Masters whose working scale is the same give the same shape, and one phase."""
    width, height = original_size
    if width > master_size[0] + _SLACK or height > master_size[1] + _SLACK:
        return None
    row_scale, col_scale = _working_scale(master_size)
    shape = (round(height * row_scale), round(width * col_scale))
    return None if min(shape) < _MIN_WORKING else shape


def plane_of(luma: ImageLike) -> np.ndarray:
    """A suspect's luminance as the float plane `phase_in` reads."""
    pixels, _ = to_float(luma)
    return color.luminance(pixels)


def phase_in(plane: np.ndarray, shape: tuple[int, int], key: Key) -> Phase:
    """The tile phase of the luminance ``plane`` resized to ``shape`` (`phase_shape`)."""
    return tile_phase(color.resize(plane, shape), key)


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


def smoothed_thumbnail(master: MasterPrint) -> np.ndarray:
    """The master's thumbnail as the content check sees it: float32 RGB in [0, 1], smoothed."""
    return cv2.GaussianBlur(master.thumbnail_image().astype(np.float32) / 255.0, (0, 0), _SMOOTH)


def at_thumbnail_scale(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float pixels (grey or RGB) resized to ``size`` (width, height) by area and smoothed like
    `smoothed_thumbnail`: RGB."""
    pixels = np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels[:, :, :3]
    return cv2.GaussianBlur(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), (0, 0), _SMOOTH)


def compare(thumbnail: np.ndarray, small: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """(RMS difference, correlation of the deviations from the means) between ``small`` and the
    ``thumbnail`` with ``small``'s corner at (``x``, ``y``) thumbnail pixels (sub-pixel)."""
    patch = cv2.warpAffine(thumbnail, np.array([[1.0, 0.0, x], [0.0, 1.0, y]]), small.shape[1::-1],
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    rms = float(np.sqrt(np.mean((patch - small) ** 2)))
    a, b = small - small.mean(axis=(0, 1)), patch - patch.mean(axis=(0, 1))
    correlation = float(np.sum(a * b) / max(np.sqrt(np.sum(a * a) * np.sum(b * b)), 1e-12))
    return rms, correlation


def place(colour: ImageLike, original_size: tuple[int, int], master: MasterPrint,
          phase: Phase) -> tuple[Registration, float] | None:
    """The suspect placed in ``master`` at the place its ``phase`` allows where the master's thumbnail
    looks most like it (least RMS difference); with that difference. None when the thumbnail does not
    show it there (:data:`MAX_RMS`, :data:`MIN_CORRELATION`), shows it as well at another of those
    places (:data:`AMBIGUOUS`: a plain gradient, where a copy's fine band moved by whole tiles was read
    as the copy's own), or the suspect is too small at the thumbnail's scale.

    ``colour`` is the suspect (RGB or grey, at its full size ``original_size`` or reduced); the
    registration maps ``colour``'s pixels to the master's.
    """
    thumbnail = smoothed_thumbnail(master)
    x_scale, y_scale = thumbnail.shape[1] / master.width, thumbnail.shape[0] / master.height
    width, height = original_size
    size = (round(width * x_scale), round(height * y_scale))
    if min(size) < _MIN_THUMBNAIL:
        return None
    pixels, _ = to_float(colour)
    small = at_thumbnail_scale(pixels, size)
    scores = [(compare(thumbnail, small, x * x_scale, y * y_scale), x, y)
              for x, y in _places(phase, original_size, (master.width, master.height))]
    if not scores:
        return None
    scores.sort(key=lambda score: score[0][0])
    (rms, correlation), x, y = scores[0]
    if rms > MAX_RMS or correlation < MIN_CORRELATION:
        return None
    if len(scores) > 1 and scores[1][0][0] <= AMBIGUOUS[0] * rms + AMBIGUOUS[1]:
        return None
    homography = np.array([[width / pixels.shape[1], 0.0, x], [0.0, height / pixels.shape[0], y], [0.0, 0.0, 1.0]])
    coverage = width * height / (master.width * master.height)
    return Registration(True, homography, 0, 0, False, min(1.0, coverage)), rms
