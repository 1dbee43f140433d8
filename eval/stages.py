"""Where an unmarked file's detect spends its time, stage by stage, in units of decoding the file.

``python -m eval.stages`` saves photographs (scikit-image's eight and its other photographs, or
``--images DIR``) resized to ``--size`` (default 1920x1080) as JPEG quality 85, unmarked, and times
on one thread, in CPU time: Pillow's decoding of each file to RGB (the scan issue's unit), then the
stages that ``watermark detect`` runs on a file that holds no mark, in its order (those of
``LatticeScheme._detect_in``): reading the file (straight to its luma at the analysis scale), the
working view and its whitening, the read at the identity, the search's residual, the lattice search
(the hypotheses a detection reads), the folds and reads of those hypotheses, the dewarp and its read. Each stage's mean
milliseconds per file is printed with the running total as a multiple of the decode: what a detector
that stopped after that stage would cost. The last row times whole ``detect_file`` calls on the same
files, so that the stages can be checked to account for the detector.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

import watermark as wm
from watermark import api, imageio, schemes, threads
from watermark.schemes.lattice import reading
from watermark.schemes.lattice.layout import layout_for
from watermark.schemes.lattice.sync import TILE
from watermark.schemes.lattice.views import Suspect

from . import images as images_mod
from .timing import timed

__all__ = ["STAGES", "stage_times", "main"]

STAGES = ("decode to luma", "working view, whitened", "read at the identity", "residual", "lattice search",
          "folds of the hypotheses", "reads of the hypotheses", "dewarp", "read of the dewarped view")
_QUALITY = 85


def _stages(path: Path, key: wm.Key) -> Iterator[str]:
    """Run the detector's steps on the file at ``path`` one by one, yielding each step's name when done."""
    scheme = schemes.get("lattice")
    layout = layout_for(key)
    loaded = imageio.load_image(path, reduce_to=scheme.analysis_short_side, luminance=True)
    _, luma, _ = api.luminance_for(loaded.image, scheme, str(path))
    yield STAGES[0]
    width, height = loaded.original_size
    suspect = Suspect(luma, (height, width))
    yield STAGES[1]
    reading.read(suspect.folded(np.eye(2) * TILE), layout)
    yield STAGES[2]
    _ = suspect.residual            # computed here, when first asked for
    yield STAGES[3]
    bases = list(itertools.islice(suspect.lattices(), reading.SEARCH_CANDIDATES))
    yield STAGES[4]
    folds = [suspect.folded(basis) for basis in bases]
    yield STAGES[5]
    for fold in folds:
        reading.read(fold, layout)
    yield STAGES[6]
    dewarped = suspect.dewarped
    yield STAGES[7]
    reading.read_dewarped(dewarped, layout)
    yield STAGES[8]


def stage_times(paths: list[Path], key: wm.Key) -> dict[str, float]:
    """Mean CPU milliseconds per file: Pillow's decode to RGB, each of :data:`STAGES`, and whole
    ``detect_file`` calls ("detect"), after one warm-up pass (caches per size, imports)."""
    def decode(path: Path) -> None:
        with Image.open(path) as image:
            image.convert("RGB")

    totals = dict.fromkeys(("decode", *STAGES, "detect"), 0.0)
    for warm in (True, False):
        for path in paths[:1] if warm else paths:
            seconds = {"decode": timed(functools.partial(decode, path))[1]}
            start = time.process_time()
            for stage in _stages(path, key):
                now = time.process_time()
                seconds[stage], start = now - start, now
            seconds["detect"] = timed(functools.partial(wm.detect_file, path, key))[1]
            if not warm:
                for name, value in seconds.items():
                    totals[name] += value
    return {name: 1000.0 * value / len(paths) for name, value in totals.items()}


def _write_files(specs: list[images_mod.ImageSpec], size: tuple[int, int], folder: Path) -> list[Path]:
    paths = []
    for index, spec in enumerate(specs):
        path = folder / f"{index:03d}.jpg"
        Image.fromarray(images_mod.ImageSpec(spec.name, spec.source, size=size).load()).save(path, quality=_QUALITY)
        paths.append(path)
    return paths


def print_table(times: dict[str, float], files: int, size: tuple[int, int]) -> None:
    decode = times["decode"]
    print(f"unmarked {size[0]}x{size[1]} JPEGs (quality {_QUALITY}), {files} files, CPU ms per file, one thread")
    print("| stage | ms | running total | running total / decode |")
    print("|---|---|---|---|")
    print(f"| Pillow: decode to RGB (the unit) | {decode:.1f} | | |")
    total = 0.0
    for stage in STAGES:
        total += times[stage]
        print(f"| {stage} | {times[stage]:.1f} | {total:.1f} | {total / decode:.1f} |")
    print(f"| whole detect_file, for comparison | {times['detect']:.1f} | | {times['detect'] / decode:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--images", action="append", type=images_mod.existing, metavar="DIR",
                        help="photographs instead of scikit-image's (files or folders, repeatable)")
    parser.add_argument("--size", type=images_mod.one_size, default=(1920, 1080), metavar="WxH",
                        help="the files' size (default: 1920x1080)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.images:
        specs = images_mod.images_from(args.images)
    else:
        images_mod.check_scikit_image()
        specs = [images_mod.ImageSpec(name, f"skimage:{name}")
                 for name in images_mod.DEFAULT_IMAGES + images_mod.NULL_PHOTOS]
    with tempfile.TemporaryDirectory() as folder, threads.one_thread():
        paths = _write_files(specs, args.size, Path(folder))
        times = stage_times(paths, wm.Key.from_passphrase("stage timing"))
    if args.json:
        print(json.dumps({"size": list(args.size), "files": len(paths), "ms": times}))
    else:
        print_table(times, len(paths), args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
