"""How visible the flagship's mark is, by the eye's measures, against saving the original as JPEG q90.

``python -m eval.visibility`` marks each photograph (scikit-image's eight of ``eval.acceptance``, and
the files of ``--images DIR``) at each size (their own, 1920x1080 and 4000x3000 by default) at the
default strength and at ``--strengths``, saves the original as JPEG quality 90 (Pillow, 4:2:0), and
prints one table row per image, size and version: PSNR, SSIM, SSIMULACRA2 and Butteraugli's maximum
distance. The bar (issue 12): at the default, the marked copy is no more visible than the JPEG by
both perceptual metrics, and SSIMULACRA2 averages at least 90 over the 1080p and larger images.

The default eight photographs are resized as ``eval.acceptance`` resizes them (to exactly the size);
other photographs are centre-cropped to the size's aspect ratio first, so that nothing is stretched.
SSIMULACRA2 and Butteraugli take seconds per megapixel: ``--jobs`` spreads images over processes.
``--terms`` adds, per row, SSIMULACRA2's three largest error terms and their share of its sum
(:mod:`eval.ssimulacra2_terms`): which channel, scale and kind of difference the score pays for.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

import watermark
from eval import contenders, metrics, ssimulacra2_terms
from eval import images as images_mod

__all__ = ["Row", "measure", "jpeg", "fit", "main"]

DEFAULT_SIZES = "own,1920x1080,4000x3000"
JPEG_QUALITY = 90
LARGE_PIXELS = 1920 * 1080          # "1080p and larger": the rows the mean SSIMULACRA2 bar speaks of
_SSIMULACRA2_MEAN_BAR = 90.0


@dataclass(frozen=True)
class Row:
    """One version of one photograph at one size, measured against the original."""

    image: str
    size: str
    version: str          # "jpeg90", or "strength S" (S = 1 is the default)
    psnr: float
    ssim: float
    ssimulacra2: float
    butteraugli: float
    terms: tuple[tuple[str, float], ...] = ()    # SSIMULACRA2's largest terms and their shares, if asked


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """``image`` saved as JPEG at ``quality`` by Pillow (its defaults: 4:2:0) and decoded."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` centre-cropped to the aspect ratio of ``size`` (width, height), then resized to it."""
    height, width = image.shape[:2]
    aspect = size[0] / size[1]
    if width / height > aspect:
        crop = round(height * aspect)
        image = image[:, (width - crop) // 2:(width - crop) // 2 + crop]
    else:
        crop = round(width / aspect)
        image = image[(height - crop) // 2:(height - crop) // 2 + crop]
    shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _load(spec: images_mod.ImageSpec, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or spec.source.startswith("skimage:"):
        return images_mod.ImageSpec(spec.name, spec.source, size=size).load()
    return fit(spec.load(), size)


def measure(spec: images_mod.ImageSpec, size: tuple[int, int] | None, strengths: tuple[float, ...],
            *, seed: int = 0, terms: bool = False) -> list[Row]:
    """The rows of one photograph at one size: JPEG q90 and the mark at each of ``strengths``; with
    ``terms``, each with SSIMULACRA2's largest error terms."""
    original = _load(spec, size)
    key = contenders.bench_key(seed)
    payload = contenders.payload_for(spec.name, seed, 64)
    label = "own" if size is None else f"{size[0]}x{size[1]}"
    label = f"{label} ({original.shape[1]}x{original.shape[0]})" if size is None else label
    versions = [("jpeg90", jpeg(original))]
    versions += [(f"strength {s:g}", watermark.embed(original, payload, key, strength=s)) for s in strengths]
    return [Row(spec.name, label, name, metrics.psnr(original, test), metrics.ssim(original, test),
                metrics.ssimulacra2(original, test), metrics.butteraugli(original, test),
                tuple(ssimulacra2_terms.shares(ssimulacra2_terms.terms(original, test))) if terms else ())
            for name, test in versions]


def _measure_task(task: tuple) -> list[Row] | str:
    spec, size, strengths, terms = task
    try:
        return measure(spec, size, strengths, terms=terms)
    except metrics.MissingMetricError:
        raise
    except Exception as exc:        # one bad photograph never stops the table
        return f"{spec.name}: {type(exc).__name__}: {exc}"


def _pixels(row: Row) -> int:
    width, _, height = row.size.split(" ")[-1].strip("()").partition("x")
    return int(width) * int(height)


def report(rows: list[Row], default: str = "strength 1") -> tuple[list[str], bool]:
    """The Markdown table and the bar's verdict lines; True when every bar is met."""
    lines = ["| image | size | version | PSNR dB | SSIM | SSIMULACRA2 | Butteraugli | vs JPEG q90 |",
             "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], dict[str, Row]] = {}
    for row in rows:
        groups.setdefault((row.image, row.size), {})[row.version] = row
    failed = []
    for (image, size), versions in groups.items():
        reference = versions["jpeg90"]
        for name, row in versions.items():
            verdict = ""
            if name != "jpeg90":
                better = row.ssimulacra2 >= reference.ssimulacra2 and row.butteraugli <= reference.butteraugli
                verdict = "less visible" if better else "MORE VISIBLE"
                if name == default and not better:
                    failed.append(f"{image} {size}")
            lines.append(f"| {image} | {size} | {name} | {row.psnr:.2f} | {row.ssim:.4f} | "
                         f"{row.ssimulacra2:.2f} | {row.butteraugli:.2f} | {verdict} |")
    marked = [row for row in rows if row.version == default]
    large = [row.ssimulacra2 for row in marked if _pixels(row) >= LARGE_PIXELS]
    lines.append("")
    lines.append(f"default ({default}) no more visible than JPEG q{JPEG_QUALITY} by both metrics: "
                 f"{len(marked) - len(failed)}/{len(marked)}" + (f"; not: {', '.join(failed)}" if failed else ""))
    mean_large = float(np.mean(large)) if large else math.nan
    lines.append(f"mean SSIMULACRA2 of the default over {len(large)} images of 1080p and larger: {mean_large:.2f} "
                 f"(bar {_SSIMULACRA2_MEAN_BAR:g})")
    for size in sorted({row.size.split(" ")[0] for row in marked}):
        chosen = [row for row in marked if row.size.split(" ")[0] == size]
        lines.append(f"  {size}: SSIMULACRA2 {min(r.ssimulacra2 for r in chosen):.2f}-"
                     f"{max(r.ssimulacra2 for r in chosen):.2f} (mean {np.mean([r.ssimulacra2 for r in chosen]):.2f}), "
                     f"Butteraugli {min(r.butteraugli for r in chosen):.2f}-{max(r.butteraugli for r in chosen):.2f}")
    explained = [row for row in rows if row.terms]
    if explained:
        lines.append("")
        lines.append("SSIMULACRA2's largest error terms (share of their sum):")
    for row in explained:
        parts = ", ".join(f"{name} {share:.0%}" for name, share in row.terms)
        lines.append(f"  {row.image} {row.size} {row.version}: {parts}")
    met = not failed and (not large or mean_large >= _SSIMULACRA2_MEAN_BAR)
    return lines, met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.visibility", description=__doc__.splitlines()[0])
    parser.add_argument("--images", metavar="DIR", action="append", default=[],
                        help="more photographs (files or folders, repeatable)")
    parser.add_argument("--no-default-images", action="store_true",
                        help="leave out scikit-image's eight photographs")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated: own and/or WIDTHxHEIGHT (default: {DEFAULT_SIZES})")
    parser.add_argument("--strengths", default="2", help="strengths besides the default 1 (comma-separated)")
    parser.add_argument("--terms", action="store_true",
                        help="also print where SSIMULACRA2 sees each version (its largest error terms)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    specs = [] if args.no_default_images else images_mod.default_images()
    try:
        if specs:
            images_mod.check_scikit_image()
        specs += images_mod.images_from(args.images) if args.images else []
    except (FileNotFoundError, ImportError) as exc:
        print(f"eval.visibility: {exc}", file=sys.stderr)
        return 2
    try:
        sizes = images_mod.parse_sizes(args.sizes)
    except ValueError as exc:
        print(f"eval.visibility: --sizes: {exc}", file=sys.stderr)
        return 2
    strengths = (1.0,) + tuple(float(s) for s in args.strengths.split(",") if s.strip())
    tasks = [(spec, size, strengths, args.terms) for size in sizes for spec in specs]
    rows: list[Row] = []
    try:
        with ProcessPoolExecutor(max(1, args.jobs)) as pool:
            for result in pool.map(_measure_task, tasks):
                if isinstance(result, str):
                    print(f"eval.visibility: {result}", file=sys.stderr)
                else:
                    rows.extend(result)
    except metrics.MissingMetricError as exc:
        print(f"eval.visibility: {exc}", file=sys.stderr)
        return 2
    lines, met = report(rows)
    print("\n".join(lines))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
