"""Scan throughput against decoding: what reading a file for the mark costs, in units of opening it.

``python -m eval.speed --scan`` builds three folders from scikit-image's photographs (a different
crop of one of twenty photographs per file, resampled to the folder's size): 1920x1080 JPEGs saved
at qualities 75 to 95, the same pictures as PNG, and 4000x3000 JPEGs. Every fourth file is a copy
issued by ``watermark embed --registry`` (into a registry made by ``watermark registry init``, the
masters kept outside the folder), re-encoded as found elsewhere. It then times, each in a fresh
process on one core (OpenCV and BLAS single-threaded), in alternating passes: Pillow's
``Image.open(path).convert("RGB")`` of every file, ``watermark detect FOLDER --json --jobs 1`` and
``watermark scan FOLDER --registry DB --json --jobs 1`` run in the same process (no interpreter
start-up); ``detect`` (and ``scan``, when the revision has it) once for today's code and once for
the baseline revision's (:data:`BASELINE_REVISION` by default, which has no ``scan``; extracted
with ``git archive``), alternately, so that both see the same machine load. It prints per folder
the files per second of each pass and the ratio the scan issue bounds (time over decode time, at
most 3), on wall-clock time and, less sensitive to other processes, on CPU time. With ``--keys N``
the scan reads with N keys (the issuing one and N - 1 that marked nothing in the folder).

``python -m eval.speed --scan --dask`` instead times whole ``watermark scan`` commands over a folder
of 1080p JPEGs with ``--jobs 1`` and ``2`` and with ``--dask`` (a local cluster of 1 and 2 worker
processes): files per second as a user sees them, start-up included, in the environment as it is
(no thread limits set), and alternately with the baseline's when it has ``scan`` (:func:`dask_rates`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

import watermark as wm

from . import images as images_mod
from .timing import extract_revision

__all__ = ["BASELINE_REVISION", "FOLDERS", "build_folder", "register_keys", "measure", "run", "dask_rates",
           "print_table", "print_dask_table"]

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


def build_folder(folder: Path, files: int, size: tuple[int, int], fmt: str, key_path: Path, registry: Path, *,
                 seed: int = 0) -> int:
    """Write ``files`` photographs of ``size`` in ``fmt`` into ``folder``; every fourth is a copy issued by
    ``watermark embed --registry REGISTRY --key KEYFILE`` of a master kept beside ``folder``.
    The folder holds each issued copy re-encoded (as found elsewhere: not the issued file byte for
    byte, which the scan would recognise by its hash alone). Returns how many are marked."""
    from watermark.cli import main as cli_main

    folder.mkdir(parents=True, exist_ok=True)
    masters = folder.with_name(folder.name + "-masters")
    masters.mkdir(exist_ok=True)
    if not registry.exists():
        _quiet(cli_main, ["registry", "init", str(registry)])
    rng = np.random.default_rng(seed)
    sources = _sources()
    marked = 0
    for index in range(files):
        image = _crop_to(sources[index % len(sources)], size, rng)
        quality = int(rng.integers(75, 96))
        options = {"quality": quality} if fmt == "JPEG" else {}
        path = folder / f"{index:04d}.{fmt.lower()}"
        if index % _MARKED_EVERY:
            Image.fromarray(image).save(path, fmt, **options)
            continue
        master, issued = masters / f"{index:04d}.png", masters / f"{index:04d}-issued.png"
        Image.fromarray(image).save(master)
        _quiet(cli_main, ["embed", str(master), "-o", str(issued), "--key", str(key_path), "--registry", str(registry),
                          "--recipient", f"recipient {index}"])
        with Image.open(issued) as copy:      # found re-encoded: not byte for byte the issued copy
            copy.save(path, fmt, **options, **({} if options else {"pnginfo": _found_note()}))
        marked += 1
    return marked


def register_keys(registry: Path, key_paths: Sequence[Path], scratch: Path) -> None:
    """Make ``registry`` know each key of ``key_paths`` (a scan refuses a key it does not know): one
    copy of a small master issued with each, both kept in ``scratch``, away from any scanned folder."""
    from watermark.cli import main as cli_main

    scratch.mkdir(parents=True, exist_ok=True)
    image = _crop_to(_sources()[0], (256, 256), np.random.default_rng(0))
    for key_path in key_paths:
        master, issued = scratch / f"{key_path.stem}.png", scratch / f"{key_path.stem}-issued.png"
        Image.fromarray(image).save(master)
        _quiet(cli_main, ["embed", str(master), "-o", str(issued), "--key", str(key_path), "--registry",
                          str(registry), "--recipient", f"a recipient of {key_path.stem}", "--overwrite", "--new-key"])


def _found_note() -> PngImagePlugin.PngInfo:
    note = PngImagePlugin.PngInfo()
    note.add_text("Comment", "a copy found elsewhere")
    return note


def _quiet(cli_main, argv: list[str]) -> None:
    """``watermark ARGV`` in this process, its output swallowed; raises when it fails."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"watermark {' '.join(argv)} exited with {code}: {err.getvalue().strip()}")


