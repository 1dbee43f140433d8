"""Shared transforms: block DCT, global DCT and thin 2-D DWT helpers, all orthonormal and exact.

Every function takes and returns float arrays (float32 stays float32) and never writes into its
input. Orthonormal transforms keep energy: a change of ``d`` in one coefficient changes the pixels
by an energy of ``d**2``, which is how the schemes budget their distortion.

- Block DCT: the 2-D DCT-II (``norm="ortho"``, as JPEG's FDCT) of every ``size x size`` block of the
  largest top-left region of a plane covered by whole blocks, vectorised as one ``scipy.fft.dctn``
  over a ``(rows, cols, size, size)`` view. Pixels outside that region belong to no block.
- Global DCT: the orthonormal DCT-II of a whole plane (Cox et al. 1997 mark its coefficients).
- DWT: PyWavelets' ``wavedec2``/``waverec2`` in periodization mode, which keeps every level at
  ``ceil(n / 2)`` coefficients and is orthonormal for orthogonal wavelets; odd sizes are handled by
  cropping the reconstruction back to the original shape.
"""

from __future__ import annotations

import numpy as np
import pywt
from scipy import fft

__all__ = ["to_blocks", "from_blocks", "block_dct", "block_idct", "dct2", "idct2", "dwt2", "idwt2"]

_MODE = "periodization"


def to_blocks(plane: np.ndarray, size: int = 8) -> np.ndarray:
    """The whole ``size x size`` blocks of ``plane`` as a ``(rows, cols, size, size)`` copy.

    The region ``plane[:rows * size, :cols * size]`` is used, ``rows = H // size``,
    ``cols = W // size``; the remainder at the bottom and right belongs to no block.
    """
    if size < 1:
        raise ValueError(f"block size must be >= 1, got {size}")
    rows, cols = plane.shape[0] // size, plane.shape[1] // size
    region = plane[:rows * size, :cols * size]
    return region.reshape(rows, size, cols, size).transpose(0, 2, 1, 3).copy()


def from_blocks(blocks: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_blocks`: a ``(rows * size, cols * size)`` plane."""
    rows, cols, size, width = blocks.shape
    return blocks.transpose(0, 2, 1, 3).reshape(rows * size, cols * width)


def block_dct(plane: np.ndarray, size: int = 8) -> np.ndarray:
    """Orthonormal 2-D DCT-II of each whole ``size x size`` block, shape ``(rows, cols, size, size)``.

    Examples
    --------
    >>> plane = np.arange(64, dtype=np.float32).reshape(8, 8)
    >>> block_dct(plane, 4).shape
    (2, 2, 4, 4)
    >>> bool(np.allclose(block_idct(block_dct(plane, 4)), plane, atol=1e-4))
    True
    """
    return fft.dctn(to_blocks(plane, size), axes=(-2, -1), norm="ortho")


def block_idct(coefficients: np.ndarray) -> np.ndarray:
    """Inverse of :func:`block_dct`: the plane ``(rows * size, cols * size)`` the blocks tile."""
    return from_blocks(fft.idctn(coefficients, axes=(-2, -1), norm="ortho"))


def dct2(plane: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT-II of a whole plane, same shape."""
    return fft.dctn(plane, norm="ortho")


def idct2(coefficients: np.ndarray) -> np.ndarray:
    """Inverse of :func:`dct2`."""
    return fft.idctn(coefficients, norm="ortho")


def dwt2(plane: np.ndarray, wavelet: str = "haar", level: int = 1) -> list:
    """``level``-level 2-D DWT (periodization), in PyWavelets' ``wavedec2`` layout.

    Returns ``[LL, (H_level, V_level, D_level), ..., (H_1, V_1, D_1)]``, coarsest first; each level
    halves the size, rounding up. ``H``, ``V``, ``D`` are the horizontal, vertical and diagonal details.
    """
    if level < 1:
        raise ValueError(f"level must be >= 1, got {level}")
    if level > pywt.dwt_max_level(min(plane.shape), wavelet):
        raise ValueError(f"a {plane.shape[1]}x{plane.shape[0]} plane is too small for a {level}-level "
                         f"{wavelet} DWT")
    return pywt.wavedec2(plane, wavelet, mode=_MODE, level=level)


def idwt2(coefficients: list, shape: tuple[int, int], wavelet: str = "haar") -> np.ndarray:
    """Inverse of :func:`dwt2`, cropped to ``shape`` (the plane's original ``(H, W)``).

    A ``None`` detail tuple or band stands for zeros, as in PyWavelets.
    """
    plane = pywt.waverec2(coefficients, wavelet, mode=_MODE)
    return plane[:shape[0], :shape[1]]
