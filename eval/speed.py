"""Speed benchmark: embed and detect milliseconds per image, and batch detection throughput.

``python -m eval.speed`` measures, single-threaded and excluding file I/O, the median time of
``watermark.embed`` and ``watermark.detect`` (on the marked photograph; on it rotated by 10 degrees
and cropped, which the detector must find by its geometric search; and on the unmarked one, which
makes it run the whole search) at 512x512, 1920x1080 and 4000x3000,
with invisible-watermark's dwtDct (the fastest public Python scheme) side by side when it is installed
(``pip install torch==2.13.0 && pip install .[peers]``), so that the ratio survives a noisy machine.
The core issue's detector (git revision :data:`CORE_REVISION`) is timed in the same run on the
marked photograph, and the rotated and unmarked times are given as multiples of it.
It then times ``watermark detect --jobs N`` over a folder of 1080p JPEGs (files per second), and
one ``embed`` of a 12000x8000 photograph in a fresh process, with that process's peak memory.
``--keys N`` also times the unmarked photograph read with N keys at once.
``python -m eval.speed --scan`` instead times detect and scan against Pillow's decoding of the same
files, and ``--scan --dask`` the scan on Dask (:mod:`eval.scan_speed`).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import attacks
import watermark as wm

from . import scan_speed
from .timing import PAYLOAD as _PAYLOAD
from .timing import SIZES, extract_revision, time_call
from .timing import photo as _photo

__all__ = ["CORE_REVISION", "LARGE", "core_detect_ms", "large_embed", "main"]

CORE_REVISION = "3991bc6"     # the core issue's detector, as it stood before the geometric search
LARGE = (12000, 8000)         # width, height of the large embedding: a 96-megapixel photograph


def _peer_timers(image: np.ndarray) -> tuple[Callable[[], object], Callable[[], object]] | None:
    """Embed and extract calls of invisible-watermark's dwtDct, or None when it is not installed."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError:
        return None
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", b"fili")
    marked = encoder.encode(bgr, "dwtDct")
    decoder = WatermarkDecoder("bytes", 32)
    return (lambda: encoder.encode(bgr, "dwtDct")), (lambda: decoder.decode(marked, "dwtDct"))


def per_image(repeat: int, keys: int = 1) -> list[dict]:
    """Rows of embed/detect milliseconds per size, with the peer's when available; with ``keys`` over 1,
    also the unmarked photograph read with that many keys at once (`watermark.detect_keys`)."""
    key = wm.Key.from_passphrase("speed benchmark")
    several = [key] + [wm.Key.from_passphrase(f"speed benchmark, key {index}") for index in range(2, keys + 1)]
    rows = []
    for width, height in SIZES:
        image = _photo(width, height)
        marked = wm.embed(image, _PAYLOAD, key)
        rotated = attacks.rotate(marked, degrees=10, crop=True)
        if wm.detect(rotated, key).payload != _PAYLOAD:
            raise RuntimeError(f"the mark was not found after a rotation at {width}x{height}")
        row = {"size": f"{width}x{height}",
               "embed_ms": time_call(functools.partial(wm.embed, image, _PAYLOAD, key), repeat),
               "detect_ms": time_call(functools.partial(wm.detect, marked, key), repeat),
               "detect_rotated_ms": time_call(functools.partial(wm.detect, rotated, key), repeat),
               "detect_unmarked_ms": time_call(functools.partial(wm.detect, image, key), repeat)}
        if keys > 1:
            row["detect_unmarked_keys_ms"] = time_call(functools.partial(wm.detect_keys, image, several), repeat)
        peer = _peer_timers(image)
        if peer is not None:
            row["dwtDct_embed_ms"] = time_call(peer[0], repeat)
            row["dwtDct_detect_ms"] = time_call(peer[1], repeat)
        rows.append(row)
    return rows


