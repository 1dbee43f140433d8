"""Lattice hypotheses for a periodic mark: exhaustive searches over families of lattices.

Each family is searched on a grid, on a map that tolerates the grid's steps (each lag's best value
within a pixel, :class:`~watermark.schemes.lattice.periodicity.LagMap`), and its best few are refined on the sharp
map; pairs of strong peaks add general affine maps of a strong mark:

* upright squares, one parameter (crops and rescales: the commonest distortions);
* rotated, scaled squares (rotations, with or without a crop);
* axis-aligned rectangles (aspect-ratio changes) and sheared squares (shears along either axis);
* pairs of the strongest autocorrelation peaks.

The grids' points depend only on the plane's size, so they are computed once per size.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator

import cv2
import numpy as np
from scipy import ndimage

from .periodicity import (
    REACH,
    Grid,
    LagMap,
    Lattice,
    concatenated,
    grid,
    half_plane,
    longest,
    reduce_basis,
    refined,
    same_lattice,
    shortest,
)
from .sync import central

__all__ = ["candidate_lattices"]

_PERIODS = (60.0, 330.0)      # px: the tile's period in the working plane, from expansion to a crop
_COARSE_DEGREES = 0.5         # grid step of the square-lattice search
_UPRIGHT_DEGREES = 1.0        # the rotated-square search starts this far from upright
_COARSE_STEP = 0.01           # relative period step of the square and rectangle searches
_UPRIGHT_STEP = 0.0025        # relative period step of the upright-square search (one parameter)
_COARSE_REACH = 0.5           # coarse grids use lags within this share of the plane's sides
_PEAKS = 12                   # strongest peaks used to propose general bases
_SQUARES = 5                  # rotated squares refined
_RESCORED = 8                 # coarse maxima per refined square rescored on a finer grid
_OTHERS = 2                   # rectangles, sheared squares (each way) and peak pairs refined
_CONVINCING = 8.0             # an upright square scoring this is read before any other hypothesis
_HARMONIC_TOLERANCE = 0.01    # relative: periods this close to a whole multiple are one lattice's harmonics
_SHEARS = np.concatenate([np.arange(-0.25, -0.0074, 0.0075), np.arange(0.0075, 0.2501, 0.0075)])   # sheared squares


def candidate_lattices(plane: np.ndarray, *, block_period: float | None = None) -> Iterator[Lattice]:
    """Lattice hypotheses for the periodic content of a whitened ``plane``, distinct, likeliest and
    cheapest first: the best upright square (crops and rescales, the commonest distortions, whose
    lattice may hold too few periods to win on score) and the best whose period is no multiple of
    its (a mark under a picture that repeats itself), each unless it is weak and the best rotated
    square beats it, then the best other square, then the best of every family by score. Later
    hypotheses are only computed when asked for. A long plane is searched on its central part
    (:func:`~watermark.schemes.lattice.sync.central`).
    """
    lags = LagMap(central(plane)[0], block_period)
    kept: list[Lattice] = []

    def fresh(lattice: Lattice) -> bool:
        if abs(np.linalg.det(lattice.basis)) <= 1.0 or any(same_lattice(lattice.basis, k.basis) for k in kept):
            return False
        kept.append(lattice)
        return True

    upright = sorted(refined(lags, _upright_squares(lags, 2)), key=lambda lattice: -lattice.score)
    for lattice in upright:
        if lattice.score >= _CONVINCING and fresh(lattice):
            yield lattice
    coarse_squares = _rotated_squares(lags, _SQUARES)         # best first: refine the rest only if asked
    squares = refined(lags, coarse_squares[:1])
    for lattice in sorted(upright + squares, key=lambda lattice: -lattice.score)[:2]:
        if fresh(lattice):
            yield lattice
    # Each family's best few, refined, then ranked together on the sharp map (the families' own
    # scores are maxima over grids of different sizes, and peak pairs are biased by their peaks).
    proposals = (coarse_squares[1:] + _rectangles(lags, _OTHERS) + _sheared_squares(lags, _OTHERS, transposed=False)
                 + _sheared_squares(lags, _OTHERS, transposed=True) + _peak_pairs(lags, _OTHERS))
    ranked = upright + squares + refined(lags, proposals)
    for lattice in sorted(ranked, key=lambda lattice: -lattice.score):
        if fresh(lattice):
            yield lattice


def _periods(step: float = _COARSE_STEP) -> np.ndarray:
    """Periods from ``_PERIODS[0]`` to ``_PERIODS[1]`` in relative steps of ``step``."""
    low, high = _PERIODS
    return low * (1.0 + step) ** np.arange(int(np.log(high / low) / np.log1p(step)) + 1)


def _coarse_reach(period: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Share of the sides the coarse grids read: enough to hold a lattice point past the first."""
    return np.minimum(REACH, np.maximum(_COARSE_REACH, 1.6 * np.asarray(period) / min(shape)))


