"""Reading one view of a suspect for a key's pilot and payload, and what its p-value pays for.

A lattice hypothesis, folded (:class:`~watermark.schemes.lattice.views.Folded`), is read by finding the
key's pilot over its symmetries and offsets and decoding the payload there, the soft bits weighted by
each band's signal-to-noise ratio measured on the pilot (:func:`read`); a promising one is polished on
the pilot (:func:`polish`); the plane with a smooth warp undone is read on the tile grid as embedded
(:func:`read_dewarped`); and a suspect in a master's frame is read near the identity, its payload
matched among candidate payloads or else decoded (:func:`read_at_identity`). The p-value of a blind
read pays for every hypothesis the detector may try: the identity, ``SEARCH_CANDIDATES`` lattices and
one dewarped view, and the looks of ``POLISHED`` polishes once a hypothesis reaches ``POLISH_ABOVE``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import fft

from ... import coding, stats
from . import sync
from .layout import LEVEL_OF_SLOT, LEVELS, PILOT_WEIGHTINGS, SLOTS, Layout
from .sync import TILE
from .views import Dewarped, Folded, Reading, folded, tile_coordinates

__all__ = ["read", "polish", "read_dewarped", "read_at_identity", "SEARCH_CANDIDATES", "POLISH_ABOVE", "POLISHED",
           "DECODE_BELOW", "REGISTRATION_SLACK_HYPOTHESES"]

_SHORTLIST = 4                           # offsets per lattice whose statistic is computed exactly
DECODE_BELOW = 1e-3                      # pilot p-value under which the payload is decoded
SEARCH_CANDIDATES = 4                    # lattice hypotheses tried after the identity fails
POLISH_ABOVE = 5.5                       # pilot z from which a lattice is polished on the pilot itself
_POLISH_STEPS = (0.004, 0.002, 0.001)    # polishing steps, relative to the period
_POLISH_LOOKS = 64                       # bases one polish may read (each with one symmetry)
POLISHED = 2                             # lattices that may be polished per image
_DEWARPS = 1                             # key-independent dewarped views read (StirMark's bending)
# Every hypothesis the search tries, for the p-value's union bound: lattices x symmetries x band
# weightings x offsets; and the looks that polishing may add once a hypothesis reaches POLISH_ABOVE.
_HYPOTHESES = (1 + SEARCH_CANDIDATES + _DEWARPS) * len(sync.DIHEDRAL) * len(PILOT_WEIGHTINGS) * TILE * TILE
_POLISH_HYPOTHESES = POLISHED * _POLISH_LOOKS * len(PILOT_WEIGHTINGS) * TILE * TILE
_REGISTRATION_SLACK = 3                  # px at working resolution an informed read's pilot looks around the identity
REGISTRATION_SLACK_HYPOTHESES = (2 * _REGISTRATION_SLACK + 1) ** 2 * len(PILOT_WEIGHTINGS)


def read_at_identity(plane: np.ndarray, layout: Layout, flatten: bool, hypotheses: int,
                      candidates: list[int], views: int, false_alarm: float) -> tuple[Reading, tuple[int, int]]:
    """The periodic layer of ``plane`` (a suspect's view in a master's working frame) read within
    ``_REGISTRATION_SLACK`` px of the identity: its pilot (p-value over ``hypotheses``), payload
    matched among ``candidates`` (its p-value paying for the ``views`` read) or decoded; and the shift."""
    folded = sync.fold(plane, TILE)
    if flatten:
        folded = fft.irfft2(sync.flattened(folded, sync.PHASE_ONLY), s=(TILE, TILE))
    reach = range(-_REGISTRATION_SLACK, _REGISTRATION_SLACK + 1)
    z, (dy, dx) = max((float(layout.pilot_z(np.roll(folded, (-y, -x), axis=(0, 1)))), (y, x))
                      for y in reach for x in reach)
    p_pilot = stats.max_of_normals_p_value(z, hypotheses)
    reading = _decode(layout, layout.products(np.roll(folded, (-dy, -dx), axis=(0, 1))), z, p_pilot)
    if candidates:
        reading = _match(reading, candidates, false_alarm, looks=views)
    return reading, (dy, dx)


def _match(reading: Reading, candidates: list[int], false_alarm: float, looks: int = 1) -> Reading:
    """The periodic layer's payload matched among ``candidates``: the best-matching whole codeword, if
    its p-value (times the number of candidates and of ``looks``, the views matched) is at most
    ``false_alarm``, and the decoder read no other payload (CRC-checked); else the decoded reading.
    Where the decoder found the same payload, the better of the two p-values, doubled, is kept.

    The match's null is a payload drawn at random (a registry's are): the codewords of payloads a few
    bits apart agree on most coded bits (0.6 for one bit), so a mark whose payload is not a candidate
    but a neighbour of one (sequential or text payloads given by hand) matched that neighbour at
    p ~ 1e-25; the decoder's payload, read whole, says which it is. A match the normal tail would name
    pays the null's own tail where that is heavier (`coding.match_tail`: a reading holding another
    payload's mark the decoder could not read)."""
    z = coding.candidate_z(reading.soft, candidates)
    best = int(np.argmax(z))
    tail = stats.normal_tail(float(z[best]))
    if looks * len(candidates) * tail <= false_alarm:
        tail = max(tail, coding.match_tail(reading.soft, float(z[best])))
    p_value = min(1.0, looks * len(candidates) * tail)
    if p_value > false_alarm or reading.payload is not None and reading.payload != candidates[best]:
        return reading
    if reading.payload == candidates[best]:
        p_value = min(1.0, 2.0 * min(p_value, reading.p_value))
    return replace(reading, payload=int(candidates[best]), p_value=p_value)


