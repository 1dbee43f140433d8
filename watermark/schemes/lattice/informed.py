"""Reading the per-copy layer: blind verification of a decoded payload, and the informed read in a master's frame.

Blind: the periodic layer gave the geometry (a map from the suspect's working pixels to the marked
tile, modulo the tile) and a payload. The suspect is resampled into the mark's frame, cut into
whole tiles, and the payload's per-copy layer is sought at every tile offset the original frame
allows (its short side holds 4 tiles, its long side at most ``4 * MAX_ASPECT``); the p-value pays
for them.

Informed: the suspect is already in the master's frame (registration did it), so the periodic layer
is read at the identity (symmetry known, the offset within 3 px: 98 hypotheses instead of 1.6 million, so weak
marks are found) and each candidate payload's per-copy layer is tested at the identity, its p-value
multiplied by the number of candidates.

Tile phase: a suspect too small or too plain for features to register, but at a master's own scale
and upright (a small crop), is resampled to the master's working scale and its pilot sought at
every offset of the tile (symmetry known: 32,768 hypotheses): where the crop lies modulo the tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ... import color, stats
from ...keys import Key
from . import copy_layer, masking, sync
from .layout import PILOT_WEIGHTINGS, layout_for
from .sync import MAX_ASPECT, TILE

__all__ = ["Verification", "verify", "without_host", "candidate_scores", "Phase", "tile_phase", "PHASE_HYPOTHESES"]

_SHORT_TILES = color.LARGEST_WORKING_SIDE // TILE   # whole tiles along the working frame's short side, at most
_PHASE_SHORTLIST = 8          # offsets whose pilot statistic is computed exactly
PHASE_HYPOTHESES = TILE * TILE * len(PILOT_WEIGHTINGS)   # what one tile-phase search's p-value pays for


@dataclass(frozen=True)
class Verification:
    """The best tile offset's statistic ``T`` for a payload's per-copy layer, and its p-value."""

    score: float
    p_value: float
    units: int              # valid units read
    hypotheses: int         # tile offsets tried


def _mark_frame(working: np.ndarray, plane: np.ndarray, to_tile: np.ndarray):
    """``working`` and ``plane`` resampled into the mark's frame, a tile corner at (0, 0); and the valid
    pixels. ``to_tile`` (3x3) maps working (row, col, 1) to the marked tile's (row, col, 1) modulo TILE."""
    height, width = plane.shape
    corners = np.array([[0, 0, 1], [0, width, 1], [height, 0, 1], [height, width, 1]], dtype=np.float64)
    mapped = corners @ to_tile.T
    low = np.floor(mapped[:, :2].min(axis=0) / TILE) * TILE
    size = np.ceil(mapped[:, :2].max(axis=0) - low).astype(int)
    shift = np.array([[1.0, 0.0, low[0]], [0.0, 1.0, low[1]], [0.0, 0.0, 1.0]])
    back = np.linalg.inv(to_tile) @ shift                      # view (row, col) -> working (row, col)
    if np.allclose(back, np.eye(3), atol=1e-6):
        return working, plane, np.ones(plane.shape, dtype=bool)
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    matrix = (swap @ back @ swap)[:2]                           # OpenCV's (x, y)
    dsize = (int(size[1]), int(size[0]))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    view = cv2.warpAffine(plane, matrix, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT)
    luma = cv2.warpAffine(working, matrix, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones_like(plane), matrix, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT)
    return luma, view, inside > 0.999


def _offsets(tiles: copy_layer.Cut) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Where the cut's valid tiles start, and every (row, col) tile index of the original frame that
    start may have: a frame of 4 whole tiles along its short side and at most 4 * MAX_ASPECT along
    its long side (or just the cut itself when it is larger)."""
    rows, cols = np.nonzero(tiles.valid.any(axis=2))
    if rows.size == 0:
        return (0, 0), [(0, 0)]
    top, left = int(rows.min()), int(cols.min())
    span = (int(rows.max()) - top + 1, int(cols.max()) - left + 1)
    long = int(_SHORT_TILES * MAX_ASPECT)
    offsets: set[tuple[int, int]] = set()
    for frame in ((_SHORT_TILES, long), (long, _SHORT_TILES)):
        if span[0] <= frame[0] and span[1] <= frame[1]:
            offsets.update((r, c) for r in range(frame[0] - span[0] + 1) for c in range(frame[1] - span[1] + 1))
    return (top, left), sorted(offsets) or [(0, 0)]


def verify(working: np.ndarray, plane: np.ndarray, to_tile: np.ndarray, key: Key, payload: int) -> Verification:
    """Look for ``payload``'s per-copy layer in a suspect whose working luminance is ``working``, its
    whitened view ``plane``, read by the periodic layer through ``to_tile``."""
    luma, view, valid = _mark_frame(working, plane, to_tile)
    tiles = copy_layer.cut(view, luma, key, valid)
    (top, left), offsets = _offsets(tiles)
    best = -np.inf
    for row, col in offsets:
        best = max(best, copy_layer.combined(copy_layer.unit_scores(tiles, key, payload, (row - top, col - left))))
    return Verification(score=float(best), p_value=stats.max_of_normals_p_value(best, len(offsets)),
                        units=tiles.units, hypotheses=len(offsets))


def without_host(working: np.ndarray, original: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """A suspect's luminance ``working`` in a master's working frame minus the master's own, ``original``,
    fitted for gain and offset where the suspect covers the frame (``valid``): the marks, and what the
    copy went through."""
    inside = np.ones(working.shape, bool) if valid is None else valid
    if np.count_nonzero(inside) < 2:
        return working
    host, suspect = original[inside].astype(np.float64), working[inside].astype(np.float64)
    host_mean, suspect_mean = host.mean(), suspect.mean()
    host -= host_mean
    spread = float(np.dot(host, host))         # least squares in closed form (np.polyfit: 3-4 times the time)
    gain = float(np.dot(host, suspect - suspect_mean)) / spread if spread > 0.0 else 0.0
    offset = suspect_mean - gain * host_mean
    return (working - (gain * original + offset)).astype(np.float32)


def candidate_scores(plane: np.ndarray, working: np.ndarray, key: Key, candidates: list[int],
                     valid: np.ndarray | None = None) -> tuple[list[float], int]:
    """Each candidate payload's per-copy statistic ``T`` at the identity, for a suspect already in the
    master's working frame: ``plane`` its whitened view (zero where not ``valid``), ``working`` its
    luminance (which gives the content bits); and how many units were read."""
    tiles = copy_layer.cut(plane, working, key, valid)
    return [copy_layer.combined(copy_layer.unit_scores(tiles, key, payload)) for payload in candidates], tiles.units


@dataclass(frozen=True)
class Phase:
    """Where this key's tile grid lies in a suspect at a master's working scale."""

    z: float
    p_value: float              # the best pilot over every offset of the tile (PHASE_HYPOTHESES)
    offset: tuple[int, int]     # (row, col) in the suspect's working pixels where a tile starts, mod TILE


def tile_phase(working: np.ndarray, key: Key) -> Phase:
    """Search ``working`` (float32 luminance, upright, at the master's working scale, any size) for
    this key's pilot at every offset of the tile."""
    plane, _ = masking.whiten(working)
    spectra = sync.flattened(sync.fold(plane, TILE)[None], sync.PHASE_ONLY)
    z, _, row, col, _ = layout_for(key).best_pilot(spectra, _PHASE_SHORTLIST)
    return Phase(z=z, p_value=stats.max_of_normals_p_value(z, PHASE_HYPOTHESES), offset=(row, col))
