"""DWT-DCT quantisation baseline: dither modulation of one block-DCT coefficient of the DWT's LL band.

The classical DWT-DCT recipe (as in the ``invisible-watermark`` package's ``dwtDct``, after
Chen & Wornell's quantisation index modulation):

1. one level of the Haar DWT (periodization) of the luminance; keep the LL band;
2. orthonormal DCT of each 4x4 block of LL (each block covers 8x8 pixels);
3. one coefficient per block (``(1, 1)``, low-mid frequency) carries one repetition of one bit by
   dither modulation (Chen & Wornell 2001): with step ``D`` and a keyed dither ``d`` uniform in
   ``[0, D)``, bit ``b`` moves the coefficient ``x`` towards the nearest point of
   ``d + b * D / 2 + D * Z``, by the fraction ``alpha = min(1, strength / 2)``
   (distortion compensation; ``strength`` above 2 adds nothing);
4. the 64-bit payload and its CRC-16 (80 bits) are repeated over all blocks in a keyed order
   (block ``perm[j]`` carries bit ``j mod 80``), and read back by summing soft values per bit
   (the classical repetition code, decided by the sign of the sum).

Null model. Each block's soft value is ``s = -cos(2 pi (x - d) / D)`` (+1 on the bit-1 lattice,
-1 on the bit-0 lattice). For an image without this key's mark the dithers are independent of the
image, so the phases are i.i.d. uniform and ``s`` has mean 0 and variance 1/2, whatever the image
(arcsine law). The per-bit sums ``S_b`` over ``R_b`` blocks give ``z_b = S_b / sqrt(R_b / 2)``,
independent, mean 0, variance 1 and strictly sub-Gaussian (``E exp(t s) = I0(t) <= exp(t^2 / 4)``),
so ``Q = sum z_b^2`` is chi-square with 80 degrees of freedom (exact in the limit, conservative in
the far tail, the terms being bounded). ``p_value = P(chi2_80 >= Q)``; ``score`` is
``(Q - 80) / sqrt(160)``, in standard deviations of the null. No payload is assumed, so a mark
with any payload counts; the payload is reported only when found and its CRC holds.

References: B. Chen, G. W. Wornell, "Quantization index modulation", IEEE Trans. Inf. Theory 47(4),
2001; ShieldMnt, invisible-watermark (``dwtDct``), https://github.com/ShieldMnt/invisible-watermark.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from .. import keys, transforms
from ..detection import Detection
from ..keys import Key
from ..visibility import Budget
from .base import DEFAULT_FALSE_ALARM, Scheme
from .repetition import MESSAGE_BITS, bit_detection, message_bits

__all__ = ["DwtDctScheme"]

_BLOCK = 4                                             # block side in the LL band (8 px)


def _bit_of_block(key: Key, purpose: str, n: int) -> np.ndarray:
    """Which of the 80 bits each of ``n`` blocks carries: block ``perm[j]`` carries bit ``j % 80``."""
    assignment = np.empty(n, dtype=np.int64)
    assignment[keys.permutation(key, purpose, n)] = np.arange(n) % MESSAGE_BITS
    return assignment


def _uniform(key: Key, purpose: str, n: int) -> np.ndarray:
    """``n`` keyed floats uniform in [0, 1): the top 53 bits of each word."""
    return (keys.words(key, purpose, n) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


class DwtDctScheme(Scheme):
    """Dither-modulation QIM of the (1, 1) 4x4-DCT coefficient of each LL block (see module doc)."""

    name: ClassVar[str] = "dwtdct"
    repetitions: ClassVar[int] = 16     # fewest repetitions per bit that ``min_size`` guarantees
    min_size: ClassVar[int] = 2 * _BLOCK * math.ceil(math.sqrt(MESSAGE_BITS * repetitions))   # 288 px
    step: ClassVar[float] = 0.55        # quantiser step D, in units of the [0, 1] luminance
    coefficient: ClassVar[tuple[int, int]] = (1, 1)

    # -- the carrier: one scalar per block, and how a change of it maps back to the block DCT -----
    def _carrier(self, dct: np.ndarray) -> np.ndarray:
        """One scalar per block from block DCTs ``(n, 4, 4)``."""
        return dct[:, self.coefficient[0], self.coefficient[1]].astype(np.float64)

    def _block_change(self, dct: np.ndarray, change: np.ndarray) -> np.ndarray:
        """The block-DCT change ``(n, 4, 4)`` that moves each carrier by ``change``."""
        out = np.zeros(dct.shape, dtype=np.float64)
        out[:, self.coefficient[0], self.coefficient[1]] = change
        return out

    # -- shared QIM machinery ---------------------------------------------------------------------
    def _analyse(self, luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block DCTs ``(rows, cols, 4, 4)`` of the LL band and the LL band itself.

        The LL band is cropped to ``(H // 2, W // 2)`` so that every block comes from real pixels.
        """
        luma = np.asarray(luma, dtype=np.float32)
        ll = transforms.dwt2(luma, "haar", 1)[0][:luma.shape[0] // 2, :luma.shape[1] // 2]
        return transforms.block_dct(ll, _BLOCK), ll

    def _keyed(self, key: Key, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Bit index and dither (in [0, step)) of each of ``n`` blocks."""
        return (_bit_of_block(key, f"{self.name}/order/v1", n),
                _uniform(key, f"{self.name}/dither/v1", n) * self.step)

    def residual(self, luma: np.ndarray, payload: int, key: Key, *, strength: float = 1.0,
                 budget: Budget | None = None) -> np.ndarray:
        """The luminance change that marks ``luma``; shape and dtype of ``luma`` (float32)."""
        dct, ll = self._analyse(luma)
        rows, cols = dct.shape[:2]
        flat = dct.reshape(-1, _BLOCK, _BLOCK)
        bit_index, dither = self._keyed(key, flat.shape[0])
        offset = dither + message_bits(payload)[bit_index] * (self.step / 2)
        carrier = self._carrier(flat)
        target = offset + self.step * np.round((carrier - offset) / self.step)
        target = self._admissible(target)
        alpha = min(1.0, 0.5 * float(strength))
        change = self._block_change(flat, alpha * (target - carrier))
        ll_change = np.zeros((ll.shape[0] + luma.shape[0] % 2, ll.shape[1] + luma.shape[1] % 2))
        ll_change[:rows * _BLOCK, :cols * _BLOCK] = transforms.block_idct(change.reshape(rows, cols, _BLOCK, _BLOCK))
        return transforms.idwt2([ll_change, (None, None, None)], luma.shape, "haar").astype(np.float32)

    def _admissible(self, target: np.ndarray) -> np.ndarray:
        """Lattice points the carrier can take (all of them for a DCT coefficient)."""
        return target

    def detect(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
               source_shape: tuple[int, int] | None = None,
               marked_shape: tuple[int, int] | None = None) -> Detection:
        """Soft-read every block, sum per bit, and test against the chi-square null (module doc)."""
        dct, _ = self._analyse(luma)
        flat = dct.reshape(-1, _BLOCK, _BLOCK)
        if flat.shape[0] < MESSAGE_BITS:
            return bit_detection(np.zeros(MESSAGE_BITS), self.name, false_alarm)
        bit_index, dither = self._keyed(key, flat.shape[0])
        soft = -np.cos((2 * np.pi / self.step) * (self._carrier(flat) - dither))
        sums = np.bincount(bit_index, weights=soft, minlength=MESSAGE_BITS)
        counts = np.bincount(bit_index, minlength=MESSAGE_BITS)
        return bit_detection(sums / np.sqrt(counts / 2.0), self.name, false_alarm)
