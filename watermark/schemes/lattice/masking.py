"""Perceptual mask and detector whitening: texture hides a pattern, flat areas show it.

The detector's whitening divides by local activity (the RMS of fine detail); the embedder gets that
activity too, so that it can predict exactly what the detector will see of its mark.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...color import WORKING_SHORT_SIDE, resize

__all__ = ["largeness", "highpass", "perceptual_mask", "whiten", "whiten_linear", "matched", "denoised_residual"]

_DETAIL_SIGMA = 2.0      # px at working scale: texture (for activity) is finer than this blur
_BAND_SIGMA = 8.0        # px: the detector keeps everything finer than this (the mark's band)
_ACTIVITY_SIGMA = 4.0    # px: the neighbourhood over which activity is averaged
_FLOOR = 2.0 / 255.0     # activity floor: flat areas are treated as this busy (sensor noise level)
_FLAT_ENERGY = (0.25 / 255.0) ** 2   # below this local detail energy an area is blank (filled)
_FLAT_MARGIN = 6                     # px zeroed around blank areas
_NOISE_FLOOR = 0.5 / 255.0           # the least local RMS a suspect-minus-master residual is taken to have
_FLAT_AMPLITUDE = 1.2 / 255.0   # mark amplitude where the image is flat
_TEXTURE_KNEE = _FLAT_AMPLITUDE / 0.17   # local activity (RMS detail) from which texture raises the amplitude
_TEXTURE_EXPONENT = 0.7         # amplitude ~ activity ** EXPONENT above the knee, on a large image
_DARK_KNEE, _DARK_OFFSET, _DARK_FLOOR = 48 / 255, 8 / 255, 0.2   # luminance masking below the knee (small images)
_WIENER_SIZE = 5                # px: window of the local Wiener filter behind denoised_residual


def _blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * int(np.ceil(3.0 * sigma)) + 1      # +-3 sigma holds 99.7 % of the weight
    return cv2.GaussianBlur(plane, (size, size), sigma, borderType=cv2.BORDER_REFLECT)


def highpass(plane: np.ndarray, sigma: float = _DETAIL_SIGMA) -> np.ndarray:
    """``plane`` minus its Gaussian-weighted local mean over ``sigma`` px."""
    return plane - _blur(plane, sigma)


def largeness(shape: tuple[int, ...]) -> float:
    """0 for an image no larger than the smallest working resolution (``WORKING_SHORT_SIDE``), 1 from
    twice that (short sides), log in between."""
    return float(np.clip(np.log2(min(shape[:2]) / WORKING_SHORT_SIDE), 0.0, 1.0))


def perceptual_mask(luma: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel amplitude, in luminance units, that the mark may take at strength 1, at ``shape``.

    ``FLAT * (1 + (activity / KNEE)**2) ** (EXPONENT / 2)``: a floor where the image is flat, growing
    with the local texture above the knee (contrast masking), reduced in dark areas on a small image
    (luminance masking: SSIM weighs a change in the shadows more). Texture is measured at the mark's
    own scale: at the working resolution ``shape`` when the image is larger (a large photograph's
    grain and fine detail, gone at that scale, do not hide a pattern whose period is tens of its
    pixels).

    On an image up to 512 px the mark's period is a few of its pixels, beyond the
    eye's peak sensitivity: the amplitude grows linearly with texture (EXPONENT 1), activity being
    the RMS detail around each pixel. On an image twice as large or more (:func:`largeness`), the
    mark sits near the peak of the eye's contrast sensitivity, where masking grows more slowly than
    the masker (threshold elevation ~ contrast**0.6-0.7 in Watson's model): EXPONENT falls to
    ``_TEXTURE_EXPONENT``, and activity becomes a geometric mean, so that one edge does not lend its
    masking to the flat area beside it (the halo Butteraugli sees there). The reduction in dark areas
    fades out the same way: the eye's measures at 1:1 (SSIMULACRA2's XYB space, Butteraugli) are about
    as sensitive per code value in the shadows as in the midtones, and dark photographs' marks, at a
    fifth of their amplitude there, were lost in collages and rotations (`python -m eval.scan
    --partial collage`, `python -m eval.acceptance`).
    """
    large = largeness(luma.shape)
    base = luma if large == 0.0 else resize(luma, shape)
    detail = base - cv2.blur(base, (5, 5), borderType=cv2.BORDER_REFLECT)   # what a 7x7 SSIM window sees
    energy = np.maximum(resize(detail * detail, shape), 0.0) + _FLOOR**2     # bicubic may undershoot
    activity = np.sqrt(_blur(energy, _ACTIVITY_SIGMA))
    if large > 0.0:
        pooled = np.exp(0.5 * _blur(np.log(energy), _ACTIVITY_SIGMA))       # geometric mean
        activity = activity ** (1.0 - large) * pooled ** large
    exponent = 1.0 + large * (_TEXTURE_EXPONENT - 1.0)
    amplitude = _FLAT_AMPLITUDE * (1.0 + (activity / _TEXTURE_KNEE) ** 2) ** (exponent / 2)
    if large < 1.0:
        brightness = _blur(resize(luma, shape), _ACTIVITY_SIGMA)
        dimming = np.clip((brightness + _DARK_OFFSET) / (_DARK_KNEE + _DARK_OFFSET), _DARK_FLOOR, 1.0)
        amplitude *= dimming ** (1.0 - large)
    return amplitude



