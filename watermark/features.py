"""Local features: what finds a master inside a suspect (a crop, a collage, a photographed print).

A master's :class:`MasterPrint` keeps, in at most 64 KB, what registration and reports need when the
master file is gone: its pixel size, SIFT keypoints spread over the whole image (positions in the
master's pixels, descriptors as 4-bit RootSIFT) and a small JPEG thumbnail. A suspect's
:class:`Features` are the same, computed on the fly. SIFT rather than ORB: with 1000 ORB keypoints
a master registered only 23 % of its crops to 5 % of the area and 77 % of its 3x3 collages on
held-out photographs (scale changes of 4x and more are ORB's weak point); SIFT's figures are
``python -m eval.lookup``'s. Both images are equalised (CLAHE) first, so that dark and hazy
pictures get keypoints too.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from . import color
from .errors import InvalidImageError
from .image import ImageLike, to_float

__all__ = ["Features", "MasterPrint", "master_print", "suspect_features", "grey_at", "PRINT_LIMIT",
           "MASTER_SIDE", "MASTER_KEYPOINTS", "SUSPECT_SIDE", "SUSPECT_KEYPOINTS"]

PRINT_LIMIT = 65536          # bytes, the registry's bound per master
MASTER_SIDE = 1024           # px: a master's long side when its features are found (never upscaled)
MASTER_KEYPOINTS = 720       # what the print keeps, spread over a grid: 68 bytes each
SUSPECT_SIDE = 2048          # px: a suspect's long side (a collage may hold the master at 1/4 scale)
SUSPECT_KEYPOINTS = 4000
THUMBNAIL_SIDE = 192         # px, long side of the print's JPEG thumbnail
THUMBNAIL_BYTES = 12288      # its JPEG quality drops from 80 until it fits
_MAGIC = b"FPR1"
_HEADER = struct.Struct("<4sIIfHI")   # magic, width, height, feature scale, keypoints, thumbnail bytes
_GRID = 16                            # keypoints are picked round-robin from a 16 x 16 grid of cells
_CONTRAST = 0.02                      # SIFT's contrast threshold (OpenCV's default 0.04)
_CLAHE_CLIP, _CLAHE_TILES = 2.0, (8, 8)  # local contrast equalisation (a CLAHE object per call: it keeps scratch state)
_LEVELS = 32.0                        # 4-bit descriptor codes: RootSIFT components (< 0.5) x 32


@dataclass(frozen=True, eq=False)
class Features:
    """Keypoints of one image: ``points`` (N, 2) float32 in the image's own pixels (x, y) and
    ``descriptors`` (N, 128) float32 RootSIFT (unit L2 norm)."""

    points: np.ndarray = field(repr=False)
    descriptors: np.ndarray = field(repr=False)
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True, eq=False)
class MasterPrint:
    """What the registry keeps of a master for near-duplicate search, registration and reports."""

    features: Features
    thumbnail: bytes = field(repr=False)     # JPEG bytes, long side THUMBNAIL_SIDE

    @property
    def width(self) -> int:
        return self.features.width

    @property
    def height(self) -> int:
        return self.features.height

    def thumbnail_image(self) -> np.ndarray:
        """The thumbnail as uint8 RGB ``(h, w, 3)``."""
        return np.asarray(Image.open(io.BytesIO(self.thumbnail)).convert("RGB"))

    def to_bytes(self) -> bytes:
        """The print as stored in the registry (at most :data:`PRINT_LIMIT` bytes)."""
        points, descriptors = self.features.points, self.features.descriptors
        fixed = np.clip(np.rint(points * 8.0), 0, 65535).astype("<u2")   # 1/8 px up to 8191 px
        scale = max(self.width, self.height) / 8191.0 if max(self.width, self.height) > 8191 else 1.0
        if scale != 1.0:
            fixed = np.clip(np.rint(points / scale * 8.0), 0, 65535).astype("<u2")
        nibbles = np.clip(np.floor(descriptors * _LEVELS), 0, 15).astype(np.uint8)
        codes = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]              # two 4-bit codes per byte
        blob = (_HEADER.pack(_MAGIC, self.width, self.height, scale, len(points), len(self.thumbnail))
                + fixed.tobytes() + codes.tobytes() + self.thumbnail)
        if len(blob) > PRINT_LIMIT:
            raise InvalidImageError(f"master print of {len(blob)} bytes exceeds {PRINT_LIMIT}")
        return blob

    @classmethod
    def from_bytes(cls, blob: bytes) -> MasterPrint:
        """Decode :meth:`to_bytes`; `InvalidImageError` if the bytes are not a print."""
        try:
            magic, width, height, scale, count, thumb = _HEADER.unpack_from(blob)
        except struct.error:
            magic = b""
        if magic != _MAGIC:
            raise InvalidImageError("not a Filigrane master print")
        offset = _HEADER.size
        fixed = np.frombuffer(blob, "<u2", 2 * count, offset).reshape(count, 2)
        offset += fixed.nbytes
        packed = np.frombuffer(blob, np.uint8, 64 * count, offset).reshape(count, 64)
        offset += packed.nbytes
        codes = np.empty((count, 128), np.float32)
        codes[:, 0::2], codes[:, 1::2] = packed >> 4, packed & 15
        points = fixed.astype(np.float32) * np.float32(scale / 8.0)
        return cls(Features(points, _unit(codes + 0.5), width, height),
                   bytes(blob[offset:offset + thumb]))


def grey_at(image: ImageLike, long_side: int) -> tuple[np.ndarray, float]:
    """uint8 luminance of ``image`` with its long side at most ``long_side`` (area-averaged, never
    enlarged), and the scale applied (<= 1)."""
    pixels, _ = to_float(image)
    pixels = color.luminance(pixels)
    height, width = pixels.shape
    scale = min(1.0, long_side / max(height, width))
    if scale < 1.0:
        pixels = cv2.resize(pixels, (max(1, round(width * scale)), max(1, round(height * scale))),
                            interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8), scale


def _unit(descriptors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
    return (descriptors / np.maximum(norms, 1e-12)).astype(np.float32)


def _sift(grey: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, RootSIFT descriptors and responses of up to ``count`` SIFT keypoints."""
    grey = cv2.createCLAHE(_CLAHE_CLIP, _CLAHE_TILES).apply(grey)   # local contrast: dark, hazy pictures get keypoints
    keypoints, descriptors = cv2.SIFT.create(nfeatures=count, contrastThreshold=_CONTRAST).detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), np.zeros(0, np.float32)
    root = np.sqrt(descriptors / np.maximum(descriptors.sum(axis=1, keepdims=True), 1e-7))
    points = np.array([keypoint.pt for keypoint in keypoints], np.float32)
    responses = np.array([keypoint.response for keypoint in keypoints], np.float32)
    return points, _unit(root), responses


