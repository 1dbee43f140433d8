"""Fixtures for eval's tests: two small real photographs and three quick real attacks."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from PIL import Image

import attacks


def pytest_configure(config):
    # also declared in pyproject.toml; repeated here so that `-W error` never meets an unknown mark
    config.addinivalue_line("markers", "peers: needs the optional peer libraries (pip install '.[peers]')")


@functools.cache
def _small_photo(name: str) -> np.ndarray:
    """A 320 x 320 crop of a scikit-image photograph (uint8 RGB), read-only."""
    from skimage import data

    image = np.ascontiguousarray(getattr(data, name)()[40:360, 60:380])
    image.setflags(write=False)
    return image


# Real attacks (importable by spawned workers, unlike anything defined in a conftest).
TINY_SUITE = (attacks.attack("jpeg", quality=75), attacks.attack("jpeg", quality=40),
              attacks.attack("gaussian_noise", sigma=0.02))


@pytest.fixture
def photo_dir(tmp_path):
    """A folder with two small photographs as PNG files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(_small_photo(name)).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def tiny_suite():
    return TINY_SUITE


@pytest.fixture
def small_photo():
    """``small_photo(name)``: a 320 x 320 crop of a scikit-image photograph, read-only."""
    return _small_photo
