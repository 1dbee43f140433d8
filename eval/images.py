"""Images to benchmark on: scikit-image's colour photographs by default, or the user's own files.

Test images (marked, then attacked) are :data:`DEFAULT_IMAGES`; the null set (images *without* the
mark, for the p-value distribution and the false-positive-rate threshold) is built from other
photographs that ship with scikit-image (:data:`NULL_PHOTOS`), the test images themselves
unmarked, and crops and rescales of them, so that a few photographs give many distinct null images.

Every image is an :class:`ImageSpec`: a name and a way to load it. Loading gives uint8 RGB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ImageSpec", "DEFAULT_IMAGES", "NULL_PHOTOS", "default_images", "images_from", "null_images",
           "digest", "check_unique", "parse_sizes", "one_size", "existing", "check_scikit_image"]

# name -> the scikit-image loader (all ship inside the wheel; nothing is downloaded)
DEFAULT_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field",
                  "retina", "immunohistochemistry")
NULL_PHOTOS = ("camera", "moon", "coins", "brick", "grass", "gravel", "page", "motorcycle_right",
               "clock", "text", "cell", "microaneurysms")


def check_scikit_image() -> None:
    """ImportError, saying what to install, when scikit-image (the default and null images) is missing."""
    try:
        import skimage  # noqa: F401
    except ImportError:
        raise ImportError("the default images come with scikit-image: pip install 'filigrane[bench]', "
                          "or pass --images DIR") from None


def _skimage(name: str) -> np.ndarray:
    check_scikit_image()
    from skimage import data

    if name == "motorcycle_left":
        return data.stereo_motorcycle()[0]
    if name == "motorcycle_right":
        return data.stereo_motorcycle()[1]
    if name == "clock":
        return data.clock()
    return getattr(data, name)()


def _to_rgb8(array: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` from grey, grey+alpha, RGB or RGBA of uint8, uint16, bool or float [0, 1]."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind == "u" and array.dtype.itemsize == 2:      # either byte order
        array = ((array.astype(np.float64) + 128.5) / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.shape[2] == 2:
        array = np.repeat(array[:, :, :1], 3, axis=2)
    array = array[:, :, :3]
    return np.ascontiguousarray(array)


def _from_file(path: str) -> np.ndarray:
    from watermark import imageio

    image = imageio.load_image(path).image      # 16-bit colour comes as an array, 16-bit grey as I;16
    if not isinstance(image, np.ndarray) and image.mode not in ("RGB", "L", "I;16", "I;16B"):
        image = image.convert("RGB")
    return _to_rgb8(np.asarray(image))


def _at_least(array: np.ndarray, min_side: int) -> np.ndarray:
    """``array`` scaled up (bicubic) so that its short side is at least ``min_side``."""
    height, width = array.shape[:2]
    if min(height, width) >= min_side:
        return array
    scale = min_side / min(height, width)
    size = (max(min_side, round(width * scale)), max(min_side, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(array, size, interpolation=cv2.INTER_CUBIC))


def _variant(array: np.ndarray, variant: int) -> np.ndarray:
    """A deterministic crop and rescale of ``array`` (variant 0 is ``array`` itself)."""
    if variant == 0:
        return array
    rng = np.random.default_rng(variant)
    height, width = array.shape[:2]
    share = rng.uniform(0.6, 0.95)
    h, w = max(8, int(height * share)), max(8, int(width * share))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    crop = array[top:top + h, left:left + w]
    scale = rng.uniform(0.8, 1.6)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=method))


@dataclass(frozen=True)
class ImageSpec:
    """One benchmark image: ``name`` (the CSV's ``image`` column) and where its pixels come from.

    ``source`` is ``"skimage:NAME"`` or a file path; ``variant`` > 0 takes a deterministic crop and
    rescale of it, ``min_side`` scales it up until its short side is at least that (null images), and
    ``size`` resamples it to exactly (width, height) (larger versions of small photographs).
    """

    name: str
    source: str
    variant: int = 0
    min_side: int = 0
    size: tuple[int, int] | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def load(self) -> np.ndarray:
        """The image as uint8 RGB ``(H, W, 3)`` (cached per instance)."""
        if "pixels" not in self._cache:
            if self.source.startswith("skimage:"):
                array = _to_rgb8(_skimage(self.source.split(":", 1)[1]))
            else:
                array = _from_file(self.source)
            array = _at_least(_variant(array, self.variant), self.min_side)
            if self.size is not None:
                shrink = self.size[0] * self.size[1] < array.shape[0] * array.shape[1]
                array = cv2.resize(array, tuple(self.size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            self._cache["pixels"] = array
        return self._cache["pixels"]

    def __getstate__(self) -> dict:     # send the recipe to worker processes, not the pixels
        return {"name": self.name, "source": self.source, "variant": self.variant, "min_side": self.min_side,
                "size": self.size}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})


def digest(source: str) -> str:
    """A short hash of the bytes of the image file ``source``, used in cache keys.

    A scikit-image source is its own digest (its pixels ship with the wheel); an unreadable file
    gives "" (loading it then records the error).
    """
    if source.startswith("skimage:"):
        return source
    try:
        with open(source, "rb") as handle:
            return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=8)).hexdigest()
    except OSError:
        return ""


def default_images() -> list[ImageSpec]:
    """The colour photographs of :data:`DEFAULT_IMAGES`, from scikit-image's wheel."""
    return [ImageSpec(name, f"skimage:{name}") for name in DEFAULT_IMAGES]


def images_from(paths: str | os.PathLike | list) -> list[ImageSpec]:
    """Image files found in ``paths`` (files or directories, searched recursively), sorted, each file once
    however often it is named.

    Names are paths relative to the directory given (the file name for a file); files of different
    folders that would share a name are named by their path as given instead, so every name is one
    file's (its payload and seeds derive from it). A byte of a name that is not UTF-8 is written ``\\xNN``.

    Raises
    ------
    FileNotFoundError
        A path does not exist, or no image file was found.
    ValueError
        Two files would still share a name (a path as given that is another's name in its folder).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    from watermark import listing
    from watermark.sources import printable

    found: dict[str, tuple[str, Path]] = {}      # real path -> (name relative to its root, path as given)
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or directory")
        base = root if root.is_dir() else root.parent
        for path in map(Path, listing.iter_image_files([root])):
            found.setdefault(os.path.realpath(path), (path.relative_to(base).as_posix(), path))
    if not found:
        raise FileNotFoundError(f"no image files in {', '.join(map(str, paths))}")
    shared = Counter(name for name, _ in found.values())
    specs = [ImageSpec(printable(path.as_posix() if shared[name] > 1 else name), str(path))
             for name, path in found.values()]
    check_unique(specs)
    return sorted(specs, key=lambda spec: spec.name)


def check_unique(specs: list[ImageSpec]) -> None:
    """ValueError naming both files when two of ``specs`` share a name (their rows would be one image's)."""
    sources: dict[str, str] = {}
    for spec in specs:
        other = sources.setdefault(spec.name, spec.source)
        if other != spec.source:
            raise ValueError(f"two images named {spec.name}: {other} and {spec.source}")


def parse_sizes(text: str) -> list[tuple[int, int] | None]:
    """The sizes of a comma-separated list of ``own`` (None: the image's own size) and ``WIDTHxHEIGHT``.

    Raises
    ------
    ValueError
        An entry is neither, or a side is not a positive whole number.
    """
    sizes: list[tuple[int, int] | None] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part == "own":
            sizes.append(None)
            continue
        width, _, height = part.lower().partition("x")
        if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise ValueError(f"size {part!r} is neither 'own' nor WIDTHxHEIGHT (e.g. 4000x3000)")
        sizes.append((int(width), int(height)))
    if not sizes:
        raise ValueError("no size given")
    return sizes


def one_size(text: str) -> tuple[int, int]:
    """One ``WIDTHxHEIGHT``, as an argparse type (``--size``)."""
    try:
        sizes = parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(sizes) != 1 or sizes[0] is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not one WIDTHxHEIGHT")
    return sizes[0]


def existing(text: str) -> str:
    """A path that exists, as an argparse type (``--images``): a missing one is a usage error, one line."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return text


def null_images(n: int, *, extra: list[ImageSpec] | tuple = (), min_side: int = 0) -> list[ImageSpec]:
    """``n`` distinct unmarked images: :data:`NULL_PHOTOS` and ``extra``, then crops and rescales of them.

    Images whose short side is below ``min_side`` px are scaled up to it, so every scheme can read them.
    """
    bases = [ImageSpec(name, f"skimage:{name}") for name in NULL_PHOTOS] + list(extra)
    out = []
    for i in range(max(0, n)):
        base = bases[i % len(bases)]
        variant = i // len(bases)
        name = base.name if variant == 0 else f"{base.name}~{variant}"
        out.append(ImageSpec(name, base.source, variant, min_side))
    return out
