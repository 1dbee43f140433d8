"""Fixtures for eval's tests: two small real photographs, tiny deterministic attacks, a fast scheme."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from PIL import Image


def pytest_configure(config):
    # also declared in pyproject.toml; repeated here so that `-W error` never meets an unknown mark
    config.addinivalue_line("markers", "peers: needs the optional peer libraries (pip install '.[peers]')")


@functools.lru_cache(maxsize=None)
def _small_photo(name: str) -> np.ndarray:
    """A 320 x 320 crop of a scikit-image photograph (uint8 RGB), read-only."""
    from skimage import data

    image = np.ascontiguousarray(getattr(data, name)()[40:360, 60:380])
    image.setflags(write=False)
    return image


@dataclass(frozen=True)
class TinyAttack:
    """A stand-in with the shape of ``attacks.Attack`` (name, params, family, strength, call with seed)."""

    name: str
    value: float
    family: str

    @property
    def params(self) -> dict:
        return {"quality" if self.name == "jpeg" else "sigma": self.value}

    @property
    def strength(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        key, value = next(iter(self.params.items()))
        return f"{self.name}({key}={value:g})"

    def __call__(self, image: np.ndarray, seed: int = 0) -> np.ndarray:
        if self.name == "jpeg":
            ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                                      [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
            return np.ascontiguousarray(cv2.imdecode(buffer, cv2.IMREAD_COLOR)[:, :, ::-1])
        noise = np.random.default_rng(seed).normal(0.0, 255.0 * self.value, image.shape)
        return np.clip(np.round(image + noise), 0, 255).astype(np.uint8)


TINY_SUITE = (TinyAttack("jpeg", 75, "codec"), TinyAttack("jpeg", 40, "codec"),
              TinyAttack("gaussian_noise", 0.02, "noise"))


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
