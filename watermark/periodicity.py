"""Find the lattice of a periodic mark from the autocorrelation of a whitened image (Kutter 1999).

A mark that repeats with period ``T`` makes the autocorrelation of the image peak at every lattice
vector ``n1 v1 + n2 v2``; any affine distortion of the image (rotation, scale, aspect, shear, flip)
maps the lattice to another lattice, so finding ``(v1, v2)`` undoes the distortion's linear part.

The autocorrelation is the *linear* one (the spectrum is zero-padded to twice the size), computed
from a spectrally whitened power spectrum (each frequency's excess over its neighbourhood's mean),
so that the repetition shows as sharp peaks at every lag the image can hold. A hypothesis is scored
by the sum of the autocorrelation at *all* its lattice points, interpolated, over the square root of
their number: a z-score when no lattice is there, and one that grows with every period the image
holds when one is. No single peak has to stand out.

Hypotheses come from exhaustive searches over families of lattices, on a map that tolerates the
grids' steps (each lag's best value within a pixel), and from pairs of strong peaks:

* upright squares, one parameter (crops and rescales: the commonest distortions);
* rotated, scaled squares (rotations, with or without a crop);
* axis-aligned rectangles (aspect-ratio changes) and sheared squares (shears along either axis);
* pairs of the strongest autocorrelation peaks (general affine maps of a strong mark).

The best few are refined by a local search of the basis on the sharp map.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np
from scipy import fft, ndimage

__all__ = ["Lattice", "LagMap", "candidate_lattices"]

_BAND = (0.03, 0.36)          # cycles/px: where the mark's spectral lines can be after scaling
_SPECTRUM_SMOOTHING = 17      # bins of the padded spectrum: neighbourhood for spectral whitening
_PERIODS = (60.0, 330.0)      # px: the tile's period in the working plane, from expansion to a crop
_AXIS_BAND = 2                # px: lags this close to an axis also carry the host's straight edges
_AXIS_DETREND = 15            # px: window of the running median that removes those ridges
_COARSE_DEGREES = 0.5         # grid step of the square-lattice search
_UPRIGHT_DEGREES = 1.0        # the rotated-square search starts this far from upright
_COARSE_STEP = 0.01           # relative period step of the square and rectangle searches
_UPRIGHT_STEP = 0.0025        # relative period step of the upright-square search (one parameter)
_COARSE_REACH = 0.5           # coarse grids use lags within this share of the plane's sides
_REACH = 0.9                  # lags beyond this share of a side overlap too little to count
_PEAKS = 12                   # strongest peaks used to propose general bases
# Refinement: (dilated map?, reach, steps in px), in order.
_REFINE_STAGES = ((True, 0.45, (4.0, 2.0)), (True, 0.9, (2.0, 1.0)), (False, 0.9, (0.5, 0.25, 0.125, 0.0625)))
_SQUARES = 5                  # rotated squares refined
_RESCORED = 4                 # coarse maxima per refined square rescored on a finer grid
_OTHERS = 2                   # rectangles, sheared squares (each way) and peak pairs refined
_SHEARS = np.concatenate([np.arange(-0.25, -0.0074, 0.0075), np.arange(0.0075, 0.2501, 0.0075)])   # sheared squares


@dataclass(frozen=True)
class Lattice:
    """A lattice hypothesis: ``basis`` columns are v1 and v2 as (row, col) in pixels, ``score`` its evidence."""

    basis: np.ndarray
    score: float


class LagMap:
    """The linear autocorrelation of a whitened plane, in units of its noise, at every lag.

    ``block_period`` (px of ``plane``) is that of a JPEG-like block grid whose spectral lines are
    removed first, so that the codec's own periodicity is not taken for the mark's.
    """

    def __init__(self, plane: np.ndarray, block_period: float | None = None) -> None:
        height, width = plane.shape
        size = (fft.next_fast_len(2 * height, real=True), fft.next_fast_len(2 * width, real=True))
        spectrum = fft.rfft2(plane.astype(np.float32), s=size)
        power = spectrum.real**2 + spectrum.imag**2
        local = cv2.blur(power, (_SPECTRUM_SMOOTHING, _SPECTRUM_SMOOTHING), borderType=cv2.BORDER_REFLECT)
        excess = np.divide(power, np.maximum(local, 1e-20), out=local)
        excess -= 1.0
        excess *= _band(size)
        if block_period is not None:
            _remove_grid_lines(excess, np.abs(fft.fftfreq(size[0])), fft.rfftfreq(size[1]), block_period, size)
        correlation = fft.fftshift(fft.irfft2(excess, s=size))
        row, col = size[0] // 2, size[1] // 2
        correlation[row - 8:row + 9, col - 8:col + 9] = 0.0       # the zero lag and the host's own grain
        central = (slice(row - height // 2, row + height // 2), slice(col - width // 2, col + width // 2))
        correlation /= max(float(correlation[central].std()), 1e-20)
        _detrend_axes(correlation, row, col)
        self.values = correlation
        # Each lag's best value within a pixel, as a z-score: the coarse grids step by more than the
        # peaks are wide, and read this map at the nearest pixel.
        dilated = cv2.dilate(correlation, np.ones((3, 3), np.uint8))
        flat = np.zeros(dilated.size + 1, np.float32)         # one more cell, 0: where unusable lags read
        self.dilated = flat[:-1].reshape(dilated.shape)
        self.dilated[...] = (dilated - dilated[central].mean()) / max(float(dilated[central].std()), 1e-20)
        self.flat_dilated = flat
        self.origin = (row, col)
        self.shape = (height, width)

    def grid_scores(self, grid: "_Grid") -> np.ndarray:
        """Scores of a precomputed grid of lattices (see :func:`_grid`), read from the dilated map."""
        return _normalised_sums(self.flat_dilated[grid.index], grid.count)

    def lattice_sums(self, points: np.ndarray, *, coarse: bool = False, reach: float = _REACH) -> np.ndarray:
        """Scores of lattices given by their ``points`` (..., m, 2) as (row, col) lags: the map summed over
        the points within ``reach`` of the sides, over the root of their number.

        ``coarse`` reads the dilated map at the nearest pixel; otherwise the map is interpolated.
        """
        height, width = self.shape
        usable = (np.abs(points[..., 0]) < reach * height) & (np.abs(points[..., 1]) < reach * width)
        rows = points[..., 0] * usable + self.origin[0]          # unusable points read the origin
        cols = points[..., 1] * usable + self.origin[1]
        if coarse:
            flat = np.rint(rows).astype(np.intp) * self.dilated.shape[1] + np.rint(cols).astype(np.intp)
            values = self.dilated.ravel()[flat]
        else:
            top, left = rows.astype(np.intp), cols.astype(np.intp)       # positive: floor
            dy, dx = rows - top, cols - left
            v = self.values
            values = ((1 - dy) * ((1 - dx) * v[top, left] + dx * v[top, left + 1])
                      + dy * ((1 - dx) * v[top + 1, left] + dx * v[top + 1, left + 1]))
        return _normalised_sums(values * usable, usable.sum(axis=-1))

    def score(self, basis: np.ndarray, *, coarse: bool = False) -> float:
        """Evidence for the lattice of ``basis`` (z-score-like; about N(0, 1) where no lattice is)."""
        return float(self.lattice_sums(self.points(basis), coarse=coarse))

    def points(self, basis: np.ndarray, reach: float = _REACH) -> np.ndarray:
        """The lattice points of ``basis`` in one half-plane whose lags the plane can hold, (m, 2)."""
        height, width = self.shape
        n = _half_plane(int(np.ceil(reach * np.hypot(height, width) / _shortest(basis) * _skew(basis))) + 1)
        points = n @ basis.T
        inside = (np.abs(points[:, 0]) < reach * height) & (np.abs(points[:, 1]) < reach * width)
        return points[inside]


def _normalised_sums(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Sums over the last axis of ``values`` (zero where unused) over the root of ``count``; -inf below 2."""
    return np.where(count >= 2, values.sum(axis=-1) / np.sqrt(np.maximum(count, 1)), -np.inf)


