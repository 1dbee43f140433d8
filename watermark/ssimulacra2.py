"""SSIMULACRA 2, the perceptual metric of libjxl (Cloudinary), with OpenCV: fast enough for the
embedder to check its own mark (about 0.4 s against a cached reference at 1920x1080).

The steps and constants are libjxl's (``tools/ssimulacra2.cc``, BSD-3-Clause) as the pure-Python
``ssimulacra2`` package computes them, which the benchmark uses (`eval.metrics.ssimulacra2`): linear
RGB to XYB made positive, scales each half the last (2x2 means in linear RGB), a Gaussian of sigma
1.5 over 11 taps (the package's truncation: zero beyond the left and right edges, mirrored beyond the
top and bottom), an SSIM error without the luminance term and the edges added and lost, each pooled
as a mean and a 4-norm, 108 weights, a polynomial and a power. The channels and scales whose weights
are all under 0.01 are left out. It agrees with the package within 0.05 point
(``tests/watermark/test_ssimulacra2.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Reference", "SMALLEST"]

_OPSIN = np.array([[0.30, 0.622, 0.078], [0.23, 0.692, 0.078],     # rows sum to 1
                   [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821]],
                  np.float32)
_BIAS = np.float32(0.0037930732552754493)
_CUBE_ROOT_BIAS = np.cbrt(_BIAS)
_C2 = 0.0009
_SCALES = 6
SMALLEST = 8 << (_SCALES - 1)     # px: every scale is 8 px or more (fewer scales shift the weights)
_KERNEL = cv2.getGaussianKernel(11, 1.5, cv2.CV_64F)
_ONE = np.ones((1, 1))
# per channel (X, Y, B), scale, norm (mean, 4-norm): SSIM error, edges added, edges lost
_WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353,
    0.0012286405048278493, 171.2667255897307, 0.9807858872435379,
    0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
]).reshape(3, _SCALES, 2, 3)
# The channels and scales with a weight of 0.01 or more: the others (weights under 0.003) change a
# score by under 0.01 point, and leaving them out halves the work (at full size, Y alone).
_USED = np.any(_WEIGHTS >= 0.01, axis=(2, 3))
_LAST_SCALE = int(np.flatnonzero(_USED.any(axis=0))[-1])
_LINEAR = np.where(np.arange(256) <= 0.04045 * 255, np.arange(256) / 255 / 12.92,
                   ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _xyb(linear: np.ndarray, wanted: np.ndarray) -> list[np.ndarray | None]:
    """The planes X, Y, B that are ``wanted``, float64 from here: local variances are differences of
    nearby numbers, which float32 leaves a tenth of a point off for a change of a level."""
    def cube_root(channel: int) -> np.ndarray:
        mixed = np.maximum(linear @ _OPSIN[channel] + _BIAS, 0.0)
        return np.cbrt(mixed).astype(np.float64) - _CUBE_ROOT_BIAS

    first, second = cube_root(0), cube_root(1)
    y = 0.5 * (first + second)
    return [(first - second) * 7.0 + 0.42 if wanted[0] else None, y + 0.01 if wanted[1] else None,
            cube_root(2) - y + 0.55 if wanted[2] else None]


def _blur(plane: np.ndarray) -> np.ndarray:
    rows = cv2.sepFilter2D(plane, cv2.CV_64F, _ONE, _KERNEL, borderType=cv2.BORDER_REFLECT)
    return cv2.sepFilter2D(rows, cv2.CV_64F, _KERNEL, _ONE, borderType=cv2.BORDER_CONSTANT)


def _halved(linear: np.ndarray) -> np.ndarray:
    height, width = linear.shape[:2]
    if height % 2 or width % 2:          # the odd last row or column is its own mean
        linear = np.pad(linear, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return (linear[0::2, 0::2] + linear[1::2, 0::2] + linear[0::2, 1::2] + linear[1::2, 1::2]) * np.float32(0.25)


def _pooled(plane: np.ndarray) -> tuple[float, float]:
    """The mean and the 4-norm of a non-negative map."""
    square = plane * plane
    return cv2.sumElems(plane)[0] / plane.size, (cv2.sumElems(square * square)[0] / plane.size) ** 0.25


# a reference plane, its local mean, its local variance, and 1 + its distance to the mean
_Planes = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Reference:
    """An image (uint8 RGB, ``(H, W, 3)``, ``SMALLEST`` px a side or more) to score others of its
    shape against, its planes and their local means and variances made once."""

    def __init__(self, rgb8: np.ndarray) -> None:
        if rgb8.ndim != 3 or rgb8.shape[2] != 3 or min(rgb8.shape[:2]) < SMALLEST:
            raise ValueError(f"expected uint8 RGB of at least {SMALLEST} px a side, got {rgb8.shape}")
        self.shape = rgb8.shape
        self._scales: list[list[_Planes | None]] = []
        linear = _LINEAR[rgb8]
        for scale in range(_LAST_SCALE + 1):
            kept: list[_Planes | None] = []
            for one in _xyb(linear, _USED[:, scale]):
                if one is None:
                    kept.append(None)
                    continue
                mean = _blur(one)
                kept.append((one, mean, _blur(one * one) - mean * mean, 1.0 + np.abs(one - mean)))
            self._scales.append(kept)
            linear = _halved(linear)

    def score(self, rgb8: np.ndarray) -> float:
        """SSIMULACRA 2 of ``rgb8`` (uint8 RGB of the reference's shape) against the reference: 100
        identical, 90 visually lossless, 70 high quality."""
        if rgb8.shape != self.shape:
            raise ValueError(f"shapes differ: {self.shape} and {rgb8.shape}")
        pooled = np.zeros((3, _SCALES, 2, 3))
        linear = _LINEAR[rgb8]
        for scale, kept in enumerate(self._scales):
            for channel, (reference, two) in enumerate(zip(kept, _xyb(linear, _USED[:, scale]))):
                if reference is None or two is None:
                    continue
                one, mean_one, variance_one, detail_one = reference
                mean_two = _blur(two)
                covariance = _blur(one * two) - mean_one * mean_two
                variance_two = _blur(two * two) - mean_two * mean_two
                difference = mean_one - mean_two
                error = 1.0 - (1.0 - difference * difference) * (2.0 * covariance + _C2) / (
                    variance_one + variance_two + _C2)
                ratio = (1.0 + np.abs(two - mean_two)) / detail_one - 1.0
                for kind, value in enumerate((error, ratio, -ratio)):
                    pooled[channel, scale, :, kind] = _pooled(np.maximum(value, 0.0))
            linear = _halved(linear)
        total = float(np.sum(_WEIGHTS * pooled)) * 0.9562382616834844
        total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
        return 100.0 - 10.0 * total**0.6276336467831387 if total > 0.0 else 100.0
