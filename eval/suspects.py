"""Suspect copies of a master for the lookup benchmark and the tests: what a crawl finds.

Whole-image changes (re-encoding, resizing, blur, flips, quarter turns, brightness, contrast) test
the perceptual hash; partial and geometric ones (a perspective warp, a camera tilt, StirMark
bending, a small crop, plain crops to 60 % and 40 % at a corner or the centre, the master at a
quarter of its size in a collage) test registration.
Every function takes and returns uint8 RGB; random ones take ``seed``.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

import attacks

__all__ = ["jpeg", "camera_tilt", "crop_box", "placed_box", "PLACES", "crop_area", "collage", "bend", "WHOLE_IMAGE",
           "PARTIAL", "unrelated_tiles"]

# where `placed_box` puts a crop: seed % 5 picks one, so seeds 0 to 4 give each once
PLACES = ("centre", "top left", "top right", "bottom left", "bottom right")


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def _levels(image: np.ndarray, gain: float, offset: float) -> np.ndarray:
    mean = image.mean()
    return np.clip((image.astype(np.float32) - mean) * gain + mean + offset, 0, 255).astype(np.uint8)


def camera_tilt(image: np.ndarray, *, degrees: float = 20.0, seed: int = 0) -> np.ndarray:
    """The picture photographed by a camera tilted by ``degrees`` about a horizontal or vertical
    axis through its centre (focal length 1.2 x the long side), on a canvas that holds it all."""
    height, width = image.shape[:2]
    rng = np.random.default_rng(seed)
    angle = np.radians(degrees) * rng.choice([-1.0, 1.0])
    axis = np.array([angle, 0.0, 0.0]) if rng.integers(2) else np.array([0.0, angle, 0.0])
    focal = 1.2 * max(height, width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    homography = camera @ cv2.Rodrigues(axis)[0] @ np.linalg.inv(camera)
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, homography).reshape(-1, 2)
    low, high = mapped.min(axis=0), mapped.max(axis=0)
    shift = np.array([[1, 0, -low[0]], [0, 1, -low[1]], [0, 0, 1]])
    size = (int(np.ceil(high[0] - low[0])), int(np.ceil(high[1] - low[1])))
    return cv2.warpPerspective(image, shift @ homography, size, flags=cv2.INTER_LINEAR)


def _crop_size(shape: tuple[int, ...], fraction: float) -> tuple[int, int]:
    """(height, width) of a crop holding ``fraction`` of the area of an image of ``shape``, same aspect."""
    height, width = shape[:2]
    side = np.sqrt(fraction)
    return max(8, int(height * side)), max(8, int(width * side))


def crop_box(shape: tuple[int, ...], *, fraction: float = 0.05, seed: int = 0) -> tuple[int, int, int, int]:
    """Where `crop_area` cuts an image of ``shape``: (left, top, width, height)."""
    height, width = shape[:2]
    h, w = _crop_size(shape, fraction)
    rng = np.random.default_rng(seed)
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    return left, top, w, h


def placed_box(shape: tuple[int, ...], *, fraction: float = 0.6, seed: int = 0) -> tuple[int, int, int, int]:
    """Where `crop_area` cuts with ``placed=True``: `crop_box`'s size at ``PLACES[seed % 5]`` (the centre's
    offset rounded down), as (left, top, width, height)."""
    height, width = shape[:2]
    h, w = _crop_size(shape, fraction)
    place = PLACES[seed % len(PLACES)]
    top = (height - h) // 2 if place == "centre" else 0 if place.startswith("top") else height - h
    left = (width - w) // 2 if place == "centre" else 0 if place.endswith("left") else width - w
    return left, top, w, h


def crop_area(image: np.ndarray, *, fraction: float = 0.05, seed: int = 0, placed: bool = False) -> np.ndarray:
    """A crop holding ``fraction`` of the area (same aspect), at a random place (`crop_box`), or with
    ``placed`` at a corner or the centre (`placed_box`)."""
    left, top, w, h = (placed_box if placed else crop_box)(image.shape, fraction=fraction, seed=seed)
    return np.ascontiguousarray(image[top:top + h, left:left + w])


def collage(image: np.ndarray, others: list[np.ndarray], *, grid: int = 3, scale: float = 0.25,
            seed: int = 0) -> np.ndarray:
    """A ``grid`` x ``grid`` collage of cells ``scale`` times the master's size: the master in a random
    cell, other photographs in the rest, saved as JPEG 85."""
    height, width = image.shape[:2]
    cell_h, cell_w = max(8, round(height * scale)), max(8, round(width * scale))
    place = int(np.random.default_rng(seed).integers(grid * grid))
    canvas = np.zeros((cell_h * grid, cell_w * grid, 3), np.uint8)
    for cell in range(grid * grid):
        row, column = divmod(cell, grid)
        picture = image if cell == place else others[(cell - (cell > place)) % len(others)]
        canvas[row * cell_h:(row + 1) * cell_h, column * cell_w:(column + 1) * cell_w] = cv2.resize(
            picture, (cell_w, cell_h), interpolation=cv2.INTER_AREA)
    return jpeg(canvas, 85)


def bend(image: np.ndarray, *, amplitude: float = 5.0, seed: int = 0) -> np.ndarray:
    """StirMark 3.1's random bending (attacks.random_bending) with a bow of ``amplitude`` pixels."""
    height, width = image.shape[:2]
    return attacks.random_bending(image, bending=amplitude * 400.0 / (width + height), seed=seed)