def _skew(basis: np.ndarray) -> float:
    """How much longer than the shortest vector a combination may need to be to reach a lag (>= 1)."""
    lengths = np.hypot(basis[0], basis[1])
    return float(lengths.prod() / max(abs(np.linalg.det(basis)), 1e-9))


def _detrend_axes(correlation: np.ndarray, row: int, col: int) -> None:
    """Make the lags along the axes usable: straight edges in the host raise whole ridges there,
    which a running median removes; each line is then rescaled to unit (robust) spread."""
    lines = [correlation[row + d, :] for d in range(-_AXIS_BAND, _AXIS_BAND + 1)]
    lines += [correlation[:, col + d] for d in range(-_AXIS_BAND, _AXIS_BAND + 1)]
    for line in lines:                      # views: detrended in place
        line -= ndimage.median_filter(line, _AXIS_DETREND, mode="nearest")
        line /= max(1.4826 * float(np.median(np.abs(line))), 1e-20)


def _remove_grid_lines(excess: np.ndarray, fy: np.ndarray, fx: np.ndarray, period: float,
                       size: tuple[int, int]) -> None:
    """Zero the spectral lines of a grid of ``period`` px (its harmonics along both axes)."""
    for frequencies, axis, length in ((fy, 0, size[0]), (fx, 1, size[1])):
        grid = frequencies * period
        lines = (np.abs(grid - np.rint(grid)) * length / period < 3.0) & (np.rint(grid) > 0)
        if axis == 0:
            excess[lines, :] = 0.0
        else:
            excess[:, lines] = 0.0


