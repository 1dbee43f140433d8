"""Wall-clock timing for the speed benchmarks, with no Filigrane import of its own, so that it can
time any revision of the package side by side with today's.

``python -m eval.timing PACKAGE_DIR REPEAT`` prints, as JSON, the detect milliseconds of the
``watermark`` package found in ``PACKAGE_DIR`` on the marked photograph at each size of
:data:`SIZES` (:func:`eval.speed.core_detect_ms` runs it on the core issue's revision).
``python -m eval.timing PACKAGE_DIR embed WIDTHxHEIGHT`` prints the seconds of one ``embed`` of the
photograph at that size and the process's peak resident memory (:func:`embed_memory`).
``python -m eval.timing --scan PACKAGE_DIR FOLDER KEYFILE ROUNDS [REGISTRY [KEYFILE ...]]`` prints, as JSON, the
rounds of :func:`scan_rounds` (``-`` as ``PACKAGE_DIR``: the installed package; :mod:`eval.scan_speed`
runs it).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

__all__ = ["SIZES", "PAYLOAD", "time_call", "photo", "marked_detect_ms", "embed_memory", "timed", "scan_rounds",
           "extract_revision"]

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
        times[f"{width}x{height}"] = time_call(functools.partial(wm.detect, marked, key), repeat)
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


def extract_revision(revision: str, destination: str | Path) -> bool:
    """Write the ``watermark`` package of git ``revision`` of this checkout into ``destination`` (a zip
    from ``git archive``: no tarfile filter needed on older Pythons); False outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=zip", revision, "watermark"],
                             capture_output=True)
    if archive.returncode != 0:
        return False
    with zipfile.ZipFile(io.BytesIO(archive.stdout)) as files:
        files.extractall(destination)
    return True


def timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and CPU seconds of ``function()``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def scan_rounds(cli_main: Callable[[list[str]], int], folder: str, key_path: str, rounds: int,
                registry: str | None = None, other_keys: Sequence[str] = ()) -> dict:
    """``rounds`` alternating passes over the image files of ``folder``: Pillow decoding each to RGB,
    then ``watermark detect FOLDER --key KEYFILE --json --jobs 1`` run in this process by ``cli_main``,
    and with ``registry``, ``watermark scan FOLDER --key KEYFILE --registry REGISTRY --json --jobs 1``
    (and a ``--key`` for each of ``other_keys``).

    Returns ``{"files", "found", "decode": [[wall, cpu], ...], "detect": [[wall, cpu], ...]}`` in
    seconds per pass (and ``"scan"``, ``"attributed"`` with a registry); a first, untimed pass warms
    each up (imports, caches per image size).
    """
    from PIL import Image

    paths = sorted(path for path in Path(folder).iterdir() if path.is_file())

    def decode() -> None:
        for path in paths:
            with Image.open(path) as image:
                image.convert("RGB")

    def detect() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(["detect", folder, "--key", key_path, "--json", "--jobs", "1"])
        if code not in (0, 1):
            raise RuntimeError(f"watermark detect {folder} exited with {code}")
        return out.getvalue()

    def scan() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            keys = [argument for path in (key_path, *other_keys) for argument in ("--key", path)]
            code = cli_main(["scan", folder, *keys, "--registry", str(registry), "--json", "--jobs", "1"])
        if code not in (0, 1):
            raise RuntimeError(f"watermark scan {folder} exited with {code}")
        return out.getvalue()

    passes = {"decode": decode, "detect": detect, **({"scan": scan} if registry else {})}
    decode()
    lines = detect().splitlines()
    counts = {"files": len(paths), "found": sum(json.loads(line)["found"] for line in lines)}
    if registry:
        rows = [json.loads(line) for line in scan().splitlines()]
        counts["attributed"] = sum(row["status"] == "attributed" for row in rows)
    timings: dict[str, list] = {name: [] for name in passes}
    for _ in range(rounds):
        for name, function in passes.items():
            wall, cpu, _ = timed(function)
            timings[name].append([wall, cpu])
    return {**counts, **timings}


def _import_watermark(package_dir: str):
    """The ``watermark`` package in ``package_dir`` ("-": the installed one), single-threaded."""
    if package_dir != "-":
        package_dir = str(Path(package_dir).resolve())
        sys.path.insert(0, package_dir)
    import watermark

    if package_dir != "-" and not watermark.__file__.startswith(package_dir + "/"):
        sys.exit(f"eval.timing: imported {watermark.__file__}, not the package in {package_dir}")
    cv2.setNumThreads(1)
    return watermark


_USAGE = """usage: python -m eval.timing PACKAGE_DIR REPEAT
       python -m eval.timing PACKAGE_DIR embed WIDTHxHEIGHT
       python -m eval.timing --scan PACKAGE_DIR FOLDER KEYFILE ROUNDS [REGISTRY [KEYFILE ...]]"""


def _main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{_USAGE}\n\n{__doc__}")
    elif len(argv) >= 5 and argv[0] == "--scan":
        package, folder, key_file, rounds = argv[1:5]
        _import_watermark(package)
        from watermark.cli import main as cli_main

        registry, *others = argv[5:] or [None]
        print(json.dumps(scan_rounds(cli_main, folder, key_file, int(rounds), registry, others)))
    elif len(argv) == 3 and argv[1] == "embed":
        width, height = (int(side) for side in argv[2].split("x"))
        print(json.dumps(embed_memory(_import_watermark(argv[0]), width, height)))
    elif len(argv) == 2 and argv[1].isdigit():
        print(json.dumps(marked_detect_ms(_import_watermark(argv[0]), int(argv[1]))))
    else:
        print(_USAGE, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _main(sys.argv[1:])
