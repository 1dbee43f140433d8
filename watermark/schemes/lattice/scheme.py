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
  per image (:func:`_default_amplitude`: on a large photograph, the least that gives the pilot a
  target margin, within limits; then raised where a round trip of the marked image itself (WebP 50
  at 1024 px; a web copy and a full-size WebP 50 for a photograph larger than 1080p) leaves too
  little, or lowered where it leaves far more than enough, :func:`_round_trip_scale`), and the
  residual is resized to full resolution.

Detection: luminance at working resolution -> whitening (high-pass / local activity) -> fold all
tiles into one -> circular cross-correlation with the pilot finds the tile's offset and gives the
statistic and p-value -> the pilot also measures each band's signal-to-noise ratio, which weights the
payload chips -> soft bits -> Viterbi -> CRC. When the tile is not where it was put, the lattice the
geometry left is searched for (:mod:`~watermark.schemes.lattice.search`), each hypothesis is resampled to the
square tile and read the same way, and a promising one is polished on the pilot. When still no
payload comes out, a smooth warp (StirMark's bending) estimated without the key is undone
(:mod:`~watermark.schemes.lattice.dewarp`) and the tile read once more. The p-value pays for every hypothesis tried.

A second, non-periodic *per-copy layer* (:mod:`~watermark.schemes.lattice.copy_layer`), seeded by the
payload and each tile's position and bound to the host's content, is added on the same bands; a
decoded payload is checked against it (``Detection.verified``), and :meth:`LatticeScheme.read_in_frame`
tests candidate payloads for it in a master's frame (:mod:`~watermark.schemes.lattice.informed`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np
from scipy import fft

from ... import borders, coding, color, stats
from ...detection import CandidateEvidence, Detection, InformedReading
from ...keys import Key
from ..base import DEFAULT_FALSE_ALARM, Scheme
from . import copy_layer, dewarp, informed, masking, periodicity, search, sync
from .layout import LEVEL_OF_SLOT, LEVELS, PILOT_WEIGHTINGS, SLOTS, Layout, layout_for, slots_from_tile, tile_from_slots
from .sync import TILE

__all__ = ["LatticeScheme"]

_SHORTLIST = 4                           # offsets per lattice whose statistic is computed exactly
_DECODE_BELOW = 1e-3                     # pilot p-value under which the payload is decoded
_SEARCH_CANDIDATES = 4                   # lattice hypotheses tried after the identity fails
_SEARCH_SIDE = color.WORKING_SHORT_SIDE  # px: the most of the short side the lattice search looks at (cost)
_POLISH_ABOVE = 5.5                      # pilot z from which a lattice is polished on the pilot itself
_POLISH_STEPS = (0.004, 0.002, 0.001)    # polishing steps, relative to the period
_POLISH_LOOKS = 64                       # bases one polish may read (each with one symmetry)
_POLISHED = 2                            # lattices that may be polished per image
_DEWARPS = 1                             # key-independent dewarped views read (StirMark's bending)
# Every hypothesis the search tries, for the p-value's union bound: lattices x symmetries x band
# weightings x offsets; and the looks that polishing may add once a hypothesis reaches _POLISH_ABOVE.
_HYPOTHESES = (1 + _SEARCH_CANDIDATES + _DEWARPS) * len(sync.DIHEDRAL) * len(PILOT_WEIGHTINGS) * TILE * TILE
_POLISH_HYPOTHESES = _POLISHED * _POLISH_LOOKS * len(PILOT_WEIGHTINGS) * TILE * TILE
_REGISTRATION_SLACK = 3                  # px at working resolution an informed read's pilot looks around the identity
_REGISTRATION_SLACK_HYPOTHESES = (2 * _REGISTRATION_SLACK + 1) ** 2 * len(PILOT_WEIGHTINGS)
_ISS_GAIN = 1.0                          # fraction of the host's interference the embedder cancels
_AMPLITUDE_RANGE = (0.3, 3.0)            # per-bit amplitude limits, relative to the base amplitude
# The calibration of strength 1 (see _default_amplitude): the pilot z the default mark aims for, as
# predicted without the host cancellation and with flat areas counted as _ROBUST_ACTIVITY busy, at a
# 512 px working side (times the working area over 512 px's: a finer band keeps less of its predicted
# z once published), and the limits of the resulting amplitude (1: the perceptual mask as it is).
_TARGET_Z = 24.0
_LARGE_RANGE = (0.2, 1.5)      # on an image of 1024 px (short side) or more; (1, 1) on one up to 512 px;
_ROBUST_ACTIVITY = 4.0 / 255.0  # log-interpolated between (masking.largeness)
# Then measured (see _round_trip_scale): the pilot z the mark should keep once published at a 1024 px
# short side as WebP 50 (9 kept no more 1080p photographs' payloads through WebP 50 than 7.5 does),
# the z under which a boosted mark is still mostly gone, the most extra amplitude spent on a large
# image (more makes a smooth photograph's mark more visible than JPEG q90: `python -m eval.visibility
# --strengths`), and the least kept where the published mark keeps more than it needs (less lost
# small crops of a smooth photograph). Where WebP at 1024 px takes even the raised mark, the same
# is asked of a full-size JPEG 50 (the lowest quality of `eval.acceptance`'s 95 % class).
_ROUND_TRIP_SIDE = 1024
_PUBLISHED = (".webp", (cv2.IMWRITE_WEBP_QUALITY, 50))
# A photograph larger than the 1080p class (short side over 1.5 x LARGEST_WORKING_SIDE, from where
# the mark's periods grow with the image, and with them its visibility at 1:1) is checked as a web
# copy instead, 1080 px on its long side, JPEG 80 (`eval.acceptance`'s social class), and as WebP 50
# at full size (its WebP class), up to a 3000 px short side: beyond, at that size, which asks more
# of the mark and bounds the encoder's time and memory (a 12000x8000 image's would take 2 GiB).
_LARGE_FROM = round(1.5 * color.LARGEST_WORKING_SIDE)
_WIDEST = 8.0          # a blind read looks at most at this long side over the short (`_widest_part`)
_FULL_SIZE_AT_MOST = 3000
_WEBP_LARGEST_SIDE = 16383      # libwebp's limit: a wider panorama is published narrower
_WEB_LONG_SIDE = 1080
_WEB_COPY = (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 80))
_FULL_SIZE_JPEG = (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 50))
_ROUND_TRIP_Z, _ROUND_TRIP_USEFUL = 7.5, 6.0
_ROUND_TRIP_BOOST, _ROUND_TRIP_LEAST = 1.5, 0.5
# A photograph larger than the 1080p class may be lowered further, to 0.3, as long as the
# geometric search still sees its mark's lattice with the evidence _FINDABLE (the search's best
# lattice on an unmarked image scores up to about 18, on the 250 of the null test; at 30 the
# acceptance photographs at 4000x3000 still gave their payload back after rotations and aspect
# changes, and at 17 immunohistochemistry's did not). Its crops are read at a finer scale than its
# published copies: at 4000x3000, a quarter crop holds the mark at twice the working resolution;
# StirMark's bending, whose dewarp finds the field by the mark's energy, lost no more than at 0.5
# (eval.acceptance at 4000x3000) once the dewarp read the mark's upper bins (dewarp._bands).
_LARGER_LEASTS = (0.45, 0.4, 0.35, 0.3)   # tried in turn
_FINDABLE = 30.0


