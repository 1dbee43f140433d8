"""Undo a smooth non-affine warp (StirMark's random bending) from the periodic mark's self-similarity.

The plane is cut into cells, each folded on the tile grid. A smooth displacement field ``s(x, y)``
(a quadratic polynomial per coordinate; translation is left to the pilot) shifts every cell's fold
before they are summed; the field that makes the summed fold most coherent (largest energy in the
mark's band) is found on grids and by gradient ascent over tile-sized cells in a coarse band, then
by gradient ascent over 64 px cells in a finer one.
Cells are shifted in the Fourier domain, so an evaluation costs no resampling. Nothing here uses a
key: the dewarped view is one more key-independent hypothesis.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import fft, optimize

from .sync import JPEG_BLOCK, TILE, central

__all__ = ["dewarped", "estimate_field"]

_CELL = 64                    # px: the fine stage's cells, over which the displacement is taken as constant
_COARSE_BAND = (4.0, 14.0)    # tile-FFT bins (Chebyshev radius) the coarse stage uses at 1:1
_FINE_BAND = (6.0, 24.0)      # and the fine stage
_FINER_TOPS = (20.0, 32.0)    # the bands' tops from 1.5 image pixels per working pixel (see _bands)


def _basis(y: np.ndarray, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Terms of the field at (y, x): u, v, uv, u^2, v^2 with u, v in [-1/2, 1/2] across the plane."""
    u, v = x / shape[1] - 0.5, y / shape[0] - 0.5
    return np.stack([u, v, u * v, u * u, v * v], axis=-1)


