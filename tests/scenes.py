"""Synthetic smooth scenes, where a mark shows first, shared by the tests: each is (height, width, 3)
uint8 of ``size`` (width, height), faint camera grain included except in the gradient."""

from __future__ import annotations

import cv2
import numpy as np


def _noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 0.8) -> np.ndarray:
    """A float image plus a camera's faint grain, rounded to uint8."""
    return np.clip(np.round(image + rng.normal(0.0, sigma, image.shape)), 0, 255).astype(np.uint8)


def gradient(size: tuple[int, int]) -> np.ndarray:
    """A noiseless diagonal grey-blue gradient: the hardest case, nothing to hide a mark in, and
    nothing a codec leaves of one."""
    width, height = size
    ramp = (np.arange(height)[:, None] / height + np.arange(width)[None, :] / width) / 2
    return np.round(np.stack([70 + 120 * ramp, 90 + 110 * ramp, 140 + 90 * ramp], axis=2)).astype(np.uint8)


def sky(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Deep blue at the top, pale at the horizon, soft cloud veils, faint grain."""
    width, height = size
    ramp = (np.arange(height)[:, None, None] / height) * np.ones((1, width, 1))
    top, horizon = np.array([40.0, 90.0, 170.0]), np.array([170.0, 200.0, 230.0])
    blue = top + (horizon - top) * ramp
    clouds = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 40)
    clouds = np.clip(clouds / clouds.std() - 0.5, 0, None)[:, :, None]
    return _noisy(blue + 25 * clouds, rng)


def bokeh(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Out-of-focus discs of light on a dark green background: what a fast lens does to foliage."""
    width, height = size
    scene = np.zeros((height, width, 3), np.float32) + np.array([20, 45, 25], np.float32)
    for _ in range(60):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(float(c) for c in rng.uniform([60, 90, 30], [255, 220, 120]))
        cv2.circle(scene, centre, int(rng.integers(15, 70)), colour, thickness=-1)
    return _noisy(cv2.GaussianBlur(scene, (0, 0), 12), rng)


def dark_lake(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A night scene: a lake at dusk, luminance 5-40 of 255, a faint glow, grain."""
    width, height = size
    ramp = np.arange(height)[:, None, None] / height * np.ones((1, width, 1))
    glow = np.exp(-((np.arange(width) - width * 0.6) / (width * 0.2)) ** 2)[None, :, None]
    return _noisy(np.array([6.0, 10.0, 22.0]) + np.array([10.0, 14.0, 22.0]) * ramp + 12 * glow, rng, 1.0)


def dark_band(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A stormy night sky: dark, smooth clouds (luminance 10-40 of 255) over a thin band of small lights and
    trees along a far shore, grain. Local features find keypoints in the band alone: few, and clustered
    in a strip, where a homography fits their noise and tilts the rest of the picture."""
    width, height = size
    ramp = np.arange(height)[:, None, None] / height * np.ones((1, width, 1))
    clouds = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 30)
    scene = np.array([14.0, 16.0, 22.0]) + np.array([12.0, 12.0, 14.0]) * ramp + 5 * (clouds / clouds.std())[:, :, None]
    band = np.zeros((height, width), np.float32)
    for _ in range(width // 6):
        centre = (int(rng.integers(0, width)), int(rng.integers(int(0.55 * height), int(0.59 * height))))
        cv2.circle(band, centre, int(rng.integers(1, 4)), float(rng.uniform(10, 40)), thickness=-1)
    return _noisy(scene + cv2.GaussianBlur(band, (0, 0), 0.8)[:, :, None] * np.array([1.0, 0.9, 0.7]), rng)
