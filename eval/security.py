"""The security bars, measured: removal, forgery, collusion and double marking by an attacker with the code.

``python -m eval.security`` marks real photographs (scikit-image's eight colour photographs resized to
1920x1080 by default, ``--size WxH``, or ``--images DIR``) under one key, issues several copies of each
master (distinct payloads, as a registry allocates them), runs the attacks of
``attacks.suite("security")`` and reads every result twice: blind (``watermark.detect``: found,
payload, per-copy layer verified) and informed (``watermark.read_in_frame`` in the frame of the
master the suspect is registered to, against the master's frame as the registry keeps it, or
without it with ``--without-frames``; every payload issued for that master a candidate). It prints
one table per threat and the bars of the security issue with the figures that decide them.
``watermark bench --suite security`` runs the same and writes ``security.md`` and ``security.csv``.

This module runs the threats and is the command; the masters and the copies issued of them are
`eval.security_copies`, the threats `eval.security_threats`, the two reads of an attacked image and the
words of the tables (*payload*, *verified*, *named*, *innocent*, *false payload*) `eval.security_reads`,
the tables, the bars and the files `eval.security_tables`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import images as images_mod
from .contenders import bench_key
from .security_copies import ISSUED, issued_masters
from .security_reads import Row
from .security_tables import bars, tables, write
from .security_threats import ATTACKER_IMAGES, collusion, double_marking, forgery, genuine, removal

__all__ = ["default_specs", "fit_1080", "run", "main"]

_SIZE = (1920, 1080)


def default_specs(size: tuple[int, int] = _SIZE) -> list[images_mod.ImageSpec]:
    """scikit-image's eight colour photographs at ``size`` (width, height)."""
    return [images_mod.ImageSpec(f"{s.name}@{size[0]}x{size[1]}", s.source, size=size)
            for s in images_mod.default_images()]


def run(specs: list[images_mod.ImageSpec] | None = None, *, helpers: list[images_mod.ImageSpec] | None = None,
        seed: int = 0, trials: int = 240, with_frames: bool = True,
        progress: Callable[[str], None] | None = None) -> list[Row]:
    """Every threat on ``specs`` (default: the eight photographs at 1920x1080); ``helpers`` are unrelated
    photographs (targets of forgeries, extra images of the key for the 16-image removal), at the first
    spec's size. ``with_frames``: the informed read is against each master's frame, as a registry keeps
    it (`watermark.registry.frames`); without, it reads as a registry that has none."""
    if specs is None:
        specs = default_specs()
    if helpers is None:
        height, width = specs[0].load().shape[:2]
        helpers = [images_mod.ImageSpec(f"{name}@{width}x{height}", f"skimage:{name}", size=(width, height))
                   for name in images_mod.NULL_PHOTOS[:ATTACKER_IMAGES - len(specs) + 1] if name != "page"]
    key = bench_key(seed)
    say = progress or (lambda message: None)
    say("marking")
    masters = issued_masters(specs, key, seed, ISSUED, with_frames)
    others = [spec.load() for spec in helpers]
    rows = []
    for name, step in (("genuine copies", lambda: genuine(masters, key)),
                       ("removal", lambda: removal(masters, others, key)),
                       ("forgery", lambda: forgery(masters, [m.pixels for m in masters] + others, key)),
                       ("collusion", lambda: collusion(masters, key, max(1, trials // 6), seed)),
                       ("double marking", lambda: double_marking(masters, key))):
        start = time.perf_counter()
        rows += step()
        say(f"{name}: {time.perf_counter() - start:.0f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.security", description=__doc__.splitlines()[0])
    parser.add_argument("--images", metavar="DIR", type=images_mod.existing,
                        help="photographs to mark (default: scikit-image's, at 1920x1080)")
    parser.add_argument("--size", type=images_mod.one_size, default=_SIZE, metavar="WxH",
                        help="the size of scikit-image's photographs (default: 1920x1080)")
    parser.add_argument("--without-frames", dest="frames", action="store_false",
                        help="read informed as a registry without the masters' frames (before they were kept)")
    parser.add_argument("--limit-images", type=int, metavar="N", help="use only the first N photographs")
    parser.add_argument("--trials", type=int, default=240, help="collusion trials in all (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", metavar="DIR", help="also write security.md and security.csv there")
    args = parser.parse_args(argv)
    specs = default_specs(args.size)
    if args.images:
        specs = [images_mod.ImageSpec(s.name, s.source, size=fit_1080(s)) for s in images_mod.images_from(args.images)]
    if args.limit_images:
        specs = specs[:args.limit_images]
    rows = run(specs, seed=args.seed, trials=args.trials, with_frames=args.frames,
               progress=lambda m: print(m, file=sys.stderr, flush=True))
    for table in tables(rows):
        print(table.to_markdown())
        print()
    for line in bars(rows):
        print(line)
    if args.out:
        write(rows, Path(args.out), "python -m eval.security " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


def fit_1080(spec: images_mod.ImageSpec) -> tuple[int, int]:
    """1080 px on the short side, as a publication would have it."""
    height, width = spec.load().shape[:2]
    scale = 1080 / min(height, width)
    return round(width * scale), round(height * scale)


if __name__ == "__main__":
    sys.exit(main())