def _cells(view: np.ndarray, cell: int, keep: np.ndarray, ky: np.ndarray, kx: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Spectra at the tile-FFT bins ``keep`` (whose frequencies are ``ky``, ``kx``) of each cell's fold
    (the cell alone, at its place in the tile; ``cell`` divides ``TILE``), (n, K), and the cells'
    centres (y, x); cells less than a quarter inside the view are left out."""
    h, w = view.shape
    rows, cols = -(-h // cell), -(-w // cell)
    pad = np.zeros((rows * cell, cols * cell), np.float32)
    pad[:h, :w] = view
    blocks = pad.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3)        # (R, C, cell, cell)
    width = int(kx.max()) + 1                    # the columns the band reaches: only those are transformed
    spectra = fft.fft(fft.rfft(blocks, n=TILE, axis=-1)[..., :width], n=TILE, axis=-2)   # zero-padded to the tile
    spectra = spectra.reshape(rows * cols, -1)[:, keep[:, :width].ravel()]
    # each cell sits (r % per, c % per) cells into its tile: a shift by whole cells, a phase
    per = TILE // cell
    if per > 1:
        r, c = np.divmod(np.arange(rows * cols), cols)
        offsets = np.arange(per)[:, None] * (-2.0 * np.pi * cell / TILE)
        spectra *= _rotor(offsets * ky)[r % per] * _rotor(offsets * kx)[c % per]
    cy = (np.arange(rows) + 0.5) * cell
    cx = (np.arange(cols) + 0.5) * cell
    yy, xx = np.meshgrid(np.minimum(cy, h - 1), np.minimum(cx, w - 1), indexing="ij")
    area = np.minimum(np.arange(1, rows + 1) * cell, h)[:, None] - np.arange(rows)[:, None] * cell
    area = area * (np.minimum(np.arange(1, cols + 1) * cell, w) - np.arange(cols) * cell)[None, :]
    inside = (area >= 0.25 * cell * cell).ravel()
    return spectra[inside], np.stack([yy.ravel()[inside], xx.ravel()[inside]], axis=1)


def _grid_positions(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's (row, column) in the grid of cells, from its centre (y, x)."""
    rows, cols = (np.unique(centres[:, axis], return_inverse=True)[1] for axis in (0, 1))
    return rows, cols


def _frequencies(band: tuple[float, float], block_period: float | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which bins of a tile's real FFT are in ``band`` (Chebyshev radius in bins), and their (ky, kx)."""
    ky = np.fft.fftfreq(TILE, 1.0 / TILE)[:, None] * np.ones((1, TILE // 2 + 1))
    kx = np.fft.rfftfreq(TILE, 1.0 / TILE)[None, :] * np.ones((TILE, 1))
    radius = np.maximum(np.abs(ky), np.abs(kx))
    keep = (radius >= band[0]) & (radius <= band[1])
    if block_period:
        step = TILE / block_period          # a JPEG grid that folds coherently: drop its lines
        if abs(step - round(step)) < 0.05 and round(step) >= 1:
            lines = round(step)
            keep &= (np.abs(ky) % lines != 0) & (np.abs(kx) % lines != 0)
    return keep, ky[keep], kx[keep]


def _rotor(phase: np.ndarray) -> np.ndarray:
    """``exp(i phase)`` in single precision."""
    out = np.empty(phase.shape, np.complex64)
    out.real, out.imag = np.cos(phase), np.sin(phase)
    return out


class _Coherence:
    """Energy of the summed fold in a band when each cell is shifted by the field of coefficients."""

    def __init__(self, view: np.ndarray, cell: int, band: tuple[float, float], block_period: float | None):
        keep, ky, kx = _frequencies(band, block_period)
        cells, centres = _cells(view, cell, keep, ky, kx)
        phi = _basis(centres[:, 0], centres[:, 1], view.shape)
        self.row, self.col = _grid_positions(centres)
        # whiten by the average power per frequency: every frequency counts alike
        cells = cells / np.sqrt(np.maximum(np.mean(np.abs(cells) ** 2, axis=0), 1e-30))
        self.cells = cells.astype(np.complex64)
        self.norm = 1.0 / cells.size
        self.phi = phi.astype(np.float32)
        self.ky = (2.0 * np.pi * ky / TILE).astype(np.float32)
        self.kx = (2.0 * np.pi * kx / TILE).astype(np.float32)
        self.k = np.stack([self.ky, self.kx], axis=1)
        # a shift's rotor exp(i (dy ky + dx kx)) is exp(i dy ky) exp(i dx kx): two tables over the few
        # distinct ky and kx, gathered, instead of a sine and a cosine per cell and frequency
        self.unique_ky, self.index_ky = np.unique(self.ky, return_inverse=True)
        self.unique_kx, self.index_kx = np.unique(self.kx, return_inverse=True)

    def best_on_grid(self, theta: np.ndarray, axes: list[tuple[tuple[int, ...], np.ndarray]]) -> np.ndarray:
        """``theta`` with, for each ``(indices, values)`` of the two ``axes``, the coefficients
        ``indices`` set to one of ``values``: the best point of the product grid. The field is linear
        in its coefficients, so each axis shifts every cell by a factor of its own, and the sum over
        cells of the product of the factors is a batched matrix product."""
        base = theta.astype(np.float32).copy()
        for indices, _ in axes:
            base[list(indices)] = 0.0
        cells = self.cells * self._rotors(*self._shifts(base))                           # (n, K)
        factors = []
        for indices, values in axes:
            unit = np.zeros(10, np.float32)
            unit[list(indices)] = 1.0
            dy, dx = self._shifts(unit)
            steps = values.astype(np.float32)[:, None]
            factors.append(self._rotors(steps * dy, steps * dx))                         # (v, n, K)
        first = factors[0] * cells                                                       # (v1, n, K)
        total = np.matmul(first.transpose(2, 0, 1), factors[1].transpose(2, 1, 0))      # (K, v1, v2)
        energy = np.sum(total.real ** 2 + total.imag ** 2, axis=0).ravel()
        best = np.unravel_index(int(np.argmax(energy)), [len(values) for _, values in axes])
        result = theta.copy()
        for (indices, values), i in zip(axes, best):
            result[list(indices)] = values[i]
        return result

    def best_scales_and_bow(self, scales: np.ndarray, bows: np.ndarray) -> np.ndarray:
        """The field, from zero, with the best vertical scale (dy's v term), horizontal scale (dx's u
        term) and common bow (dy's u^2 and dx's v^2 terms) on their product grid; the same as
        :meth:`best_on_grid` would find on the three axes' grid. A vertical scale shifts a cell by
        what depends on its row only, a horizontal one on its column only: the sum over cells is
        taken over the columns, then over the rows, two batched matrix products (a quarter of the
        operations of one product over the cells)."""
        rows, cols = self.row.max() + 1, self.col.max() + 1
        v = np.zeros(rows, np.float32)
        u = np.zeros(cols, np.float32)
        v[self.row], u[self.col] = self.phi[:, 1], self.phi[:, 0]
        steps = scales.astype(np.float32)
        by_row = _rotor(steps[:, None, None] * v[None, :, None] * self.ky)             # (a, R, K)
        by_col = _rotor(steps[:, None, None] * u[None, :, None] * self.kx)             # (b, C, K)
        unit = np.zeros(10, np.float32)
        unit[[3, 9]] = 1.0
        bend = bows.astype(np.float32)[:, None]
        bent = self.cells * self._rotors(*(bend * shift for shift in self._shifts(unit)))  # (c, n, K)
        grid = np.zeros((len(bows), rows, cols, self.cells.shape[1]), np.complex64)    # (c, R, C, K)
        grid[:, self.row, self.col] = bent
        per_row = np.matmul(by_col.transpose(2, 0, 1), grid.transpose(3, 2, 0, 1).reshape(-1, cols, len(bows) * rows))
        per_row = per_row.reshape(-1, len(scales), len(bows), rows).transpose(0, 3, 1, 2)  # (K, R, b, c)
        total = np.matmul(by_row.transpose(2, 0, 1), per_row.reshape(-1, rows, len(scales) * len(bows)))
        energy = np.sum(total.real ** 2 + total.imag ** 2, axis=0)                       # (a, b * c)
        a, b, c = np.unravel_index(int(np.argmax(energy)), (len(scales), len(scales), len(bows)))
        theta = np.zeros(10)
        theta[1], theta[5], theta[[3, 9]] = scales[a], scales[b], bows[c]
        return theta

    def _shifts(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's displacement (dy, dx), each (n,), under the field of coefficients ``theta``.

        The invalid flag is ignored: BLAS left it for finite operands in a clean-clone test run (not
        reproduced); a non-finite ``theta`` still gives non-finite shifts, which the energy shows."""
        with np.errstate(invalid="ignore"):
            return self.phi @ theta[:5], self.phi @ theta[5:]

    def _rotors(self, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """``exp(i (dy ky + dx kx))`` for displacements ``dy``, ``dx`` (..., n): (..., n, K)."""
        rotors = _rotor(dy[..., None] * self.unique_ky)[..., self.index_ky]
        if np.any(dx):
            rotors *= _rotor(dx[..., None] * self.unique_kx)[..., self.index_kx]
        return rotors

    def negative(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the energy at ``theta`` and its gradient."""
        shifted = self.cells * self._rotors(*self._shifts(theta.astype(np.float32)))
        total = shifted.sum(axis=0)
        # d|total|^2/ds = -2 Im(conj(total) shifted) k, summed over the frequencies
        gy, gx = -2.0 * (shifted @ (np.conj(total)[:, None] * self.k)).imag.T
        energy = float(np.sum(total.real ** 2 + total.imag ** 2))
        grad = np.concatenate([self.phi.T @ gy, self.phi.T @ gx]).astype(np.float64)
        return -self.norm * energy, -self.norm * grad

    def polish(self, theta: np.ndarray, reach: float, iterations: int) -> np.ndarray:
        """Local ascent from ``theta``, each coefficient within ``reach``."""
        found = optimize.minimize(self.negative, theta, jac=True, method="BFGS",
                                  options={"maxiter": iterations, "gtol": 1e-6}).x
        return np.clip(found, theta - reach, theta + reach)


# Coarse grids: first jointly over both scales and a common bow, then per coordinate over its
# own scale term and its bow, the bow first over its whole range, then near (indices into the 10
# coefficients).
_SCALE = np.arange(-24.0, 24.1, 6.0)
_BOW = np.arange(-40.0, 40.1, 8.0)
_FINE_SCALE = np.arange(-6.0, 6.1, 2.0)
_FINE_BOW = np.arange(-12.0, 12.1, 4.0)
_GRIDS = ((1, 3), (5, 9))            # dy: v and u^2; dx: u and v^2
_ITERATIONS = (8, 8)                   # local ascent steps: coarse band, fine band


def _bands(block_period: float | None) -> tuple[tuple[float, float], tuple[float, float]]:
    """The coarse and fine stages' bands on an image whose JPEG grid is ``block_period`` working px.

    The mark's power in the residual view peaks at 14-28 bins (a 128 px tile's DWT levels 3 and 2
    hold 8-16 and 16-32; the residual's high-pass favours the upper ones). An image whose pixels are
    finer than the working ones keeps those bins through an attack's resampling and codec: from 1.5
    image pixels per working pixel the bands reach ``_FINER_TOPS`` (StirMark's bending of
    photographs at 1024x768 to 4000x3000 read more often). At 1:1 (the grid unknown, or an image
    up to 512 px) the image's own fine detail fills them, and the lower tops read faint marks
    better; the tops are interpolated in between.
    """
    finer = float(np.clip((JPEG_BLOCK / block_period - 1.0) / 0.5, 0.0, 1.0)) if block_period else 0.0
    (coarse_low, coarse_high), (fine_low, fine_high) = _COARSE_BAND, _FINE_BAND
    return ((coarse_low, coarse_high + finer * (_FINER_TOPS[0] - coarse_high)),
            (fine_low, fine_high + finer * (_FINER_TOPS[1] - fine_high)))


def estimate_field(view: np.ndarray, *, block_period: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Field coefficients (5 per coordinate: dy, dx) that make ``view``'s tiles most coherent: grids
    and a first ascent on tile-sized cells in the coarse band, then an ascent on small cells in the
    fine band (:func:`_bands`)."""
    coarse_band, fine_band = _bands(block_period)
    coarse = _Coherence(view, TILE, coarse_band, block_period)
    theta = coarse.best_scales_and_bow(_SCALE, _BOW)
    for bows in (lambda _: _BOW, lambda bow: bow + _FINE_BOW):     # each bow on its own: wide, then near
        for scale, bow in _GRIDS:
            theta = coarse.best_on_grid(theta, [((scale,), theta[scale] + _FINE_SCALE), ((bow,), bows(theta[bow]))])
    theta = coarse.polish(theta, 6.0, _ITERATIONS[0])
    fine = _Coherence(view, _CELL, fine_band, block_period)
    theta = fine.polish(theta, 3.0, _ITERATIONS[1])
    return theta[:5], theta[5:]


def _maps(coefficients: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The remap maps (rows, cols) of the field: view(q) = plane(q + s(q))."""
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    cols = np.arange(shape[1], dtype=np.float32)[None, :]
    u, v = cols / shape[1] - 0.5, rows / shape[0] - 0.5
    maps = []
    for position, c in zip((rows, cols), coefficients):    # terms u, v, uv, u^2, v^2 (see _basis)
        c = c.astype(np.float32)
        mapped = (c[0] + c[2] * v) * u                       # full size: summed into in place
        mapped += position + (c[1] * v + c[4] * v * v)
        mapped += c[3] * u * u
        maps.append(mapped)
    return maps[0], maps[1]


def dewarped(planes: Sequence[np.ndarray], residual: np.ndarray, *, block_period: float | None = None
             ) -> tuple[list[np.ndarray], np.ndarray]:
    """Each of ``planes`` (the same pixels as ``residual``, the view the warp is estimated on, e.g.
    the whitened plane and the luminance) with the smooth warp that ``residual`` shows undone, on the
    tile grid as embedded; a long plane on its central part
    (:func:`~watermark.schemes.lattice.sync.central`).

    Returns the views and the 2x3 affine map closest to their (row, col) -> plane (row, col) map
    (the warp itself is not affine).
    """
    (top, left) = central(planes[0])[1]
    residual, _ = central(residual)
    coefficients = estimate_field(residual, block_period=block_period)
    shape = residual.shape
    map_r, map_c = _maps(coefficients, shape)
    views = [cv2.remap(central(plane)[0], map_c, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
             for plane in planes]
    # the field's affine part: s = c0 u + c1 v (+ curvature, dropped), u = x / w - 1/2, v = y / h - 1/2
    h, w = shape
    linear = np.array([[1.0 + coefficients[0][1] / h, coefficients[0][0] / w],
                       [coefficients[1][1] / h, 1.0 + coefficients[1][0] / w]])
    offset = -0.5 * np.array([coefficients[0][0] + coefficients[0][1], coefficients[1][0] + coefficients[1][1]])
    return views, np.column_stack([linear, offset + [top, left]])