def core_detect_ms(repeat: int, revision: str = CORE_REVISION) -> dict[str, float] | None:
    """Detect milliseconds on the marked photograph per size by the detector of git ``revision``,
    timed now in a subprocess (the same machine load as today's figures); None outside a checkout."""
    with tempfile.TemporaryDirectory() as tmp:
        if not extract_revision(revision, tmp):
            return None
        result = subprocess.run([sys.executable, "-m", "eval.timing", tmp, str(repeat)],
                                cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"timing revision {revision} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def large_embed(size: tuple[int, int] = LARGE) -> dict[str, float]:
    """Seconds of one ``embed`` of a ``size`` (width, height) uint8 RGB photograph and the peak resident
    memory (MiB) of the process that ran it: a fresh one, so that the peak is the embedding's."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "eval.timing", str(root), "embed", f"{size[0]}x{size[1]}"],
                            cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"embedding {size[0]}x{size[1]} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def folder_throughput(files: int, jobs: int) -> float:
    """Files per second of ``watermark detect --jobs`` over ``files`` 1080p JPEGs (half marked)."""
    key = wm.Key.from_passphrase("speed benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        base = _photo(1920, 1080)
        for index in range(files):
            image = np.roll(base, 37 * index, axis=1)
            if index % 2 == 0:
                image = wm.embed(image, _PAYLOAD + index, key)
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=90)
            (folder / f"{index:04d}.jpg").write_bytes(buffer.getvalue())
        key_path = Path(tmp) / "bench.key"
        key.save(key_path)
        command = [sys.executable, "-m", "watermark", "detect", str(folder), "--key", str(key_path),
                   "--jobs", str(jobs), "--json"]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode not in (0, 1):
            raise RuntimeError(f"watermark detect failed: {result.stderr.strip()}")
        found = sum(json.loads(line)["found"] for line in result.stdout.splitlines())
        if found != (files + 1) // 2:
            raise RuntimeError(f"expected {(files + 1) // 2} marked files, detect found {found}")
    return files / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per measurement (median)")
    parser.add_argument("--files", type=int, default=40, help="JPEGs in the batch-detection folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--core", default=CORE_REVISION, metavar="REV",
                        help="git revision whose detector is timed alongside as the baseline of the ratios"
                             " (default: %(default)s, the core issue's; '' for none)")
    parser.add_argument("--scan", action="store_true",
                        help="time `watermark detect` over folders against decoding them (eval.scan_speed)")
    parser.add_argument("--rounds", type=int, default=2, help="--scan: timed passes per process")
    parser.add_argument("--keys", type=int, default=1, metavar="N",
                        help="the unmarked photograph is also read with N keys at once; with --scan, the scan "
                             "reads with N keys, the issuing one and N-1 that marked nothing")
    parser.add_argument("--baseline", default=scan_speed.BASELINE_REVISION, metavar="REV",
                        help="--scan: git revision timed alongside (default: %(default)s; '' for none)")
    parser.add_argument("--dask", action="store_true",
                        help="--scan: files/s of whole `watermark scan` commands, --jobs 1 and 2 against --dask "
                             "with 1 and 2 local workers, over --files 1080p JPEGs")
    args = parser.parse_args(argv)
    if args.keys < 1:
        parser.error(f"--keys must be at least 1, got {args.keys}")
    if args.scan and args.dask:
        dask_rows = scan_speed.dask_rates(files=args.files, baseline=args.baseline)
        if args.json:
            print(json.dumps(dask_rows))
        else:
            scan_speed.print_dask_table(dask_rows)
        return 0
    if args.scan:
        rows = scan_speed.run(files=args.files, big_files=max(4, args.files // 3), rounds=args.rounds,
                              repeats=2, baseline=args.baseline, keys=args.keys)
        if args.json:
            print(json.dumps(rows))
        else:
            scan_speed.print_table(rows)
        return 0
    cv2.setNumThreads(1)   # single-threaded figures, as the issue asks
    core = core_detect_ms(args.repeat, args.core) if args.core else None
    rows = per_image(args.repeat, args.keys)
    for row in rows:
        if core is not None:
            row["core_detect_ms"] = core[row["size"]]
    throughput = {f"jobs{jobs}": folder_throughput(args.files, jobs) for jobs in (1, 2)}
    large = large_embed()
    if args.json:
        print(json.dumps({"per_image": rows, "files_per_second": throughput, "core_revision": args.core,
                          "large_embed": large}))
        return 0
    peer = "dwtDct_embed_ms" in rows[0]
    if core is None:
        print(f"(no core-issue baseline: git revision {args.core!r} is not available here)")
    several = args.keys > 1
    print("| size | embed ms | detect ms (marked) | detect ms (rotated 10 deg + cropped) |"
          " detect ms (unmarked: full search) |"
          + (f" detect ms (unmarked, {args.keys} keys) |" if several else "")
          + (f" core issue's detect ms ({args.core}) |" if core else "")
          + (" dwtDct embed ms | dwtDct extract ms | embed ratio | detect ratio |" if peer else ""))
    print("|---|---|---|---|---|" + ("---|" if several else "") + ("---|" if core else "")
          + ("---|---|---|---|" if peer else ""))
    for row in rows:
        base = row.get("core_detect_ms", row["detect_ms"])     # ratios to the core issue's detector
        line = (f"| {row['size']} | {row['embed_ms']:.1f} | {row['detect_ms']:.1f} | {row['detect_rotated_ms']:.1f}"
                f" ({row['detect_rotated_ms'] / base:.1f}x) | {row['detect_unmarked_ms']:.1f}"
                f" ({row['detect_unmarked_ms'] / base:.1f}x) |")
        if several:
            line += f" {row['detect_unmarked_keys_ms']:.1f} |"
        if core:
            line += f" {base:.1f} |"
        if peer:
            line += (f" {row['dwtDct_embed_ms']:.1f} | {row['dwtDct_detect_ms']:.1f} |"
                     f" {row['dwtDct_embed_ms'] / row['embed_ms']:.1f}x faster |"
                     f" {row['dwtDct_detect_ms'] / row['detect_ms']:.1f}x faster |")
        print(line)
    print()
    print(f"watermark detect over {args.files} 1080p JPEGs: "
          + ", ".join(f"--jobs {name[4:]}: {rate:.1f} files/s" for name, rate in throughput.items()))
    print()
    print("| embed (one call, fresh process) | seconds | CPU seconds | peak memory MiB |"
          " of which interpreter and input MiB |")
    print("|---|---|---|---|---|")
    print(f"| {LARGE[0]}x{LARGE[1]} uint8 RGB ({large['input_mib']:.0f} MiB) | {large['embed_s']:.1f} |"
          f" {large['embed_cpu_s']:.1f} | {large['peak_rss_mib']:.0f} | {large['rss_before_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
