"""DWT-DCT-SVD quantisation baseline: dither modulation of each LL block's largest singular value.

The classical DWT-DCT-SVD recipe (as in the ``invisible-watermark`` package's ``dwtDctSvd``; the
DWT-SVD family of Ganic & Eskicioglu 2004):

1. one level of the Haar DWT (periodization) of the luminance; keep the LL band;
2. orthonormal DCT of each 4x4 block of LL (each block covers 8x8 pixels);
3. SVD of each DCT block, ``B = U diag(s) V^T`` (one vectorised ``numpy.linalg.svd`` over all
   blocks); the largest singular value ``s_0`` carries one repetition of one bit by dither
   modulation with step ``D`` and keyed dither, moved by ``alpha = min(1, strength / 2)`` of the way
   to the nearest non-negative lattice point; the block changes by ``(s_0' - s_0) u_0 v_0^T``;
4. payload + CRC-16 (80 bits) repeated over the blocks in a keyed order, read by soft sums.

Everything but step 3's carrier is shared with :mod:`watermark.schemes.dwtdct`, and so is the null
model: with the keyed dither independent of the image, each block's soft value
``-cos(2 pi (s_0 - d) / D)`` has mean 0 and variance 1/2, and ``Q = sum_b S_b^2 / (R_b / 2)`` over the
80 bits is chi-square with 80 degrees of freedom; ``p_value = P(chi2_80 >= Q)``.

The DCT is orthogonal, so ``s_0`` is also the largest singular value of the 8x8-pixel block's LL
coefficients: in effect the scheme quantises the block's energy, which is dominated by its mean,
hence robust to JPEG and to filtering, and fragile to any shift of the 8x8 grid.

References: E. Ganic, A. M. Eskicioglu, "Robust DWT-SVD domain image watermarking", ACM MM&Sec 2004;
B. Chen, G. W. Wornell, "Quantization index modulation", IEEE Trans. Inf. Theory 47(4), 2001;
ShieldMnt, invisible-watermark (``dwtDctSvd``), https://github.com/ShieldMnt/invisible-watermark.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .dwtdct import DwtDctScheme

__all__ = ["DwtDctSvdScheme"]


class DwtDctSvdScheme(DwtDctScheme):
    """Dither-modulation QIM of the largest singular value of each LL block's 4x4 DCT (see module doc)."""

    name: ClassVar[str] = "dwtdctsvd"
    step: ClassVar[float] = 0.5

    def _carrier(self, dct: np.ndarray) -> np.ndarray:
        return np.linalg.svd(dct.astype(np.float64), compute_uv=False)[:, 0]

    def _block_change(self, dct: np.ndarray, change: np.ndarray) -> np.ndarray:
        u, _, vt = np.linalg.svd(dct.astype(np.float64))
        return change[:, None, None] * u[:, :, :1] * vt[:, :1, :]     # (n, 4, 1) x (n, 1, 4): u_0 v_0^T

    def _admissible(self, target: np.ndarray) -> np.ndarray:
        """A singular value is >= 0: a negative lattice point is replaced by the next one of its coset."""
        return np.where(target < 0, target + self.step, target)