@functools.lru_cache(maxsize=16)
def _band(size: tuple[int, int]) -> np.ndarray:
    """1 where a real FFT of ``size`` holds frequencies the mark's lines may take (``_BAND``), else 0."""
    fy = fft.fftfreq(size[0])[:, None]
    fx = fft.rfftfreq(size[1])[None, :]
    radius = np.hypot(fy, fx)
    band = ((radius >= _BAND[0]) & (radius <= _BAND[1])).astype(np.float32)
    band.setflags(write=False)
    return band


@functools.lru_cache(maxsize=64)
def _half_plane(reach: int) -> np.ndarray:
    """Integer lattice coordinates (n1, n2) with |n| <= reach in one half-plane (no origin), by length."""
    grid = np.array([(a, b) for a, b in itertools.product(range(0, reach + 1), range(-reach, reach + 1))
                     if (a > 0 or b > 0) and a * a + b * b <= reach * reach], dtype=np.float64).reshape(-1, 2)
    grid = grid[np.argsort(np.hypot(grid[:, 0], grid[:, 1]), kind="stable")]
    grid.setflags(write=False)
    return grid


def _periods(step: float = _COARSE_STEP) -> np.ndarray:
    """Periods from ``_PERIODS[0]`` to ``_PERIODS[1]`` in relative steps of ``step``."""
    low, high = _PERIODS
    return low * (1.0 + step) ** np.arange(int(np.log(high / low) / np.log1p(step)) + 1)


def _coarse_reach(period: float | np.ndarray, shape: tuple[int, int]) -> float | np.ndarray:
    """Share of the sides the coarse grids read: enough to hold a lattice point past the first."""
    return np.minimum(_REACH, np.maximum(_COARSE_REACH, 1.6 * np.asarray(period) / min(shape)))


def _grid_maxima(scores: np.ndarray, count: int, wrap_first: bool) -> list[tuple[int, int]]:
    """Indices of the ``count`` highest local maxima of a 2-D score grid."""
    mode = ("wrap" if wrap_first else "nearest", "nearest")
    peaks = (ndimage.maximum_filter(scores, size=5, mode=mode) == scores) & np.isfinite(scores)
    order = np.argsort(-np.where(peaks, scores, -np.inf), axis=None)[:count]
    return [tuple(int(v) for v in np.unravel_index(i, scores.shape)) for i in order if peaks.flat[i]]


@dataclass(frozen=True)
class _Grid:
    """A grid of lattice hypotheses as flat indices into a lag map's dilated values: ``index`` (...,
    points), pointing past the map's end where a point is unusable, and ``count`` usable points."""

    index: np.ndarray
    count: np.ndarray


