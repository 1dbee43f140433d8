"""The README's 1:1 crops: a smooth area of a photograph, original beside marked at the default strength
and at strength 2.

``python -m eval.crops [--out docs]`` writes ``visibility-crop.png``: scikit-image's astronaut resized
to 1920x1080 as ``eval.acceptance`` does, marked with the benchmark's key; a 320 x 240 px crop of the
smooth wall behind her shoulder and the edge of her hair, shown at 1:1 (one image pixel per screen
pixel) side by side: the original, the default mark, ``strength=2``. Below them, the same crops'
differences from the original amplified 10 times around mid-grey, so that the mark can be seen at all.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import watermark
from eval import contenders, metrics
from eval import images as images_mod
from eval.cache import atomic_write_bytes

__all__ = ["crops", "main"]

SIZE = (1920, 1080)
CROP = (slice(60, 300), slice(1060, 1380))      # rows, columns of the 1920x1080 image: wall and hair
STRENGTHS = (1.0, 2.0)
_GAIN = 10.0
_LABEL = 18     # px of caption above each crop


def crops() -> tuple[np.ndarray, list[str]]:
    """The figure (uint8 RGB) and one line of metrics per marked version."""
    original = images_mod.ImageSpec("astronaut", "skimage:astronaut", size=SIZE).load()
    key = contenders.bench_key(0)
    versions = [("original", original)] + [
        (f"strength={s:g}" + (" (default)" if s == 1.0 else ""),
         watermark.embed(original, 0x5EED_CAFE, key, strength=s))
        for s in STRENGTHS]
    lines = [f"{name}: PSNR {metrics.psnr(original, image):.1f} dB, SSIMULACRA2 "
             f"{metrics.ssimulacra2(original, image):.1f}, Butteraugli {metrics.butteraugli(original, image):.2f}"
             for name, image in versions[1:]]
    height, width = CROP[0].stop - CROP[0].start, CROP[1].stop - CROP[1].start
    figure = Image.new("RGB", (len(versions) * (width + 8), 2 * (height + _LABEL)), "white")
    draw = ImageDraw.Draw(figure)
    for i, (name, image) in enumerate(versions):
        left = i * (width + 8)
        crop = image[CROP]
        difference = np.clip(128 + _GAIN * (crop.astype(np.float64) - original[CROP]), 0, 255).astype(np.uint8)
        for row, (picture, caption) in enumerate(((crop, name), (difference, f"difference x{_GAIN:g}"))):
            top = row * (height + _LABEL)
            draw.text((left + 2, top + 3), caption, fill="black")
            figure.paste(Image.fromarray(np.ascontiguousarray(picture)), (left, top + _LABEL))
    return np.asarray(figure), lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.crops", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder for visibility-crop.png (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        figure, lines = crops()
    except metrics.MissingMetricError as exc:
        print(f"eval.crops: {exc}", file=sys.stderr)
        return 2
    buffer = io.BytesIO()
    Image.fromarray(figure).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(Path(args.out) / "visibility-crop.png", buffer.getvalue())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