def measure(folder: Path, key_path: Path, rounds: int, package: str = "-", registry: Path | None = None,
            other_keys: Sequence[Path] = ()) -> dict:
    """:func:`eval.timing.scan_rounds` in a fresh single-threaded process, for the ``watermark``
    package in directory ``package`` ("-": the installed one); ``registry`` also times the scan, which
    reads with ``other_keys`` too."""
    command = [sys.executable, "-m", "eval.timing", "--scan", package, str(folder), str(key_path), str(rounds),
               *([str(registry), *map(str, other_keys)] if registry else [])]
    result = subprocess.run(command, cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, env={**os.environ, **_ONE_CORE})
    if result.returncode != 0:
        raise RuntimeError(f"timing the scan of {folder} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _summary(runs: list[dict]) -> dict:
    """Files per second of each pass (median round) and the median ratios to decoding of the rounds."""
    files = runs[0]["files"]
    summary = {"files": files, "found": min(run["found"] for run in runs),
               "attributed": min(run.get("attributed", -1) for run in runs)}
    decodes = [decode for run in runs for decode in run["decode"]]
    summary["decode_files_per_s"] = files / statistics.median(wall for wall, _ in decodes)
    for name in ("detect", "scan"):
        if name not in runs[0]:
            continue
        rounds = [(decode, timed) for run in runs for decode, timed in zip(run["decode"], run[name])]
        summary[f"{name}_files_per_s"] = files / statistics.median(timed[0] for _, timed in rounds)
        summary[f"{name}_ratio_wall"] = statistics.median(timed[0] / decode[0] for decode, timed in rounds)
        summary[f"{name}_ratio_cpu"] = statistics.median(timed[1] / decode[1] for decode, timed in rounds)
    return summary


def run(files: int, big_files: int, rounds: int, repeats: int, baseline: str | None, keys: int = 1) -> list[dict]:
    """One row per folder (and code): see the module docstring; the scan reads with ``keys`` keys (the
    issuing one, and others that marked nothing here, as a studio with several keys scans)."""
    key = wm.Key.from_passphrase("scan speed benchmark")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key.save(root / "scan.key")
        others = [root / f"other-{index}.key" for index in range(1, keys)]
        for index, path in enumerate(others, 1):
            wm.Key.from_passphrase(f"scan speed benchmark, key {index + 1}").save(path)
        codes = {"today": "-"}
        if baseline and extract_revision(baseline, root / "baseline"):
            codes[baseline] = str(root / "baseline")
        for name, size, fmt in FOLDERS:
            folder = root / name.replace(" ", "-")
            registry = root / f"{folder.name}.db"
            count = big_files if size[0] > 2000 else files
            marked = build_folder(folder, count, size, fmt, root / "scan.key", registry)
            register_keys(registry, others, root / f"{folder.name}-other-keys")
            runs: dict[str, list[dict]] = {code: [] for code in codes}
            for _ in range(repeats):
                for code, package in codes.items():
                    has_scan = package == "-" or (Path(package) / "watermark" / "scan.py").exists()
                    runs[code].append(measure(folder, root / "scan.key", rounds, package,
                                              registry if has_scan else None, others))
            for code, measured in runs.items():
                rows.append({"folder": name, "code": code, "marked": marked, **_summary(measured)})
    return rows


def dask_rates(files: int, jobs: tuple[int, ...] = (1, 2), baseline: str | None = None) -> list[dict]:
    """Files per second of ``watermark scan`` over a folder of ``files`` 1080p JPEGs, each command run
    as a user runs it (a fresh process, start-up included, the environment as it is): ``--jobs N`` and
    ``--dask`` with a local cluster of N worker processes, for each N of ``jobs``; the second of two
    runs counts. With ``baseline`` (a git revision that has ``scan``), its commands run alternately
    with today's, on the same folder and registry."""
    key = wm.Key.from_passphrase("scan speed benchmark")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key.save(root / "scan.key")
        codes = {"today": str(Path(__file__).resolve().parent.parent)}
        extracted = root / "baseline"
        if baseline and extract_revision(baseline, extracted) and (extracted / "watermark" / "scan.py").exists():
            codes[baseline] = str(extracted)
        folder, registry = root / "1080p-JPEG", root / "1080p-JPEG.db"
        build_folder(folder, files, (1920, 1080), "JPEG", root / "scan.key", registry)
        base = [sys.executable, "-m", "watermark", "scan", str(folder), "--key", str(root / "scan.key"),
                "--registry", str(registry), "--json"]
        for workers in jobs:
            for engine, extra in (("processes", []), ("Dask LocalCluster", ["--dask"])):
                command = [*base, "--jobs", str(workers), *extra]
                seconds: dict[str, list[float]] = {code: [] for code in codes}
                for _ in range(2):
                    for code, package in codes.items():
                        seconds[code].append(_command_seconds(command, package, root))
                rows += [{"engine": engine, "workers": workers, "code": code, "files": files,
                          "seconds": taken[-1], "files_per_s": files / taken[-1]} for code, taken in seconds.items()]
    return rows


def _command_seconds(command: list[str], package: str, where: Path) -> float:
    """Wall seconds of ``command`` (``watermark scan``: exit 0 or 1) run in the directory ``where`` (not
    a checkout, whose ``watermark`` would come first), with ``package`` (the directory holding the
    ``watermark`` package to time) first on the module path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=where)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}: {result.stderr.strip()[-500:]}")
    return seconds


def print_table(rows: list[dict]) -> None:
    """The rows of :func:`run` as a Markdown table (ratios: time over Pillow's decoding, wall / CPU)."""
    print("| folder | code | files (marked) | found | attributed | decode files/s | detect files/s |"
          " detect / decode (wall / CPU) | scan files/s | scan / decode (wall / CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        scan = (f"{row['scan_files_per_s']:.1f} | {row['scan_ratio_wall']:.2f} / {row['scan_ratio_cpu']:.2f}"
                if "scan_files_per_s" in row else "- | -")
        attributed = row["attributed"] if row["attributed"] >= 0 else "-"
        print(f"| {row['folder']} | {row['code']} | {row['files']} ({row['marked']}) | {row['found']} | {attributed} |"
              f" {row['decode_files_per_s']:.1f} | {row['detect_files_per_s']:.1f} |"
              f" {row['detect_ratio_wall']:.2f} / {row['detect_ratio_cpu']:.2f} | {scan} |")


def print_dask_table(rows: list[dict]) -> None:
    """The rows of :func:`dask_rates` as a Markdown table."""
    print("| `watermark scan` on | workers | code | files | seconds | files/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['engine']} | {row['workers']} | {row['code']} | {row['files']} | {row['seconds']:.1f} "
              f"| {row['files_per_s']:.2f} |")
