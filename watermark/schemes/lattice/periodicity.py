"""The autocorrelation of a whitened image, and how well a lattice fits it (Kutter 1999).

A mark that repeats with period ``T`` makes the autocorrelation of the image peak at every lattice
vector ``n1 v1 + n2 v2``; any affine distortion of the image (rotation, scale, aspect, shear, flip)
maps the lattice to another lattice, so finding ``(v1, v2)`` undoes the distortion's linear part.

The autocorrelation is the *linear* one (the plane is zero-padded so that no lag it holds wraps
around), computed from a spectrally whitened power spectrum (each frequency's excess over its
neighbourhood's mean), so that the repetition shows as sharp peaks at every lag the image can
hold. A hypothesis is scored by the sum of the autocorrelation at *all* its lattice points,
interpolated, over the square root of their number: a z-score when no lattice is there, and one
that grows with every period the image holds when one is. No single peak has to stand out.
:mod:`~watermark.schemes.lattice.search` proposes the hypotheses.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft

__all__ = ["Lattice", "LagMap", "Grid", "grid", "concatenated", "half_plane", "normalised_sums", "refined",
           "reduce_basis", "same_lattice", "shortest", "longest", "REACH"]

_BAND = (0.03, 0.36)          # cycles/px: where the mark's spectral lines can be after scaling
_SPECTRUM_SMOOTHING = 17      # bins of the padded spectrum: neighbourhood for spectral whitening
_AXIS_BAND = 2                # px: lags this close to an axis also carry the host's straight edges
_AXIS_DETREND = 15            # px: window of the running median that removes those ridges
REACH = 0.9                   # lags beyond this share of a side overlap too little to count
# Refinement: (dilated map?, reach, steps in px), in order.
_REFINE_STAGES = ((True, 0.45, (4.0, 2.0)), (True, 0.9, (2.0, 1.0)), (False, 0.9, (0.5, 0.25, 0.125, 0.0625)))
_FAR = 1e6                    # a lattice coefficient so large its point is outside any plane: unused


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
        # Padded just enough that no lag within REACH wraps around.
        size = tuple(fft.next_fast_len(int(np.ceil((1.0 + REACH) * n)) + 2, real=True) for n in (height, width))
        # Only the band's columns are used, and the smoothing's reach past them: the transform runs
        # along the plane's rows (not the padding's), then down those columns only.
        band = _band(size)
        used = band.shape[1] + _SPECTRUM_SMOOTHING // 2
        spectrum = fft.fft(fft.rfft(plane.astype(np.float32), n=size[1], axis=1)[:, :used], n=size[0], axis=0)
        power = spectrum.real**2 + spectrum.imag**2
        local = cv2.blur(power, (_SPECTRUM_SMOOTHING, _SPECTRUM_SMOOTHING), borderType=cv2.BORDER_REFLECT)
        excess = np.divide(power, np.maximum(local, 1e-20), out=local)
        excess -= 1.0
        if block_period is not None:
            _remove_grid_lines(excess, np.abs(fft.fftfreq(size[0])), fft.rfftfreq(size[1])[:used], block_period, size)
        # The band's phase centres the zero lag; the columns past the band are zero, so the inverse
        # transform runs down the band's columns only, then along the rows.
        correlation = fft.irfft(fft.ifft(excess[:, :band.shape[1]] * band, axis=0), n=size[1], axis=1)
        row, col = size[0] // 2, size[1] // 2
        correlation[row - 8:row + 9, col - 8:col + 9] = 0.0       # the zero lag and the host's own grain
        central = (slice(row - height // 2, row + height // 2), slice(col - width // 2, col + width // 2))
        correlation /= max(float(correlation[central].std()), 1e-20)
        _detrend_axes(correlation, row, col)
        self.values = correlation
        # Each lag's best value within a pixel, as a z-score: the coarse grids step by more than the
        # peaks are wide, and read this map at the nearest pixel.
        flat = np.zeros(correlation.size + 1, np.float32)      # one more cell, 0: where unusable lags read
        self.dilated = np.asarray(cv2.dilate(correlation, np.ones((3, 3), np.uint8),
                                             dst=flat[:-1].reshape(correlation.shape)), dtype=np.float32)
        self.dilated -= self.dilated[central].mean()
        self.dilated /= max(float(self.dilated[central].std()), 1e-20)
        self.flat_dilated = flat
        self.origin = (row, col)
        self.shape = (height, width)

    def grid_scores(self, hypotheses: Grid) -> np.ndarray:
        """Scores of a precomputed grid of lattices (see :func:`grid`), read from the dilated map."""
        values = self.flat_dilated.take(hypotheses.index)
        if hypotheses.starts is None:
            return normalised_sums(values, hypotheses.count)
        sums = np.add.reduceat(values, hypotheses.starts)
        return np.where(hypotheses.count >= 2, sums / np.sqrt(np.maximum(hypotheses.count, 1)), -np.inf)

    def lattice_sums(self, points: np.ndarray, *, coarse: bool = False, reach: float = REACH) -> np.ndarray:
        """Scores of lattices given by their ``points`` (..., m, 2) as (row, col) lags: the map summed over
        the points within ``reach`` of the sides, over the root of their number.

        ``coarse`` reads the dilated map at the nearest pixel; otherwise the map is interpolated.
        """
        height, width = self.shape
        usable = (np.abs(points[..., 0]) < reach * height) & (np.abs(points[..., 1]) < reach * width)
        # Only the usable points are read (often one in eight); they are then summed among zeros, as the
        # whole array was.
        rows, cols = points[..., 0][usable], points[..., 1][usable]
        if coarse:       # as grid_scores(grid(...)), without building a Grid
            stride = self.dilated.shape[1]
            index = np.rint(rows).astype(np.intp) * stride + np.rint(cols).astype(np.intp)
            index += self.origin[0] * stride + self.origin[1]
            return normalised_sums(_scattered(self.flat_dilated.take(index), usable), usable.sum(axis=-1))
        rows, cols = rows + self.origin[0], cols + self.origin[1]
        top, left = rows.astype(np.intp), cols.astype(np.intp)       # positive: floor
        dy, dx = rows - top, cols - left
        v, stride = self.values.ravel(), self.values.shape[1]
        corner = top * stride + left
        upper, lower = v.take(corner), v.take(corner + stride)
        upper = upper + dx * (v.take(corner + 1) - upper)
        lower = lower + dx * (v.take(corner + stride + 1) - lower)
        return normalised_sums(_scattered(upper + dy * (lower - upper), usable), usable.sum(axis=-1))

    def scores(self, bases: list[np.ndarray], *, coarse: bool = False) -> np.ndarray:
        """Evidence for the lattice of each of ``bases`` (z-score-like; about N(0, 1) where no lattice
        is), evaluated together."""
        points = [self.points(basis) for basis in bases]
        stacked = np.full((len(points), max(map(len, points), default=0), 2), [_FAR, 0.0])
        for row, these in zip(stacked, points):
            row[:len(these)] = these
        return self.lattice_sums(stacked, coarse=coarse)

    def points(self, basis: np.ndarray, reach: float = REACH) -> np.ndarray:
        """The lattice points of ``basis`` in one half-plane whose lags the plane can hold, (m, 2)."""
        height, width = self.shape
        points = _coefficients(self.shape, basis, reach) @ basis.T
        inside = (np.abs(points[:, 0]) < reach * height) & (np.abs(points[:, 1]) < reach * width)
        return points[inside]


@dataclass(frozen=True)
class Grid:
    """A grid of lattice hypotheses as flat indices into a lag map's dilated values: ``index`` (...,
    points), pointing past the map's end where a point is unusable, and ``count`` usable points.

    Hypotheses with different numbers of points are held end to end: ``index`` is then flat and
    hypothesis ``i``'s points start at ``starts[i]``.
    """

    index: np.ndarray
    count: np.ndarray
    starts: np.ndarray | None = None


def concatenated(grids: list[Grid]) -> Grid:
    """One :class:`Grid` holding the hypotheses of ``grids`` end to end, in order (each one's
    hypotheses along its last index axis): one read of the map scores them all."""
    lengths = np.concatenate([np.full(g.count.size, g.index.shape[-1]) for g in grids])
    index = np.concatenate([g.index.ravel() for g in grids])
    index.setflags(write=False)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return Grid(index=index, count=np.concatenate([g.count.ravel() for g in grids]), starts=starts)


def grid(points: np.ndarray, reach: float | np.ndarray, shape: tuple[int, int], size: tuple[int, int],
          transposed: bool = False) -> Grid:
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
    return Grid(index=index, count=usable.sum(axis=-1))


def _scattered(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """An array shaped as ``where``, ``values`` where it is true, else zero."""
    full = np.zeros(where.shape, values.dtype)
    full[where] = values
    return full


def normalised_sums(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Sums over the last axis of ``values`` (zero where unused) over the root of ``count``; -inf below 2."""
    return np.where(count >= 2, values.sum(axis=-1) / np.sqrt(np.maximum(count, 1)), -np.inf)


