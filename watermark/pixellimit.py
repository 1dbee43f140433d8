"""The pixel limit that refuses a decompression bomb before it is decoded, and Pillow's own, process-wide.

`DEFAULT_MAX_PIXELS` is Pillow's hard limit (about 179 Mpx) or the ``FILIGRANE_MAX_PIXELS`` variable
(`parse_max_pixels` reads it as the command line's ``--max-pixels``; `environment_problem` says what is
wrong with it); `bomb_message` is the line that refuses an image above the limit. Pillow's own bomb check
is process-wide: images are opened without it (`imageopen`) and their size checked against
``max_pixels`` (`imageio`); only an image above Pillow's own limit is decoded with that limit set to
``max_pixels`` (`pillow_limit_at`), under a lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from .errors import ParameterError

__all__ = ["DEFAULT_MAX_PIXELS", "parse_max_pixels", "environment_problem", "bomb_message", "pillow_limit_at",
           "pillow_own_limit"]


def parse_max_pixels(text: str) -> int | None:
    """Parse a pixel limit: a positive integer (``_`` allowed), ``none`` or ``0`` for no limit.

    Raises `ParameterError`, a `ValueError`, otherwise.
    """
    cleaned = text.strip().lower().replace("_", "")
    if cleaned in ("none", "0"):
        return None
    if cleaned.isdigit():
        return int(cleaned)
    raise ParameterError(f"pixel limit must be a positive integer or 'none', got {text!r}")


def environment_problem() -> str | None:
    """What is wrong with the ``FILIGRANE_MAX_PIXELS`` variable; None when it is unset or valid."""
    text = os.environ.get("FILIGRANE_MAX_PIXELS", "").strip()
    try:
        parse_max_pixels(text or "none")
    except ParameterError:
        return f"FILIGRANE_MAX_PIXELS={text!r} is not a positive integer or 'none'"
    return None


def _default_max_pixels() -> int | None:
    """``FILIGRANE_MAX_PIXELS`` when it is set and valid, else twice Pillow's warning limit (its hard limit)."""
    text = os.environ.get("FILIGRANE_MAX_PIXELS", "").strip()
    if not text or environment_problem():
        return None if Image.MAX_IMAGE_PIXELS is None else 2 * Image.MAX_IMAGE_PIXELS
    return parse_max_pixels(text)


# Pillow's hard limit (it only warns from half of it on): about 179 Mpx. Read once, at import; a wrong
# variable is said where the limit is used (`imageio._load`), and the command line refuses to start with it.
DEFAULT_MAX_PIXELS: int | None = _default_max_pixels()
_PILLOW_LOCK = threading.Lock()


def bomb_message(path: Path, size: str, max_pixels: int | None) -> str:
    return (f"{path}: {size} exceeds the limit of {max_pixels or Image.MAX_IMAGE_PIXELS:,} pixels "
            "(a possible decompression bomb); if you trust the file, raise the limit with "
            "--max-pixels N or FILIGRANE_MAX_PIXELS=N ('none' for no limit)")


@contextlib.contextmanager
def pillow_limit_at(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's process-wide bomb check warn (we raise) above ``max_pixels`` while an image larger than its
    own limit is decoded (its TIFF reader checks each strip or tile again) or opened by a reader that checks
    as it opens (WebP's). Process-wide: only there, and one such image at a time; `pillow_own_limit` gives
    Pillow's own meanwhile."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _LIFTED.append(Image.MAX_IMAGE_PIXELS)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = _LIFTED.pop()


_LIFTED: list[int | None] = []     # Pillow's own limit while `pillow_limit_at` has changed it


def pillow_own_limit() -> int | None:
    """Pillow's bomb limit as the host set it, even while another thread's `pillow_limit_at` has changed it."""
    return _LIFTED[0] if _LIFTED else Image.MAX_IMAGE_PIXELS
