"""Find the lattice of a periodic mark from the autocorrelation of a whitened image (Kutter 1999).

A mark that repeats with period ``T`` makes the autocorrelation of the image peak at every lattice
vector ``n1 v1 + n2 v2``; any affine distortion of the image (rotation, scale, aspect, shear, flip)
maps the lattice to another lattice, so finding ``(v1, v2)`` undoes the distortion's linear part.

The autocorrelation is computed from a spectrally whitened power spectrum (each frequency divided by
its neighbourhood's mean power), which turns the repetition into sharp peaks. Candidate bases come
from pairs of strong peaks, and from single peaks completed by a right angle (the square lattice of a
similarity, for crops too narrow to show two periods in both directions). Each candidate is scored
by the autocorrelation at *all* its lattice points within reach, refined by least squares on the
peaks it predicts, and the best few are returned for the pilot to verify.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft, ndimage

__all__ = ["Lattice", "autocorrelation", "find_lattices"]

_PEAKS = 16                 # strongest autocorrelation peaks used to propose bases
_MIN_LAG = 60.0             # px: shorter lags are the host's own texture (the tile is >= 64 px)
_BAND = (0.03, 0.36)        # cycles/px: where the mark's spectral lines can be after scaling
_SPECTRUM_SMOOTHING = 9     # bins: neighbourhood for spectral whitening


@dataclass(frozen=True)
class Lattice:
    """A lattice hypothesis: ``basis`` columns are v1 and v2 in pixels, ``score`` its evidence."""

    basis: np.ndarray
    score: float


def autocorrelation(plane: np.ndarray, block_period: float | None = None) -> np.ndarray:
    """Autocorrelation of ``plane`` after spectral whitening, zero lag at [0, 0], unit spread.

    ``block_period`` (px of ``plane``) is that of a JPEG-like block grid whose spectral lines are
    removed first, so that the codec's own periodicity is not taken for the mark's.
    """
    spectrum = fft.rfft2(plane)
    power = spectrum.real**2 + spectrum.imag**2
    local = ndimage.uniform_filter(power, _SPECTRUM_SMOOTHING, mode=("wrap", "nearest"))
    whitened = np.maximum(power / np.maximum(local, 1e-20) - 1.0, 0.0)   # excess over the local level
    height, width = plane.shape
    fy = fft.fftfreq(height)[:, None]
    fx = fft.rfftfreq(width)[None, :]
    radius = np.hypot(fy, fx)
    whitened[(radius < _BAND[0]) | (radius > _BAND[1])] = 0.0
    if block_period is not None:
        for frequencies, axis, size in ((np.abs(fy[:, 0]), 0, height), (fx[0], 1, width)):
            grid = frequencies * block_period
            lines = np.abs(grid - np.rint(grid)) * size / block_period < 1.5
            lines &= np.rint(grid) > 0
            if axis == 0:
                whitened[lines, :] = 0.0
            else:
                whitened[:, lines] = 0.0
    correlation = fft.irfft2(whitened, s=plane.shape)
    correlation -= ndimage.uniform_filter(correlation, 9, mode="wrap")    # peaks, not humps
    correlation[0, 0] = 0.0
    spread = np.std(correlation)
    return correlation / spread if spread > 0 else correlation


def _lag(index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Signed lags of flat-array positions (circular indexing)."""
    lags = np.array(index, dtype=np.float64)
    for axis, size in enumerate(shape):
        lags[..., axis] = np.where(lags[..., axis] > size // 2, lags[..., axis] - size, lags[..., axis])
    return lags


def _peaks(correlation: np.ndarray, max_lag: float) -> np.ndarray:
    """Lags (dy, dx) of the strongest local maxima in one half-plane, strongest first."""
    local_max = cv2.dilate(correlation, np.ones((5, 5), np.uint8)) == correlation
    candidates = np.argwhere(local_max & (correlation > 2.0))
    lags = _lag(candidates, correlation.shape)
    radius = np.hypot(lags[:, 0], lags[:, 1])
    upper = (lags[:, 0] > 0) | ((lags[:, 0] == 0) & (lags[:, 1] > 0))
    keep = upper & (radius >= _MIN_LAG) & (radius <= max_lag)
    lags, candidates = lags[keep], candidates[keep]
    strength = correlation[candidates[:, 0], candidates[:, 1]]
    order = np.argsort(-strength)[:_PEAKS]
    return np.array([_refine(correlation, *candidates[i]) for i in order]).reshape(-1, 2)


def _refine(correlation: np.ndarray, row: int, col: int) -> np.ndarray:
    """Sub-pixel position of a peak by a parabola through its neighbours on each axis."""
    height, width = correlation.shape
    centre = correlation[row, col]
    offsets = []
    for before, after in ((correlation[(row - 1) % height, col], correlation[(row + 1) % height, col]),
                          (correlation[row, (col - 1) % width], correlation[row, (col + 1) % width])):
        curvature = before - 2.0 * centre + after
        offsets.append(0.5 * (before - after) / curvature if curvature < 0 else 0.0)
    return _lag(np.array([row + offsets[0], col + offsets[1]]), correlation.shape)


def _local_max(correlation: np.ndarray, row: int, col: int) -> tuple[int, int]:
    """The highest pixel in the 3x3 neighbourhood of (row, col), circularly."""
    height, width = correlation.shape
    candidates = [((row + dy) % height, (col + dx) % width) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return max(candidates, key=lambda rc: correlation[rc])


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


def _peak_map(correlation: np.ndarray) -> np.ndarray:
    """Each lag's best value in its 3x3 neighbourhood (tolerates a basis off by a pixel), as a
    z-score against the same statistic at random lags, so that lattices with many points gain
    nothing from noise."""
    best = cv2.dilate(correlation, np.ones((3, 3), np.uint8))
    return (best - best.mean()) / max(best.std(), 1e-12)


@functools.lru_cache(maxsize=32)
def _coefficients(reach: int) -> np.ndarray:
    """Integer lattice coordinates (n1, n2) with |n| <= reach, without the origin."""
    grid = np.array([(a, b) for a, b in itertools.product(range(-reach, reach + 1), repeat=2)
                     if (a, b) != (0, 0)], dtype=np.float64)
    grid.setflags(write=False)
    return grid


def _points(basis: np.ndarray, max_lag: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice coordinates and positions of the lattice points within ``max_lag`` of the origin."""
    shortest = min(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1]))
    n = _coefficients(int(np.ceil(max_lag / max(shortest, 1.0))) + 1)
    points = n @ basis.T
    inside = np.hypot(points[:, 0], points[:, 1]) <= max_lag
    return n[inside], points[inside]


def _score(peak_map: np.ndarray, basis: np.ndarray, max_lag: float) -> float:
    """Evidence for ``basis``: the peak map summed over its lattice points within ``max_lag``, over
    the square root of their number (a z-score when no lattice is there)."""
    _, points = _points(basis, max_lag)
    if len(points) < 2:
        return -np.inf
    height, width = peak_map.shape
    values = peak_map[np.rint(points[:, 0]).astype(int) % height, np.rint(points[:, 1]).astype(int) % width]
    return float(values.sum() / np.sqrt(values.size))


def _refit(correlation: np.ndarray, peak_map: np.ndarray, basis: np.ndarray, max_lag: float) -> np.ndarray:
    """``basis`` refit by least squares to the sub-pixel positions of the strong peaks it predicts."""
    n, points = _points(basis, max_lag)
    height, width = correlation.shape
    rows = np.rint(points[:, 0]).astype(int) % height
    cols = np.rint(points[:, 1]).astype(int) % width
    strong = peak_map[rows, cols] > 3.0
    if strong.sum() < 3:
        return basis
    found = np.array([_refine(correlation, *_local_max(correlation, r, c))
                      for r, c in zip(rows[strong], cols[strong])])
    size = np.array([height, width])
    found = points[strong] + ((found - points[strong] + 0.5 * size) % size - 0.5 * size)
    fit, *_ = np.linalg.lstsq(n[strong], found, rcond=None)
    return fit.T if np.linalg.matrix_rank(fit) == 2 else basis


def find_lattices(plane: np.ndarray, *, count: int = 4, block_period: float | None = None) -> list[Lattice]:
    """The ``count`` best lattice hypotheses for the periodic content of a whitened ``plane``.

    Lags along the axes also carry what the pixel grid itself repeats (codec blocks, resampling,
    straight edges), so general lattices are proposed and scored without them, by their off-axis
    points; the best axis-aligned square lattice (a crop or a rescale) is scored with them and
    always gets a place.
    """
    correlation = autocorrelation(plane, block_period)
    max_lag = 0.55 * max(plane.shape)
    off_axis = correlation.copy()
    off_axis[[-1, 0, 1], :] = 0.0
    off_axis[:, [-1, 0, 1]] = 0.0
    peaks = _peaks(off_axis, max_lag)
    off_axis_map = _peak_map(off_axis)
    proposals = [np.column_stack([p, [-p[1], p[0]]]) for p in peaks]          # square completion
    proposals += [np.column_stack([p, q]) for p, q in itertools.combinations(peaks, 2)
                  if abs(p[0] * q[1] - p[1] * q[0]) > 0.2 * np.hypot(*p) * np.hypot(*q)]
    bases = [basis for basis in map(_reduce, proposals)
             if min(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])) >= _MIN_LAG]
    bases.sort(key=lambda basis: -_score(off_axis_map, basis, max_lag))
    distinct = [_axis_aligned(correlation, max_lag)]
    for basis in bases:
        if len(distinct) == count:
            break
        refined = _reduce(_refit(off_axis, off_axis_map, basis, max_lag))
        if all(not _same_lattice(refined, kept.basis) for kept in distinct):
            distinct.append(Lattice(basis=refined, score=_score(off_axis_map, refined, max_lag)))
    return distinct


def _axis_aligned(correlation: np.ndarray, max_lag: float) -> Lattice:
    """The best square, axis-aligned lattice over all periods, refined."""
    peak_map = _peak_map(correlation)
    height, width = correlation.shape
    periods = np.arange(_MIN_LAG, 0.5 * min(correlation.shape) + 1.0, 0.5)
    n = _coefficients(int(np.ceil(max_lag / _MIN_LAG)) + 1)
    points = periods[:, None, None] * n[None, :, :]                      # (period, point, 2)
    inside = np.hypot(points[..., 0], points[..., 1]) <= max_lag
    values = peak_map[np.rint(points[..., 0]).astype(int) % height, np.rint(points[..., 1]).astype(int) % width]
    scores = (values * inside).sum(axis=1) / np.sqrt(np.maximum(inside.sum(axis=1), 1))
    best = float(periods[int(np.argmax(scores))]) * np.eye(2)
    refined = _reduce(_refit(correlation, peak_map, best, max_lag))
    return Lattice(basis=refined, score=_score(peak_map, refined, max_lag))


def _same_lattice(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b``'s vectors are integer combinations of ``a``'s and vice versa, so closely that
    the lattices differ by less than a pixel over a few periods."""
    for first, second in ((a, b), (b, a)):
        coefficients = np.linalg.solve(first, second)
        if np.abs(coefficients - np.rint(coefficients)).max() > 0.005:
            return False
    return True