def _grid_maxima(scores: np.ndarray, count: int, wrap_first: bool) -> list[tuple[int, int]]:
    """Indices of the ``count`` highest local maxima of a 2-D score grid."""
    mode = ("wrap" if wrap_first else "nearest", "nearest")
    peaks = (ndimage.maximum_filter(scores, size=5, mode=mode) == scores) & np.isfinite(scores)
    order = np.argsort(-np.where(peaks, scores, -np.inf), axis=None)[:count]
    return [(int(row), int(col)) for row, col in (np.unravel_index(i, scores.shape) for i in order if peaks.flat[i])]


@functools.lru_cache(maxsize=8)
def _upright_grid(shape: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, Grid]:
    periods = _periods(_UPRIGHT_STEP)
    n = half_plane(int(REACH * np.hypot(*shape) / periods[0]) + 1)
    return periods, grid(periods[:, None, None] * n[None], REACH, shape, size)


def _upright_squares(lags: LagMap, count: int) -> list[np.ndarray]:
    """The best upright square lattices: one parameter, so fine steps and every lag the plane holds.
    Each after the first is the best whose period is no whole multiple or fraction of an earlier
    one's (a picture that repeats at some scale scores at every multiple of its period)."""
    periods, grid = _upright_grid(lags.shape, lags.dilated.shape)
    scores = lags.grid_scores(grid)
    peaks = np.flatnonzero((ndimage.maximum_filter1d(scores, 9, mode="nearest") == scores) & np.isfinite(scores))
    chosen: list[float] = []
    for period in periods[peaks[np.argsort(-scores[peaks])]]:
        if not any(_commensurate(period, earlier) for earlier in chosen):
            chosen.append(float(period))
        if len(chosen) == count:
            break
    return [period * np.eye(2) for period in chosen]


def _commensurate(a: float, b: float) -> bool:
    """Whether the longer of two periods is within ``_HARMONIC_TOLERANCE`` of a whole multiple of the shorter."""
    ratio = max(a, b) / min(a, b)
    return abs(ratio - round(ratio)) <= _HARMONIC_TOLERANCE * ratio


def _rotated_squares(lags: LagMap, count: int) -> list[np.ndarray]:
    """The best rotated, scaled square lattices on a grid of angles and periods.

    Angles within ``_UPRIGHT_DEGREES`` of upright are left to :func:`_upright_squares` (and to
    refinement): the pixel grid's own structure crowds the grid's maxima there.
    """
    angles, periods, grids = _square_grids(lags.shape, lags.dilated.shape)
    scores = lags.grid_scores(grids).reshape(len(periods), len(angles)).T               # (angle, period)
    coarse = [(angles[i], periods[j]) for i, j in _grid_maxima(scores, _RESCORED * count, wrap_first=False)]
    return _rescored_squares(lags, coarse, count)


@functools.lru_cache(maxsize=8)
def _square_grids(shape: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, Grid]:
    """Angles, periods and the grid of the rotated squares' points, period by period, angle by angle."""
    angles = np.radians(np.arange(_UPRIGHT_DEGREES, 90.0 - _UPRIGHT_DEGREES + 1e-9, _COARSE_DEGREES))
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    periods = _periods()
    reaches = _coarse_reach(periods, shape)
    diagonal = np.hypot(*shape)
    n = half_plane(int(reaches.max() * diagonal / periods[0]) + 1)
    lengths = np.hypot(n[:, 0], n[:, 1])
    turned = np.stack([cos * n[:, 0] - sin * n[:, 1], sin * n[:, 0] + cos * n[:, 1]], axis=-1)   # (angle, m, 2)
    grids = []
    for period, reach in zip(periods, reaches):
        within = int(np.searchsorted(lengths, reach * diagonal / period, side="right"))
        grids.append(grid(period * turned[:, :within], reach, shape, size))
    return angles, periods, concatenated(grids)


