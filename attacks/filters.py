"""Filters: StirMark's median and convolution filters and self-similarities; blur, sharpen and denoise.

Borders are handled by reflection (``dcb|abcd|cba``), the median's by replication (``aaa|abcd|ddd``),
so a filter never darkens the edges.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from watermark.errors import AttackParameterError
from watermark.image import image_op

from ._spec import Param, registered

__all__ = ["median", "convolution", "gaussian_blur", "sharpen", "denoise", "self_similarities", "KERNELS"]

# StirMark 3.1's filters (bench.h, FILTERS), which StirMark Benchmark 4.0's ConvFilter test reuses
# (SMBsettings.ini, Test_ConvFilter, parameters 1 and 2): a 3x3 Gaussian and a Laplacian sharpen.
KERNELS: dict[str, tuple[np.ndarray, float]] = {   # name -> (coefficients, intended divisor)
    "gaussian": (np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32), 16.0),
    "sharpen": (np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32), 1.0),
}
_SHIPPED_DIVISOR = 9.0   # the shipped SMBsettings.ini divides both kernels by 9


def _is_8bit(image: np.ndarray) -> bool:
    scaled = image * np.float32(255.0)
    return bool(np.all(np.abs(scaled - np.rint(scaled)) < 1e-3))


def _odd_size(params: dict) -> None:
    if params["size"] % 2 == 0:
        raise AttackParameterError(f"median: size must be odd (3, 5, 7, ...), got {params['size']}")


@registered(family="filter", primary="size", combined=_odd_size,
            size=Param(int, 3, 31, doc="odd window side in pixels"))
@image_op
def median(image: np.ndarray, *, size: int = 3) -> np.ndarray:
    """Median filter over a ``size`` x ``size`` window, each channel on its own.

    Borders replicate the edge pixels (``aaa|abcd|ddd``), as OpenCV's ``medianBlur`` does. StirMark
    Benchmark 4.0's MedianCut test (SMBsettings.ini, Test_MedianCut) uses sizes {3, 5, 7, 9}, as
    StirMark 3.1 did (bench.h, MEDIAN_FILTER_SIZES).

    Parameters
    ----------
    size : int
        Odd window side, 3 to 31 pixels.
    """
    if _is_8bit(image):   # exact and fast: OpenCV's 8-bit median (any size), replicated borders
        as_bytes = np.rint(image * np.float32(255.0)).astype(np.uint8)
        return cv2.medianBlur(as_bytes, size).astype(np.float32) / np.float32(255.0)
    footprint = (size, size) if image.ndim == 2 else (size, size, 1)
    return ndimage.median_filter(image, size=footprint, mode="nearest")


@registered(family="filter", primary=None,
            kernel=Param(str, choices=tuple(KERNELS), doc="StirMark's 3x3 kernel"),
            as_shipped=Param(bool, doc="divide by 9 as the shipped profile does"))
@image_op
def convolution(image: np.ndarray, *, kernel: str = "gaussian", as_shipped: bool = False) -> np.ndarray:
    """StirMark's ConvFilter: a 3x3 Gaussian (1-2-1) or Laplacian sharpening kernel.

    Kernels from StirMark 3.1 (``bench.h``, ``FILTERS``), used by StirMark Benchmark 4.0's
    ConvFilter test (SMBsettings.ini, ``Test_ConvFilter``, filters 1 and 2). By default each kernel
    is divided by the sum of its coefficients (16 and 1), which keeps the mean brightness: the
    intended filters. ``as_shipped=True`` divides both by 9 as the shipped profile does, so the
    Gaussian brightens by 16/9 and the sharpen darkens to 1/9 (the SMB 4.0 report shows 11.5 dB
    and -6.9 dB for them).
    """
    coefficients, divisor = KERNELS[kernel]
    weights = coefficients / np.float32(_SHIPPED_DIVISOR if as_shipped else divisor)
    return cv2.filter2D(image, -1, weights, borderType=cv2.BORDER_REFLECT_101)


@registered(family="filter", primary="strength",
            strength=Param(float, 1.0, 50.0, doc="filter strength h, in 8-bit grey levels"))
@image_op
def denoise(image: np.ndarray, *, strength: float = 5.0) -> np.ndarray:
    """Non-local means denoising (Buades, Coll and Morel 2005; OpenCV's fast implementation, 7 x 7
    patches searched over 21 x 21 px, colour in CIELAB): the estimation attack on a mark by denoising
    (Voloshynovskiy et al., "Attacks on digital watermarks", 2001), and what phones and editors do to
    noisy photographs. The image is rounded to 8 bits first.

    Parameters
    ----------
    strength : float
        OpenCV's ``h`` (and ``hColor``) in grey levels: about the noise's standard deviation that is
        taken away; 3-5 is a gentle cleanup, 10 a strong one.
    """
    as_bytes = cv2.convertScaleAbs(np.maximum(image, 0.0), alpha=255.0)
    if as_bytes.ndim == 2:
        cleaned = cv2.fastNlMeansDenoising(as_bytes, None, strength, 7, 21)
    else:
        bgr = np.ascontiguousarray(as_bytes[:, :, ::-1])             # OpenCV's order, for its CIELAB
        cleaned = cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21)[:, :, ::-1]
    return cleaned.astype(np.float32) / np.float32(255.0)


@registered(family="filter", primary="sigma", sigma=Param(float, 0.1, 50.0, doc="in pixels"))
@image_op
def gaussian_blur(image: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (window 8 sigma + 1, rounded to odd: OpenCV's).

    The window is the one OpenCV picks for float images, ``round(8 sigma + 1) | 1`` pixels wide (4 sigma each
    side); borders reflect.
    """
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