def _grid(points: np.ndarray, reach: float | np.ndarray, shape: tuple[int, int], size: tuple[int, int],
          transposed: bool = False) -> _Grid:
    """``points`` (..., m, 2) as (row, col) lags, usable within ``reach`` (a share of the sides, or
    shares broadcasting against ``points[..., 0]``), as indices into a flattened map of ``size``
    whose origin is its centre. ``transposed``: the points are (col, row) lags."""
    if transposed:
        points, shape = points[..., ::-1], shape[::-1]
    usable = (np.abs(points[..., 0]) < reach * shape[0]) & (np.abs(points[..., 1]) < reach * shape[1])
    flat = (size[0] // 2 + np.rint(points[..., 0]).astype(np.int64)) * size[1] + size[1] // 2 \
        + np.rint(points[..., 1]).astype(np.int64)
    index = np.where(usable, flat, size[0] * size[1]).astype(np.int32)
    index.setflags(write=False)
    return _Grid(index=index, count=usable.sum(axis=-1))


@functools.lru_cache(maxsize=8)
def _upright_grid(shape: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, _Grid]:
    periods = _periods(_UPRIGHT_STEP)
    n = _half_plane(int(_REACH * np.hypot(*shape) / periods[0]) + 1)
    return periods, _grid(periods[:, None, None] * n[None], _REACH, shape, size)


def _upright_squares(lags: LagMap, count: int) -> list[np.ndarray]:
    """The best upright square lattices: one parameter, so fine steps and every lag the plane holds."""
    periods, grid = _upright_grid(lags.shape, lags.dilated.shape)
    scores = lags.grid_scores(grid)
    peaks = np.flatnonzero((ndimage.maximum_filter1d(scores, 9, mode="nearest") == scores) & np.isfinite(scores))
    return [periods[i] * np.eye(2) for i in peaks[np.argsort(-scores[peaks])][:count]]


def _rotated_squares(lags: LagMap, count: int) -> list[np.ndarray]:
    """The best rotated, scaled square lattices on a grid of angles and periods.

    Angles within ``_UPRIGHT_DEGREES`` of upright are left to :func:`_upright_squares` (and to
    refinement): the pixel grid's own structure crowds the grid's maxima there.
    """
    angles, periods, grids = _square_grids(lags.shape, lags.dilated.shape)
    scores = np.stack([lags.grid_scores(grid) for grid in grids], axis=1)               # (angle, period)
    coarse = [(angles[i], periods[j]) for i, j in _grid_maxima(scores, _RESCORED * count, wrap_first=False)]
    return _rescored_squares(lags, coarse, count)


@functools.lru_cache(maxsize=8)
def _square_grids(shape: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, list[_Grid]]:
    """Angles, periods and, per period, the grid over angles of the rotated squares' points."""
    angles = np.radians(np.arange(_UPRIGHT_DEGREES, 90.0 - _UPRIGHT_DEGREES + 1e-9, _COARSE_DEGREES))
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    periods = _periods()
    reaches = _coarse_reach(periods, shape)
    diagonal = np.hypot(*shape)
    n = _half_plane(int(reaches.max() * diagonal / periods[0]) + 1)
    lengths = np.hypot(n[:, 0], n[:, 1])
    turned = np.stack([cos * n[:, 0] - sin * n[:, 1], sin * n[:, 0] + cos * n[:, 1]], axis=-1)   # (angle, m, 2)
    grids = []
    for period, reach in zip(periods, reaches):
        within = int(np.searchsorted(lengths, reach * diagonal / period, side="right"))
        grids.append(_grid(period * turned[:, :within], reach, shape, size))
    return angles, periods, grids


def _rescored_squares(lags: LagMap, coarse: list[tuple[float, float]], count: int) -> list[np.ndarray]:
    """The ``count`` best squares near the ``coarse`` (angle, period) maxima, on a grid a quarter as
    fine, scored with every lag the plane holds: the coarse grid sees only near lags, which rank
    weak lattices poorly."""
    steps = np.arange(-2, 3) / 4.0
    best = []
    for angle, period in coarse:
        radians = angle + np.radians(_COARSE_DEGREES) * steps[:, None]
        sizes = period * (1.0 + _COARSE_STEP * steps[None, :])
        bases = sizes[..., None, None] * _rotation(np.broadcast_to(radians, (steps.size, steps.size)))
        n = _half_plane(int(_REACH * np.hypot(*lags.shape) / sizes.min()) + 1)
        scores = lags.lattice_sums(np.einsum("abij,mj->abmi", bases, n), coarse=True)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        best.append((float(scores[i, j]), bases[i, j]))
    return [basis for _, basis in sorted(best, key=lambda pair: -pair[0])[:count]]


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
def _shear_grids(shape: tuple[int, int], size: tuple[int, int], transposed: bool) -> tuple[np.ndarray, list[_Grid]]:
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
        lag_x = p[:, None, None, None] * (b[None, None, None, :] + _SHEARS[None, :, None, None] * a[None, None, :, None])
        half = (a[:, None] > 0) | (b[None, :] > 0)
        points = np.stack([np.where(half, lag_y, 1e9), lag_x], axis=-1).reshape(p.size, _SHEARS.size, -1, 2)
        grids.append(_grid(points, reach[:, None, None], shape, size, transposed))
    return periods, grids


def _octaves(periods: np.ndarray) -> list[slice]:
    """``periods`` (increasing) cut where they double: a group reads as many multiples as its shortest."""
    edges = [0] + [int(np.searchsorted(periods, periods[0] * 2.0**k)) for k in range(1, 8)] + [periods.size]
    return [slice(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def _peak_pairs(lags: LagMap, count: int) -> list[np.ndarray]:
    """Distinct bases from pairs of the strongest peaks (and their half sums: diagonals of a cell)."""
    values = lags.dilated
    local_max = cv2.dilate(values, np.ones((5, 5), np.uint8)) == values
    candidates = np.argwhere(local_max & (values > 2.0)) - lags.origin
    height, width = lags.shape
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
    bases = [b for b in map(_reduce, proposals) if _PERIODS[0] <= _shortest(b) and _longest(b) <= _PERIODS[1] * 1.5]
    bases.sort(key=lambda basis: -lags.score(basis, coarse=True))
    distinct: list[np.ndarray] = []
    for basis in bases:                  # near-copies (a pixel apart) would all be refined to one
        if all(np.abs(basis - kept).max() > 4.0 for kept in distinct):
            distinct.append(basis)
    return distinct[:count]


def _shortest(basis: np.ndarray) -> float:
    return float(min(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])))


def _longest(basis: np.ndarray) -> float:
    return float(max(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])))


