"""What a machine-learning data pipeline does to a scraped image: torchvision's evaluation transform
(shorter side to 256, the centred 224 x 224) and its training crop (``RandomResizedCrop``).

A dataset owner's question is whether a copy that went through them still carries the mark; the
``training`` suite chains them with the JPEG re-encoding that datasets are stored in. Resampling
follows this package's conventions (area-averaging when shrinking, bicubic when enlarging), which
differ from torchvision's bilinear by less than its own antialiasing switch does.
"""

from __future__ import annotations

import math

import numpy as np

from watermark.image import image_op

from ._spec import Param, RngLike, make_rng, record, registered
from .resizing import resize

__all__ = ["resize_short", "resize_crop", "random_resized_crop"]


def _shorter_side_to(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = side / min(height, width)
    return resize(image, (max(1, round(width * factor)), max(1, round(height * factor))))


@registered(family="geometry", primary="side", side=Param(int, 16, 100_000, doc="the shorter side, pixels"))
@image_op(geometric=True)
def resize_short(image: np.ndarray, *, side: int = 256) -> np.ndarray:
    """Resize so that the shorter side is ``side`` (torchvision's ``Resize(256)``; how datasets such as
    LAION's subsets are stored).

    Examples
    --------
    >>> import numpy as np
    >>> resize_short(np.zeros((480, 640), np.uint8)).shape
    (256, 341)
    """
    return _shorter_side_to(image, side)


@registered(family="geometry", primary="size",
            short_side=Param(int, 16, 100_000, doc="the shorter side after resizing, pixels"),
            size=Param(int, 8, 100_000, doc="the side of the centred square kept, pixels"))
@image_op(geometric=True)
def resize_crop(image: np.ndarray, *, short_side: int = 256, size: int = 224) -> np.ndarray:
    """Resize so that the shorter side is ``short_side``, then keep the centred ``size`` x ``size``
    square (torchvision's ``Resize(256)`` and ``CenterCrop(224)``, the usual evaluation transform).

    Examples
    --------
    >>> import numpy as np
    >>> resize_crop(np.zeros((480, 640, 3), np.uint8)).shape
    (224, 224, 3)
    """
    resized = _shorter_side_to(image, short_side)
    height, width = resized.shape[:2]
    side = min(size, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return np.ascontiguousarray(resized[top:top + side, left:left + side])


@registered(family="geometry", primary="scale_min", random=True,
            size=Param(int, 8, 100_000, doc="the output's side, pixels"),
            scale_min=Param(float, 0.01, 1.0, doc="the smallest share of the area a crop keeps"))
@image_op(geometric=True)
def random_resized_crop(image: np.ndarray, *, size: int = 224, scale_min: float = 0.08,
                        seed: RngLike = None) -> np.ndarray:
    """A random crop resized to ``size`` x ``size`` (torchvision's ``RandomResizedCrop``, the usual
    training transform): its area a uniform share in [``scale_min``, 1] of the image's, its aspect
    ratio log-uniform in [3/4, 4/3]; after ten draws that do not fit, the centred largest crop of
    an aspect ratio in that range. The crop drawn is recorded as ``x``, ``y``, ``width``, ``height``.

    Examples
    --------
    >>> import numpy as np
    >>> random_resized_crop(np.zeros((480, 640), np.uint8), seed=1).shape
    (224, 224)
    """
    height, width = image.shape[:2]
    rng = make_rng(seed)
    for _ in range(10):
        area = height * width * rng.uniform(scale_min, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= width and 0 < h <= height:
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            break
    else:
        ratio = min(max(width / height, 3 / 4), 4 / 3)
        w, h = (width, round(width / ratio)) if width / height <= ratio else (round(height * ratio), height)
        x, y = (width - w) // 2, (height - h) // 2
    record("random_resized_crop", x=x, y=y, width=w, height=h)
    return resize(np.ascontiguousarray(image[y:y + h, x:x + w]), (size, size))