@registered(family="filter", primary="amount",
            amount=Param(float, 0.0, 10.0, doc="gain of the detail added back"),
            radius=Param(float, 0.1, 20.0, doc="Gaussian sigma in pixels"))
@image_op
def sharpen(image: np.ndarray, *, amount: float = 1.0, radius: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``image + amount * (image - blur(image, radius))``."""
    blurred = cv2.GaussianBlur(image, (0, 0), radius, borderType=cv2.BORDER_REFLECT_101)
    return image + np.float32(amount) * (image - blurred)


_BLOCK, _REACH, _STEP = 8, 16, 8     # 8x8 blocks; look-alikes displaced by up to 16 px, in steps of 8
_PERCENT = 60                        # SMB 4.0's adaptive threshold: the 60th percentile of best errors


def _isometries() -> list[np.ndarray]:
    """For each of the 8 flips and quarter turns of a block, where its pixels come from (flat index)."""
    index = np.arange(_BLOCK * _BLOCK).reshape(_BLOCK, _BLOCK)
    turns = [np.rot90(index, k) for k in range(4)]
    return [t.ravel() for t in turns + [t.T for t in turns]]


def _collage(channel: np.ndarray) -> np.ndarray:
    """Replace 8x8 blocks by intensity-fitted look-alikes found nearby (a fractal collage).

    Two passes over the candidates (displaced blocks, each under the 8 isometries, fitted with a
    gain and an offset by least squares): the first finds each block's best error and sets the
    threshold at their 60th percentile; the second picks, for each block, the *worst* candidate
    that stays under the threshold (the largest change that still looks alike), or the best one
    when none does.
    """
    height, width = channel.shape
    rows, cols = height // _BLOCK, width // _BLOCK
    if rows == 0 or cols == 0:
        return channel
    h, w = rows * _BLOCK, cols * _BLOCK

    def blocks(area: np.ndarray) -> np.ndarray:
        return area.reshape(rows, _BLOCK, cols, _BLOCK).transpose(0, 2, 1, 3).reshape(rows * cols, -1)

    target = blocks(channel[:h, :w]).astype(np.float64)
    target_mean = target.mean(axis=1, keepdims=True)
    centred_target = target - target_mean
    target_energy = np.sum(centred_target ** 2, axis=1)
    forms = _isometries()
    inverse = [np.argsort(form) for form in forms]
    turned_targets = [centred_target[:, inv] for inv in inverse]
    padded = np.pad(channel, _REACH, mode="reflect")
    shifts = [(dy, dx) for dy in range(-_REACH, _REACH + 1, _STEP) for dx in range(-_REACH, _REACH + 1, _STEP)
              if (dy, dx) != (0, 0)]

    def candidates():
        for dy, dx in shifts:
            source = blocks(padded[_REACH + dy:_REACH + dy + h, _REACH + dx:_REACH + dx + w]).astype(np.float64)
            centred = source - source.mean(axis=1, keepdims=True)
            energy = np.sum(centred ** 2, axis=1)
            for form, turned in zip(forms, turned_targets):
                product = np.sum(centred * turned, axis=1)
                gain = np.where(energy > 1e-9, product / np.maximum(energy, 1e-9), 0.0)
                error = (target_energy - gain * product) / target.shape[1]
                yield centred, form, gain, error

    best = np.full(rows * cols, np.inf)
    for *_, error in candidates():
        np.minimum(best, error, out=best)
    threshold = np.percentile(best, _PERCENT)
    chosen_error = np.full(rows * cols, -np.inf)      # the worst candidate under the threshold
    fallback_error = np.full(rows * cols, np.inf)     # the best candidate, for blocks with none
    chosen, fallback = target.copy(), target.copy()
    for centred, form, gain, error in candidates():
        fitted = None
        under = (error < threshold) & (error > chosen_error)
        if under.any():
            fitted = gain[:, None] * centred[:, form] + target_mean
            chosen_error[under] = error[under]
            chosen[under] = fitted[under]
        better = error < fallback_error
        if better.any():
            fitted = gain[:, None] * centred[:, form] + target_mean if fitted is None else fitted
            fallback_error[better] = error[better]
            fallback[better] = fitted[better]
    result = np.where(np.isfinite(chosen_error)[:, None], chosen, fallback)
    out = channel.copy()
    out[:h, :w] = result.reshape(rows, cols, _BLOCK, _BLOCK).transpose(0, 2, 1, 3).reshape(h, w)
    return out


@registered(family="filter", primary=None,
            mode=Param(int, 1, 3, doc="1 luminance, 2 chrominance, 3 both"))
@image_op
def self_similarities(image: np.ndarray, *, mode: int = 1) -> np.ndarray:
    """Self-similarity (collage) attack: 8x8 blocks replaced by fitted look-alikes from nearby.

    After StirMark Benchmark 4.0's SelfSimilarities (``SMBSP_SelfSimilarities`` and its collage
    search, ``lcollage_search.c``, after Rey and Dugelay's self-similarity attacks): for each block,
    nearby blocks under the 8 flips and quarter turns are fitted with a gain and an offset; an
    adaptive threshold (the 60th percentile of the best errors, SMB's default 60 %) then lets each
    block take the most different candidate that still fits under it. Simplified from SMB: no
    overlapping masked blocks and a fixed search neighbourhood. SMB 4.0's profile
    (SMBsettings.ini, ``Test_SelfSimilarities``) runs modes {1, 2, 3}, and its report gives 36,
    49 and 32 dB for them, which fits luminance, chrominance and both; the mapping of modes to
    components is ours.

    Parameters
    ----------
    mode : {1, 2, 3}
        The components attacked, in YCbCr (BT.601): 1 luminance, 2 chrominance, 3 all. On a
        grayscale image modes 1 and 3 attack the grey level and mode 2 changes nothing.
    """
    if image.ndim == 2:
        return image if mode == 2 else _collage(image)
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    channels = {1: (0,), 2: (1, 2), 3: (0, 1, 2)}[mode]
    for index in channels:
        ycrcb[:, :, index] = _collage(np.ascontiguousarray(ycrcb[:, :, index]))
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