def _refine(lags: LagMap, basis: np.ndarray) -> tuple[np.ndarray, float]:
    """``basis`` moved, a coordinate at a time, to a local maximum of the score: on the dilated map,
    first with the near lags only in steps of a few pixels (a wide basin: a lattice a few percent
    off still meets its near points), then with every lag; then on the sharp map down to a
    sixteenth of a pixel."""
    n = _half_plane(int(np.ceil(_REACH * np.hypot(*lags.shape) / _shortest(basis) * _skew(basis))) + 2)
    moves = np.concatenate([np.eye(4), -np.eye(4)]).reshape(8, 2, 2)
    best = -np.inf
    for coarse, reach, steps in _REFINE_STAGES:
        best = float(lags.lattice_sums(n @ basis.T, coarse=coarse, reach=reach))
        for step in steps:
            while True:
                trials = basis + step * moves
                scores = lags.lattice_sums(np.matmul(n[None], trials.transpose(0, 2, 1)), coarse=coarse, reach=reach)
                top = int(np.argmax(scores))
                if scores[top] <= best + 1e-6:
                    break
                basis, best = trials[top], float(scores[top])
    return basis, best


def _reduce(basis: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduction: the shortest, most orthogonal basis of the same lattice."""
    v1, v2 = basis[:, 0].copy(), basis[:, 1].copy()
    for _ in range(16):
        if v1 @ v1 > v2 @ v2:
            v1, v2 = v2, v1
        step = round((v1 @ v2) / (v1 @ v1))
        if step == 0:
            break
        v2 = v2 - step * v1
    return np.column_stack([v1, v2])


def _same_lattice(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b``'s vectors are integer combinations of ``a``'s and vice versa, so closely that
    the lattices differ by less than a pixel over a few periods."""
    for first, second in ((a, b), (b, a)):
        coefficients = np.linalg.solve(first, second)
        if np.abs(coefficients - np.rint(coefficients)).max() > 0.005:
            return False
    return True


def candidate_lattices(plane: np.ndarray, *, block_period: float | None = None) -> Iterator[Lattice]:
    """Lattice hypotheses for the periodic content of a whitened ``plane``, distinct, likeliest and
    cheapest first: the best upright square (crops and rescales, the commonest distortions, whose
    lattice may hold too few periods to win on score), the best other square, then the best of
    every family by score. Later hypotheses are only computed when asked for.
    """
    lags = LagMap(plane, block_period)
    kept: list[Lattice] = []

    def fresh(lattice: Lattice) -> bool:
        if abs(np.linalg.det(lattice.basis)) <= 1.0 or any(_same_lattice(lattice.basis, k.basis) for k in kept):
            return False
        kept.append(lattice)
        return True

    upright = sorted((_refined(lags, basis) for basis in _upright_squares(lags, 2)), key=lambda l: -l.score)
    if upright and fresh(upright[0]):
        yield upright[0]
    squares = [_refined(lags, basis) for basis in _rotated_squares(lags, _SQUARES)]
    for lattice in sorted(upright[1:] + squares, key=lambda lattice: -lattice.score)[:1]:
        if fresh(lattice):
            yield lattice
    # Each family's best few, refined, then ranked together on the sharp map (the families' own
    # scores are maxima over grids of different sizes, and peak pairs are biased by their peaks).
    proposals = (_rectangles(lags, _OTHERS) + _sheared_squares(lags, _OTHERS, transposed=False)
                 + _sheared_squares(lags, _OTHERS, transposed=True) + _peak_pairs(lags, _OTHERS))
    refined = upright[1:] + squares + [_refined(lags, basis) for basis in proposals]
    for lattice in sorted(refined, key=lambda lattice: -lattice.score):
        if fresh(lattice):
            yield lattice


def _refined(lags: LagMap, basis: np.ndarray) -> Lattice:
    basis, score = _refine(lags, _reduce(basis))
    return Lattice(basis=_reduce(basis), score=score)
