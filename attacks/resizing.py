"""Geometric attacks that change the picture's size: cropping, rescaling, the aspect ratio, downscaling,
line deletion, a canvas of another shape (the maps that turn, shear or warp it: `attacks.geometry`).

Conventions: resampling is bicubic, or area-averaging when shrinking; crops and line deletion resample
nothing. Alpha moves with the pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from watermark.errors import AttackParameterError
from watermark.image import image_op

from ._spec import Param, RngLike, make_rng, record, registered

__all__ = ["crop", "rescale", "aspect", "downscale", "canvas", "remove_lines", "delete_lines", "POSITIONS",
           "EPSILON", "resize", "centre_fit"]

POSITIONS = ("center", "top-left", "top", "top-right", "left", "right", "bottom-left", "bottom",
             "bottom-right", "random")
EPSILON = 1e-9


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` (width, height): area averaging when it shrinks, bicubic when it grows."""
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def centre_fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` centred on a black canvas of ``size`` (w, h), cropped where it does not fit."""
    width, height = size
    out = np.zeros((height, width) + image.shape[2:], np.float32)
    h, w = image.shape[:2]
    sy, dy = max(0, (h - height) // 2), max(0, (height - h) // 2)
    sx, dx = max(0, (w - width) // 2), max(0, (width - w) // 2)
    ch, cw = min(h, height), min(w, width)
    out[dy:dy + ch, dx:dx + cw] = image[sy:sy + ch, sx:sx + cw]
    return out


@registered(family="geometry", primary="percent", random=True,
            percent=Param(float, 0.1, 100.0, doc="percent of each side kept"),
            position=Param(str, choices=POSITIONS, doc="which part is kept"))
@image_op(geometric=True)
def crop(image: np.ndarray, *, percent: float = 75, position: str = "center",
         seed: RngLike = None) -> np.ndarray:
    """Keep ``percent`` % of each side: the output is ``int(W p / 100)`` x ``int(H p / 100)``.

    This is StirMark's meaning: the kept width and height are p % of the original's (so 50 keeps
    a quarter of the area). StirMark Benchmark 4.0's Cropping test (SMBsettings.ini,
    ``Test_Cropping``) keeps the centred {1, 2, 5, 10, 15, 20, 25, 50, 75} % (StirMark 3.1's
    ``CROP_FACTORS``, bench.h).

    Parameters
    ----------
    percent : float
        Percentage of each side kept, 0.1 to 100 (at least one pixel is kept).
    position : str
        Which part is kept: ``center``, a side (``top``, ``left``...), a corner (``top-left``...),
        or ``random`` (uniform over all positions, drawn from ``seed``).

    Examples
    --------
    >>> import numpy as np
    >>> crop(np.zeros((100, 200), np.uint8), percent=50).shape
    (50, 100)
    """
    height, width = image.shape[:2]
    w, h = max(1, int(width * percent / 100 + EPSILON)), max(1, int(height * percent / 100 + EPSILON))
    if position == "random":
        rng = make_rng(seed)
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        record("crop", x=x, y=y)
    else:
        x = 0 if "left" in position else width - w if "right" in position else (width - w) // 2
        y = 0 if "top" in position else height - h if "bottom" in position else (height - h) // 2
    return np.ascontiguousarray(image[y:y + h, x:x + w])


@registered(family="geometry", primary="factor", factor=Param(float, 0.01, 16.0, doc="size ratio"))
@image_op(geometric=True)
def rescale(image: np.ndarray, *, factor: float = 0.75) -> np.ndarray:
    """Resize both sides by ``factor`` (output sides rounded up, as StirMark does).

    StirMark Benchmark 4.0's Rescale test (SMBsettings.ini, ``Test_Rescale``) uses
    {50, 75, 90, 110, 150, 200} %, StirMark 3.1's ``SCALE_FACTORS`` (bench.h).
    Shrinking averages areas; enlarging is bicubic.

    Examples
    --------
    >>> import numpy as np
    >>> rescale(np.zeros((100, 200, 3), np.uint8), factor=0.75).shape
    (75, 150, 3)
    """
    height, width = image.shape[:2]
    return resize(image, (max(1, math.ceil(width * factor - EPSILON)),
                           max(1, math.ceil(height * factor - EPSILON))))


@registered(family="geometry", primary=None,
            x=Param(float, 0.01, 16.0, doc="width ratio"), y=Param(float, 0.01, 16.0, doc="height ratio"))
@image_op(geometric=True)
def aspect(image: np.ndarray, *, x: float = 1.0, y: float = 0.9) -> np.ndarray:
    """Change the aspect ratio: width times ``x``, height times ``y``.

    StirMark 3.1's aspect-ratio test (bench.h, ``ASPECT_RATIOS``) uses (x, y) in {(1, 0.8),
    (1, 0.9), (1, 1.1), (1, 1.2), (0.8, 1), (0.9, 1), (1.1, 1), (1.2, 1)}.
    """
    height, width = image.shape[:2]
    return resize(image, (max(1, math.ceil(width * x - EPSILON)), max(1, math.ceil(height * y - EPSILON))))


@registered(family="geometry", primary="max_side", max_side=Param(int, 16, 100_000, doc="pixels"))
@image_op(geometric=True)
def downscale(image: np.ndarray, *, max_side: int = 1080) -> np.ndarray:
    """Shrink so that the longer side is at most ``max_side`` pixels, as platforms do on upload.

    Smaller images are left as they are (platforms do not enlarge).
    """
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    factor = max_side / max(height, width)
    return resize(image, (max(1, round(width * factor)), max(1, round(height * factor))))


@registered(family="geometry", primary="ratio",
            ratio=Param(float, 0.2, 5.0, doc="the canvas's width over its height"),
            fill=Param(str, choices=("black", "white", "blur"), doc="what surrounds the picture"),
            side=Param(int, 16, 100_000, doc="the canvas's long side, pixels"))
@image_op(geometric=True)
def canvas(image: np.ndarray, *, ratio: float = 0.8, fill: str = "white", side: int = 1080) -> np.ndarray:
    """The whole picture, scaled to fit and centred, on a canvas of another shape, as apps post a
    16:9 picture in a 4:5 or square frame (a letterbox or pillarbox): ``ratio`` width over height,
    ``side`` px on the canvas's long side; around the picture ``black``, ``white``, or ``blur`` (the
    picture itself, scaled to cover the canvas and blurred, as Instagram's story fill).
    """
    width, height = (side, max(1, round(side / ratio))) if ratio >= 1 else (max(1, round(side * ratio)), side)
    h, w = image.shape[:2]
    fit = min(width / w, height / h)
    picture = resize(image, (max(1, round(w * fit)), max(1, round(h * fit))))
    if fill == "blur":
        cover = max(width / w, height / h)
        around = centre_fit(resize(image, (math.ceil(w * cover), math.ceil(h * cover))), (width, height))
        out = cv2.GaussianBlur(around, (0, 0), side / 40)
    else:
        out = np.full((height, width) + image.shape[2:], 1.0 if fill == "white" else 0.0, np.float32)
        if image.ndim == 3 and image.shape[2] == 4:
            out[:, :, 3] = 1.0
    top, left = (height - picture.shape[0]) // 2, (width - picture.shape[1]) // 2
    out[top:top + picture.shape[0], left:left + picture.shape[1]] = picture
    return out


@registered(family="geometry", primary="every", every=Param(int, 2, 100_000, doc="period in lines"))
@image_op(geometric=True)
def remove_lines(image: np.ndarray, *, every: int = 10) -> np.ndarray:
    """Delete one row in every ``every`` rows and one column in every ``every`` columns.

    As StirMark Benchmark 4.0 does it (``SMBST_RemoveLines``): rows and columns 0, every,
    2 every, ... go, so the output is smaller by ``(H - 1) // every + 1`` rows and
    ``(W - 1) // every + 1`` columns; nothing is resampled. Its RemoveLines test (SMBsettings.ini,
    ``Test_RemoveLines``) uses ``every`` in {10, 20, ..., 100}.

    Examples
    --------
    >>> import numpy as np
    >>> remove_lines(np.zeros((512, 512), np.uint8), every=10).shape
    (460, 460)
    """
    height, width = image.shape[:2]
    return np.delete(np.delete(image, np.arange(0, height, every), axis=0), np.arange(0, width, every), axis=1)


@registered(family="geometry", primary="count", random=True,
            count=Param(int, 1, 100_000, doc="rows deleted, and as many columns"))
@image_op(geometric=True)
def delete_lines(image: np.ndarray, *, count: int = 5, seed: RngLike = None) -> np.ndarray:
    """Delete ``count`` rows and ``count`` columns at random places: the output is smaller by ``count``.

    The random counterpart of :func:`remove_lines`: where StirMark Benchmark 4.0 deletes lines at a
    fixed period and StirMark 3.1's row and column removal test (bench.h,
    ``NUMBER_ROW_COL_REMOVED``: 1 to 17 rows and columns) spreads a given number at regular
    intervals, this attack places them anywhere, so a detector cannot rely on their spacing. The
    indices deleted (distinct, drawn uniformly from ``seed``) are recorded as ``rows`` and
    ``columns``; nothing is resampled.

    Parameters
    ----------
    count : int
        Rows deleted, and as many columns; less than the image's shorter side.
    seed : int or numpy.random.Generator, optional
        Where the rows and columns are drawn from; the same value gives the same output.

    Raises
    ------
    AttackParameterError
        ``count`` leaves no row or no column.

    Examples
    --------
    >>> import numpy as np
    >>> delete_lines(np.zeros((96, 128), np.uint8), count=5, seed=1).shape
    (91, 123)
    """
    height, width = image.shape[:2]
    if count >= min(height, width):
        raise AttackParameterError(f"delete_lines: count={count} would leave nothing of a {width}x{height} image; "
                                   f"use count < {min(height, width)}")
    rng = make_rng(seed)
    rows = np.sort(rng.choice(height, count, replace=False))
    columns = np.sort(rng.choice(width, count, replace=False))
    record("delete_lines", rows=rows, columns=columns)
    return np.delete(np.delete(image, rows, axis=0), columns, axis=1)
