"""The flagship scheme: a keyed periodic tile in DWT detail bands, masked, with a pilot.

Embedding (at a working resolution whose short side is 512 px on images up to 768 px, growing to 724 px
on a 1086 px one and beyond: :func:`watermark.color.working_side`):

* a 128 x 128 tile is synthesised from its DWT coefficients (``db4``, periodised): the detail bands of
  levels 2 and 3 (mid frequencies) hold +-1 keyed chips; a fifth of them form the *pilot*, a known
  pattern; the rest carry the 258 bits of the coded payload (64 bits + CRC-16, rate-1/3
  convolutional code), about a dozen chips per bit per tile, interleaved by a keyed permutation;
* the embedder knows the host, so it measures how the host already correlates with each bit's
  carrier and with the pilot, as the detector will, and spends more amplitude on bits the host
  works against and less on bits it helps (improved spread spectrum, Malvar & Florencio 2003);
* the tile is repeated over the image, scaled by a perceptual mask and by a default amplitude set
  per image (:mod:`~watermark.schemes.lattice.calibration`: on a large photograph, the least that
  gives the pilot a target margin, within limits; then raised where a round trip of the marked image
  itself (WebP 50 at 1024 px; a web copy and a full-size WebP 50 for a photograph larger than 1080p)
  leaves too little, or lowered where it leaves far more than enough), and the residual is resized
  to full resolution.

Detection: luminance at working resolution -> whitening (high-pass / local activity) -> fold all
tiles into one -> circular cross-correlation with the pilot finds the tile's offset and gives the
statistic and p-value -> the pilot also measures each band's signal-to-noise ratio, which weights the
payload chips -> soft bits -> Viterbi -> CRC. When the tile is not where it was put, the lattice the
geometry left is searched for (:mod:`~watermark.schemes.lattice.search`), each hypothesis is resampled to the
square tile and read the same way, and a promising one is polished on the pilot. When still no
payload comes out, a smooth warp (StirMark's bending) estimated without the key is undone
(:mod:`~watermark.schemes.lattice.dewarp`) and the tile read once more. The p-value pays for every hypothesis tried.
How one view is read for the pilot and payload, and how many hypotheses its p-value pays for, are in
:mod:`~watermark.schemes.lattice.reading`; what every key's read of one image shares, and the maps from its
views to the tile, in :mod:`~watermark.schemes.lattice.views`.

A second, non-periodic *per-copy layer* (:mod:`~watermark.schemes.lattice.copy_layer`), seeded by the
payload and each tile's position and bound to the host's content, is added on the same bands; a
decoded payload is checked against it (``Detection.verified``), and :meth:`LatticeScheme.read_in_frame`
tests candidate payloads for it in a master's frame (:mod:`~watermark.schemes.lattice.informed`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ... import borders, coding, color, stats
from ...detection import CandidateEvidence, Detection, InformedReading
from ...keys import Key
from ...visibility import Budget
from ..base import DEFAULT_FALSE_ALARM, Scheme
from . import calibration, copy_layer, informed, masking, sync
from .layout import LEVEL_OF_SLOT, LEVELS, SLOTS, Layout, layout_for, slots_from_tile, tile_from_slots
from .reading import (
    DECODE_BELOW,
    POLISH_ABOVE,
    POLISHED,
    REGISTRATION_SLACK_HYPOTHESES,
    SEARCH_CANDIDATES,
    polish,
    read,
    read_at_identity,
    read_dewarped,
)
from .sync import TILE
from .views import Reading, Suspect, to_xy, widest_part, working_view

__all__ = ["LatticeScheme"]

_ISS_GAIN = 1.0                          # fraction of the host's interference the embedder cancels
_AMPLITUDE_RANGE = (0.3, 3.0)            # per-bit amplitude limits, relative to the base amplitude


class LatticeScheme(Scheme):
    """Keyed periodic DWT-domain tile with pilot, informed embedding and a soft-decoded code."""

    name = "lattice"
    min_size = 128
    analysis_short_side = color.LARGEST_WORKING_SIDE

    def residual(self, luma: np.ndarray, payload: int, key: Key, *, strength: float = 1.0,
                 budget: Budget | None = None) -> np.ndarray:
        layout = layout_for(key)
        working = working_view(luma)
        mask = masking.perceptual_mask(luma, working.shape)
        codeword = 2.0 * coding.encode(payload).astype(np.float32) - 1.0
        signs = layout.chips.copy()
        signs[layout.payload] *= codeword[layout.bit_of_slot]

        # Informed embedding: how the host, and the mark at unit amplitudes, look to the detector.
        norm = float(np.sqrt(np.mean(tile_from_slots(signs) ** 2)))
        pattern = mask * sync.tile_pattern(tile_from_slots(signs), working.shape) / norm
        whitened, activity = masking.whiten(working)
        large = masking.largeness(luma.shape)
        host = layout.products(sync.fold(whitened, TILE))
        unit = slots_from_tile(sync.fold(masking.whiten_linear(pattern, activity), TILE)) * signs

        per_copy = copy_layer.layer(working, key, payload, mask)    # names this copy, bound to its content

        def mark_at(scale: float) -> np.ndarray:
            amplitudes = self._amplitudes(layout, codeword, host, scale * unit)
            tiled = sync.tile_pattern(tile_from_slots(signs * amplitudes), working.shape)
            return (scale / norm) * mask * tiled + scale * per_copy

        default = calibration.default_amplitude(layout, whitened, activity, pattern, signs, large)

        def at_default(scale: float) -> np.ndarray:
            return mark_at(scale * default)

        least = functools.partial(calibration.least_scale, working, at_default, luma.shape)
        default *= calibration.round_trip_scale(luma, at_default, layout, large, least)
        if budget is not None and calibration.checks_visibility(luma.shape):
            default *= calibration.visible_scale(
                lambda scale: budget.score(color.resize(at_default(scale).astype(np.float32), luma.shape)),
                budget.target)
        return color.resize(mark_at(strength * default).astype(np.float32), luma.shape)

    @staticmethod
    def _amplitudes(layout: Layout, codeword: np.ndarray, host: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """Per-slot amplitude (relative to 1): each bit and the pilot get, in every level, what they
        need against the host (improved spread spectrum, clipped to a range)."""
        low, high = _AMPLITUDE_RANGE
        amplitudes = np.ones(SLOTS, dtype=np.float32)
        helped = layout.group_sums(host) * codeword[:, None]        # > 0: the host helps this bit
        per_group = np.clip(1.0 - _ISS_GAIN * helped / np.maximum(layout.group_sums(gain), 1e-9), low, high)
        amplitudes[layout.payload] = per_group.ravel()[layout.group]
        for level in range(len(LEVELS)):
            pilot = layout.is_pilot & (LEVEL_OF_SLOT == level)
            ratio = host[pilot].sum() / max(gain[pilot].sum(), 1e-9)
            amplitudes[pilot] = np.clip(1.0 - _ISS_GAIN * ratio, low, high)
        return amplitudes

    def detect(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
               source_shape: tuple[int, int] | None = None,
               marked_shape: tuple[int, int] | None = None) -> Detection:
        return self.detect_keys(luma, [key], false_alarm=false_alarm, source_shape=source_shape,
                                marked_shape=marked_shape)[0]

    def detect_keys(self, luma: np.ndarray, keys: Sequence[Key], *, false_alarm: float = DEFAULT_FALSE_ALARM,
                    source_shape: tuple[int, int] | None = None,
                    marked_shape: tuple[int, int] | None = None) -> list[Detection]:
        """`detect` with each of ``keys``: the search's lattices, the dewarped plane and the folds of
        both, which use no key, are made once (:class:`Suspect`), and each key reads them."""
        luma, shape = widest_part(luma, source_shape or luma.shape)
        suspect = Suspect(luma, shape)
        inside = borders.inside(luma)
        if inside is None:
            return [self._detect_in(suspect, key, false_alarm, marked_shape) for key in keys]
        # two views, the whole image and the picture inside its flat borders: each read at half the
        # rate, the p-value doubled (a union bound over the views)
        top, bottom, left, right = inside
        rows, cols = shape[0] / luma.shape[0], shape[1] / luma.shape[1]
        framed: list[Suspect] = []          # made when a key first needs it
        detections = []
        for key in keys:
            best = self._detect_in(suspect, key, false_alarm / 2, marked_shape)
            if not best.found:
                framed = framed or [Suspect(luma[top:bottom, left:right], (round((bottom - top) * rows),
                                                                          round((right - left) * cols)),
                                            origin=(top * rows, left * cols))]
                candidate = self._detect_in(framed[0], key, false_alarm / 2, marked_shape)
                best = candidate if candidate.p_value < best.p_value else best
            detections.append(replace(best, p_value=min(1.0, 2.0 * best.p_value)))
        return detections

    def _detect_in(self, suspect: Suspect, key: Key, false_alarm: float,
                   marked_shape: tuple[int, int] | None) -> Detection:
        layout = layout_for(key)
        reference = marked_shape or suspect.shape       # the marked image's grid, which the transform maps to
        best = read(suspect.folded(np.eye(2) * TILE), layout)
        if best.conclusive(false_alarm):
            return self._detection(best, suspect, reference, key, false_alarm)
        if best.p_value > false_alarm:     # not where it was put: find the lattice the geometry left
            polished = 0
            for basis in itertools.islice(suspect.lattices(), SEARCH_CANDIDATES):
                candidate = read(suspect.folded(basis), layout)
                if candidate.p_value > false_alarm and candidate.z >= POLISH_ABOVE and polished < POLISHED:
                    candidate = polish(suspect.plane, layout, basis, candidate)
                    polished += 1
                if candidate.p_value < best.p_value:
                    best = candidate
                if best.p_value <= false_alarm:
                    break
        if not best.conclusive(false_alarm):   # perhaps a smooth warp (StirMark's bending) dephases the fold
            candidate = read_dewarped(suspect.dewarped, layout)
            if candidate.p_value < best.p_value:
                best = candidate
        return self._detection(best, suspect, reference, key, false_alarm)

    def detect_in_place(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
                        source_shape: tuple[int, int] | None = None) -> Detection:
        suspect = Suspect(luma, source_shape or luma.shape)
        best = read(suspect.folded(np.eye(2) * TILE), layout_for(key))
        return self._detection(best, suspect, suspect.shape, key, false_alarm, verify=False)

    def _detection(self, best: Reading, suspect: Suspect, reference: tuple[int, int], key: Key,
                   false_alarm: float, *, verify: bool = True) -> Detection:
        """The detection a reading of ``suspect`` gives. Its transform maps the suspect's (x, y), on the
        grid of its shape, to the marked image's, taken at ``reference`` (the marked tile's frame is
        that image at working resolution): an untouched copy maps by the identity. A decoded payload's
        per-copy layer is looked for in the mark's frame (``verified``) when ``verify``."""
        found = best.p_value <= false_alarm
        verified = verification_p = None
        working, shape = suspect.working, suspect.shape
        if verify and found and best.payload is not None:
            verification_p = self._verification(best, suspect, key, false_alarm)
            verified = verification_p <= false_alarm
        to_working = np.diag([working.shape[0] / shape[0], working.shape[1] / shape[1], 1.0])
        to_working[:2, 2] = -to_working[[0, 1], [0, 1]] * np.array(suspect.origin)
        frame = color.working_shape(reference)
        to_marked = np.diag([reference[0] / frame[0], reference[1] / frame[1], 1.0])
        period = (TILE * to_marked[1, 1], TILE * to_marked[0, 0])
        return Detection(found=found, payload=best.payload if found else None, p_value=best.p_value,
                         score=best.z, bits=best.soft, scheme=self.name,
                         transform=to_xy(to_marked @ best.to_tile @ to_working, period) if found else None,
                         verified=verified, verification_p_value=verification_p)

    def _verification(self, best: Reading, suspect: Suspect, key: Key, false_alarm: float) -> float:
        """The p-value of ``best``'s payload's per-copy layer, looked for in the mark's frame and, where
        it is not there, in the dewarped view (a smooth warp, StirMark's bending, leaves the periodic
        read but dephases the layer's finer, position-bound chips); doubled for the two looks."""
        assert best.payload is not None
        p_value = informed.verify(suspect.working, suspect.plane, best.to_tile, key, best.payload).p_value
        if 2.0 * p_value > false_alarm:
            view = suspect.dewarped
            reading = read(view.folded, layout_for(key))
            if reading.payload == best.payload:
                again = informed.verify(view.working, view.plane, reading.to_tile, key, best.payload)
                p_value = min(p_value, again.p_value)
        return min(1.0, 2.0 * p_value)

    def read_in_frame(self, luma: np.ndarray, key: Key, candidates: list[int], *, valid: np.ndarray | None = None,
                      original: np.ndarray | None = None, false_alarm: float = DEFAULT_FALSE_ALARM,
                      phase_searches: int = 0, master_shape: tuple[int, int] | None = None) -> InformedReading:
        """Read a suspect already resampled into a master's frame: the periodic layer at the identity
        geometry (its payload matched among ``candidates``, or else decoded), and each candidate
        payload's per-copy layer (see :class:`InformedReading`).

        ``luma`` is float32 luminance with the master's aspect ratio, at any size (``master_shape``: the
        master's full size, when ``luma`` is not at it; it sets the working resolution); ``valid`` (bool, same
        shape) marks the pixels the suspect covers. The periodic layer, when present, corrects a
        registration error of up to 3 px at the working resolution; without it
        (a scrubbed copy) the per-copy layer needs registration to about a pixel there.
        ``original`` (float32 luminance, same shape): the master itself, when at hand; the marks are then
        read in the suspect minus the master (fitted for gain and offset), without the host's detail, in
        the blind read's whitened view and in a matched one (`masking.matched`: the mark's amplitude over
        the local noise); the p-values pay for both views.
        ``phase_searches``: how many tile-phase searches (`informed.tile_phase`) chose the suspect's
        place, if they did; the periodic layer's p-value then pays for every offset of each.
        """
        layout = layout_for(key)
        working = working_view(luma, master_shape)
        inside = None
        if valid is not None:
            inside = color.resize(np.asarray(valid, dtype=np.float32), working.shape) > 0.999
        host = None if original is None else working_view(original, master_shape)
        marks = working if host is None else informed.without_host(working, host, inside)
        plane, _ = masking.whiten(marks)
        # the folded tile's spectrum flattened, phase only (the collage bars were measured with it, and
        # the blind read's 5x5 averaging was measured on blind reads only): where the suspect covers a
        # small part of the frame (a crop, a collage's cell) it reads the pilot and bits far better;
        # with the master subtracted, the matched view too (a faint mark in a small copy)
        views = [(plane, True)] + ([] if host is None else [(masking.matched(marks, host), False)])
        if inside is not None:
            views = [(np.where(inside, view, 0.0).astype(np.float32), flatten) for view, flatten in views]
        plane = views[0][0]
        hypotheses = len(views) * REGISTRATION_SLACK_HYPOTHESES    # around the registration's identity
        if phase_searches:                                          # or every offset a phase search tried
            hypotheses = len(views) * phase_searches * informed.PHASE_HYPOTHESES
        readings = [read_at_identity(view, layout, flatten, hypotheses, list(candidates), len(views), false_alarm)
                    for view, flatten in views]
        reading, (dy, dx) = min(readings, key=lambda pair: pair[0].p_value)
        p_pilot = stats.max_of_normals_p_value(reading.z, hypotheses)
        found = reading.p_value <= false_alarm
        scores, units = informed.candidate_scores(plane, working, key, list(candidates), inside)
        lowest, looks = scores, 1
        if p_pilot <= DECODE_BELOW and (dy, dx) != (0, 0):
            # The periodic layer says where the tile grid is, unless it was over-subtracted: an inverted
            # pilot peaks a pixel or two off. Read the per-copy layer there too; the p-value pays for both.
            moved_plane, moved = (np.roll(array, (-dy, -dx), axis=(0, 1)) for array in (plane, working))
            inside = None if inside is None else np.roll(inside, (-dy, -dx), axis=(0, 1))
            shifted, _ = informed.candidate_scores(moved_plane, moved, key, list(candidates), inside)
            pairs = list(zip(scores, shifted))
            scores, lowest, looks = [max(pair) for pair in pairs], [min(pair) for pair in pairs], 2
        evidence = []
        for payload, score, low in zip(candidates, scores, lowest):
            p_value = min(1.0, looks * len(scores) * stats.normal_tail(score))
            p_reversed = min(1.0, looks * len(scores) * stats.normal_tail(-low))    # T is symmetric without it
            present = p_value <= false_alarm
            evidence.append(CandidateEvidence(payload=int(payload), score=score, p_value=p_value, present=present,
                                              inverted=not present and p_reversed <= false_alarm))
        return InformedReading(found=found, payload=reading.payload if found else None, p_value=reading.p_value,
                               score=reading.z, candidates=tuple(evidence), units=units, scheme=self.name)
