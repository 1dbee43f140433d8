"""StirMark's random geometric distortions ("the StirMark attack") and print-and-scan.

:func:`random_bending` follows StirMark 3.1 (Petitcolas and Kuhn, ``transformations.c``,
``traDistortion``; defaults from ``bench.h``): each corner moves a random amount (up to 2 % of the
short side inwards and 0.7 px outwards), the image follows the bilinear patch between the corners,
a sinusoidal bending of 2 px per 200 px of size is added, a small randomiser jitters every
pixel's position, a random transfer function shifts the levels by up to 1.5 grey levels per
channel, and the result is JPEG-compressed at quality 70. :func:`small_random_distortions` and
:func:`latest_small_random_distortions` follow StirMark Benchmark 4.0's
``SMBGT_SmallRandomDistortions`` and ``SMBDistortionMap``. All were re-implemented from those
descriptions; resampling is bicubic (StirMark: sinc; SMB: interpolating quadratic).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from watermark.image import image_op

from ._spec import Param, RngLike, make_rng, record, registered
from .codec import roundtrip

__all__ = ["random_bending", "small_random_distortions", "latest_small_random_distortions", "print_scan"]

_NODES = 256 // 16 + 1   # StirMark's transfer function: an offset every 16 grey levels (ERRSTEP)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return x, y


def _corner_map(height: int, width: int, rng: np.random.Generator, *, inwards: float, outwards: float,
                strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The bilinear patch between randomly moved corners: where each output pixel is read from.

    Each corner coordinate moves inwards by ``u (in + out) - out`` pixels (u uniform in [0, 1),
    ``in`` = ``inwards`` % of the short side, ``out`` = ``outwards`` px), times ``strength``.
    """
    inward_px = min(width, height) * inwards / 100.0
    moves = (rng.random(8) * (inward_px + outwards) - outwards) * strength
    record("corners", inward_moves=moves)
    ul = np.array([moves[0], moves[1]])
    ll = np.array([moves[2], height - moves[3]])
    ur = np.array([width - moves[4], moves[5]])
    lr = np.array([width - moves[6], height - moves[7]])
    x, y = _grid(height, width)
    u, v = x / width, y / height
    mx = (1 - u) * (1 - v) * ul[0] + u * (1 - v) * ur[0] + (1 - u) * v * ll[0] + u * v * lr[0]
    my = (1 - u) * (1 - v) * ul[1] + u * (1 - v) * ur[1] + (1 - u) * v * ll[1] + u * v * lr[1]
    return mx, my


def _bend(mx: np.ndarray, my: np.ndarray, amplitude: float, phase: tuple[float, float] = (0.0, 0.0)
          ) -> tuple[np.ndarray, np.ndarray]:
    """Global sinusoidal bending: half a period across the image, ``amplitude`` pixels."""
    height, width = mx.shape
    if amplitude:
        mx = mx + amplitude * np.sin(my * math.pi / height + phase[0])
        my = my + amplitude * np.sin(mx * math.pi / width + phase[1])
    return mx, my


