"""Synchronisation: fold a periodic mark into one tile and find where the tile starts.

The mark repeats with period ``tile`` at working resolution. Summing all tiles (folding) adds the
mark coherently and the host incoherently. A keyed pilot pattern in every tile is then located by
circular cross-correlation, which finds the crop offset and gives the detection statistic.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy import fft, ndimage

__all__ = ["TILE", "JPEG_BLOCK", "fold", "tile_pattern", "flattened", "dihedral_spectra", "pilot_peaks", "DIHEDRAL",
           "dihedral", "canonical_view", "central", "MAX_ASPECT", "PHASE_ONLY"]

JPEG_BLOCK = 8       # px of an image: a JPEG codec's block grid (found at working scale as a period)
TILE = 128           # px at working resolution: the lattice scheme's tile, the mark's period
MAX_ASPECT = 3.0     # longest side the geometric searches look at, relative to the short side
_FLATTENING = 5      # frequencies (per side) over which a folded tile's power spectrum is averaged
PHASE_ONLY = 1       # a neighbourhood of one frequency: each coefficient divided by its own magnitude


def fold(plane: np.ndarray, tile: int) -> np.ndarray:
    """Sum every ``tile`` x ``tile`` block of ``plane`` (zero-padded at the far edges) into one."""
    height, width = plane.shape
    folded = np.zeros((tile, tile), dtype=np.float32)
    whole = width - width % tile                 # columns of whole blocks; the rest is a partial one
    for top in range(0, height, tile):           # a band of blocks at a time, as views (no padded copy)
        band = plane[top:top + tile]
        if whole:
            folded[:band.shape[0]] += band[:, :whole].reshape(band.shape[0], -1, tile).sum(axis=1)
        if whole < width:
            folded[:band.shape[0], :width - whole] += band[:, whole:]
    return folded


DIHEDRAL = tuple((turns, flip) for flip in (False, True) for turns in range(4))   # the square's 8 symmetries


def dihedral(tile: np.ndarray, index: int) -> np.ndarray:
    """The ``index``-th symmetry of a square array: ``turns`` quarter turns, after a transpose if ``flip``."""
    turns, flip = DIHEDRAL[index]
    return np.rot90(tile.T if flip else tile, turns)


def canonical_view(plane: np.ndarray, basis: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``plane`` so that the lattice with ``basis`` (columns v1, v2 as (row, col) vectors in
    ``plane``'s pixels) becomes the square lattice of ``period``.

    Returns the view and the 2x3 matrix taking view (row, col, 1) to ``plane`` (row, col).
    """
    linear = basis / period
    inverse = np.linalg.inv(linear)
    height, width = plane.shape
    corners = np.array([[0, 0], [0, width], [height, 0], [height, width]], dtype=np.float64)
    canonical = corners @ inverse.T
    low, high = canonical.min(axis=0), canonical.max(axis=0)
    to_plane = np.column_stack([linear, linear @ low])
    if np.allclose(linear, np.eye(2)):
        return plane, np.column_stack([np.eye(2), np.zeros(2)])
    size = np.ceil(high - low).astype(int)
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])      # OpenCV speaks (x, y), we speak (row, col)
    matrix = np.column_stack([swap @ linear @ swap, swap @ to_plane[:, 2]])
    view = cv2.warpAffine(plane, matrix, (int(size[1]), int(size[0])),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    return view, to_plane


def central(plane: np.ndarray, aspect: float = MAX_ASPECT) -> tuple[np.ndarray, tuple[int, int]]:
    """The central part of ``plane`` whose long side is at most ``aspect`` times its short side, and
    its (row, col) offset in ``plane``. A periodic mark is the same everywhere; the cost of a search
    grows with the sides."""
    short = min(plane.shape)
    kept = [min(side, int(aspect * short)) for side in plane.shape]
    top, left = ((side - keep) // 2 for side, keep in zip(plane.shape, kept))
    return plane[top:top + kept[0], left:left + kept[1]], (top, left)


def tile_pattern(pattern: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Repeat a square ``pattern`` to cover ``shape``, anchored at the top-left pixel."""
    tile = pattern.shape[0]
    reps = (-(-shape[0] // tile), -(-shape[1] // tile))
    return np.tile(pattern, reps)[: shape[0], : shape[1]]


def flattened(tiles: np.ndarray, neighbourhood: int = _FLATTENING) -> np.ndarray:
    """The real FFT of each tile with its spectrum flattened: every coefficient divided by the RMS
    magnitude of the ``neighbourhood`` x ``neighbourhood`` frequencies around it (circularly). A
    coloured host comes out white, so the pilot's peaks are sharp and each chip is read against the
    noise at its own frequencies; averaging the power over neighbours, rather than dividing each
    coefficient by its own magnitude (``neighbourhood`` 1: phase only), neither amplifies the host's
    chance nulls nor flattens the mark where it dominates. ``numpy.fft.irfft2`` (or scipy's) of it is
    the flattened tile."""
    if neighbourhood == PHASE_ONLY:         # no neighbours: the real transform will do
        spectra = fft.rfft2(tiles)
        return spectra / np.maximum(np.abs(spectra), 1e-12)
    return _flattened_full(fft.fft2(tiles), neighbourhood)[..., : tiles.shape[-1] // 2 + 1]


def _flattened_full(full: np.ndarray, neighbourhood: int = _FLATTENING) -> np.ndarray:
    """``full`` (complex FFTs of tiles, (..., n, n)) divided by its local RMS magnitude."""
    size = (1,) * (full.ndim - 2) + (neighbourhood, neighbourhood)
    power = ndimage.uniform_filter(np.abs(full) ** 2, size=size, mode="wrap")
    return full / np.sqrt(np.maximum(power, 1e-24))


def dihedral_spectra(tile: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """``flattened`` of the ``indices``-th symmetries of a square ``tile``, (len(indices), n, n//2+1),
    from one transform: a symmetry permutes the coefficients of the tile's full FFT and turns each
    by the phase of the shift it implies (the flattening's square neighbourhood is the same for all)."""
    full = _flattened_full(fft.fft2(tile))
    gathers, phases = _dihedral_maps(tile.shape[0])
    return full.ravel()[gathers[list(indices)]] * phases[list(indices)]


@functools.lru_cache(maxsize=4)
def _dihedral_maps(size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each symmetry, where each coefficient of its real FFT is in the full FFT of the tile (flat
    index) and the phase it gets. The symmetry reads the tile at ``A x + b`` (A a signed permutation,
    orthogonal), so its coefficient ``k`` is the tile's at ``A k``, times ``exp(2 pi i (A k) . b / size)``."""
    rows, cols = np.indices((size, size))
    k1, k2 = np.indices((size, size // 2 + 1))
    gather_list, phase_list = [], []
    for index in range(len(DIHEDRAL)):
        source_rows, source_cols = dihedral(rows, index), dihedral(cols, index)
        b = np.array([source_rows[0, 0], source_cols[0, 0]])
        steps = np.array([[source_rows[1, 0], source_rows[0, 1]], [source_cols[1, 0], source_cols[0, 1]]])
        a = (steps - b[:, None] + 1) % size - 1        # the columns of A: where one step down, one right lead
        m1, m2 = (a[0, 0] * k1 + a[0, 1] * k2) % size, (a[1, 0] * k1 + a[1, 1] * k2) % size
        gather_list.append(m1 * size + m2)
        phase_list.append(np.exp(2j * np.pi * (m1 * b[0] + m2 * b[1]) / size).astype(np.complex64))
    gathers, phases = np.stack(gather_list), np.stack(phase_list)
    gathers.setflags(write=False)
    phases.setflags(write=False)
    return gathers, phases


def pilot_peaks(spectra: np.ndarray, pilot_spectra: np.ndarray, weightings: np.ndarray, count: int,
                size: int) -> list[tuple[int, int, int]]:
    """The ``count`` best (tile, dy, dx) for the pilot among tiles given by their real FFTs ``spectra``
    (k, size, size//2+1), by circular cross-correlation with a pilot split into bands
    (``pilot_spectra``: the conjugate FFT of each band's pattern, (bands, size, size//2+1)).

    Each band's surface is divided by its RMS and the bands are combined with each row of
    ``weightings`` (unit norm). This only shortlists offsets: the statistic is recomputed exactly at
    each of them by the caller.
    """
    surfaces = fft.irfft2(spectra[:, None] * pilot_spectra[None], s=(size, size))
    surfaces /= np.maximum(np.sqrt(np.mean(surfaces**2, axis=(2, 3), keepdims=True)), 1e-12)
    # the weighted sums of the band surfaces, best weighting per offset (no BLAS call: one core stays one)
    combined = np.max([np.einsum("b,kbij->kij", row, surfaces) for row in weightings.astype(np.float32)], axis=0)
    best = np.argpartition(combined.ravel(), -count)[-count:]
    return [(int(k), int(dy), int(dx)) for k, dy, dx in (np.unravel_index(int(flat), combined.shape) for flat in best)]