def _default_amplitude(layout: Layout, whitened: np.ndarray, activity: np.ndarray, pattern: np.ndarray,
                       signs: np.ndarray, large: float) -> float:
    """The mark's amplitude at strength 1, relative to the perceptual mask: on a large image (``large``
    1, see :func:`masking.largeness`), what makes the pilot's predicted z reach ``_TARGET_Z``, within
    ``_LARGE_RANGE``; on a small one (0), 1.

    The one place where the default is calibrated. A large photograph is read at a fraction of its
    size, where full-resolution degradations are averaged away, and the eye sees its mark near the
    peak of its contrast sensitivity: it gets a weaker mark, the weaker the less its host hides the
    pilot (smooth areas, many tiles); a busy one gets more, up to what stays invisible.
    The prediction is the detector's pilot statistic on the host plus ``pattern`` (the mark at unit
    amplitude), without the host's interference cancelled by informed embedding (a crop or a
    degradation brings it back) and with flat areas counted as ``_ROBUST_ACTIVITY`` busy (a faint
    mark in a flat sky is the first thing JPEG removes).
    """
    robust = np.maximum(activity, _ROBUST_ACTIVITY)
    host = layout.products(sync.fold(whitened * (activity / robust), TILE))
    gain = slots_from_tile(sync.fold(masking.whiten_linear(pattern, robust), TILE)) * signs
    per_level = []
    for level in range(len(LEVELS)):
        pilot = layout.is_pilot & (LEVEL_OF_SLOT == level)
        per_level.append(gain[pilot].sum() / max(np.sqrt(np.sum(host[pilot] ** 2)), 1e-12))
    z = float(np.max(PILOT_WEIGHTINGS @ np.array(per_level)))
    low, high = (1.0 + large * (limit - 1.0) for limit in _LARGE_RANGE)
    target = _TARGET_Z * (min(whitened.shape) / color.WORKING_SHORT_SIDE) ** 2
    return float(np.clip(target / max(z, 1e-12), low, high))


