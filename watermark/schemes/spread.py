"""Cox-style spread spectrum over global DCT coefficients, blind, with a correlation detector.

Cox, Kilian, Leighton and Shamoon (1997) mark the most significant global DCT coefficients of the
image with a multiplicative rule ``v' = v (1 + alpha w)``; their detector needs the original.
This blind variant follows Barni, Bartolini, Cappellini and Piva (1998): a fixed band of the
full-frame DCT (low-mid frequencies, so it can be found again without the original),
``v' = v + alpha |v| w``, and a linear correlator.

Recipe:

1. orthonormal DCT-II of the whole luminance; the band is every coefficient ``(u, v)`` with
   ``u / H + v / W`` in ``[0.4, 1.2)``: a zig-zag band in normalised frequency, so that the same
   content is marked at any size. Barni et al. mark a similar mid band; this one reaches higher
   (60 % of the coefficients), chosen by measurement to carry 80 bits at PSNR >= 38 dB;
2. the band's ``n`` coefficients are split among the 80 transmitted bits (payload + CRC-16) in a
   keyed order (coefficient ``perm[j]`` serves bit ``j mod 80``: one disjoint carrier per bit), and
   each coefficient gets a keyed +-1 chip ``c``;
3. bit ``b`` sets ``w = (2 b - 1) c`` on its coefficients, and ``v' = v + alpha |v| w`` with
   ``alpha = 0.22 * strength`` (robustness grows with ``strength`` without bound);
4. the detector correlates: ``z_b = sum(v' c) / sqrt(sum(v'^2))`` over bit ``b``'s coefficients;
   its sign is the bit (repetition code with soft, magnitude-weighted combining).

Null model. Without this key's mark the chips are independent of the image, so for the image at
hand each ``z_b`` is a sum of independent symmetric terms normalised by its exact standard
deviation: mean 0, variance 1, close to normal and sub-Gaussian (Hoeffding), and the 80 ``z_b`` are
independent. ``Q = sum z_b^2`` is then chi-square with 80 degrees of freedom;
``p_value = P(chi2_80 >= Q)`` and ``score = (Q - 80) / sqrt(160)``, as for the QIM baselines.

References: I. J. Cox, J. Kilian, F. T. Leighton, T. Shamoon, "Secure spread spectrum watermarking
for multimedia", IEEE Trans. Image Process. 6(12), 1997; M. Barni, F. Bartolini, V. Cappellini,
A. Piva, "A DCT-domain system for robust image watermarking", Signal Processing 66(3), 1998.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import keys, transforms
from ..detection import Detection
from ..keys import Key
from ..visibility import Budget
from .base import DEFAULT_FALSE_ALARM, Scheme
from .repetition import MESSAGE_BITS, bit_detection, message_bits

__all__ = ["SpreadSpectrumScheme"]


class SpreadSpectrumScheme(Scheme):
    """Blind multiplicative spread spectrum in a global-DCT band, correlation detector (see module doc)."""

    name: ClassVar[str] = "spread"
    min_size: ClassVar[int] = 288    # 622 band coefficients per bit in a square (60 % of the DCT)
    band: ClassVar[tuple[float, float]] = (0.4, 1.2)    # u / H + v / W, in [low, high)
    alpha: ClassVar[float] = 0.22                         # at strength 1

    def _band(self, shape: tuple[int, int]) -> np.ndarray:
        """Flat (raster-order) indices of the band's coefficients in a plane of ``shape``."""
        height, width = shape
        frequency = (np.arange(height)[:, None] / height) + (np.arange(width)[None, :] / width)
        return np.flatnonzero((frequency >= self.band[0]) & (frequency < self.band[1]))

    def _keyed(self, key: Key, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Bit index and +-1 chip of each of ``n`` band coefficients."""
        bit_index = np.empty(n, dtype=np.int64)
        bit_index[keys.permutation(key, f"{self.name}/order/v1", n)] = np.arange(n) % MESSAGE_BITS
        return bit_index, keys.chips(key, f"{self.name}/carrier/v1", n).astype(np.float64)

    def residual(self, luma: np.ndarray, payload: int, key: Key, *, strength: float = 1.0,
                 budget: Budget | None = None) -> np.ndarray:
        """The luminance change that marks ``luma``; shape of ``luma``, float32."""
        luma = np.asarray(luma, dtype=np.float64)
        band = self._band(luma.shape)
        values = transforms.dct2(luma).ravel()[band]
        bit_index, chip = self._keyed(key, band.size)
        sign = 2.0 * message_bits(payload)[bit_index] - 1.0
        change = np.zeros(luma.size)
        change[band] = self.alpha * float(strength) * np.abs(values) * sign * chip
        return transforms.idct2(change.reshape(luma.shape)).astype(np.float32)

    def detect(self, luma: np.ndarray, key: Key, *, false_alarm: float = DEFAULT_FALSE_ALARM,
               source_shape: tuple[int, int] | None = None,
               marked_shape: tuple[int, int] | None = None) -> Detection:
        """Correlate each bit's coefficients with its chips, and test against the chi-square null."""
        luma = np.asarray(luma, dtype=np.float64)
        band = self._band(luma.shape)
        if band.size < MESSAGE_BITS:
            return bit_detection(np.zeros(MESSAGE_BITS), self.name, false_alarm)
        values = transforms.dct2(luma).ravel()[band]
        bit_index, chip = self._keyed(key, band.size)
        correlation = np.bincount(bit_index, weights=values * chip, minlength=MESSAGE_BITS)
        energy = np.bincount(bit_index, weights=values * values, minlength=MESSAGE_BITS)
        return bit_detection(correlation / np.sqrt(np.maximum(energy, 1e-30)), self.name, false_alarm)
