"""The quality a JPEG was saved with, estimated from its quantisation tables.

libjpeg (the IJG library, which Pillow, OpenCV, GIMP, ImageMagick and most cameras' software use)
makes its tables from the two example tables of the JPEG standard (ITU-T T.81, Annex K), scaled by
``5000 / quality`` below quality 50 and ``200 - 2 * quality`` from 50 on, in percent, rounded and
clipped to 1-255. The estimate is the quality 1-100 whose scaled tables are closest to the file's;
tables that no quality comes close to (another encoder's own design) give no estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["estimate_quality", "ijg_tables"]

# Annex K, tables K.1 (luminance) and K.2 (chrominance), in natural (row-major) order, as Pillow
# reports a file's tables.
_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
_CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32)
_TOLERANCE = 0.2    # largest mean relative difference from the nearest quality's tables


def ijg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's (luminance, chrominance) tables for ``quality`` 1-100, natural order."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((base * scale + 50) // 100, 1, 255) for base in (_LUMINANCE, _CHROMINANCE))


def estimate_quality(tables: Mapping[int, Sequence[int]]) -> int | None:
    """The libjpeg quality whose tables are closest to ``tables`` (Pillow's ``image.quantization``:
    table number -> 64 values, natural order), or None when none is close (within 20 % on average).

    Examples
    --------
    >>> luminance, chrominance = ijg_tables(87)
    >>> estimate_quality({0: luminance, 1: chrominance})
    87
    """
    if not tables or any(len(values) != 64 for values in tables.values()):
        return None
    given = np.array([tables[number] for number in sorted(tables)[:2]], dtype=np.float64)
    expected = _ALL_TABLES[:, :len(given)]                   # quality 100 first: ties go to the higher quality
    errors = np.mean(np.abs(given - expected) / expected, axis=2).mean(axis=1)
    best = int(np.argmin(errors))
    return 100 - best if errors[best] <= _TOLERANCE else None


_ALL_TABLES = np.array([ijg_tables(quality) for quality in range(100, 0, -1)], dtype=np.float64)  # (100, 2, 64)
