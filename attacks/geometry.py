"""Geometric attacks that map the picture onto the plane: rotation, quarter turns and mirrors, affine maps
(shear, translation), perspective (cropping, rescaling, line deletion and a canvas: `attacks.resizing`).

Conventions: positive angles turn counter-clockwise as the image is shown (as StirMark and
``np.rot90``); areas uncovered by a transform are black (and transparent where there is alpha);
resampling is bicubic, or area-averaging when shrinking. Alpha moves with the pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from watermark.errors import AttackParameterError
from watermark.image import image_op

from ._spec import Param, RngLike, make_rng, record, registered
from .resizing import EPSILON, centre_fit, resize

__all__ = ["rotate", "rot90", "flip", "affine", "shear", "translate", "perspective"]

_SINGULAR = 1e-9      # a linear map whose determinant is smaller would fold the image onto a line


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` moved by the forward 2x3 ``matrix`` (pixel-centre coordinates) onto ``size`` (w, h)."""
    return cv2.warpAffine(image, matrix.astype(np.float64), size, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _inner_scale(width: int, height: int, radians: float) -> float:
    """Largest k such that a centred (k W) x (k H) rectangle fits inside the rotated image."""
    c, s = abs(math.cos(radians)), abs(math.sin(radians))
    return min(width / (width * c + height * s), height / (width * s + height * c))


def _one_canvas(params: dict) -> None:
    if params["expand"] and (params["crop"] or params["scale"]):
        raise AttackParameterError("rotate: expand=True cannot be combined with crop or scale; choose one")


@registered(family="geometry", primary="degrees", combined=_one_canvas,
            degrees=Param(float, -360.0, 360.0, doc="counter-clockwise"),
            crop=Param(bool, doc="crop to the largest inner rectangle of the same aspect"),
            expand=Param(bool, doc="grow the canvas to hold the whole rotated image"),
            scale=Param(bool, doc="crop as crop=True, then rescale to the original size"))
@image_op(geometric=True)
def rotate(image: np.ndarray, *, degrees: float = 5, crop: bool = False, expand: bool = False,
           scale: bool = False) -> np.ndarray:
    """Rotate about the centre by ``degrees``, counter-clockwise.

    StirMark Benchmark 4.0 (SMBsettings.ini) rotates by {-2, -1, -0.75, -0.5, -0.25, 0.25, 0.5,
    0.75, 1, 2, 5, 10, 15, 30, 45, 90} degrees (``Test_Rotation``, whole image kept: ``expand``)
    and by the ten small angles with cropping (``Test_RotationCrop``: ``crop``) and with cropping
    and rescaling to the original size (``Test_RotationScale``: ``scale``), the angles of
    StirMark 3.1's ``ROTATION_ANGLES`` (bench.h).

    Parameters
    ----------
    degrees : float
        Counter-clockwise angle; multiples of 90 are exact (``np.rot90``).
    crop : bool
        Keep only the largest centred rectangle with the image's aspect ratio that holds no
        corner: the output is smaller than the input (StirMark's scale factor; StirMark rounds
        the size up, we round it down so that no black corner pixel remains).
    expand : bool
        Grow the canvas to hold the whole rotated image (black corners).
    scale : bool
        Crop as ``crop`` does, then rescale to the input's size (StirMark's rotation-scale).

    With none of them the canvas keeps its size and the corners turn black.

    Examples
    --------
    >>> import numpy as np
    >>> square = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> bool((rotate(square, degrees=90) == np.rot90(square)).all())
    True
    """
    height, width = image.shape[:2]
    radians = math.radians(degrees)
    k = _inner_scale(width, height, radians)
    inner = (max(1, int(width * k + EPSILON)), max(1, int(height * k + EPSILON)))
    if float(degrees).is_integer() and int(degrees) % 90 == 0:
        turned = np.ascontiguousarray(np.rot90(image, (int(degrees) // 90) % 4))
        if expand:
            return turned
        if scale:
            return resize(centre_fit(turned, inner), (width, height))
        return centre_fit(turned, inner if crop else (width, height))
    c, s = abs(math.cos(radians)), abs(math.sin(radians))
    zoom = 1.0
    if expand:
        size = (math.ceil(width * c + height * s - EPSILON), math.ceil(width * s + height * c - EPSILON))
    elif scale:
        size, zoom = (width, height), 1.0 / k
    elif crop:
        size = inner
    else:
        size = (width, height)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), degrees, zoom)
    matrix[:, 2] += [(size[0] - width) / 2.0, (size[1] - height) / 2.0]
    return _warp(image, matrix, size)


@registered(family="geometry", primary=None, k=Param(int, -3, 3, doc="quarter turns, counter-clockwise"))
@image_op(geometric=True)
def rot90(image: np.ndarray, *, k: int = 1) -> np.ndarray:
    """Rotate by ``k`` quarter turns counter-clockwise, exactly (``np.rot90``)."""
    return np.ascontiguousarray(np.rot90(image, k % 4))


@registered(family="geometry", primary=None,
            axis=Param(str, choices=("horizontal", "vertical", "both"), doc="mirror left-right, top-bottom, or both"))
@image_op(geometric=True)
def flip(image: np.ndarray, *, axis: str = "horizontal") -> np.ndarray:
    """Mirror the image: ``horizontal`` swaps left and right (StirMark 3.1's Flip test)."""
    if axis == "horizontal":
        return np.ascontiguousarray(image[:, ::-1])
    return np.ascontiguousarray(image[::-1] if axis == "vertical" else image[::-1, ::-1])


def _linear(image: np.ndarray, linear: np.ndarray, shift: np.ndarray, expand: bool) -> np.ndarray:
    """Apply ``x -> linear @ x + shift`` (y down), on the bounding-box canvas or the same canvas."""
    height, width = image.shape[:2]
    if expand:
        corners = linear @ np.array([[0, width, 0, width], [0, 0, height, height]], np.float64)
        low, high = corners.min(axis=1), corners.max(axis=1)
        size = (max(1, math.ceil(high[0] - low[0] - 1e-6)), max(1, math.ceil(high[1] - low[1] - 1e-6)))
        offset = -low + linear @ np.array([0.5, 0.5]) - 0.5
    else:
        size = (width, height)
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        offset = centre - linear @ centre + shift
    return _warp(image, np.hstack([linear, offset[:, None]]), size)


def _matrix_terms(matrix: tuple) -> tuple[float, ...]:
    """``(a, b, tx, c, d, ty)`` of an affine ``matrix`` given as ``(a, b, c, d)`` or ``(a, b, tx, c, d, ty)``."""
    values = tuple(float(value) for value in matrix)
    return values if len(values) == 6 else (values[0], values[1], 0.0, values[2], values[3], 0.0)


def _matrix_and_canvas(params: dict) -> None:
    a, b, tx, c, d, ty = _matrix_terms(params["matrix"])
    if abs(a * d - b * c) < _SINGULAR:
        raise AttackParameterError("affine: the matrix is singular (determinant 0); use an invertible matrix")
    if params["expand"] and (tx or ty):
        raise AttackParameterError("affine: a translation (tx, ty) needs expand=False; the expanded canvas "
                                   "always holds the whole image")


@registered(family="geometry", primary=None, combined=_matrix_and_canvas,
            matrix=Param(tuple, length=(4, 6), doc="(a, b, c, d) or (a, b, tx, c, d, ty)"),
            expand=Param(bool, doc="canvas = bounding box of the result"))
@image_op(geometric=True)
def affine(image: np.ndarray, *, matrix: tuple = (1, 0, 0, 1), expand: bool = True) -> np.ndarray:
    """General linear (affine) map ``x' = a x + b y, y' = c x + d y``, as StirMark's.

    Coordinates are StirMark's (``traLinear``, transformations.c): x to the right, y *up*, so a
    positive ``b`` leans the top of the image to the right. With six numbers,
    ``(a, b, tx, c, d, ty)`` adds a translation in pixels (with ``expand=False`` only).
    StirMark 3.1's general linear test (bench.h, ``LINEAR_TRANSFORMATIONS``) uses
    [[1.010, 0.013], [0.009, 1.011]], [[1.007, 0.010], [0.010, 1.012]] and
    [[1.013, 0.008], [0.011, 1.008]]; StirMark Benchmark 4.0's Affine test adds shears
    (see ``attacks.suites.STIRMARK_AFFINE``).

    Parameters
    ----------
    expand : bool
        The canvas is the bounding box of the transformed image (StirMark's choice); otherwise the
        canvas keeps its size and the map is applied about the image centre.
    """
    a, b, tx, c, d, ty = _matrix_terms(matrix)
    flip_y = np.diag([1.0, -1.0])   # StirMark's y axis points up; ours points down
    linear = flip_y @ np.array([[a, b], [c, d]]) @ flip_y
    return _linear(image, linear, np.array([tx, -ty]), expand)


def _invertible_shear(params: dict) -> None:
    if abs(1.0 - params["x"] * params["y"] / 1e4) < _SINGULAR:     # the determinant of the shear
        raise AttackParameterError(f"shear: x={params['x']:g} and y={params['y']:g} fold the image onto a line "
                                   "(determinant 0); make one of them smaller")


@registered(family="geometry", primary=None, combined=_invertible_shear,
            x=Param(float, -100.0, 100.0, doc="horizontal shift of the bottom row, % of width"),
            y=Param(float, -100.0, 100.0, doc="vertical shift of the right column, % of height"))
@image_op(geometric=True)
def shear(image: np.ndarray, *, x: float = 1.0, y: float = 0.0) -> np.ndarray:
    """Shear by shifting the last row ``x`` % of the width (and the last column ``y`` % of the height).

    StirMark 3.1's shearing test (bench.h, ``SHIFTS``) uses (x, y) in {(0, 1), (0, 5), (1, 0),
    (5, 0), (1, 1), (5, 5)} %. The canvas keeps its size (StirMark cropped the slanted borders).
    """
    height, width = image.shape[:2]
    linear = np.array([[1.0, x / 100.0 * width / height], [y / 100.0 * height / width, 1.0]])
    return _linear(image, linear, np.zeros(2), expand=False)


@registered(family="geometry", primary=None,
            dx=Param(int, -100_000, 100_000, doc="pixels to the right"),
            dy=Param(int, -100_000, 100_000, doc="pixels down"))
@image_op(geometric=True)
def translate(image: np.ndarray, *, dx: int = 16, dy: int = 16) -> np.ndarray:
    """Shift the content by whole pixels on the same canvas; uncovered borders turn black."""
    out = np.zeros_like(image)
    height, width = image.shape[:2]
    if abs(dx) < width and abs(dy) < height:
        out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
            image[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out


@registered(family="geometry", primary="strength", random=True,
            strength=Param(float, 0.0, 0.25, doc="largest corner move, fraction of the side"))
@image_op(geometric=True)
def perspective(image: np.ndarray, *, strength: float = 0.03, seed: RngLike = None) -> np.ndarray:
    """A small random perspective warp: each corner moves up to ``strength`` of the side, same canvas."""
    height, width = image.shape[:2]
    source = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    moves = make_rng(seed).uniform(-strength, strength, (4, 2)) * [width, height]
    record("perspective", corner_moves=moves)
    target = (source + moves).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
