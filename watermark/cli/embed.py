"""``watermark embed``: mark image files with a payload."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import api, imageio
from ..coding import payload_to_int
from ..errors import InvalidImageError, OutputExistsError, WatermarkError
from ..keys import Key
from . import embed_registry
from .common import ERROR, FOUND, Job, common_options, key_options, load_key, parallel, payload

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser("embed", help="mark image files with a payload")
    embed.add_argument("inputs", nargs="+", metavar="IN")
    embed.add_argument("-o", "--output", metavar="OUT", help="output file (one input) or directory")
    embed.add_argument("--in-place", action="store_true", help="replace each input (atomically)")
    key_options(embed)
    given = embed.add_mutually_exclusive_group()
    given.add_argument("--payload", help="64-bit payload: 0x hex or decimal")
    given.add_argument("--payload-text", help="payload as up to 8 bytes of UTF-8 text")
    embed.add_argument("--strength", type=float, default=1.0, help="mark amplitude (default: %(default)s)")
    embed.add_argument("--quality", type=int, default=95, help="JPEG output quality (default: %(default)s)")
    embed.add_argument("--overwrite", action="store_true", help="replace existing output files")
    embed.add_argument("--diff", action="store_true",
                       help="also write OUT.diff.png: the luminance change, amplified x20")
    embed_registry.registry_options(embed)
    common_options(embed)
    embed.set_defaults(run=_run_embed)


def _destinations(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    sources = [Path(path) for path in args.inputs]
    if args.in_place:
        return [(path, path) for path in sources]
    output = Path(args.output)
    single_file = len(sources) == 1 and not output.is_dir() and output.suffix.lower() in imageio.IMAGE_EXTENSIONS
    if single_file:
        return [(sources[0], output)]
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"{output}: not a directory (several inputs need an output directory)")
    output.mkdir(parents=True, exist_ok=True)
    return [(path, output / path.name) for path in sources]


def _embed_one(pair: tuple[Path, Path], *, key: Key, payload: int | bytes, strength: float, scheme: str,
               quality: int, overwrite: bool, diff: bool, max_pixels: int | None) -> dict:
    source, destination = pair
    api.embed_file(source, destination, payload, key, strength=strength, scheme=scheme, quality=quality,
                   overwrite=overwrite, max_pixels=max_pixels)
    result: dict[str, Any] = {"path": str(source), "output": str(destination), "error": None}
    if diff:
        result["diff"] = str(_write_difference(source, destination, max_pixels))
    return result


def _write_difference(original: Path, marked: Path, max_pixels: int | None) -> Path:
    """An amplified difference image (luminance of marked - original, x20, around mid-grey) next to
    ``marked``, for looking at where the mark went."""
    from PIL import Image

    from ..color import luminance
    from ..image import to_float

    before, _ = to_float(imageio.load_image(original, max_pixels=max_pixels).image)
    after, _ = to_float(imageio.load_image(marked, max_pixels=max_pixels).image)
    if before.shape != after.shape:   # the output format dropped alpha or colour
        raise InvalidImageError(f"{marked}: cannot compare with {original} (different layout)")
    def luma(pixels: np.ndarray) -> np.ndarray:
        return luminance(pixels[:, :, :3]) if pixels.ndim == 3 else pixels
    amplified = np.clip(0.5 + 20.0 * (luma(after) - luma(before)), 0.0, 1.0)
    path = marked.with_name(marked.stem + ".diff.png")
    imageio.save_image(Image.fromarray(np.rint(amplified * 255).astype(np.uint8)), path, overwrite=True)
    return path


def _run_embed(args: argparse.Namespace) -> int:
    if args.in_place == (args.output is not None):
        raise WatermarkError("give either -o OUTPUT or --in-place")
    given = args.payload is not None or args.payload_text is not None
    if not given and args.registry is None:
        raise WatermarkError("give --payload (or --payload-text), or --registry DB to draw one per copy")
    key, value = load_key(args), payload(args) if given else None
    if value is not None:
        payload_to_int(value)                                # a bad payload fails before any file
    pairs = _destinations(args)
    if args.registry is not None:
        return embed_registry.run(args, key, pairs, value)
    job = Job(_embed_one, key=key, payload=value, strength=args.strength, scheme=args.scheme,
               quality=args.quality, overwrite=args.overwrite or args.in_place, diff=args.diff,
               max_pixels=args.max_pixels)
    status = FOUND
    for result in parallel(job, pairs, args.jobs, "embedding"):
        if result.get("error"):
            status = ERROR
            print(f"watermark: {result['error']}", file=sys.stderr)
        if args.json:
            print(json.dumps(result), flush=True)
        elif not result.get("error"):
            extra = f" (difference: {result['diff']})" if "diff" in result else ""
            print(f"{result['output']}: marked{extra}", flush=True)
    return status
