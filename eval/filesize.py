"""How much heavier a marked JPEG is than its original: as ``watermark embed`` writes it (at the source's
own quality, estimated from the quantisation tables, unless re-encoding on those tables would keep too
little of the mark: then finer, see `watermark.api_files.output_quality`) and at a fixed 95.

Run ``python -m eval.filesize`` (the bundled samples/*.jpg) or ``python -m eval.filesize A.jpg B.jpg``;
the README quotes its totals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import watermark
from watermark import imageio

from .images import existing

__all__ = ["sizes"]

_SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def sizes(paths: list[Path]) -> list[tuple[str, int | None, int | None, int, int, int]]:
    """(name, estimated quality, quality written at, original bytes, marked bytes as written, marked bytes at
    95) per file."""
    key = watermark.Key.from_passphrase("eval.filesize")
    rows = []
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", watermark.FiligraneWarning)      # the table says what was raised
        for path in paths:
            kept, fixed = Path(folder, "kept.jpg"), Path(folder, "fixed.jpg")
            watermark.embed_file(path, kept, 0xC0FFEE, key, overwrite=True)
            watermark.embed_file(path, fixed, 0xC0FFEE, key, quality=95, overwrite=True)
            rows.append((path.name, imageio.load_image(path).jpeg_quality, imageio.load_image(kept).jpeg_quality,
                         path.stat().st_size, kept.stat().st_size, fixed.stat().st_size))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.filesize", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=lambda text: Path(existing(text)),
                        help="JPEG files (default: the bundled samples)")
    paths = parser.parse_args(argv).paths or sorted(_SAMPLES.glob("*.jpg"))
    if not paths:
        print(f"python -m eval.filesize: the bundled samples are not installed (no {_SAMPLES}/*.jpg, as in a "
              "wheel); pass JPEG files: python -m eval.filesize A.jpg B.jpg", file=sys.stderr)
        return 2
    try:
        rows = sizes(paths)
    except watermark.WatermarkError as exc:
        print(f"python -m eval.filesize: {exc}", file=sys.stderr)
        return 2
    print("| file | quality (estimated) | written at | original bytes | marked, as written | marked, quality 95 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, quality, written, original, kept, fixed in rows:
        print(f"| {name} | {quality} | {written} | {original:,} | {kept:,} ({kept / original - 1:+.1%}) | "
              f"{fixed:,} ({fixed / original - 1:+.1%}) |")
    total = [sum(column) for column in list(zip(*rows))[3:]]
    print(f"| all | | | {total[0]:,} | {total[1]:,} ({total[1] / total[0] - 1:+.1%}) | "
          f"{total[2]:,} ({total[2] / total[0] - 1:+.1%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
