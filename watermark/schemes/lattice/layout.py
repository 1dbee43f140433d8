"""The lattice scheme's tile: which DWT coefficients of the 128 x 128 tile carry what, for a key.

A tile is synthesised from the detail bands of levels 2 and 3 of a periodised ``db4`` transform
(mid frequencies). Each coefficient is a *slot*; a keyed permutation makes a fifth of the slots in
every level the *pilot* (a known keyed pattern) and spreads the coded payload's bits over the rest;
every slot has a keyed +-1 chip, scaled so that each level carries its share of the energy.
"""

from __future__ import annotations

import functools

import numpy as np
import pywt
from scipy import fft

from ... import coding
from ...keys import Key, chips, permutation
from . import sync
from .sync import TILE

__all__ = ["WAVELET", "LEVELS", "LEVEL_OF_SLOT", "SLOTS", "CHIP_AMPLITUDE", "PILOT_WEIGHTINGS", "tile_from_slots",
           "slots_from_tile", "Layout", "layout_for"]

WAVELET = "db4"
LEVELS = (3, 2)                # DWT levels whose detail bands carry chips, coarsest first
_LEVEL_ENERGY = (0.45, 0.55)              # share of the mark's energy per level: coarse levels
                                         # survive blur and small sizes, level 2 carries most
_PILOT_SHARE = 0.2
PILOT_WEIGHTINGS = np.array([[0.45, 0.9], [1.0, 0.0]])   # per level: all bands; no level 2
PILOT_WEIGHTINGS /= np.linalg.norm(PILOT_WEIGHTINGS, axis=1, keepdims=True)


def _band_size(level: int) -> int:
    return TILE >> level


LEVEL_OF_SLOT = np.concatenate([np.full(3 * _band_size(level) ** 2, i) for i, level in enumerate(LEVELS)])
SLOTS = LEVEL_OF_SLOT.size
_SLOTS_PER_LEVEL = np.bincount(LEVEL_OF_SLOT)
_LEVEL_AMPLITUDE = np.sqrt(np.array(_LEVEL_ENERGY) / _SLOTS_PER_LEVEL).astype(np.float32)
_LEVEL_AMPLITUDE /= _LEVEL_AMPLITUDE[-1]
CHIP_AMPLITUDE = _LEVEL_AMPLITUDE[LEVEL_OF_SLOT]     # each slot's chip amplitude, relative to level 2's


def tile_from_slots(values: np.ndarray) -> np.ndarray:
    """The spatial ``TILE`` x ``TILE`` pattern whose chip-carrying detail coefficients are ``values``
    (``(..., SLOTS)`` gives ``(..., TILE, TILE)``)."""
    values = np.asarray(values)
    lead = values.shape[:-1]
    deepest = max(LEVELS)
    coeffs: list = [np.zeros(lead + (_band_size(deepest),) * 2)]
    start = 0
    for level in range(deepest, 0, -1):
        size = _band_size(level)
        if level in LEVELS:
            bands = np.moveaxis(values[..., start:start + 3 * size * size].reshape(lead + (3, size, size)), -3, 0)
            start += 3 * size * size
        else:
            bands = np.zeros((3,) + lead + (size, size))
        coeffs.append(tuple(bands))
    return pywt.waverec2(coeffs, WAVELET, mode="periodization", axes=(-2, -1)).astype(np.float32)


def slots_from_tile(tile: np.ndarray) -> np.ndarray:
    """The chip-carrying detail coefficients of a ``TILE`` x ``TILE`` plane, in slot order (``(..., TILE,
    TILE)`` gives ``(..., SLOTS)``)."""
    tile = np.asarray(tile)
    coeffs = pywt.wavedec2(tile, WAVELET, mode="periodization", level=max(LEVELS), axes=(-2, -1))
    chosen = [coeffs[1 + max(LEVELS) - level] for level in LEVELS]
    lead = tile.shape[:-2]
    slots = np.concatenate([band.reshape(lead + (-1,)) for bands in chosen for band in bands], axis=-1)
    return slots.astype(np.float32)


