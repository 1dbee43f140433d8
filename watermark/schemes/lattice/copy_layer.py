"""The per-copy layer: a second, non-periodic mark that names one issued copy and is bound to its content.

The periodic tile is the same in every tile position and every image of a key: that makes it blind
and robust, and it also lets anyone with the code estimate it (fold one published image), remove it,
or paste it on another image. The per-copy layer is what a fold cannot see and a paste cannot carry:

* **Per copy, per position.** Its chips are seeded by the key, the payload and the tile's position
  in the working frame (``keys.chips(key, "lattice/copy/v1/<payload>/<row>/<col>")``): every tile
  carries an independent pattern, so a fold averages it away, and images of other payloads (or of
  the same payload on other content, see below) say nothing about it.
* **Multiplicative.** Each chip-carrying DWT coefficient ``x`` of the host (the periodic tile's
  bands, levels 2 and 3 of ``db4``) gets ``CONTRAST * |x| * chip``: the change hides under the
  host's own coefficient, whose sign it never flips, so the marked coefficient's sign tells nothing
  of the chip. An additive layer under the perceptual mask is, on the contrary, read off a single
  image where the host is quiet (measured: a per-tile sign estimate subtracted at twice the layer's
  amplitude erased it at 41-44 dB; this layer survives four times that, at 37-41 dB). Where the
  host is busy the layer is scaled down so that its local RMS stays under ``CAP`` times the
  periodic layer's perceptual amplitude.
* **Content-bound.** Each tile is cut into ``UNITS x UNITS`` units (32 px squares at the working
  resolution); a unit's chips are multiplied by a keyed *content bit* of the host there: the sign
  of a keyed smooth projection of the unit's low-passed luminance (Fridrich's key-dependent robust
  bits). The bits survive what the mark survives (they live far below its band) but differ between
  unrelated images, so a layer lifted from one image with its whole residual and pasted on another
  reads as random signs, unit by unit.

A reader needs the tile grid in the mark's frame (blind: from the periodic layer, modulo the tile;
informed: from registration to the master). What the tiles share (the periodic layer, or an
attacker's estimate of it subtracted, often at several times its amplitude) is first projected out
of each tile, unit by unit. Each unit's correlation with the expected chips is
divided by its exact standard deviation over keys (``z_u``) and the units are combined by the
self-normalised sum ``T = sum(z_u) / sqrt(sum(z_u**2))``. Without this payload's layer the ``z_u``
are independent and symmetric (disjoint keyed chips), and so they are for a pasted layer whose
content bits agree at random: ``T`` is then sub-Gaussian with unit variance whatever the image
holds. ``T`` cannot exceed ``sqrt(units)``: the evidence grows with the area the layer covers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ...keys import Key, chips, words
from .layout import LEVEL_OF_SLOT, LEVELS, SLOTS, slots_from_tile, tile_from_slots
from .sync import TILE

__all__ = ["CONTRAST", "CAP", "UNITS", "UNIT", "UNIT_OF_SLOT", "copy_chips", "layer", "content_bits", "Cut", "cut",
           "unit_scores", "combined"]

CONTRAST = 0.15        # relative change of each chip-carrying host coefficient's magnitude
CAP = 0.5              # the layer's local RMS stays under this times the periodic layer's amplitude
UNITS = 4              # units per tile side
UNIT = TILE // UNITS   # px at the working resolution
_RMS_SIGMA = 8.0       # px: neighbourhood of the layer's local RMS, for the cap
# The layer's amplitude against the working frame's area. Two readers use it: the registry's read against
# the master (its file, or the frame the registry keeps), which subtracts the host and nears the statistic's
# ceiling with a fraction of the layer, and blind verification, whose evidence (the layer against the host)
# grows as the amplitude times the square root of the area. The layer is strongest (_PEAK) on a 1080p
# photograph's frame; fainter on a smaller one by the square root of the area ratio (blind verification
# fades there first: with the whole layer, a 1024 x 768 copy verified after JPEG 50 in 1 of 4 and after a
# quarter crop in none, `eval.security --size 1024x768 --limit-images 4 --trials 24` at 1214cf4) and on
# a larger one by the fourth root (half the growth given back as invisibility; all of it, the square root,
# left one of four 1080p photographs' scrubbed copies unnamed without a frame: `eval.security --limit-images 4`)
_PEAK_AREA = 720 * 1280
_PEAK = 0.785          # as the fourth-root law from a 1024 x 768 frame at full strength left a 1080p frame
_BIND_SIGMA = 4.0      # px: the content bits look at luminance blurred this much (below the mark's band)
_BIND_SMOOTH = 4.0     # px: smoothness of the keyed projection patterns
_MIN_VALID = 0.75      # share of a unit's pixels that must be valid for the unit to count


def _unit_of_slot() -> np.ndarray:
    """The unit (0 .. UNITS**2 - 1, row-major in the tile) each slot's coefficient lies in."""
    out = []
    for level in LEVELS:
        size = TILE >> level
        rows, cols = np.indices((size, size))
        out += [((rows * UNITS // size) * UNITS + cols * UNITS // size).ravel()] * 3   # H, V, D bands
    return np.concatenate(out)


UNIT_OF_SLOT = _unit_of_slot()
_GROUP = LEVEL_OF_SLOT * UNITS * UNITS + UNIT_OF_SLOT          # (level, unit) of each slot
# A unit's levels are normalised apart and summed with weights sqrt(share of the unit's chips): the
# layer gives every chip the same relative amplitude, whatever the level's coefficients weigh.
_LEVEL_WEIGHT = np.sqrt(np.bincount(LEVEL_OF_SLOT) / SLOTS)
_ORDER = np.argsort(_GROUP, kind="stable")          # slots grouped by (level, unit), equal-sized groups per level
_LEVEL_SPANS = [(int(start), int(stop)) for start, stop in
                zip(np.cumsum([0, *np.bincount(LEVEL_OF_SLOT)])[:-1], np.cumsum(np.bincount(LEVEL_OF_SLOT)))]
_GROUPS = np.eye(int(_GROUP.max()) + 1, dtype=np.float32)[_GROUP]     # (SLOTS, groups): one-hot of _GROUP


def _blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(plane, (size, size), sigma, borderType=cv2.BORDER_REFLECT)


@functools.lru_cache(maxsize=4096)
def copy_chips(key: Key, payload: int, row: int, col: int) -> np.ndarray:
    """The +-1 chips of tile (``row``, ``col``) of the working frame for ``payload``, one per slot."""
    values = chips(key, f"lattice/copy/v1/{payload:016x}/{row}/{col}", SLOTS)
    values.setflags(write=False)
    return values


@functools.lru_cache(maxsize=8)
def _projections(key: Key) -> np.ndarray:
    """``(UNITS, UNITS, UNIT, UNIT)`` keyed smooth zero-mean patterns of unit norm, one per unit of a tile."""
    raw = (words(key, "lattice/bind/v1", UNITS * UNITS * UNIT * UNIT) >> np.uint64(11)).astype(np.float64)
    raw = (raw / 2.0**53 - 0.5).reshape(UNITS * UNITS, UNIT, UNIT).astype(np.float32)
    smooth = np.stack([_blur(pattern, _BIND_SMOOTH) for pattern in raw])
    smooth -= smooth.mean(axis=(1, 2), keepdims=True)
    smooth /= np.linalg.norm(smooth.reshape(len(smooth), -1), axis=1)[:, None, None]
    return smooth.reshape(UNITS, UNITS, UNIT, UNIT)


def _units(plane: np.ndarray) -> np.ndarray:
    """The whole ``UNIT`` x ``UNIT`` blocks of ``plane`` as (rows, cols, UNIT, UNIT)."""
    rows, cols = plane.shape[0] // UNIT, plane.shape[1] // UNIT
    return plane[:rows * UNIT, :cols * UNIT].reshape(rows, UNIT, cols, UNIT).transpose(0, 2, 1, 3)


def content_bits(working: np.ndarray, key: Key) -> np.ndarray:
    """The keyed content bit (+-1) of every whole unit of the working-resolution luminance ``working``,
    shape ``(rows // UNIT, cols // UNIT)``; the grid starts at (0, 0), which must be a tile corner."""
    blocks = _units(_blur(working.astype(np.float32), _BIND_SIGMA))
    blocks = blocks - blocks.mean(axis=(2, 3), keepdims=True)
    rows, cols = blocks.shape[:2]
    patterns = np.tile(_projections(key), (-(-rows // UNITS), -(-cols // UNITS), 1, 1))[:rows, :cols]
    return np.where(np.einsum("rcij,rcij->rc", blocks, patterns) >= 0, 1.0, -1.0).astype(np.float32)


def _tiles(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The whole tiles of ``plane`` as (rows, cols, TILE, TILE)."""
    return plane[:rows * TILE, :cols * TILE].reshape(rows, TILE, cols, TILE).transpose(0, 2, 1, 3)


def _per_tile(units: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A (rows * UNITS, cols * UNITS) array of per-unit values as (rows, cols, UNITS**2)."""
    units = units[:rows * UNITS, :cols * UNITS]
    return units.reshape(rows, UNITS, cols, UNITS).transpose(0, 2, 1, 3).reshape(rows, cols, UNITS * UNITS)


def layer(working: np.ndarray, key: Key, payload: int, mask: np.ndarray) -> np.ndarray:
    """The per-copy layer of ``payload`` for the working-resolution luminance ``working`` (same shape).

    In every whole tile each chip-carrying host coefficient ``x`` gets ``CONTRAST * |x| * chip * bit``;
    the layer is then scaled down wherever its local RMS exceeds ``CAP * mask`` (``mask``: the periodic
    layer's amplitude at strength 1). Partial tiles at the far edges get nothing (no reader uses them).
    The whole layer is then weighted by the working frame's area: ``_PEAK`` on a 1080p photograph's,
    fainter by the square root of the ratio of areas on a smaller frame and by its fourth root on a
    larger one (a 1024 x 768 image's: 0.48; a 4000 x 3000 photograph's, smaller than 1080p's: 0.68).
    """
    rows, cols = working.shape[0] // TILE, working.shape[1] // TILE
    bits = _per_tile(content_bits(working, key), rows, cols)[..., UNIT_OF_SLOT]       # (rows, cols, SLOTS)
    host = slots_from_tile(_tiles(working, rows, cols))
    chips_here = np.stack([[copy_chips(key, payload, r, c) for c in range(cols)] for r in range(rows)])
    out = np.zeros(working.shape, dtype=np.float32)
    if rows and cols:
        layer_tiles = tile_from_slots(CONTRAST * np.abs(host) * chips_here * bits)
        out[:rows * TILE, :cols * TILE] = layer_tiles.transpose(0, 2, 1, 3).reshape(rows * TILE, cols * TILE)
    rms = np.sqrt(_blur(out * out, _RMS_SIGMA))
    area = working.size / _PEAK_AREA
    weight = _PEAK * min(area ** 0.5, area ** -0.25)
    return out * (weight * np.minimum(1.0, CAP * mask / np.maximum(rms, 1e-12)))


@dataclass(frozen=True)
class Cut:
    """A whitened plane cut into whole tiles: each tile's slot values, each unit's validity and content bit."""

    slots: np.ndarray        # (rows, cols, SLOTS)
    valid: np.ndarray        # (rows, cols, UNITS**2) bool
    bits: np.ndarray         # (rows, cols, UNITS**2) +-1

    @property
    def units(self) -> int:
        """How many valid units the cut holds."""
        return int(self.valid.sum())


def cut(plane: np.ndarray, working: np.ndarray, key: Key, valid: np.ndarray | None = None) -> Cut:
    """Cut the whitened ``plane`` and the luminance ``working`` (same shape, a tile corner at (0, 0)) into
    whole tiles, what the tiles share projected out of each (:func:`_without_periodic`); ``valid``
    (bool, same shape, optional) marks the pixels that belong to the image."""
    rows, cols = plane.shape[0] // TILE, plane.shape[1] // TILE
    slots = slots_from_tile(_tiles(plane, rows, cols)) if rows and cols else np.zeros((rows, cols, SLOTS), np.float32)
    region = (slice(0, rows * TILE), slice(0, cols * TILE))
    if valid is None:
        valid_units = np.ones((rows * UNITS, cols * UNITS), dtype=bool)
    else:
        valid_units = _units(valid[region].astype(np.float32)).mean(axis=(2, 3)) >= _MIN_VALID
    bits = content_bits(working[region], key)
    valid_tiles = _per_tile(valid_units, rows, cols)
    return Cut(slots=_without_periodic(slots, valid_tiles), valid=valid_tiles, bits=_per_tile(bits, rows, cols))


def _without_periodic(slots: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each tile's ``slots`` minus, per (level, unit), their projection on the mean of the other valid
    tiles: what every tile shares (the periodic layer, or an attacker's estimate of it subtracted) is
    noise to the per-copy layer, whose chips differ from tile to tile. A function of the plane alone,
    so that without a payload's layer its unit scores stay symmetric."""
    weights = valid[..., UNIT_OF_SLOT].astype(np.float32)
    total, count = (weights * slots).sum(axis=(0, 1)), weights.sum(axis=(0, 1))
    others = (total - weights * slots) / np.maximum(count - weights, 1.0)   # leave-one-out mean tile
    gain = ((slots * others) @ _GROUPS) / np.maximum((others * others) @ _GROUPS, 1e-30)
    return (slots - (gain @ _GROUPS.T) * others).astype(np.float32)


def unit_scores(tiles: Cut, key: Key, payload: int, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Each valid unit's normalised correlation ``z_u`` with ``payload``'s layer, the cut's tile (r, c)
    being tile (r + shift[0], c + shift[1]) of the mark's frame."""
    used = np.argwhere(tiles.valid.any(axis=2))
    if used.size == 0:
        return np.zeros(0)
    expected = np.stack([copy_chips(key, payload, int(r) + shift[0], int(c) + shift[1]) for r, c in used])
    products = (tiles.slots[used[:, 0], used[:, 1]] * expected)[:, _ORDER]        # grouped by (level, unit)
    z = np.zeros((len(used), UNITS * UNITS))
    for level, (start, stop) in enumerate(_LEVEL_SPANS):
        grouped = products[:, start:stop].reshape(len(used), UNITS * UNITS, -1)
        norms = np.sqrt(np.square(grouped).sum(axis=2))
        z += _LEVEL_WEIGHT[level] * grouped.sum(axis=2) / np.maximum(norms, 1e-30)
    z *= tiles.bits[used[:, 0], used[:, 1]]
    return z[tiles.valid[used[:, 0], used[:, 1]]]


def combined(scores: np.ndarray) -> float:
    """``sum(z_u) / sqrt(sum(z_u**2))``, 0 without units."""
    norm = float(np.sqrt(np.sum(np.square(scores, dtype=np.float64))))
    return float(np.sum(scores, dtype=np.float64)) / norm if norm > 0 else 0.0
