"""Real photographs from scikit-image's wheel, shared by the tests (cached, read-only)."""

from __future__ import annotations

import functools

import numpy as np

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field",
               "retina", "immunohistochemistry")


@functools.cache
def photo(name: str) -> np.ndarray:
    """A colour photograph that ships with scikit-image, read-only."""
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    image.setflags(write=False)
    return image


@functools.cache
def rgb8_photo(name: str) -> np.ndarray:
    """Any photograph that ships with scikit-image, grey ones too, as the benchmark loads it (through
    ``eval.images``' public names): uint8 RGB ``(H, W, 3)``, read-only."""
    from eval import images

    image = images.ImageSpec(name, f"skimage:{name}").load()
    image.setflags(write=False)
    return image
