"""Scan throughput against decoding: what reading a file for the mark costs, in units of opening it.

``python -m eval.speed --scan`` builds three folders from scikit-image's photographs (a different
crop of one of twenty photographs per file, resampled to the folder's size): 1920x1080 JPEGs saved
at qualities 75 to 95, the same pictures as PNG, and 4000x3000 JPEGs. Every fourth file is marked.
It then times, each in a fresh process on one core (OpenCV and BLAS single-threaded), in
alternating passes: Pillow's ``Image.open(path).convert("RGB")`` of every file, and ``watermark
detect FOLDER --json --jobs 1`` run in the same process (no interpreter start-up), once for today's
code and once for the baseline revision's (:data:`BASELINE_REVISION`, extracted with ``git
archive``), alternately, so that both see the same machine load. It prints per folder the files per
second of each pass and the ratio the scan issue bounds (detect time over decode time, at most 3),
on wall-clock time and, less sensitive to other processes, on CPU time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import watermark as wm

from . import images as images_mod
from .timing import extract_revision

__all__ = ["BASELINE_REVISION", "FOLDERS", "build_folder", "measure", "run"]

BASELINE_REVISION = "fe16558"     # main before the scan issue's speed work
FOLDERS = (("1080p JPEG", (1920, 1080), "JPEG"), ("1080p PNG", (1920, 1080), "PNG"),
           ("4000x3000 JPEG", (4000, 3000), "JPEG"))
_MARKED_EVERY = 4
_ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _sources() -> list[np.ndarray]:
    """scikit-image's colour photographs and its other photographs (grey, as RGB)."""
    names = images_mod.DEFAULT_IMAGES + images_mod.NULL_PHOTOS
    return [images_mod.ImageSpec(name, f"skimage:{name}").load() for name in names]


def _crop_to(image: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``image`` (60 to 100 % of the largest window of ``size``'s aspect ratio),
    resampled to ``size`` (width, height)."""
    height, width = image.shape[:2]
    aspect = size[0] / size[1]
    h = min(height, width / aspect) * rng.uniform(0.6, 1.0)
    w = h * aspect
    top, left = int(rng.uniform(0, height - h)), int(rng.uniform(0, width - w))
    crop = image[top:top + max(8, int(h)), left:left + max(8, int(w))]
    shrinking = size[0] < crop.shape[1]
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def build_folder(folder: Path, files: int, size: tuple[int, int], fmt: str, key: wm.Key, *,
                 seed: int = 0) -> int:
    """Write ``files`` photographs of ``size`` in ``fmt`` into ``folder``, every fourth marked with
    ``key``; returns how many are marked."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = _sources()
    marked = 0
    for index in range(files):
        image = _crop_to(sources[index % len(sources)], size, rng)
        if index % _MARKED_EVERY == 0:
            image = wm.embed(image, index, key)
            marked += 1
        options = {"quality": int(rng.integers(75, 96))} if fmt == "JPEG" else {}
        Image.fromarray(image).save(folder / f"{index:04d}.{fmt.lower()}", fmt, **options)
    return marked


def measure(folder: Path, key_path: Path, rounds: int, package: str = "-") -> dict:
    """:func:`eval.timing.scan_rounds` in a fresh single-threaded process, for the ``watermark``
    package in directory ``package`` ("-": the installed one)."""
    result = subprocess.run([sys.executable, "-m", "eval.timing", "--scan", package, str(folder), str(key_path),
                             str(rounds)], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, env={**os.environ, **_ONE_CORE})
    if result.returncode != 0:
        raise RuntimeError(f"timing the scan of {folder} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _summary(runs: list[dict]) -> dict:
    """Files per second of both passes (median round) and the median ratios of the rounds."""
    rounds = [(decode, detect) for run in runs for decode, detect in zip(run["decode"], run["detect"])]
    files = runs[0]["files"]
    return {"files": files, "found": min(run["found"] for run in runs),
            "decode_files_per_s": files / statistics.median(decode[0] for decode, _ in rounds),
            "detect_files_per_s": files / statistics.median(detect[0] for _, detect in rounds),
            "ratio_wall": statistics.median(detect[0] / decode[0] for decode, detect in rounds),
            "ratio_cpu": statistics.median(detect[1] / decode[1] for decode, detect in rounds)}


def run(files: int, big_files: int, rounds: int, repeats: int, baseline: str | None) -> list[dict]:
    """One row per folder (and code): see the module docstring."""
    key = wm.Key.from_passphrase("scan speed benchmark")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key.save(root / "scan.key")
        codes = {"today": "-"}
        if baseline and extract_revision(baseline, root / "baseline"):
            codes[baseline] = str(root / "baseline")
        for name, size, fmt in FOLDERS:
            folder = root / name.replace(" ", "-")
            count = big_files if size[0] > 2000 else files
            marked = build_folder(folder, count, size, fmt, key)
            runs: dict[str, list[dict]] = {code: [] for code in codes}
            for _ in range(repeats):
                for code, package in codes.items():
                    runs[code].append(measure(folder, root / "scan.key", rounds, package))
            for code, measured in runs.items():
                rows.append({"folder": name, "code": code, "marked": marked, **_summary(measured)})
    return rows


def print_table(rows: list[dict]) -> None:
    """The rows as a Markdown table."""
    print("| folder | code | files (marked) | found | decode files/s | detect files/s |"
          " detect / decode (wall) | detect / decode (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['folder']} | {row['code']} | {row['files']} ({row['marked']}) | {row['found']} |"
              f" {row['decode_files_per_s']:.1f} | {row['detect_files_per_s']:.1f} | {row['ratio_wall']:.2f} |"
              f" {row['ratio_cpu']:.2f} |")
