"""The flagship's acceptance bars, measured: quality, robustness per attack class, honest statistics.

``python -m eval.acceptance`` marks scikit-image's eight colour photographs at their own size and
at 1920x1080 and 4000x3000, applies every attack class named in the core and geometry issues, and
prints, per class, the share of images whose exact 64-bit payload came back, against its bar. It
also reads unmarked images (the null) and prints how many were found and how their p-values fall.
Cells are cached under ``--out`` (a rerun computes only what is missing). ``--images DIR`` measures
your photographs instead of the eight (``--classes`` and ``--sizes`` narrow the run). A cell that
failed (an image too small, a crash) is left out of the rates and counted apart; a run with failed
cells says it is incomplete and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict

import numpy as np

import attacks
from attacks.suites import STIRMARK_AFFINE
from eval import images as images_mod
from eval import runner
from eval.cli import non_negative
from watermark.cli.common import job_count

__all__ = ["CLASSES", "test_images", "main"]

_SIZES = (None, (1920, 1080), (4000, 3000))
_NAMED_SIZES = {"all": _SIZES, "large": _SIZES[1:]}

# (class, bar, attacks): the payload must come back on at least `bar` of the images after *each*
# attack of the class.
CLASSES = (
    ("JPEG 50-100", 0.95, [attacks.attack("jpeg", quality=q) for q in (50, 60, 70, 80, 90, 100)]),
    ("WebP >= 50", 0.95, [attacks.attack("webp", quality=q) for q in (50, 75, 90)]),
    ("noise sigma <= 5", 0.95, [attacks.attack("gaussian_noise", sigma=round(s / 255, 4)) for s in (2, 5)]),
    ("median 3x3", 0.95, [attacks.attack("median", size=3)]),
    ("blur sigma <= 1", 0.95, [attacks.attack("gaussian_blur", sigma=s) for s in (0.5, 1.0)]),
    ("unsharp mask", 0.95, [attacks.attack("sharpen")]),
    ("brightness x0.7-1.3", 0.95, [attacks.attack("exposure", factor=f) for f in (0.7, 1.3)]),
    ("contrast x0.7-1.5", 0.95, [attacks.attack("contrast", factor=f) for f in (0.7, 1.5)]),
    ("gamma 0.7-1.4", 0.95, [attacks.attack("gamma", gamma=g) for g in (0.7, 1.4)]),
    ("grayscale", 0.95, [attacks.attack("grayscale")]),
    ("resize 0.5-2.0", 0.95, [attacks.attack("rescale", factor=f) for f in (0.5, 0.75, 1.5, 2.0)]),
    ("social (1080 px + JPEG 80)", 0.95, [attacks.chain(attacks.attack("downscale", max_side=1080),
                                                        attacks.attack("jpeg", quality=80))]),
    ("JPEG 30", 0.80, [attacks.attack("jpeg", quality=30)]),
    ("noise sigma 10", 0.80, [attacks.attack("gaussian_noise", sigma=round(10 / 255, 4))]),
    ("median 5x5", 0.80, [attacks.attack("median", size=5)]),
    ("blur sigma 2", 0.80, [attacks.attack("gaussian_blur", sigma=2.0)]),
    # geometry (the synchronisation issue)
    ("rotation, canvas kept", 0.90, [attacks.attack("rotate", degrees=d)
                                     for d in (-170, -135, -30, -1, 1, 10, 45, 100)]),
    ("rotation, cropped", 0.90, [attacks.attack("rotate", degrees=d, crop=True) for d in (-150, -30, -5, 2, 15, 60)]),
    ("quarter turns and flips", 0.90, [attacks.attack("rot90", k=k) for k in (1, 2, 3)]
     + [attacks.attack("flip", axis=a) for a in ("horizontal", "vertical")]),
    ("crop to 25-75 % area", 0.90, [attacks.attack("crop", percent=p, position=w)
                                    for p, w in ((50, "center"), (50, "top-left"), (50, "bottom-right"),
                                                 (60, "bottom-left"), (70, "random"), (87, "top-right"))]),
    ("scale + crop", 0.90, [attacks.chain(attacks.attack("rescale", factor=f), attacks.attack("crop", percent=p))
                            for f, p in ((0.5, 70), (0.75, 60), (1.5, 70), (2.0, 70))]),
    ("aspect 0.75-1.33, shear 10 %", 0.90, [attacks.attack("aspect", x=x, y=y) for x, y in ((1.0, 0.75), (1.33, 1.0),
                                                                                            (0.75, 1.0))]
     + [attacks.attack("shear", x=x, y=y) for x, y in ((10.0, 0.0), (0.0, 10.0))]),
    ("StirMark affine matrices", 0.90, [attacks.attack("affine", matrix=m) for m in STIRMARK_AFFINE]),
    ("translation, 5 rows and columns removed", 0.90, [attacks.attack("translate", dx=37, dy=-21),
                                                       attacks.attack("translate", dx=-64, dy=90),
                                                       attacks.attack("delete_lines", count=5),
                                                       attacks.attack("remove_lines", every=100)]),
    ("rotate 5 + crop 75 % + JPEG 50", 0.90, [attacks.chain(attacks.attack("rotate", degrees=5, crop=True),
                                                            attacks.attack("crop", percent=87),
                                                            attacks.attack("jpeg", quality=50))]),
    ("resize 0.75 + crop 50 % + JPEG 75", 0.90, [attacks.chain(attacks.attack("rescale", factor=0.75),
                                                               attacks.attack("crop", percent=71),
                                                               attacks.attack("jpeg", quality=75))]),
    ("StirMark random bending", 0.80, [attacks.attack("random_bending")]),
)


def test_images(sizes=_SIZES, photographs: list[images_mod.ImageSpec] | None = None) -> list[images_mod.ImageSpec]:
    """The eight photographs (or ``photographs``) at each of ``sizes`` (None: their own)."""
    specs = []
    for size in sizes:
        for spec in images_mod.default_images() if photographs is None else photographs:
            name = spec.name if size is None else f"{spec.name}@{size[0]}x{size[1]}"
            specs.append(images_mod.ImageSpec(name, spec.source, size=size))
    return specs


def _share(hits: int, n: int) -> str:
    """``hits`` of ``n`` as "67% (2/3)"; "–" for none."""
    return f"{hits / n:.0%} ({hits}/{n})" if n else "–"


def _quality(plain: list) -> str:
    """The line on the unattacked marked images (``plain``, failed cells left out)."""
    if not plain:
        return "no image marked (every unattacked cell failed)"
    return (f"{len(plain)} images; mean PSNR {np.mean([r.psnr for r in plain]):.2f} dB, "
            f"min SSIM {np.min([r.ssim for r in plain]):.4f}, "
            f"payload without attack {_share(sum(r.exact for r in plain), len(plain))}")


def _class_rows(chosen: list, rows: list) -> tuple[list[str], list[str]]:
    """The bar table's lines, one per class at its worst measured attack, and the images lost there."""
    exact: defaultdict[str, list[bool]] = defaultdict(list)
    failed: defaultdict[str, int] = defaultdict(int)
    lost: defaultdict[str, list[str]] = defaultdict(list)       # attack -> images whose payload did not come back
    for row in rows:
        if row.error:
            failed[row.attack] += 1
            continue
        exact[row.attack].append(row.exact)
        if not row.exact:
            lost[row.attack].append(row.image)
    lines, losses = [], []
    for name, bar, group in chosen:
        rates = {str(a): float(np.mean(exact[str(a)])) for a in group if exact[str(a)]}
        worst = min(rates, key=rates.__getitem__) if rates else str(group[0])
        met = "–" if not rates else "yes" if rates[worst] >= bar else "NO"
        errors = sum(failed[str(a)] for a in group)
        lines.append(f"| {name} | {bar:.0%} | {worst} | {_share(sum(exact[worst]), len(exact[worst]))} | "
                     f"{errors} | {met} |")
        if lost[worst]:
            losses.append(f"{name}, {worst}: {', '.join(sorted(lost[worst]))}")
    return lines, losses


