"""Wall-clock timing for the speed benchmark, with no Filigrane import of its own, so that it can
time any revision of the package side by side with today's.

``python -m eval.timing PACKAGE_DIR REPEAT`` prints, as JSON, the detect milliseconds of the
``watermark`` package found in ``PACKAGE_DIR`` on the marked photograph at each size of
:data:`SIZES` (:func:`eval.speed.core_detect_ms` runs it on the core issue's revision).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Callable

import cv2
import numpy as np

__all__ = ["SIZES", "PAYLOAD", "time_call", "photo", "marked_detect_ms"]

SIZES = ((512, 512), (1920, 1080), (4000, 3000))
PAYLOAD = 0x5EED_CAFE_F00D_D00D


def time_call(function: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``function()`` in milliseconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def photo(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut, resized to ``width`` x ``height``."""
    from skimage import data

    return cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)


def marked_detect_ms(wm, repeat: int) -> dict[str, float]:
    """``wm.detect`` milliseconds on the photograph marked by ``wm.embed``, per size ("WxH")."""
    key = wm.Key.from_passphrase("speed benchmark")
    times = {}
    for width, height in SIZES:
        marked = wm.embed(photo(width, height), PAYLOAD, key)
        times[f"{width}x{height}"] = time_call(lambda: wm.detect(marked, key), repeat)
    return times


if __name__ == "__main__":
    package_dir, repeat = sys.argv[1], int(sys.argv[2])
    sys.path.insert(0, package_dir)
    import watermark

    if not watermark.__file__.startswith(package_dir):
        sys.exit(f"eval.timing: imported {watermark.__file__}, not the package in {package_dir}")
    cv2.setNumThreads(1)
    print(json.dumps(marked_detect_ms(watermark, repeat)))