def _rescored_squares(lags: LagMap, coarse: list[tuple[float, float]], count: int) -> list[np.ndarray]:
    """The ``count`` best squares near the ``coarse`` (angle, period) maxima, on a grid a quarter as
    fine, scored with every lag the plane holds: the coarse grid sees only near lags, which rank
    weak lattices poorly."""
    steps = np.arange(-2, 3) / 4.0
    angles = np.array([angle for angle, _ in coarse])[:, None, None] + np.radians(_COARSE_DEGREES) * steps[:, None]
    periods = np.array([period for _, period in coarse])
    sizes = periods[:, None, None] * (1.0 + _COARSE_STEP * steps[None, :])               # (maximum, 1, step)
    bases = sizes[..., None, None] * _rotation(np.broadcast_to(angles, (len(coarse), steps.size, steps.size)))
    best = np.full(len(coarse), -np.inf)
    chosen = bases[:, 0, 0].copy()
    order = np.argsort(periods)
    for group in _octaves(periods[order]):           # maxima of similar periods share their points
        members = order[group]
        n = half_plane(int(REACH * np.hypot(*lags.shape) / sizes[members].min()) + 1)
        scores = lags.lattice_sums(np.swapaxes(bases[members] @ n.T, -1, -2), coarse=True)
        flat = scores.reshape(len(members), -1)
        top = flat.argmax(axis=1)
        best[members] = flat[np.arange(len(members)), top]
        chosen[members] = bases[members].reshape(len(members), -1, 2, 2)[np.arange(len(members)), top]
    return [chosen[i] for i in np.argsort(-best)[:count]]


def _rotation(radians: np.ndarray) -> np.ndarray:
    """Counter-clockwise-in-(row, col) rotation matrices, shape ``radians.shape + (2, 2)``."""
    c, s = np.cos(radians), np.sin(radians)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _rectangles(lags: LagMap, count: int) -> list[np.ndarray]:
    """The best axis-aligned rectangular lattices (aspect changes): points ``(a Py, b Px)``.

    The lattice is separable: the dilated map's rows ``a Py`` (a >= 1) are summed first, then read
    at the columns ``b Px`` of every column period; the row axis (a = 0, b > 0) is the same for all.
    """
    periods = _periods()
    height, width = lags.shape
    row0, col0 = lags.origin
    reaches = _coarse_reach(periods, lags.shape)
    a = np.arange(1, int((reaches * height / periods).max()) + 1)
    rows_ok = a[None, :] * periods[:, None] < reaches[:, None] * height                  # (Py, a)
    rows = row0 + np.rint(np.where(rows_ok, a[None, :] * periods[:, None], 0.0)).astype(np.intp)
    below = (lags.dilated[rows] * rows_ok[..., None]).sum(axis=1)                          # (Py, columns)
    b = np.arange(-int((reaches * width / periods).max()) - 1, int((reaches * width / periods).max()) + 2)
    lags_x = periods[:, None] * b[None, :]                                               # (Px, b)
    cols_ok = np.abs(lags_x) < (reaches * width)[:, None]
    cols = col0 + np.rint(np.where(cols_ok, lags_x, 0.0)).astype(np.intp)
    totals = (below[:, cols] * cols_ok[None]).sum(axis=-1)                                # (Py, Px)
    on_axis = cols_ok & (b[None, :] > 0)
    totals += (lags.dilated[row0][cols] * on_axis).sum(axis=-1)[None, :]
    used = rows_ok.sum(axis=1)[:, None] * cols_ok.sum(axis=1)[None, :] + on_axis.sum(axis=1)[None, :]
    scores = np.where(used >= 2, totals / np.sqrt(np.maximum(used, 1)), -np.inf)
    return [np.diag([periods[i], periods[j]]) for i, j in _grid_maxima(scores, count, wrap_first=False)]


def _sheared_squares(lags: LagMap, count: int, *, transposed: bool) -> list[np.ndarray]:
    """The best sheared squares: points ``(a P, b P + a s P)`` for ``s`` in ``_SHEARS`` (shears along
    the columns), or with rows and columns swapped when ``transposed``."""
    shape = lags.shape[::-1] if transposed else lags.shape
    periods, grids = _shear_grids(shape, lags.dilated.shape, transposed)
    scores = np.concatenate([lags.grid_scores(grid) for grid in grids])                  # (P, s)
    swap = np.array([[0.0, 1.0], [1.0, 0.0]]) if transposed else np.eye(2)
    return [swap @ (periods[i] * np.array([[1.0, 0.0], [_SHEARS[j], 1.0]]))
            for i, j in _grid_maxima(scores, count, wrap_first=False)]