def _coefficients(shape: tuple[int, int], basis: np.ndarray, reach: float, margin: int = 1) -> np.ndarray:
    """Integer coefficients (one half-plane) enough for ``basis`` to reach every lag within ``reach``
    of a plane of ``shape``: the reach over the shortest vector, times how much longer than it a
    combination may need to be (the basis's skew), plus ``margin``."""
    lengths = np.hypot(basis[0], basis[1])
    skew = float(lengths.prod() / max(abs(np.linalg.det(basis)), 1e-9))
    return half_plane(int(np.ceil(reach * np.hypot(*shape) / shortest(basis) * skew)) + margin)


def _detrend_axes(correlation: np.ndarray, row: int, col: int) -> None:
    """Make the lags along the axes usable: straight edges in the host raise whole ridges there,
    which a running median removes; each line is then rescaled to unit (robust) spread."""
    rows = correlation[row - _AXIS_BAND:row + _AXIS_BAND + 1, :]          # views: detrended in place,
    cols = correlation[:, col - _AXIS_BAND:col + _AXIS_BAND + 1].T        # one line per row of each
    half = _AXIS_DETREND // 2
    for lines in (rows, cols):
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(lines, ((0, 0), (half, half)), mode="edge"),
                                                           _AXIS_DETREND, axis=1)
        lines -= np.partition(windows, half, axis=-1)[..., half]       # the running median
        lines /= np.maximum(1.4826 * np.median(np.abs(lines), axis=1, keepdims=True), 1e-20)


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
    """Where a real FFT of ``size`` holds frequencies the mark's lines may take (``_BAND``), else 0;
    there, the phase that moves the zero lag of the inverse transform to ``size // 2`` (as
    ``fftshift`` would): +-1 along an even side. Only the columns up to the band's last one."""
    fy = fft.fftfreq(size[0])[:, None]
    fx = fft.rfftfreq(size[1])[None, :]
    radius = np.hypot(fy, fx)
    band = ((radius >= _BAND[0]) & (radius <= _BAND[1])).astype(np.float32)
    band = band[:, :int(np.flatnonzero(band.any(axis=0)).max()) + 1]
    for axis, n in enumerate(size):
        k = np.arange(band.shape[axis]).reshape((-1, 1) if axis == 0 else (1, -1))
        band = band * (np.where(k % 2, -1.0, 1.0).astype(np.float32) if n % 2 == 0
                       else np.exp(-2j * np.pi * k * (n // 2) / n).astype(np.complex64))
    band.setflags(write=False)
    return band


@functools.lru_cache(maxsize=64)
def half_plane(reach: int) -> np.ndarray:
    """Integer lattice coordinates (n1, n2) with |n| <= reach in one half-plane (no origin), by length."""
    grid = np.array([(a, b) for a, b in itertools.product(range(0, reach + 1), range(-reach, reach + 1))
                     if (a > 0 or b > 0) and a * a + b * b <= reach * reach], dtype=np.float64).reshape(-1, 2)
    grid = grid[np.argsort(np.hypot(grid[:, 0], grid[:, 1]), kind="stable")]
    grid.setflags(write=False)
    return grid


def shortest(basis: np.ndarray) -> float:
    return float(min(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])))


def longest(basis: np.ndarray) -> float:
    return float(max(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])))