def _least_scale(working: np.ndarray, mark_at: Callable[[float], np.ndarray], shape: tuple[int, ...],
                 wanted: float) -> float:
    """The least amplitude scale :func:`_round_trip_scale` may lower the mark to, where it would lower it
    to ``wanted``: ``_ROUND_TRIP_LEAST``; on a photograph larger than the 1080p class (``shape``), the
    least of ``_LARGER_LEASTS`` down to ``wanted`` at which the lattice evidence of ``working +
    mark_at(scale)`` is still ``_FINDABLE`` (it falls with the amplitude)."""
    least = _ROUND_TRIP_LEAST
    if min(shape[:2]) > _LARGE_FROM:
        for scale in _LARGER_LEASTS:
            if least <= wanted or _lattice_evidence(working + mark_at(scale)) < _FINDABLE:
                break
            least = scale
    return least


def _lattice_evidence(working: np.ndarray) -> float:
    """What the geometric search sees of the tile's lattice where it was put, in ``working`` (a marked
    image at its working resolution): the search's score of that lattice (about N(0, 1) without it)."""
    _, activity = masking.whiten(working)
    view = masking.denoised_residual(working, activity)
    small = _search_view(view)
    lags = periodicity.LagMap(sync.central(small)[0])
    return float(lags.scores([np.eye(2) * TILE * small.shape[0] / view.shape[0]])[0])


def _search_view(residual: np.ndarray) -> np.ndarray:
    """``residual`` as the lattice search looks at it: at most ``_SEARCH_SIDE`` px on its short side."""
    return color.resize(residual, color.at_most(residual.shape, _SEARCH_SIDE))


def _round_trip_scale(luma: np.ndarray, mark_at: Callable[[float], np.ndarray], layout: Layout,
                      large: float, least: Callable[[float], float]) -> float:
    """How much amplitude, relative to ``mark_at(1)``, the mark needs (``least(wanted)``, see
    :func:`_least_scale`, to ``_ROUND_TRIP_BOOST`` on a large image, ``large`` 1, see
    :func:`masking.largeness`; 1 on a small one, whose mask is used as it is and already costs it the
    most SSIM) for its pilot z to stay at ``_ROUND_TRIP_Z`` once the marked image is published the
    common ways (:func:`_publications`: WebP 50 at ``_ROUND_TRIP_SIDE`` px; a photograph larger than
    the 1080p class as a web copy and as a full-size WebP 50; the least z of them counts).

    Measured on the image itself (``mark_at(b)``: the working-resolution mark at ``b`` times the
    default amplitude): a codec removes a faint mark from smooth areas far more than the mark's energy
    predicts, and only on some images. The amplitude is raised by the ratio of the z's, twice at
    most. When even the raised mark is mostly gone after the round trip (z under
    ``_ROUND_TRIP_USEFUL``: an image with nothing to hide a mark in, which the codec flattens), the
    extra visibility would buy nothing there; it is then raised, within the same limit, only as far as
    a full-size JPEG 50 needs (a dark or smooth photograph: without it, JPEG 50 took the payload from
    some), and where even that leaves too little, 1. Where the published mark keeps more than it needs (a
    smooth photograph, whose flat areas the prediction counts as busier than they are), the amplitude
    is lowered by the ratio of the z's (to ``wanted``), to ``least(wanted)`` at most, checked once more
    after the round trip.
    """
    most = 1.0 + large * (_ROUND_TRIP_BOOST - 1.0)
    if most <= 1.0:
        return 1.0
    publications = [(color.resize(luma, shape), encoding) for shape, encoding in _publications(luma.shape)]

    def z_at(scale: float) -> float:
        mark = mark_at(scale).astype(np.float32)
        return min(_z_after_round_trip(host, color.resize(mark, host.shape), layout, luma.shape, encoding)
                   for host, encoding in publications)

    z = z_at(1.0)
    if z > _ROUND_TRIP_Z:
        wanted = _ROUND_TRIP_Z / z
        lower = max(1.0 + large * (least(wanted) - 1.0), wanted)
        z = z_at(lower)             # a codec's dead zone takes more than its share of a fainter mark
        return lower if z >= _ROUND_TRIP_Z else min(1.0, lower * _ROUND_TRIP_Z / max(z, 1e-12))
    boost = _raised(z_at, z, most, tries=2)
    if boost > 1.0 or z >= _ROUND_TRIP_Z:      # raised, or at the target already: WebP kept it
        return boost

    def z_at_full_size(scale: float) -> float:
        mark = color.resize(mark_at(scale).astype(np.float32), luma.shape[:2])
        return _z_after_round_trip(luma, mark, layout, luma.shape, _FULL_SIZE_JPEG)

    return _raised(z_at_full_size, z_at_full_size(1.0), most, tries=1)