WHOLE_IMAGE = {
    "jpeg 30": lambda a: jpeg(a, 30), "jpeg 50": lambda a: jpeg(a, 50), "jpeg 70": lambda a: jpeg(a, 70),
    "jpeg 90": lambda a: jpeg(a, 90), "resize 0.25": lambda a: _resize(a, 0.25),
    "resize 0.5": lambda a: _resize(a, 0.5), "resize 2": lambda a: _resize(a, 2.0),
    "blur 1.5": lambda a: cv2.GaussianBlur(a, (0, 0), 1.5), "flip": lambda a: np.ascontiguousarray(a[:, ::-1]),
    "rotate 90": lambda a: np.ascontiguousarray(np.rot90(a)),
    "rotate 270": lambda a: np.ascontiguousarray(np.rot90(a, 3)),
    "brightness +30": lambda a: _levels(a, 1.0, 30), "brightness -30": lambda a: _levels(a, 1.0, -30),
    "contrast 0.7": lambda a: _levels(a, 0.7, 0), "contrast 1.3": lambda a: _levels(a, 1.3, 0),
    "rotate 90 + jpeg 50 + half": lambda a: _resize(jpeg(np.ascontiguousarray(np.rot90(a)), 50), 0.5),
}

PARTIAL = {
    "perspective 6%": lambda a, others, seed: attacks.perspective(a, strength=0.06, seed=seed),
    "camera tilt 20": lambda a, others, seed: camera_tilt(a, degrees=20.0, seed=seed),
    "bending 5 px": lambda a, others, seed: bend(a, amplitude=5.0, seed=seed),
    "crop 5% area": lambda a, others, seed: jpeg(crop_area(a, fraction=0.05, seed=seed), 90),
    "collage 2x2 at 0.25": lambda a, others, seed: collage(a, others, grid=2, seed=seed),
    "collage 3x3 at 0.25": lambda a, others, seed: collage(a, others, grid=3, seed=seed),
    "mirrored crop 30%": lambda a, others, seed: np.ascontiguousarray(crop_area(a, fraction=0.3, seed=seed)[:, ::-1]),
    "crop 60% at a corner or centre":
        lambda a, others, seed: jpeg(crop_area(a, fraction=0.6, seed=seed, placed=True), 90),
    "crop 40% at a corner or centre":
        lambda a, others, seed: jpeg(crop_area(a, fraction=0.4, seed=seed, placed=True), 90),
}


def unrelated_tiles(photos: list[np.ndarray], sizes: tuple[int, ...] = (256, 384, 512)) -> list[tuple[int, np.ndarray]]:
    """Non-overlapping tiles of each photograph at several sizes, each with its photograph's index:
    hundreds of distinct pictures from a few photographs (tiles of one photograph at different sizes
    overlap, so only tiles of different photographs count as unrelated)."""
    tiles = []
    for index, photo in enumerate(photos):
        height, width = photo.shape[:2]
        for size in sizes:
            for top in range(0, height - size + 1, size):
                for left in range(0, width - size + 1, size):
                    tiles.append((index, photo[top:top + size, left:left + size]))
    return tiles
