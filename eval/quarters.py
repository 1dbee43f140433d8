"""Why a quarter of a large photograph loses its blind payload: docs/measurements.md, *After 9800e74*.

``python -m eval.quarters --images DIR`` marks each photograph at its own size with the benchmark's
key, cuts out its top-left and bottom-right quarters (half of each side) and prints, for each: the
median local activity the detector sees (x 255), the keyed pilot read at the tile lattice the mark
really has there (its z, and whether the payload decodes), and what ``watermark.detect`` finds with
its key-free lattice search. A quarter whose keyed read decodes but whose detect does not is lost
by the search, not by the mark.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import watermark
from eval import contenders
from eval import images as images_mod
from watermark import api, color
from watermark.schemes.lattice.layout import layout_for
from watermark.schemes.lattice.reading import read
from watermark.schemes.lattice.views import Suspect

__all__ = ["quarters", "main"]

_PAYLOAD = 0x5EED_CAFE_F00D_D00D


def quarters(pixels: np.ndarray, key: watermark.Key) -> list[dict]:
    """The two quarters' figures for one photograph (uint8 RGB at its own size)."""
    marked = watermark.embed(pixels, _PAYLOAD, key)
    height, width = pixels.shape[:2]
    period = 128 * max(height, width) / max(color.working_shape((height, width)))    # image px per tile
    rows = []
    for corner, (top, left) in (("top-left", (0, 0)), ("bottom-right", (height // 2, width // 2))):
        part = np.ascontiguousarray(marked[top:top + height // 2, left:left + width // 2])
        chosen = watermark.schemes.get("lattice")
        _, luma, _ = api.luminance_for(api.reduced_for(chosen, part, "quarter", part.shape[:2]), chosen, "quarter")
        suspect = Suspect(luma, part.shape[:2])
        true = np.eye(2) * period * suspect.working.shape[0] / part.shape[0]
        reading = read(suspect.folded(true), layout_for(key))
        found = watermark.detect(part, key)
        rows.append({"corner": corner, "activity": round(255 * float(np.median(suspect.activity)), 1),
                     "keyed_z": round(reading.z, 2), "keyed_payload": reading.payload == _PAYLOAD,
                     "detect_found": found.found and found.payload == _PAYLOAD, "detect_z": round(found.score, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.quarters", description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, metavar="DIR", help="photographs, read at their own size")
    args = parser.parse_args(argv)
    key = contenders.bench_key(0)
    print("| photograph | quarter | activity (x 255) | keyed read z (payload) | detect (z) |")
    print("|---|---|---|---|---|")
    for spec in images_mod.images_from(args.images):
        for row in quarters(spec.load(), key):
            print(f"| {spec.name} | {row['corner']} | {row['activity']} | {row['keyed_z']} "
                  f"({'right' if row['keyed_payload'] else 'wrong'}) | "
                  f"{'found' if row['detect_found'] else 'not found'} ({row['detect_z']}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