def _publications(shape: tuple[int, ...]) -> list[tuple[tuple[int, int], tuple[str, tuple[int, int]]]]:
    """The sizes and encodings at which the round trip publishes an image of ``shape``: up to the
    1080p class, at most ``_ROUND_TRIP_SIDE`` px on its short side as WebP 50 (``_PUBLISHED``, about
    its full size); larger, as a web copy (``_WEB_LONG_SIDE`` px on its long side, ``_WEB_COPY``) and
    at full size as WebP 50 (``_FULL_SIZE_AT_MOST`` px on its short side at most): what
    `eval.acceptance` asks of it, not what a WebP 50 copy at 1024 px, a fraction of its size, would
    (far more)."""
    if min(shape[:2]) <= _LARGE_FROM:
        return [(_within_webp(color.at_most(shape, _ROUND_TRIP_SIDE)), _PUBLISHED)]
    short = round(_WEB_LONG_SIDE * min(shape[:2]) / max(shape[:2]))
    return [(color.at_most(shape, short), _WEB_COPY),
            (_within_webp(color.at_most(shape, _FULL_SIZE_AT_MOST)), _PUBLISHED)]


def _within_webp(shape: tuple[int, int]) -> tuple[int, int]:
    """``shape``, reduced where a side is over ``_WEBP_LARGEST_SIDE`` to the largest that WebP holds."""
    if max(shape) <= _WEBP_LARGEST_SIDE:
        return shape
    return color.at_most(shape, min(shape) * _WEBP_LARGEST_SIDE // max(shape))


def _raised(z_at: Callable[[float], float], z: float, most: float, tries: int) -> float:
    """The amplitude scale, at most ``most``, that brings the round trip's pilot z (``z`` at 1,
    ``z_at(scale)`` otherwise) to ``_ROUND_TRIP_Z``, raised by the ratio of the z's at most ``tries``
    times; 1 when no raise is needed, or when the raised mark still keeps under ``_ROUND_TRIP_USEFUL``."""
    boost = 1.0
    for _ in range(tries):
        if z >= _ROUND_TRIP_Z or boost >= most:
            break
        boost = min(most, boost * _ROUND_TRIP_Z / max(z, 1.0))
        z = z_at(boost)
    return boost if z >= _ROUND_TRIP_USEFUL else 1.0


def _z_after_round_trip(host: np.ndarray, mark: np.ndarray, layout: Layout, shape: tuple[int, ...],
                        encoding: tuple[str, tuple[int, int]]) -> float:
    """The pilot's z, where it was put, in ``host + mark`` (luminance in [0, 1]; ``shape``: the marked
    image's full size) saved with ``encoding`` (OpenCV's extension and parameters) and read back as
    the detector reads an untouched copy."""
    marked = np.clip(np.rint((host + mark) * 255.0), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(encoding[0], marked, list(encoding[1]))
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) if ok else None
    if decoded is None:
        raise RuntimeError(f"OpenCV could not round-trip {encoding[0]}")
    decoded = decoded.astype(np.float32) / 255.0
    plane, _ = masking.whiten(_working_view(decoded, shape))
    return float(layout.pilot_z(sync.fold(plane, TILE)))


@dataclass(frozen=True)
class _Reading:
    """What one lattice hypothesis gave."""

    p_value: float
    z: float
    soft: np.ndarray
    payload: int | None
    to_tile: np.ndarray       # 3x3: working (row, col, 1) -> marked tile (row, col, 1), mod TILE
    symmetry: int             # index into sync.DIHEDRAL

    def conclusive(self, false_alarm: float) -> bool:
        """Found, and its payload decoded: nothing left to look for."""
        return self.payload is not None and self.p_value <= false_alarm


_ALL_SYMMETRIES = tuple(range(len(sync.DIHEDRAL)))


@dataclass(frozen=True)
class _Folded:
    """A plane resampled for one lattice hypothesis and folded, before any key reads it: the flattened
    spectra of the folded tile's ``symmetries`` and the 2x3 map from the resampled view to the plane."""

    spectra: np.ndarray
    to_plane: np.ndarray
    symmetries: tuple[int, ...]


def _folded(plane: np.ndarray, basis: np.ndarray, symmetries: tuple[int, ...] = _ALL_SYMMETRIES) -> _Folded:
    """``plane`` resampled for the lattice ``basis``, folded, and the folded tile's spectrum flattened
    for each of the ``symmetries`` (all 8 by default)."""
    view, to_plane = sync.canonical_view(plane, basis, TILE)
    spectra = sync.dihedral_spectra(sync.fold(view, TILE), symmetries)
    spectra.setflags(write=False)           # shared by every key that reads it
    return _Folded(spectra, to_plane, symmetries)


def _tile_coordinates(index: int, offset: tuple[int, int]) -> np.ndarray:
    """3x3 map from folded-view (row, col) to tile (row, col): symmetry ``index``, then ``offset``."""
    turns, flip = sync.DIHEDRAL[index]
    matrix = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) if flip else np.eye(3)
    quarter = np.array([[0.0, -1.0, TILE - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])   # numpy's rot90
    for _ in range(turns):
        matrix = quarter @ matrix
    shift = np.array([[1.0, 0.0, -offset[0]], [0.0, 1.0, -offset[1]], [0.0, 0.0, 1.0]])
    return shift @ matrix


def _to_xy(matrix: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    """A 3x3 (row, col) map as the 2x3 (x, y) affine OpenCV and most users expect, its translation
    modulo ``period`` (x, y): the tile's period in the target's pixels."""
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    result = (swap @ matrix @ swap)[:2]
    result[:, 2] = np.mod(np.round(result[:, 2], 6), period)
    result[:, 2] = np.where(np.isclose(result[:, 2], period, rtol=0, atol=1e-6), 0.0, result[:, 2])  # not 128
    return result


def _widest_part(luma: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``luma`` (an image of full size ``shape``) and its shape; or, for a strip longer than ``_WIDEST`` times
    its short side, its leading part of that aspect and the part's shape in the image's pixels. The working
    view scales the short side up to the working side: a 130 x 20000 px banner made a 512 x 79000 px plane
    (7 GB, 50 s). The part holds the periodic mark as the whole does, on the same grid (it starts at the
    image's origin), so that the mark's own tile positions, which the per-copy layer uses, stay where they
    were."""
    height, width = luma.shape[:2]
    if max(height, width) <= _WIDEST * min(height, width):
        return luma, (int(shape[0]), int(shape[1]))
    if width > height:
        part = int(_WIDEST * height)
        return luma[:, :part], (int(shape[0]), round(part * shape[1] / width))
    part = int(_WIDEST * width)
    return luma[:part], (round(part * shape[0] / height), int(shape[1]))


def _working_view(luma: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``luma`` (an image of full size ``shape``, its own by default, at any size) at its working resolution."""
    return color.resize(luma, color.working_shape(luma.shape, color.working_side(shape or luma.shape)))


class _Suspect:
    """What every key's read of one image shares (none of it uses a key): the working view and its
    whitened plane; and, computed when a key first needs them, the residual view, the lattices the
    search finds in it, the plane with the smooth warp it shows undone, and the folds of the plane
    on each lattice. ``shape`` is the suspect's pixel grid (as encoded), which transforms speak of."""

    def __init__(self, luma: np.ndarray, shape: tuple[int, int], origin: tuple[float, float] = (0.0, 0.0)):
        self.shape = shape
        self.origin = origin        # where this view's (0, 0) lies on the image's grid: a part inside borders
        self.working = _working_view(luma, shape)
        self.plane, self._activity = masking.whiten(self.working)
        self._block = sync.JPEG_BLOCK * self.working.shape[0] / shape[0]      # a JPEG grid, at working scale
        self._found: list[np.ndarray] = []
        self._search: Iterator[np.ndarray] | None = None
        self._folds: dict[bytes, _Folded] = {}
        # computed when first asked for (not functools.cached_property: on Python 3.11 its lock is one for
        # every instance, so threads' detections waited for each other and a fork during one hung the child)
        self._residual: np.ndarray | None = None
        self._dewarped: _Dewarped | None = None

    @property
    def residual(self) -> np.ndarray:
        """The view the lattice search and the dewarp look at (`masking.denoised_residual`)."""
        if self._residual is None:
            self._residual = masking.denoised_residual(self.working, self._activity)
        return self._residual

    def lattices(self) -> Iterator[np.ndarray]:
        """Lattice hypotheses (bases, see `search.candidate_lattices`) for the residual's periodic
        content, in its pixels, best first; found as far as a key has asked for them. The search looks
        at the residual scaled to a short side of ``_SEARCH_SIDE`` px at most: its cost grows with the
        area, the lattice's tens of pixels per period do not need more, and each hypothesis is then
        read (and polished) at the working resolution."""
        if self._search is None:
            view = self.residual
            small = _search_view(view)
            scale = np.diag([view.shape[0] / small.shape[0], view.shape[1] / small.shape[1]])
            block = self._block * small.shape[0] / view.shape[0]
            self._search = (scale @ lattice.basis for lattice in search.candidate_lattices(small, block_period=block))
        yield from self._found
        for basis in self._search:
            self._found.append(basis)
            yield basis

    def folded(self, basis: np.ndarray) -> _Folded:
        """The whitened plane folded for the lattice ``basis`` (:func:`_folded`), once for every key."""
        fold = self._folds.get(basis.tobytes())
        if fold is None:
            fold = self._folds[basis.tobytes()] = _folded(self.plane, basis)
        return fold

    @property
    def dewarped(self) -> _Dewarped:
        """The plane and the working view with the smooth warp the residual shows undone
        (`dewarp.dewarped`), the plane folded on the tile grid as embedded."""
        if self._dewarped is None:
            (plane, working), to_plane = dewarp.dewarped((self.plane, self.working), self.residual,
                                                         block_period=self._block)
            self._dewarped = _Dewarped(_folded(plane, np.eye(2) * TILE), to_plane, working, plane)
        return self._dewarped


class _Dewarped(NamedTuple):
    """A suspect with a smooth warp undone: its plane folded, the 2x3 map from the view to the plane
    (the warp's affine part), and the views."""

    folded: _Folded
    to_plane: np.ndarray
    working: np.ndarray
    plane: np.ndarray


class LatticeScheme(Scheme):
    """Keyed periodic DWT-domain tile with pilot, informed embedding and a soft-decoded code."""

    name = "lattice"
    min_size = 128
    analysis_short_side = color.LARGEST_WORKING_SIDE

    def residual(self, luma: np.ndarray, payload: int, key: Key, *, strength: float = 1.0) -> np.ndarray:
        layout = layout_for(key)
        working = _working_view(luma)
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

        default = _default_amplitude(layout, whitened, activity, pattern, signs, large)

        def at_default(scale: float) -> np.ndarray:
            return mark_at(scale * default)

        least = functools.partial(_least_scale, working, at_default, luma.shape)
        default *= _round_trip_scale(luma, at_default, layout, large, least)
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
        both, which use no key, are made once (:class:`_Suspect`), and each key reads them."""
        luma, shape = _widest_part(luma, source_shape or luma.shape)
        suspect = _Suspect(luma, shape)
        inside = borders.inside(luma)
        if inside is None:
            return [self._detect_in(suspect, key, false_alarm, marked_shape) for key in keys]
        # two views, the whole image and the picture inside its flat borders: each read at half the
        # rate, the p-value doubled (a union bound over the views)
        top, bottom, left, right = inside
        rows, cols = shape[0] / luma.shape[0], shape[1] / luma.shape[1]
        framed: list[_Suspect] = []         # made when a key first needs it
        detections = []
        for key in keys:
            best = self._detect_in(suspect, key, false_alarm / 2, marked_shape)
            if not best.found:
                framed = framed or [_Suspect(luma[top:bottom, left:right], (round((bottom - top) * rows),
                                                                           round((right - left) * cols)),
                                             origin=(top * rows, left * cols))]
                candidate = self._detect_in(framed[0], key, false_alarm / 2, marked_shape)
                best = candidate if candidate.p_value < best.p_value else best
            detections.append(replace(best, p_value=min(1.0, 2.0 * best.p_value)))
        return detections

    def _detect_in(self, suspect: _Suspect, key: Key, false_alarm: float,
                   marked_shape: tuple[int, int] | None) -> Detection:
        layout = layout_for(key)
        reference = marked_shape or suspect.shape       # the marked image's grid, which the transform maps to
        best = self._read(suspect.folded(np.eye(2) * TILE), layout)
        if best.conclusive(false_alarm):
            return self._detection(best, suspect, reference, key, false_alarm)
        if best.p_value > false_alarm:     # not where it was put: find the lattice the geometry left
            polished = 0
            for basis in itertools.islice(suspect.lattices(), _SEARCH_CANDIDATES):
                candidate = self._read(suspect.folded(basis), layout)
                if candidate.p_value > false_alarm and candidate.z >= _POLISH_ABOVE and polished < _POLISHED:
                    candidate = self._polish(suspect.plane, layout, basis, candidate)
                    polished += 1
                if candidate.p_value < best.p_value:
                    best = candidate
                if best.p_value <= false_alarm:
                    break
        if not best.conclusive(false_alarm):   # perhaps a smooth warp (StirMark's bending) dephases the fold
            candidate = self._read_dewarped(suspect.dewarped, layout)
            if candidate.p_value < best.p_value:
                best = candidate
        return self._detection(best, suspect, reference, key, false_alarm)

    def detect_in_place(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
                        source_shape: tuple[int, int] | None = None) -> Detection:
        suspect = _Suspect(luma, source_shape or luma.shape)
        best = self._read(suspect.folded(np.eye(2) * TILE), layout_for(key))
        return self._detection(best, suspect, suspect.shape, key, false_alarm, verify=False)

    def _detection(self, best: _Reading, suspect: _Suspect, reference: tuple[int, int], key: Key,
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
                         transform=_to_xy(to_marked @ best.to_tile @ to_working, period) if found else None,
                         verified=verified, verification_p_value=verification_p)

    def _verification(self, best: _Reading, suspect: _Suspect, key: Key, false_alarm: float) -> float:
        """The p-value of ``best``'s payload's per-copy layer, looked for in the mark's frame and, where
        it is not there, in the dewarped view (a smooth warp, StirMark's bending, leaves the periodic
        read but dephases the layer's finer, position-bound chips); doubled for the two looks."""
        assert best.payload is not None
        p_value = informed.verify(suspect.working, suspect.plane, best.to_tile, key, best.payload).p_value
        if 2.0 * p_value > false_alarm:
            view = suspect.dewarped
            reading = self._read(view.folded, layout_for(key))
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
        working = _working_view(luma, master_shape)
        inside = None
        if valid is not None:
            inside = color.resize(np.asarray(valid, dtype=np.float32), working.shape) > 0.999
        host = None if original is None else _working_view(original, master_shape)
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
        hypotheses = len(views) * _REGISTRATION_SLACK_HYPOTHESES   # around the registration's identity
        if phase_searches:                                          # or every offset a phase search tried
            hypotheses = len(views) * phase_searches * informed.PHASE_HYPOTHESES
        readings = [self._read_at_identity(view, layout, flatten, hypotheses, list(candidates), len(views),
                                           false_alarm) for view, flatten in views]
        reading, (dy, dx) = min(readings, key=lambda pair: pair[0].p_value)
        p_pilot = stats.max_of_normals_p_value(reading.z, hypotheses)
        found = reading.p_value <= false_alarm
        scores, units = informed.candidate_scores(plane, working, key, list(candidates), inside)
        lowest, looks = scores, 1
        if p_pilot <= _DECODE_BELOW and (dy, dx) != (0, 0):
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

    @classmethod
    def _read_at_identity(cls, plane: np.ndarray, layout: Layout, flatten: bool, hypotheses: int,
                          candidates: list[int], views: int, false_alarm: float) -> tuple[_Reading, tuple[int, int]]:
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
        reading = cls._decode(layout, layout.products(np.roll(folded, (-dy, -dx), axis=(0, 1))), z, p_pilot)
        if candidates:
            reading = cls._match(reading, candidates, false_alarm, looks=views)
        return reading, (dy, dx)

    @staticmethod
    def _match(reading: _Reading, candidates: list[int], false_alarm: float, looks: int = 1) -> _Reading:
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

    @classmethod
    def _read_dewarped(cls, dewarped: _Dewarped, layout: Layout) -> _Reading:
        """The reading of a plane on the tile grid as embedded once a smooth warp is undone
        (:attr:`_Suspect.dewarped`); its transform is the warp's affine part."""
        reading = cls._read(dewarped.folded, layout)
        return replace(reading, to_tile=reading.to_tile @ np.linalg.inv(np.vstack([dewarped.to_plane, [0, 0, 1]])))

    @classmethod
    def _polish(cls, plane: np.ndarray, layout: Layout, basis: np.ndarray, reading: _Reading) -> _Reading:
        """``reading`` improved by moving ``basis`` a coordinate at a time while the pilot's z grows: the
        autocorrelation places a lattice to a fraction of a pixel per period, the pilot does better."""
        period = float(np.sqrt(abs(np.linalg.det(basis))))
        moves = np.concatenate([np.eye(4), -np.eye(4)]).reshape(8, 2, 2)
        looks = 0
        for step in _POLISH_STEPS:
            while looks + len(moves) <= _POLISH_LOOKS:
                trials = [basis + step * period * move for move in moves]
                readings = [cls._read(_folded(plane, trial, (reading.symmetry,)), layout) for trial in trials]
                looks += len(moves)
                top = max(range(len(readings)), key=lambda i: readings[i].z)
                if readings[top].z <= reading.z:
                    break
                basis, reading = trials[top], readings[top]
        return reading

    @classmethod
    def _read(cls, folded: _Folded, layout: Layout) -> _Reading:
        """Find this key's pilot in a folded lattice hypothesis (:func:`_folded`) over its symmetries
        and offsets, and decode the payload there."""
        z, slot, dy, dx, values = layout.best_pilot(folded.spectra, _SHORTLIST)
        index = folded.symmetries[slot]
        p_pilot = stats.refined_search_p_value(z, _HYPOTHESES, refine_from=_POLISH_ABOVE,
                                               refinements=_POLISH_HYPOTHESES)
        to_tile = _tile_coordinates(index, (dy, dx)) @ np.linalg.inv(np.vstack([folded.to_plane, [0, 0, 1]]))
        return replace(cls._decode(layout, values, z, p_pilot), to_tile=to_tile, symmetry=index)

    @classmethod
    def _decode(cls, layout: Layout, values: np.ndarray, z: float, p_pilot: float) -> _Reading:
        """The reading of a folded tile aligned on the marked tile, given by its slots times the chips
        (``values``), whose pilot gave ``z`` and ``p_pilot``: soft bits weighted by each band's
        signal-to-noise ratio, payload, p-value."""
        soft = layout.group_sums(values * cls._band_weights(layout, values)).sum(axis=1)
        soft /= max(stats.robust_std(soft), 1e-12)
        payload = coding.decode_soft(soft).payload if p_pilot <= _DECODE_BELOW else None
        p_value = stats.with_checksum(p_pilot, payload is not None, coding.CRC_BITS)
        return _Reading(p_value=p_value, z=z, soft=soft, payload=payload, to_tile=np.eye(3), symmetry=0)

    @staticmethod
    def _band_weights(layout: Layout, values: np.ndarray) -> np.ndarray:
        """Per-slot weight signal / noise^2 for each level, the signal measured on the pilot."""
        weights = np.zeros(SLOTS, dtype=np.float32)
        for level in range(len(LEVELS)):
            band = LEVEL_OF_SLOT == level
            signal = float(np.mean(values[band & layout.is_pilot]))
            noise = float(np.var(values[band & ~layout.is_pilot]))
            weights[band] = max(signal, 0.0) / max(noise, 1e-12)
        return weights