def _randomise(mx: np.ndarray, my: np.ndarray, amount: float, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """StirMark's randomiser: a ~20-period sine pattern of ``amount`` px, jittered per pixel by 1 + U."""
    height, width = mx.shape
    if amount:
        fx, fy = math.floor(width / 20) / width, math.floor(height / 20) / height
        displacement = amount * np.sin(mx * 2 * math.pi * fx) * np.sin(my * 2 * math.pi * fy)
        mx = mx + displacement * (1 + rng.random(mx.shape))
        my = my + displacement * (1 + rng.random(my.shape))
    return mx, my


_MAP_SIDE = 1024   # the random map is drawn on at most this grid and resized: it is smooth anyway


def _distortion_map(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field in [0, 1]: random amplitudes falling as 1/f^2, random phases (SMB 4.0).

    Drawn on a power-of-two grid strictly larger than the image (so the field does not wrap
    around), of which the centre is kept, then stretched to [0, 1].
    """
    small_h, small_w = min(height, _MAP_SIDE), min(width, _MAP_SIDE)
    rows, cols = (1 << max(1, math.ceil(math.log2(n))) for n in (small_h, small_w))
    rows, cols = rows * 2 if rows == small_h else rows, cols * 2 if cols == small_w else cols
    fy = np.minimum(np.arange(rows), rows - np.arange(rows))[:, None].astype(np.float64)
    fx = np.minimum(np.arange(cols), cols - np.arange(cols))[None, :].astype(np.float64)
    power = fx * fx + fy * fy
    power[0, 0] = np.inf                       # no DC
    spectrum = rng.random((rows, cols)) / power * np.exp(1j * rng.uniform(-math.pi, math.pi, (rows, cols)))
    field = np.fft.ifft2(spectrum).real
    top, left = (rows - small_h) // 2, (cols - small_w) // 2
    field = field[top:top + small_h, left:left + small_w]
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-12)
    if (small_h, small_w) != (height, width):
        field = np.clip(cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    return field


def _dither(colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dithering that spreads the 8-bit rounding error: add U[0, 1) grey levels, then truncate."""
    return colour + ((rng.random(colour.shape) - 0.5) / 255.0).astype(np.float32)


def _remap(image: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Read ``image`` at (mx, my); outside, mirror the image back in (StirMark's mirrorBorders)."""
    return cv2.remap(image, mx.astype(np.float32), my.astype(np.float32), interpolation=cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT_101)


def _transfer(colour: np.ndarray, rng: np.random.Generator, deviation: float) -> np.ndarray:
    """StirMark's random transfer function (levels jitter) and dithering, in 8-bit grey levels."""
    channels = 1 if colour.ndim == 2 else colour.shape[2]
    offsets = rng.random((_NODES, channels)) * 2 * deviation - deviation
    record("random_bending", level_offsets=offsets)
    levels = np.clip(colour, 0.0, 1.0).reshape(-1, channels) * 255.0
    index = np.clip((levels // 16).astype(int), 0, _NODES - 2)
    fraction = (levels - index * 16) / 16.0
    columns = np.arange(channels)
    levels = levels + (1 - fraction) * offsets[index, columns] + fraction * offsets[index + 1, columns]
    levels = levels + rng.random(levels.shape) - 0.5   # dithering: StirMark adds U[0,1) and truncates
    return (levels / 255.0).reshape(colour.shape).astype(np.float32)


def _split(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, :3], image[:, :, 3:]
    return image, None


def _join(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return colour if alpha is None else np.concatenate([colour, alpha], axis=2)


@registered(family="bending", primary=None, random=True,
            inwards=Param(float, 0.0, 25.0, doc="largest inward corner move, % of the short side"),
            outwards=Param(float, 0.0, 100.0, doc="largest outward corner move, pixels"),
            bending=Param(float, 0.0, 50.0, doc="bending amplitude, pixels per 200 px of size"),
            randomisation=Param(float, 0.0, 10.0, doc="randomiser amplitude, pixels"),
            deviation=Param(float, 0.0, 64.0, doc="transfer-function jitter, 8-bit grey levels"),
            quality=Param(int, 0, 100, doc="JPEG quality applied last; 0 for none"),
            as_shipped=Param(bool, doc="StirMark 3.1's (H + H) / 400 bending scale"))
@image_op(geometric=True)
def random_bending(image: np.ndarray, *, inwards: float = 2.0, outwards: float = 0.7, bending: float = 2.0,
                   randomisation: float = 0.1, deviation: float = 1.5, quality: int = 70,
                   as_shipped: bool = False, seed: RngLike = None) -> np.ndarray:
    """StirMark 3.1's random bending, the classic "StirMark attack", with its default parameters.

    Defaults are StirMark 3.1's (``bench.h``: ``INWARDS`` 2 % of the short side, ``OUTWARDS`` 0.7 px,
    ``BENDING_FACTOR`` 2, ``RANDOM_FACTOR`` 0.1, ``DEVIATION`` 1.5, ``JPEG_QUALITY_STIR`` 70).
    The bending amplitude is ``bending * (W + H) / 400`` pixels; StirMark 3.1 computes
    ``(H + H) / 400``, which differs on non-square images: ``as_shipped=True`` does that.

    Parameters
    ----------
    seed : int or numpy.random.Generator, optional
        Draws the corner moves, the randomiser and the transfer function.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((64, 64, 3), 128, np.uint8)
    >>> bool((random_bending(image, seed=1) == random_bending(image, seed=1)).all())
    True
    """
    rng = make_rng(seed)
    height, width = image.shape[:2]
    mx, my = _corner_map(height, width, rng, inwards=inwards, outwards=outwards)
    # StirMark 3.1 scales the bending by (H + H) / 400, a typo for (W + H) / 400 (same on squares).
    mx, my = _bend(mx, my, bending * ((height + height) if as_shipped else (width + height)) / 400.0)
    mx, my = _randomise(mx, my, randomisation, rng)
    colour, alpha = _split(_remap(image, mx, my))
    colour = _transfer(colour, rng, deviation)
    if quality:
        colour = roundtrip(np.clip(colour, 0.0, 1.0), "JPEG", quality=quality)
    return _join(colour, alpha)


@registered(family="bending", primary="factor", random=True,
            factor=Param(float, 0.0, 10.0, doc="strength relative to SMB 4.0's defaults"))
@image_op(geometric=True)
def small_random_distortions(image: np.ndarray, *, factor: float = 1.0, seed: RngLike = None) -> np.ndarray:
    """StirMark Benchmark 4.0's SmallRandomDistortions: StirMark's random bending, scaled by ``factor``.

    As SMB 4.0 does it (``SMBGT_SmallRandomDistortions``, type StirMark3, and its defaults in
    ``SMBGT_SmallRandomDistortions.h``): corners moved up to 2 % of the short side inwards and
    0.7 px outwards, a bending of 2 (W + H) / 400 px with random phases in [0, pi), a randomiser of
    0.2 px, all multiplied by ``factor``; then dithering. No colour jitter and no JPEG, unlike
    StirMark 3.1's :func:`random_bending`. The profile (SMBsettings.ini,
    ``Test_SmallRandomDistortions``) runs factors {0.95, 1, 1.05, 1.1}. Resampling is bicubic
    where SMB uses an interpolating quadratic.
    """
    rng = make_rng(seed)
    height, width = image.shape[:2]
    mx, my = _corner_map(height, width, rng, inwards=2.0, outwards=0.7, strength=factor)
    phase = (math.pi * rng.random(), math.pi * rng.random())
    record("small_random_distortions", bending_phase=phase)
    mx, my = _bend(mx, my, 2.0 * (width + height) / 400.0 * factor, phase)
    mx, my = _randomise(mx, my, 0.2 * factor, rng)
    colour, alpha = _split(_remap(image, mx, my))
    return _join(_dither(colour, rng), alpha)


@registered(family="bending", primary="factor", random=True,
            factor=Param(float, 0.0, 10.0, doc="strength relative to SMB 4.0's defaults"))
@image_op(geometric=True)
def latest_small_random_distortions(image: np.ndarray, *, factor: float = 1.0,
                                    seed: RngLike = None) -> np.ndarray:
    """StirMark Benchmark 4.0's LatestSmallRandomDistortions: moved corners and a random warp field.

    As SMB 4.0 does it (``SMBGT_SmallRandomDistortions``, type Latest; ``SMBDistortionMap``): the
    moved corners of :func:`small_random_distortions`, then every pixel is displaced by up to
    1.75 % of the width (x) and height (y) times ``factor``, following two smooth random maps
    (Fourier amplitudes uniform / f^2, random phases, stretched to [0, 1]); then dithering. No
    sinusoidal bending or randomiser. Profile (SMBsettings.ini,
    ``Test_LatestSmallRandomDistortions``): factors {0.95, 1, 1.05, 1.1}.
    """
    rng = make_rng(seed)
    height, width = image.shape[:2]
    mx, my = _corner_map(height, width, rng, inwards=2.0, outwards=0.7, strength=factor)
    mx = mx + 1.75 * factor * width / 100.0 * _distortion_map(height, width, rng)
    my = my + 1.75 * factor * height / 100.0 * _distortion_map(height, width, rng)
    colour, alpha = _split(_remap(image, mx, my))
    return _join(_dither(colour, rng), alpha)


@registered(family="print-scan", primary=None, random=True,
            blur=Param(float, 0.0, 10.0, doc="Gaussian sigma in pixels"),
            noise=Param(float, 0.0, 0.5, doc="sensor noise sigma, full scale"),
            gamma=Param(float, 0.2, 5.0, doc="tone curve exponent"),
            warp=Param(float, 0.0, 0.1, doc="largest corner move, fraction of the side"))
@image_op(geometric=True)
def print_scan(image: np.ndarray, *, blur: float = 1.0, noise: float = 0.01, gamma: float = 1.2,
               warp: float = 0.01, seed: RngLike = None) -> np.ndarray:
    """Print-and-scan-like degradation: slight warp, blur, tone curve, noise, 8-bit.

    The paper sits slightly askew (each corner moved up to ``warp`` of the side), ink and optics
    blur (``blur`` px), printer and scanner bend the tones (``out = in ** gamma``), and the sensor
    adds noise (``noise``, full scale).
    """
    rng = make_rng(seed)
    height, width = image.shape[:2]
    source = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    target = (source + rng.uniform(-warp, warp, (4, 2)) * [width, height]).astype(np.float32)
    record("print_scan", corner_moves=target - source)
    warped = cv2.warpPerspective(image, cv2.getPerspectiveTransform(source, target), (width, height),
                                 flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    colour, alpha = _split(warped)
    if blur > 0:
        colour = cv2.GaussianBlur(colour, (0, 0), blur, borderType=cv2.BORDER_REFLECT_101)
    colour = np.power(np.clip(colour, 0.0, 1.0), np.float32(gamma))
    colour = colour + np.float32(noise) * rng.standard_normal(colour.shape, dtype=np.float32)
    colour = np.rint(np.clip(colour, 0.0, 1.0) * 255.0) / np.float32(255.0)
    return _join(colour, alpha)