def _spread(points: np.ndarray, responses: np.ndarray, shape: tuple[int, int], count: int) -> np.ndarray:
    """Indices of ``count`` keypoints taken round-robin from a grid of cells, strongest first in each:
    a small crop anywhere in the master still holds its share of the print."""
    if len(points) <= count:
        return np.arange(len(points))
    height, width = shape
    cells = (np.minimum(points[:, 1] * _GRID // height, _GRID - 1) * _GRID
             + np.minimum(points[:, 0] * _GRID // width, _GRID - 1)).astype(np.int64)
    order = np.lexsort((-responses, cells))                       # by cell, strongest first
    rank = np.empty(len(points), np.int64)
    starts = np.searchsorted(cells[order], np.arange(_GRID * _GRID))
    rank[order] = np.arange(len(points)) - starts[cells[order]]   # position within its cell
    return np.lexsort((-responses, rank))[:count]


def master_print(image: ImageLike, *, keypoints: int = MASTER_KEYPOINTS) -> MasterPrint:
    """The print of a master image (any supported layout; features on its luminance), exactly as
    the registry will give it back (descriptors quantised)."""
    grey, scale = grey_at(image, MASTER_SIDE)
    height, width = round(grey.shape[0] / scale), round(grey.shape[1] / scale)
    points, descriptors, responses = _sift(grey, 4 * keypoints)
    keep = _spread(points, responses, grey.shape, keypoints)
    features = Features(points[keep] / scale, descriptors[keep], width, height)
    return MasterPrint.from_bytes(MasterPrint(features, _thumbnail(image)).to_bytes())


def suspect_features(image: ImageLike, *, keypoints: int = SUSPECT_KEYPOINTS,
                     long_side: int = SUSPECT_SIDE) -> Features:
    """A suspect's keypoints, positions in its own pixels."""
    grey, scale = grey_at(image, long_side)
    points, descriptors, _ = _sift(grey, keypoints)
    height, width = round(grey.shape[0] / scale), round(grey.shape[1] / scale)
    return Features(points / scale, descriptors, width, height)


def _thumbnail(image: ImageLike) -> bytes:
    pixels, _ = to_float(image)
    rgb = pixels[:, :, :3] if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    height, width = rgb.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    picture = Image.fromarray(np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8))
    for quality in range(80, 0, -10):
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= THUMBNAIL_BYTES:
            break
    return buffer.getvalue()