def _refine(lags: LagMap, bases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``bases`` (L, 2, 2) moved, a coordinate at a time, to a local maximum of the score: on
    the dilated map, first with the near lags only in steps of a few pixels (a wide basin: a lattice
    a few percent off still meets its near points), then with every lag; then on the sharp map down
    to a sixteenth of a pixel. The climbs run side by side, one evaluation of every climbing
    lattice's moves at a time. Returns the bases and their scores."""
    # each lattice's coefficients (margin 2: refinement may lengthen it a little), padded to one length
    coefficients = [_coefficients(lags.shape, basis, REACH, margin=2) for basis in bases]
    n = np.full((len(bases), max(map(len, coefficients)), 2), [_FAR, 0.0])
    for row, points in zip(n, coefficients):
        row[:len(points)] = points
    bases = np.array(bases, dtype=np.float64)
    moves = np.concatenate([np.eye(4), -np.eye(4)]).reshape(8, 2, 2)
    best = np.full(len(bases), -np.inf)
    for coarse, reach, steps in _REFINE_STAGES:
        best = lags.lattice_sums(n @ bases.transpose(0, 2, 1), coarse=coarse, reach=reach)
        for step in steps:
            climbing = np.arange(len(bases))
            while climbing.size:
                trials = bases[climbing, None] + step * moves                              # (c, 8, 2, 2)
                scores = lags.lattice_sums(n[climbing, None] @ trials.transpose(0, 1, 3, 2), coarse=coarse,
                                           reach=reach)                                     # (c, 8)
                top = scores.argmax(axis=1)
                higher = scores[np.arange(climbing.size), top] > best[climbing] + 1e-6
                climbing, top = climbing[higher], top[higher]
                bases[climbing] = trials[higher, top]
                best[climbing] = scores[higher, top]
    return bases, best


def reduce_basis(basis: np.ndarray) -> np.ndarray:
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


def same_lattice(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b``'s vectors are integer combinations of ``a``'s and vice versa, so closely that
    the lattices differ by less than a pixel over a few periods."""
    for first, second in ((a, b), (b, a)):
        (p, q), (r, s) = first.tolist()           # 2 x 2 by hand: this runs for every pair of candidates
        det = p * s - q * r
        for y, x in second.T.tolist():
            for coefficient in ((s * y - q * x) / det, (p * x - r * y) / det):
                if abs(coefficient - round(coefficient)) > 0.005:
                    return False
    return True


def refined(lags: LagMap, bases: list[np.ndarray]) -> list[Lattice]:
    """Each of ``bases`` reduced and refined on ``lags`` (:func:`_refine`), with its score."""
    if not bases:
        return []
    refined_bases, scores = _refine(lags, np.array([reduce_basis(basis) for basis in bases]))
    return [Lattice(basis=reduce_basis(basis), score=float(score)) for basis, score in zip(refined_bases, scores)]