class Layout:
    """Which slot holds what, for one key: pilot slots, payload slots and their bits, and chips."""

    def __init__(self, key: Key) -> None:
        order = permutation(key, "lattice/slots/v1", SLOTS)
        is_pilot = np.zeros(SLOTS, dtype=bool)
        for level in range(len(LEVELS)):      # the same pilot share in every level
            in_level = order[LEVEL_OF_SLOT[order] == level]
            is_pilot[in_level[: int(round(_PILOT_SHARE * in_level.size))]] = True
        self.is_pilot = is_pilot
        self.payload = order[~is_pilot[order]]
        self.bit_of_slot = np.arange(self.payload.size) % coding.CODEWORD_BITS
        self.chips = chips(key, "lattice/chips/v1", SLOTS) * _LEVEL_AMPLITUDE[LEVEL_OF_SLOT]
        self.pilot_spectra = np.stack([np.conj(fft.rfft2(tile_from_slots(
            np.where(is_pilot & (LEVEL_OF_SLOT == level), self.chips, 0.0)))) for level in range(len(LEVELS))])
        self.pilot_bands = [is_pilot & (LEVEL_OF_SLOT == level) for level in range(len(LEVELS))]
        # group index of each payload slot: (bit, level) pairs, for per-level sums per bit
        self.group = self.bit_of_slot * len(LEVELS) + LEVEL_OF_SLOT[self.payload]

    def pilot_z(self, tile: np.ndarray) -> np.ndarray:
        """The pilot's normalised correlation with ``tile`` at offset 0, best over the band weightings:
        one per plane of a stack of tiles (..., TILE, TILE), a 0-d array for one tile.

        Each band's correlation ``sum(chip * coefficient)`` over its pilot slots is divided by its
        exact standard deviation over keys, ``sqrt(sum(chip**2 * coefficient**2))``: for an image
        without this key's pilot it is a sum of independent signed terms with unit variance, whatever
        the image holds (another key's mark included).
        """
        return self._pilot_z(self.products(tile))

    def products(self, tile: np.ndarray) -> np.ndarray:
        """The slots of ``tile`` (..., TILE, TILE) times this key's chips: (..., SLOTS)."""
        return slots_from_tile(tile) * self.chips

    def _pilot_z(self, products: np.ndarray) -> np.ndarray:
        """:meth:`pilot_z` of tiles given by their slots times the chips, ``products`` (..., SLOTS)."""
        z = np.stack([products[..., band].sum(axis=-1)
                      / np.maximum(np.sqrt(np.sum(products[..., band] ** 2, axis=-1)), 1e-30)
                      for band in self.pilot_bands], axis=-1)
        best = np.max(z @ PILOT_WEIGHTINGS.T, axis=-1)
        return best

    def best_pilot(self, spectra: np.ndarray, count: int) -> tuple[float, int, int, int, np.ndarray]:
        """The pilot's best ``(z, tile, dy, dx, products)`` among tiles given by their flattened real
        FFTs ``spectra`` (k, TILE, TILE//2+1): ``count`` offsets shortlisted by `sync.pilot_peaks`, and
        :meth:`pilot_z` computed exactly at each; ``products``: that tile's slots, moved by (dy, dx),
        times the chips."""
        shortlist = sync.pilot_peaks(spectra, self.pilot_spectra, PILOT_WEIGHTINGS, count, TILE)
        whitened = fft.irfft2(spectra[[tile for tile, _, _ in shortlist]], s=(TILE, TILE))
        products = self.products(np.stack([np.roll(tile, (-y, -x), axis=(0, 1))
                                           for tile, (_, y, x) in zip(whitened, shortlist)]))
        scores = self._pilot_z(products)
        best = int(np.argmax(scores))
        return (float(scores[best]), *shortlist[best], products[best])

    def group_sums(self, per_slot: np.ndarray) -> np.ndarray:
        """Sums of ``per_slot[payload]`` per (bit, level), shape ``(CODEWORD_BITS, len(LEVELS))``."""
        sums = np.bincount(self.group, weights=per_slot[self.payload],
                           minlength=coding.CODEWORD_BITS * len(LEVELS))
        return sums.reshape(coding.CODEWORD_BITS, len(LEVELS))


@functools.lru_cache(maxsize=8)
def layout_for(key: Key) -> Layout:
    """The (cached) layout of ``key``."""
    return Layout(key)