def read_dewarped(dewarped: Dewarped, layout: Layout) -> Reading:
    """The reading of a plane on the tile grid as embedded once a smooth warp is undone
    (:attr:`Suspect.dewarped`); its transform is the warp's affine part."""
    reading = read(dewarped.folded, layout)
    return replace(reading, to_tile=reading.to_tile @ np.linalg.inv(np.vstack([dewarped.to_plane, [0, 0, 1]])))


def polish(plane: np.ndarray, layout: Layout, basis: np.ndarray, reading: Reading) -> Reading:
    """``reading`` improved by moving ``basis`` a coordinate at a time while the pilot's z grows: the
    autocorrelation places a lattice to a fraction of a pixel per period, the pilot does better."""
    period = float(np.sqrt(abs(np.linalg.det(basis))))
    moves = np.concatenate([np.eye(4), -np.eye(4)]).reshape(8, 2, 2)
    looks = 0
    for step in _POLISH_STEPS:
        while looks + len(moves) <= _POLISH_LOOKS:
            trials = [basis + step * period * move for move in moves]
            readings = [read(folded(plane, trial, (reading.symmetry,)), layout) for trial in trials]
            looks += len(moves)
            top = max(range(len(readings)), key=lambda i: readings[i].z)
            if readings[top].z <= reading.z:
                break
            basis, reading = trials[top], readings[top]
    return reading


def read(folded: Folded, layout: Layout) -> Reading:
    """Find this key's pilot in a folded lattice hypothesis (:func:`folded`) over its symmetries
    and offsets, and decode the payload there."""
    z, slot, dy, dx, values = layout.best_pilot(folded.spectra, _SHORTLIST)
    index = folded.symmetries[slot]
    p_pilot = stats.refined_search_p_value(z, _HYPOTHESES, refine_from=POLISH_ABOVE,
                                           refinements=_POLISH_HYPOTHESES)
    to_tile = tile_coordinates(index, (dy, dx)) @ np.linalg.inv(np.vstack([folded.to_plane, [0, 0, 1]]))
    return replace(_decode(layout, values, z, p_pilot), to_tile=to_tile, symmetry=index)


def _decode(layout: Layout, values: np.ndarray, z: float, p_pilot: float) -> Reading:
    """The reading of a folded tile aligned on the marked tile, given by its slots times the chips
    (``values``), whose pilot gave ``z`` and ``p_pilot``: soft bits weighted by each band's
    signal-to-noise ratio, payload, p-value."""
    soft = layout.group_sums(values * _band_weights(layout, values)).sum(axis=1)
    soft /= max(stats.robust_std(soft), 1e-12)
    payload = coding.decode_soft(soft).payload if p_pilot <= DECODE_BELOW else None
    p_value = stats.with_checksum(p_pilot, payload is not None, coding.CRC_BITS)
    return Reading(p_value=p_value, z=z, soft=soft, payload=payload, to_tile=np.eye(3), symmetry=0)


def _band_weights(layout: Layout, values: np.ndarray) -> np.ndarray:
    """Per-slot weight signal / noise^2 for each level, the signal measured on the pilot."""
    weights = np.zeros(SLOTS, dtype=np.float32)
    for level in range(len(LEVELS)):
        band = LEVEL_OF_SLOT == level
        signal = float(np.mean(values[band & layout.is_pilot]))
        noise = float(np.var(values[band & ~layout.is_pilot]))
        weights[band] = max(signal, 0.0) / max(noise, 1e-12)
    return weights
