"""Synchronisation: fold a periodic mark into one tile and find where the tile starts.

The mark repeats with period ``tile`` at working resolution. Summing all tiles (folding) adds the
mark coherently and the host incoherently. A keyed pilot pattern in every tile is then located by
circular cross-correlation, which finds the crop offset and gives the detection statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


__all__ = ["fold", "tile_pattern", "PilotMatch", "match_pilot"]


def fold(plane: np.ndarray, tile: int) -> np.ndarray:
    """Sum every ``tile`` x ``tile`` block of ``plane`` (zero-padded at the far edges) into one."""
    height, width = plane.shape
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=np.float32)
    padded[:height, :width] = plane
    return padded.reshape(rows, tile, cols, tile).sum(axis=(0, 2))


def tile_pattern(pattern: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Repeat a square ``pattern`` to cover ``shape``, anchored at the top-left pixel."""
    tile = pattern.shape[0]
    reps = (-(-shape[0] // tile), -(-shape[1] // tile))
    return np.tile(pattern, reps)[: shape[0], : shape[1]]


@dataclass(frozen=True)
class PilotMatch:
    """Where the pilot correlates best in a folded tile, and how far that stands above the rest."""

    offset: tuple[int, int]      # (dy, dx): the tile starts this far into the folded plane
    z: float                     # combined peak, in robust standard deviations of its surface
    hypotheses: int              # offsets x band weightings searched
    level_z: tuple[float, ...]   # each band's own normalised correlation at the chosen offset


def match_pilot(folded: np.ndarray, pilot_spectra: list[np.ndarray],
                weightings: np.ndarray) -> PilotMatch:
    """Circular cross-correlation of ``folded`` with a pilot split into bands.

    ``pilot_spectra`` holds the conjugate FFT of each band's pilot pattern. Each band's correlation
    surface (zero-mean, as the pilot has no DC) is normalised by its own RMS, which a true peak can
    only inflate (conservative); the bands are then combined with each row of ``weightings`` (unit
    norm), and the best offset over all weightings wins.
    """
    spectrum = np.fft.rfft2(folded)
    spectrum /= np.maximum(np.abs(spectrum), 1e-12)     # phase only: a white host, a sharp peak
    surfaces = []
    for pilot in pilot_spectra:
        surface = np.fft.irfft2(spectrum * pilot, s=folded.shape)
        spread = float(np.sqrt(np.mean(surface * surface)))
        surfaces.append(surface / spread if spread > 0 else np.zeros_like(surface))
    stack = np.stack(surfaces)
    best_z, best_flat = -np.inf, 0
    for weights in weightings:
        combined = np.tensordot(weights, stack, axes=1)
        flat = int(np.argmax(combined))
        if combined.flat[flat] > best_z:
            best_z, best_flat = float(combined.flat[flat]), flat
    dy, dx = divmod(best_flat, folded.shape[1])
    return PilotMatch(offset=(dy, dx), z=best_z, hypotheses=folded.size * len(weightings),
                      level_z=tuple(float(s[dy, dx]) for s in surfaces))