def _null(rows: list) -> str:
    """The line on the unmarked images read (failed reads counted apart)."""
    read = [row for row in rows if not row.error]
    failed = f"; {len(rows) - len(read)} failed" if len(read) < len(rows) else ""
    if not read:
        return f"unmarked: none read{failed}"
    p_values = np.array([row.p_value for row in read])
    return (f"unmarked: {len(read)} images, {sum(row.found for row in read)} found; "
            f"p <= 0.01: {np.mean(p_values <= 0.01):.1%}, p <= 0.1: {np.mean(p_values <= 0.1):.1%}, "
            f"p <= 0.5: {np.mean(p_values <= 0.5):.1%}{failed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.acceptance", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="acceptance-out", help="cache directory (default: %(default)s)")
    parser.add_argument("--jobs", type=job_count, default=2, help="worker processes; 0: one per core (default: 2)")
    parser.add_argument("--unmarked", type=non_negative, default=1000, help="unmarked images for the null")
    parser.add_argument("--classes", default="", help="only the classes whose name contains this text")
    parser.add_argument("--sizes", default="all",
                        help="all (own, 1920x1080, 4000x3000), large (the last two), or comma-separated own "
                             "and/or WIDTHxHEIGHT (default: %(default)s)")
    parser.add_argument("--images", metavar="DIR", action="append", default=[],
                        help="your photographs instead of the eight (files or folders, repeatable; resized to "
                             "each size as the eight are)")
    args = parser.parse_args(argv)
    try:
        sizes = _NAMED_SIZES.get(args.sizes) or tuple(images_mod.parse_sizes(args.sizes))
    except ValueError as exc:
        print(f"eval.acceptance: --sizes: {exc}", file=sys.stderr)
        return 2
    try:
        photographs = images_mod.images_from(args.images) if args.images else None
        if photographs is None or args.unmarked:        # the default photographs, the null's images
            images_mod.check_scikit_image()
    except (FileNotFoundError, ImportError) as exc:
        print(f"eval.acceptance: {exc}", file=sys.stderr)
        return 2
    chosen = [entry for entry in CLASSES if args.classes.lower() in entry[0].lower()]
    if not chosen:
        print(f"eval.acceptance: --classes {args.classes!r} matches no class", file=sys.stderr)
        return 2
    every = [attack for _, _, group in chosen for attack in group]
    rows = runner.run(["lattice"], test_images(sizes, photographs), every, unmarked=args.unmarked,
                      jobs=args.jobs or os.cpu_count() or 1, cache_dir=args.out)
    marked = [row for row in rows if row.marked]
    print(_quality([row for row in marked if row.attack == runner.NO_ATTACK and not row.error]))
    print()
    print("| attack class | bar | worst attack | exact payload | errors | met |")
    print("|---|---|---|---|---|---|")
    lines, losses = _class_rows(chosen, marked)
    print("\n".join(lines))
    if losses:
        print()
        print("lost at the worst attack of each class:")
        for line in losses:
            print(f"  {line}")
    if args.unmarked:
        print()
        print(_null([row for row in rows if not row.marked]))
    errors = [row for row in rows if row.error]
    for row in errors[:10]:
        print(f"error: {row.image} {row.attack}: {row.error}", file=sys.stderr)
    if errors:
        print(f"\nincomplete: {len(errors)} of {len(rows)} cells failed and are left out of the rates "
              "(the first on stderr)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
