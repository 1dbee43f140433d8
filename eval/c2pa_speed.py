"""What Content Credentials cost per file: signing a marked output, and reading a suspect's manifest.

``python -m eval.c2pa_speed`` (needs ``pip install '.[c2pa]'``) makes a throwaway certificate
authority, writes the speed benchmark's photograph at each size of :data:`eval.timing.SIZES` as a JPEG
(quality 95) and a PNG master, and times, interleaved so that a busy machine slows both alike:

- ``sign``: `ManifestSigner.sign` on the encoded marked output (the master hashed as parent
  ingredient, the output hashed and rewritten with its manifest), wall and CPU milliseconds;
- ``embed_file``: the unsigned `watermark.embed_file` of the same master (load, mark, encode, write),
  the baseline the signing adds to;
- ``read``: `read_credentials` of the signed file (validated, offline).

``--images DIR`` times the same on your own JPEG photographs instead. Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
from PIL import Image

import watermark as wm
from watermark import imageio, provenance
from watermark.signer import ManifestSigner, new_manifest_id

from .certificates import make_authority
from .images import existing
from .timing import PAYLOAD, SIZES, photo

__all__ = ["time_file", "main"]

_FORMATS = {".jpg": ("JPEG", {"quality": 95}), ".png": ("PNG", {})}


def _clock(function: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return 1000.0 * (time.perf_counter() - wall), 1000.0 * (time.process_time() - cpu)


def time_file(master: Path, signer: ManifestSigner, key: wm.Key, work: Path, repeat: int) -> dict:
    """Median milliseconds of signing, unsigned embed_file and reading, for one master file."""
    suffix = master.suffix.lower() if master.suffix.lower() in _FORMATS else ".jpg"
    fmt, options = _FORMATS[suffix]
    loaded = imageio.load_image(master)
    encoded = io.BytesIO()
    wm.embed(loaded.image, PAYLOAD, key).save(encoded, format=fmt, **options)
    data, output = encoded.getvalue(), work / f"out{suffix}"

    def sign() -> bytes:
        return signer.sign(data, output=output, source=master, source_format=loaded.format, payload=PAYLOAD,
                           key_id=key.public_id, scheme="lattice", manifest_id=new_manifest_id())

    signed = work / f"signed{suffix}"
    signed.write_bytes(sign())
    runs: dict[str, list[tuple[float, float]]] = {"sign": [], "embed_file": [], "read": []}
    for _ in range(repeat):
        runs["embed_file"].append(_clock(lambda: wm.embed_file(master, output, PAYLOAD, key, overwrite=True,
                                                               quality=95)))
        runs["sign"].append(_clock(sign))
        runs["read"].append(_clock(lambda: provenance.read_credentials(signed)))
    row = {"file": master.name, "size": f"{loaded.image.width}x{loaded.image.height}",
           "megabytes": round(len(data) / 1e6, 2), "manifest_bytes": signed.stat().st_size - len(data)}
    for name, times in runs.items():
        row[f"{name}_ms"] = round(statistics.median(wall for wall, _ in times), 1)
        row[f"{name}_cpu_ms"] = round(statistics.median(cpu for _, cpu in times), 1)
    row["sign_vs_embed_file"] = round(row["sign_cpu_ms"] / row["embed_file_cpu_ms"], 3)   # CPU time: load inflates less
    return row


def _masters(work: Path, images: Path | None) -> list[Path]:
    if images is not None:
        return sorted(path for path in images.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))
    masters = []
    for width, height in SIZES:
        for suffix, (fmt, options) in _FORMATS.items():
            path = work / f"master-{width}x{height}{suffix}"
            Image.fromarray(photo(width, height)).save(path, format=fmt, **options)
            masters.append(path)
    return masters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.c2pa_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--images", type=lambda text: Path(existing(text)),
                        help="time these JPEG photographs instead of the benchmark's")
    parser.add_argument("--json", action="store_true", help="one JSON line per file instead of a table")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    key = wm.Key.from_passphrase("speed benchmark")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        authority = make_authority(work / "ca")
        signer = ManifestSigner.load(authority.chain, authority.key)
        if not args.json:
            print("| file | size | MB | manifest bytes | sign ms (CPU) | embed_file ms (CPU) | sign / embed_file, CPU "
                  "| read ms (CPU) |\n|---|---|---|---|---|---|---|---|")
        for master in _masters(work, args.images):
            row = time_file(master, signer, key, work, args.repeat)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"| {row['file']} | {row['size']} | {row['megabytes']} | {row['manifest_bytes']} "
                      f"| {row['sign_ms']} ({row['sign_cpu_ms']}) "
                      f"| {row['embed_file_ms']} ({row['embed_file_cpu_ms']}) "
                      f"| {row['sign_vs_embed_file']:.1%} | {row['read_ms']} ({row['read_cpu_ms']}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