def whiten(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The detector's view: high-passed luminance divided by its local activity; and that activity.

    Dividing by activity gives each region the weight its signal-to-noise ratio deserves (the mask
    puts more mark where the host is busier) and keeps strong edges from dominating a correlation.
    Perfectly flat areas, such as the corners a rotation fills in, carry no mark and are zeroed with
    a margin, so that their edges do not look like structure.
    """
    detail = highpass(luma)
    energy = _blur(detail * detail, _ACTIVITY_SIGMA)
    activity = np.sqrt(energy + _FLOOR**2)
    whitened = highpass(luma, _BAND_SIGMA) / activity
    flat = (energy < _FLAT_ENERGY).astype(np.uint8)
    if flat.any():
        margin = cv2.dilate(flat, np.ones((2 * _FLAT_MARGIN + 1,) * 2, np.uint8))
        whitened[margin > 0] = 0.0
    return whitened, activity


def whiten_linear(mark: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """How :func:`whiten` sees a small ``mark`` added to an image of the given local ``activity``."""
    return highpass(mark, _BAND_SIGMA) / activity


def matched(residual: np.ndarray, host: np.ndarray) -> np.ndarray:
    """A suspect minus its master (``residual``, at working resolution) as a matched filter sees it:
    the mark's band, weighted by the amplitude the embedder gave each place (``host``'s perceptual
    mask) over the residual's local energy, and scaled to unit RMS.

    With the host subtracted, what is left is the mark and what the copy went through (a codec's
    noise, a resampling's): a place's evidence is worth its mark amplitude over that noise's
    variance. :func:`whiten` weights by one over the local RMS instead, which is right where the
    host dominates; on a faint mark that a small copy and a codec left (a collage's dark or smooth
    cell) the matched weights read it better.
    """
    energy = _blur(highpass(residual) ** 2, _ACTIVITY_SIGMA) + _NOISE_FLOOR**2
    weighted = highpass(residual, _BAND_SIGMA) * perceptual_mask(host, residual.shape) / energy
    return (weighted / max(float(np.sqrt(np.mean(weighted * weighted))), 1e-30)).astype(np.float32)


def denoised_residual(luma: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """What a local Wiener (Lee) filter removes from ``luma``, divided by ``activity``.

    The filter keeps each pixel where its neighbourhood's variance dwarfs the image's typical
    (median) one, and replaces it by the local mean where the neighbourhood is as quiet as that: the
    residual is the full fine detail of quiet areas and little of busy ones. A periodic mark stands
    out far better in it than the host (the lattice search's view; the pilot keeps :func:`whiten`'s,
    which the embedder models).
    """
    window = (_WIENER_SIZE, _WIENER_SIZE)
    mean = cv2.blur(luma, window, borderType=cv2.BORDER_REFLECT)
    variance = np.maximum(cv2.blur(luma * luma, window, borderType=cv2.BORDER_REFLECT) - mean * mean, 0.0)
    noise = float(np.median(variance[::4, ::4]))
    kept = np.maximum(variance - noise, 0.0) / np.maximum(variance, 1e-12)
    return (1.0 - kept) * (luma - mean) / activity
