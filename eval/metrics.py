"""Numbers a benchmark reports: image quality, payload recovery, and detection at a fixed false-positive rate.

Quality
    :func:`psnr` over every channel, :func:`ssim` (Wang et al. 2004) on BT.601 luma; the perceptual
    :func:`ssimulacra2` (Cloudinary/libjxl's metric, through the ``ssimulacra2`` package of the
    ``bench`` extra) and :func:`butteraugli` (the reference binary, Debian package ``butteraugli``),
    which see what PSNR does not: a faint pattern in a flat sky shows, the same energy in grass does not.
Payload
    :func:`bit_accuracy` and :func:`bit_error_rate` compare hard payload bits with the truth;
    :func:`exact_payload_rate` is the share of images whose whole payload came back.
Uncertainty
    :func:`wilson_interval` bounds a rate measured on few cells; :func:`sign_test` tells whether one
    scheme beats another on the same cells by more than chance.
Detection
    :func:`detection_rate_at_fpr` thresholds scores at a quantile of the scores of *unmarked*
    images (as WAVES reports the true-positive rate at 0.1 % false positives);
    :func:`detection_rate_at_p` counts p-values at or below the scheme's own threshold;
    :func:`calibration` tells how uniform the p-values of unmarked images are.

References: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
error visibility to structural similarity", IEEE Trans. Image Process. 13(4), 2004; B. An et al.,
"WAVES: Benchmarking the robustness of image watermarks", ICML 2024.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from scipy import ndimage, stats

__all__ = ["psnr", "ssim", "luma", "rgb8", "ssimulacra2", "ssimulacra2_package", "butteraugli", "MissingMetricError",
           "bit_accuracy", "bit_error_rate", "exact_payload_rate",
           "wilson_interval", "holm", "sign_test", "threshold_at_fpr", "detection_rate_at_fpr", "detection_rate_at_p",
           "Calibration", "calibration"]

_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5      # an 11 x 11 window, as scikit-image's gaussian_weights=True
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _peak(image: np.ndarray) -> float:
    """The full-scale value of ``image``'s dtype: 255 (uint8), 65535 (uint16) or 1 (float in [0, 1])."""
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return 1.0
    raise ValueError(f"unsupported dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} and {test.shape}")
    if reference.dtype != test.dtype:
        raise ValueError(f"dtypes differ: {reference.dtype} and {test.dtype}")
    return reference.astype(np.float64), test.astype(np.float64), _peak(reference)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio over every pixel and channel, in dB; ``inf`` for identical images.

    ``10 log10(peak^2 / MSE)``, the peak being the dtype's full scale (255 for uint8).

    Examples
    --------
    >>> a = np.zeros((4, 4), np.uint8); b = a.copy(); b[0, 0] = 255
    >>> round(psnr(a, b), 2)    # MSE = 255^2 / 16
    12.04
    """
    reference, test, peak = _pair(reference, test)
    mse = float(np.mean((reference - test) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma (float64, in the input's units) of ``(H, W, 3|4)`` RGB; ``(H, W)`` is returned as float64."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    rgb = image[..., :3].astype(np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean structural similarity of the luma of two images (Wang et al. 2004).

    Gaussian window (sigma 1.5 px, 11 x 11), K1 = 0.01, K2 = 0.03, population covariances, the
    dtype's full scale as the dynamic range, and the mean taken away from a 5-px border: the same
    numbers as ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=peak)`` on the luma.

    Examples
    --------
    >>> a = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    >>> ssim(a, a)
    1.0
    """
    reference, test, peak = _pair(reference, test)
    x, y = luma(reference), luma(test)
    radius = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)
    if min(x.shape) <= 2 * radius:
        raise ValueError(f"SSIM needs images larger than {2 * radius + 1} px, got {x.shape}")

    def blur(plane: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(plane, _SSIM_SIGMA, truncate=_SSIM_TRUNCATE, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (_SSIM_K1 * peak) ** 2, (_SSIM_K2 * peak) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(index[radius:-radius, radius:-radius].mean())


class MissingMetricError(RuntimeError):
    """A perceptual metric's implementation is not installed; the message says how to install it."""


def rgb8(image: np.ndarray) -> np.ndarray:
    """``image`` as the perceptual metrics take it: uint8 RGB ``(H, W, 3)``, C-contiguous; grey is
    repeated into the three channels, alpha dropped.

    Raises
    ------
    ValueError
        ``image`` is not uint8 (the metrics compare sRGB bytes; convert, do not let them guess a scale).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"perceptual metrics take uint8 images, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _as_png_pair(reference: np.ndarray, test: np.ndarray, folder: str) -> tuple[str, str]:
    from PIL import Image

    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} and {test.shape}")
    paths = os.path.join(folder, "reference.png"), os.path.join(folder, "test.png")
    for path, image in zip(paths, (reference, test)):
        Image.fromarray(rgb8(image)).save(path, compress_level=1)
    return paths


def ssimulacra2(reference: np.ndarray, test: np.ndarray) -> float:
    """SSIMULACRA 2 score of ``test`` against ``reference`` (uint8 sRGB; 100 identical, 90 visually
    lossless, 70 high quality, 50 medium), from the pure-Python ``ssimulacra2`` package.

    That package follows libjxl's metric with a truncated Gaussian in place of libjxl's recursive
    one; against scores of libjxl's binary it agrees within 0.1 at high quality (JPEG q90) and drifts
    lower as quality falls (-1 at q70, -5 at q20; README, "Perceptual quality").

    Raises
    ------
    MissingMetricError
        The package is missing (``pip install 'filigrane[bench]'``).
    """
    package = ssimulacra2_package()
    with tempfile.TemporaryDirectory(prefix="filigrane-") as folder:
        return float(package.compute_ssimulacra2(*_as_png_pair(reference, test, folder)))


def ssimulacra2_package() -> ModuleType:
    """The ``ssimulacra2`` package's implementation module, or MissingMetricError saying how to install it."""
    try:
        from ssimulacra2 import ssimulacra2 as package
    except ImportError:
        raise MissingMetricError("SSIMULACRA2 needs the ssimulacra2 package: pip install 'filigrane[bench]'") from None
    return package


def butteraugli(reference: np.ndarray, test: np.ndarray, *, heatmap: str | os.PathLike | None = None) -> float:
    """Butteraugli's maximum distance between two uint8 sRGB images (below 1: no visible difference
    at the metric's viewing conditions; 1.5 is about JPEG quality 90), from the reference binary.

    Parameters
    ----------
    heatmap : path, optional
        Where the binary writes its distance map (a PPM image: where the difference shows).

    Raises
    ------
    MissingMetricError
        The ``butteraugli`` program is not on PATH (Debian/Ubuntu: ``apt-get install butteraugli``).
    """
    program = shutil.which("butteraugli")
    if program is None:
        raise MissingMetricError("Butteraugli needs the butteraugli program: apt-get install butteraugli "
                                 "(Debian/Ubuntu package butteraugli)")
    with tempfile.TemporaryDirectory(prefix="filigrane-") as folder:
        command = [program, *_as_png_pair(reference, test, folder)] + ([os.fspath(heatmap)] if heatmap else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"butteraugli failed: {(done.stderr or done.stdout).strip()[:200]}")
    return float(done.stdout.split()[0])


def bit_accuracy(read: np.ndarray | None, truth: np.ndarray) -> float:
    """Share of payload bits read correctly; NaN when nothing was read (``read`` is None or empty).

    Parameters
    ----------
    read, truth : array of 0/1
        Hard bits, the same length.
    """
    if read is None or len(read) == 0:
        return math.nan
    read, truth = np.asarray(read).astype(bool), np.asarray(truth).astype(bool)
    if read.shape != truth.shape:
        raise ValueError(f"read {read.shape} and true {truth.shape} bits differ in length")
    return float(np.mean(read == truth))


def bit_error_rate(read: np.ndarray | None, truth: np.ndarray) -> float:
    """``1 - bit_accuracy``: the share of payload bits read wrong."""
    return 1.0 - bit_accuracy(read, truth)


def exact_payload_rate(exact: np.ndarray) -> float:
    """Share of cells whose whole payload came back (NaN for no cells)."""
    exact = np.asarray(exact, dtype=bool)
    return float(exact.mean()) if exact.size else math.nan


def wilson_interval(hits: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the rate ``hits / n`` (NaNs for no cells).

    Unlike ``rate ± z·sd`` it stays inside [0, 1] and does not shrink to a point at 0 or n hits:
    23 of 24 is "80-99 %", not "96 ± 8 %".

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(23, 24)]
    [0.798, 0.993]
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    rate = hits / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values``, in their order: rejecting each whose adjusted value is at
    most a level keeps the family-wise error rate at that level.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (McNemar's, exact) of paired outcomes: the probability of a split at
    least this uneven between ``wins`` and ``losses`` if neither side were better; 1 when there is none.

    Examples
    --------
    >>> round(sign_test(9, 1), 4)
    0.0215
    """
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)


def threshold_at_fpr(unmarked_scores: np.ndarray, fpr: float = 1e-3) -> float:
    """The smallest score threshold that at most ``fpr`` of the unmarked scores exceed.

    A score ``> threshold`` is declared marked. With ``n`` unmarked scores, the empirical rate can only
    be resolved down to ``1 / n``: below that the threshold is the largest unmarked score (so the
    observed false-positive rate is 0 and the true one is unknown; report ``n``).

    Examples
    --------
    >>> threshold_at_fpr(np.arange(1000.0), fpr=0.01)    # 10 of the 1000 scores exceed it
    989.0
    """
    scores = np.sort(np.asarray(unmarked_scores, dtype=np.float64))
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        return math.nan
    allowed = math.floor(fpr * scores.size + 1e-9)            # how many may lie above the threshold
    return float(scores[scores.size - 1 - allowed])


def detection_rate_at_fpr(marked_scores: np.ndarray, unmarked_scores: np.ndarray, fpr: float = 1e-3) -> float:
    """True-positive rate at a false-positive rate ``fpr`` estimated from unmarked scores (WAVES style).

    Examples
    --------
    >>> detection_rate_at_fpr([5.0, 0.5, 9.0], np.linspace(0, 1, 1001), fpr=1e-3)
    0.6666666666666666
    """
    threshold = threshold_at_fpr(unmarked_scores, fpr)
    marked = np.asarray(marked_scores, dtype=np.float64)
    if marked.size == 0 or math.isnan(threshold):
        return math.nan
    return float(np.mean(np.nan_to_num(marked, nan=-np.inf) > threshold))


def detection_rate_at_p(p_values: np.ndarray, alpha: float) -> float:
    """Share of p-values at or below ``alpha`` (a scheme's own "found" rule); NaN p-values never count."""
    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.size == 0:
        return math.nan
    return float(np.mean(np.nan_to_num(p_values, nan=2.0) <= alpha))


@dataclass(frozen=True)
class Calibration:
    """How uniform the p-values of unmarked images are (they should be, or err towards 1).

    Attributes
    ----------
    n : int
        Number of finite p-values.
    ks : float
        Kolmogorov-Smirnov distance to the uniform law on [0, 1].
    ks_p_value : float
        Two-sided KS test p-value (small means "not uniform": too liberal *or* conservative).
    below_001 : float
        Share of p-values below 0.01 (about 0.01 when calibrated; more means false alarms).
    min_p : float
        The smallest p-value seen.
    """

    n: int
    ks: float
    ks_p_value: float
    below_001: float
    min_p: float

    def __str__(self) -> str:
        return (f"n={self.n}, KS={self.ks:.3f} (p={self.ks_p_value:.3g}), "
                f"P(p<0.01)={self.below_001:.3f}, min p={self.min_p:.3g}")


def calibration(p_values: np.ndarray) -> Calibration:
    """Summarise p-values of unmarked images against the uniform law.

    Examples
    --------
    >>> c = calibration(np.linspace(0.0005, 0.9995, 1000))
    >>> c.n, round(c.ks, 4), c.below_001
    (1000, 0.0005, 0.01)
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    p_values = p_values[np.isfinite(p_values)]
    if p_values.size == 0:
        return Calibration(n=0, ks=math.nan, ks_p_value=math.nan, below_001=math.nan, min_p=math.nan)
    test = stats.kstest(p_values, "uniform")
    return Calibration(n=int(p_values.size), ks=float(test.statistic), ks_p_value=float(test.pvalue),
                       below_001=float(np.mean(p_values < 0.01)), min_p=float(p_values.min()))
