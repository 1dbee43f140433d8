"""Wall-clock timing for the speed benchmark, with no Filigrane import of its own, so that it can
time any revision of the package side by side with today's.

``python -m eval.timing PACKAGE_DIR REPEAT`` prints, as JSON, the detect milliseconds of the
``watermark`` package found in ``PACKAGE_DIR`` on the marked photograph at each size of
:data:`SIZES` (:func:`eval.speed.core_detect_ms` runs it on the core issue's revision).
``python -m eval.timing PACKAGE_DIR embed WIDTHxHEIGHT`` prints the seconds of one ``embed`` of the
photograph at that size and the process's peak resident memory (:func:`embed_memory`).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from typing import Callable

import cv2
import numpy as np

__all__ = ["SIZES", "PAYLOAD", "time_call", "photo", "marked_detect_ms", "embed_memory"]

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


def _peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def embed_memory(wm, width: int, height: int) -> dict[str, float]:
    """One ``wm.embed`` of the photograph at ``width`` x ``height`` (uint8 RGB): its seconds (wall
    and CPU), and the process's peak resident memory in MiB before it (interpreter and input image)
    and after it. Run it in a fresh process: the peak is the process's, over its whole life."""
    image = photo(width, height)
    key = wm.Key.from_passphrase("speed benchmark")
    wm.embed(photo(512, 512), PAYLOAD, key)          # imports and caches, not counted
    before = _peak_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    wm.embed(image, PAYLOAD, key)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return {"embed_s": seconds, "embed_cpu_s": cpu_seconds, "rss_before_mib": before,
            "peak_rss_mib": _peak_rss_mib(), "input_mib": image.nbytes / 2**20}


if __name__ == "__main__":
    package_dir = sys.argv[1]
    sys.path.insert(0, package_dir)
    import watermark

    if not watermark.__file__.startswith(package_dir):
        sys.exit(f"eval.timing: imported {watermark.__file__}, not the package in {package_dir}")
    cv2.setNumThreads(1)
    if sys.argv[2] == "embed":
        width, height = (int(side) for side in sys.argv[3].split("x"))
        print(json.dumps(embed_memory(watermark, width, height)))
    else:
        print(json.dumps(marked_detect_ms(watermark, int(sys.argv[2]))))