@functools.lru_cache(maxsize=8)
def _shear_grids(shape: tuple[int, int], size: tuple[int, int], transposed: bool) -> tuple[np.ndarray, list[Grid]]:
    """Periods and, per octave of periods, the grid (period, shear) of the sheared squares' points,
    in the frame of ``shape`` (rows and columns swapped when ``transposed``)."""
    periods = _periods()
    height, width = shape
    reaches = _coarse_reach(periods, shape)
    grids = []
    for group in _octaves(periods):
        p, reach = periods[group], reaches[group]
        a = np.arange(0, int((reach * height / p).max()) + 1)
        span = int((reach * width / p).max()) + 1
        b = np.arange(-span, span + 1)
        lag_y = np.broadcast_to(p[:, None, None, None] * a[None, None, :, None], (p.size, _SHEARS.size, a.size, b.size))
        sheared = _SHEARS[None, :, None, None] * a[None, None, :, None]
        lag_x = p[:, None, None, None] * (b[None, None, None, :] + sheared)
        half = (a[:, None] > 0) | (b[None, :] > 0)
        points = np.stack([np.where(half, lag_y, 1e9), lag_x], axis=-1).reshape(p.size, _SHEARS.size, -1, 2)
        grids.append(grid(points, reach[:, None, None], shape, size, transposed))
    return periods, grids


def _octaves(periods: np.ndarray) -> list[slice]:
    """``periods`` (increasing) cut where they double: a group reads as many multiples as its shortest."""
    edges = [0] + [int(np.searchsorted(periods, periods[0] * 2.0**k)) for k in range(1, 8)] + [periods.size]
    return [slice(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def _peak_pairs(lags: LagMap, count: int) -> list[np.ndarray]:
    """Distinct bases from pairs of the strongest peaks (and their half sums: diagonals of a cell)."""
    height, width = lags.shape
    # the local maxima above 2 in the half-plane of lags within 0.6 of the sides (2 px more around,
    # for the 5 x 5 neighbourhood)
    top, left = lags.origin[0] - 2, lags.origin[1] - int(0.6 * width) - 3
    values = lags.dilated[top:lags.origin[0] + int(0.6 * height) + 3, left:lags.origin[1] + int(0.6 * width) + 4]
    local_max = cv2.dilate(values, np.ones((5, 5), np.uint8)) == values
    local_max[:2], local_max[-2:], local_max[:, :2], local_max[:, -2:] = False, False, False, False
    candidates = np.argwhere(local_max & (values > 2.0)) + (top - lags.origin[0], left - lags.origin[1])
    values = lags.dilated
    radius = np.hypot(candidates[:, 0], candidates[:, 1])
    upper = (candidates[:, 0] > 0) | ((candidates[:, 0] == 0) & (candidates[:, 1] > 0))
    keep = (upper & (radius >= _PERIODS[0]) & (np.abs(candidates[:, 0]) < 0.6 * height)
            & (np.abs(candidates[:, 1]) < 0.6 * width))
    candidates = candidates[keep]
    strength = values[tuple((candidates + lags.origin).astype(int).T)]
    peaks = candidates[np.argsort(-strength)[:_PEAKS]]
    proposals = [np.column_stack([p, [-p[1], p[0]]]) for p in peaks]           # square completion
    for p, q in itertools.combinations(peaks, 2):
        if abs(p[0] * q[1] - p[1] * q[0]) > 0.2 * np.hypot(*p) * np.hypot(*q):
            proposals += [np.column_stack([p, q]), np.column_stack([(p + q) / 2, (p - q) / 2])]
    bases = [b for b in map(reduce_basis, proposals) if _PERIODS[0] <= shortest(b) and longest(b) <= _PERIODS[1] * 1.5]
    bases = [bases[i] for i in np.argsort(-lags.scores(bases, coarse=True), kind="stable")]
    distinct: list[np.ndarray] = []
    for basis in bases:                  # near-copies (a pixel apart) would all be refined to one
        if all(np.abs(basis - kept).max() > 4.0 for kept in distinct):
            distinct.append(basis)
    return distinct[:count]
