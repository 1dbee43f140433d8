"""The ``watermark`` command: keygen, embed, detect (alias scan), and the plugged-in attack and bench.

Results go to stdout (text, or ``--json``: one object per input per line); messages and the progress
bar (drawn only on a terminal) go to stderr. Exit codes follow grep: 0 when a mark was found (or the
command succeeded), 1 when none was found, 2 on any error, which wins over the others in a batch.
Keys never appear in output; a passphrase comes from an environment variable, never the command line.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from . import api, imageio, schemes
from .coding import payload_to_int
from .errors import InvalidImageError, KeyFileError, OutputExistsError, WatermarkError
from .keys import Key

__all__ = ["main", "build_parser", "FOUND", "NOT_FOUND", "ERROR"]

FOUND, NOT_FOUND, ERROR = 0, 1, 2
_PLUGIN_GROUP = "watermark.commands"


def _version() -> str:
    try:
        return metadata.version("filigrane")
    except metadata.PackageNotFoundError:
        return "unknown"


def _key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", metavar="KEYFILE", help="key file made by 'watermark keygen'")
    group.add_argument("--passphrase-env", metavar="VAR",
                       help="name of an environment variable holding a passphrase (never the passphrase itself)")


def _load_key(args: argparse.Namespace) -> Key:
    if args.key is not None:
        return Key.load(args.key)
    passphrase = os.environ.get(args.passphrase_env, "")
    if not passphrase:
        raise KeyFileError(f"environment variable {args.passphrase_env} is not set or empty")
    return Key.from_passphrase(passphrase)


def _payload(args: argparse.Namespace) -> int | bytes:
    if args.payload_text is not None:
        return args.payload_text.encode("utf-8")
    try:
        return int(args.payload, 0)
    except ValueError:
        raise InvalidImageError(f"payload {args.payload!r} is not a number (use 0x... hex or decimal)") from None


def _progress(total: int, label: str) -> Any:
    """A progress bar on stderr when it is a terminal, else None."""
    if total < 2 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False)


def _parallel(function: Callable[[Any], dict], items: list, jobs: int, label: str) -> Iterator[dict]:
    """``function`` over ``items`` in input order, in ``jobs`` processes (0: one per core)."""
    jobs = jobs or os.cpu_count() or 1
    bar = _progress(len(items), label)
    try:
        if jobs == 1 or len(items) < 2:
            results: Iterable[dict] = map(function, items)
            for result in results:
                if bar is not None:
                    bar.update()
                yield result
            return
        context = multiprocessing.get_context("spawn")    # fork can deadlock on OpenCV's threads
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                                    initializer=_worker_init) as pool:
            for result in pool.map(function, items, chunksize=4):
                if bar is not None:
                    bar.update()
                yield result
    finally:
        if bar is not None:
            bar.close()


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)   # one process per core already


class _Job:
    """One file's work, picklable for worker processes; returns a JSON-ready dict, never raises
    for the user's problems (the error goes in the dict)."""

    def __init__(self, run: Callable[..., dict], **options: Any) -> None:
        self.run, self.options = run, options

    def __call__(self, item: Any) -> dict:
        try:
            return self.run(item, **self.options)
        except WatermarkError as exc:
            return {"path": str(item if not isinstance(item, tuple) else item[0]), "error": str(exc)}


# --- keygen ----------------------------------------------------------------------------------------

def _run_keygen(args: argparse.Namespace) -> int:
    key = Key.generate()
    key.save(args.keyfile)
    print(f"{args.keyfile}: new key, fingerprint {key.fingerprint}")
    return FOUND


# --- embed -----------------------------------------------------------------------------------------

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

    from .color import luminance
    from .image import to_float

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
    key, payload = _load_key(args), _payload(args)
    payload_to_int(payload)                                  # a bad payload fails before any file
    pairs = _destinations(args)
    job = _Job(_embed_one, key=key, payload=payload, strength=args.strength, scheme=args.scheme,
               quality=args.quality, overwrite=args.overwrite or args.in_place, diff=args.diff,
               max_pixels=args.max_pixels)
    status = FOUND
    for result in _parallel(job, pairs, args.jobs, "embedding"):
        if result.get("error"):
            status = ERROR
            print(f"watermark: {result['error']}", file=sys.stderr)
        if args.json:
            print(json.dumps(result), flush=True)
        elif not result.get("error"):
            extra = f" (difference: {result['diff']})" if "diff" in result else ""
            print(f"{result['output']}: marked{extra}", flush=True)
    return status


# --- detect ----------------------------------------------------------------------------------------

def _detect_one(path: Path, *, key: Key, scheme: str, false_alarm: float, max_pixels: int | None) -> dict:
    detection = api.detect_file(path, key, scheme=scheme, false_alarm=false_alarm, max_pixels=max_pixels)
    return {"path": str(path), **detection.to_dict(), "error": None, "_text": str(detection)}


def _run_detect(args: argparse.Namespace) -> int:
    key = _load_key(args)
    paths = list(imageio.iter_image_files(args.paths))
    if not paths:
        raise WatermarkError(f"no image files in {', '.join(args.paths)}")
    job = _Job(_detect_one, key=key, scheme=args.scheme, false_alarm=args.false_alarm,
               max_pixels=args.max_pixels)
    found = errors = 0
    for result in _parallel(job, paths, args.jobs, "scanning"):
        text = result.pop("_text", None)
        if result.get("error"):
            errors += 1
            result = {"path": result["path"], "found": False, "payload": None, "p_value": None,
                      "score": None, "scheme": args.scheme, "transform": None, "error": result["error"]}
            print(f"watermark: {result['error']}", file=sys.stderr)
        found += bool(result["found"])
        if args.json:
            print(json.dumps(result), flush=True)
        elif text is not None:
            print(f"{result['path']}: {text}", flush=True)
    return ERROR if errors else FOUND if found else NOT_FOUND


# --- the parser ------------------------------------------------------------------------------------

def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default=schemes.DEFAULT_SCHEME, choices=schemes.names(),
                        help="watermarking scheme (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes; 0: one per core")
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    parser.add_argument("--max-pixels", type=imageio.parse_max_pixels, default=imageio.DEFAULT_MAX_PIXELS,
                        metavar="N", help="refuse larger images (decompression bombs); 'none' for no limit "
                                          "(default: %(default)s, or FILIGRANE_MAX_PIXELS)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watermark", description=__doc__.splitlines()[0],
                                     epilog="Exit status: 0 found (or done), 1 nothing found, 2 error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="write a new random key file (mode 0600)")
    keygen.add_argument("keyfile", metavar="KEYFILE")
    keygen.set_defaults(run=_run_keygen)

    embed = commands.add_parser("embed", help="mark image files with a payload")
    embed.add_argument("inputs", nargs="+", metavar="IN")
    embed.add_argument("-o", "--output", metavar="OUT", help="output file (one input) or directory")
    embed.add_argument("--in-place", action="store_true", help="replace each input (atomically)")
    _key_options(embed)
    payload = embed.add_mutually_exclusive_group(required=True)
    payload.add_argument("--payload", help="64-bit payload: 0x hex or decimal")
    payload.add_argument("--payload-text", help="payload as up to 8 bytes of UTF-8 text")
    embed.add_argument("--strength", type=float, default=1.0, help="mark amplitude (default: %(default)s)")
    embed.add_argument("--quality", type=int, default=95, help="JPEG output quality (default: %(default)s)")
    embed.add_argument("--overwrite", action="store_true", help="replace existing output files")
    embed.add_argument("--diff", action="store_true",
                       help="also write OUT.diff.png: the luminance change, amplified x20")
    _common(embed)
    embed.set_defaults(run=_run_embed)

    for name in ("detect", "scan"):
        detect = commands.add_parser(name, help="look for the mark in files and directories (recursive)"
                                     if name == "detect" else "same as detect")
        detect.add_argument("paths", nargs="+", metavar="PATH")
        _key_options(detect)
        detect.add_argument("--false-alarm", type=float, default=schemes.DEFAULT_FALSE_ALARM, metavar="P",
                            help="report found when the p-value is at most this (default: %(default)s)")
        _common(detect)
        detect.set_defaults(run=_run_detect)

    for entry in metadata.entry_points(group=_PLUGIN_GROUP):
        try:
            entry.load()(commands)
        except Exception as exc:   # a broken plugin must not take the other commands down
            broken = commands.add_parser(entry.name, help=f"(unavailable: {exc.__class__.__name__})")
            broken.set_defaults(run=_unavailable(entry.name, exc))
    return parser


def _unavailable(name: str, exc: Exception) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"watermark: the {name} command is unavailable: {exc}", file=sys.stderr)
        return ERROR
    return run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)        # argparse exits 2 on a usage error
    try:
        return args.run(args)
    except WatermarkError as exc:                 # the user's problem: one line, no traceback
        print(f"watermark: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        print("watermark: interrupted", file=sys.stderr)
        return ERROR
    except Exception:                             # our bug: keep the traceback, never exit 1
        traceback.print_exc()
        return ERROR
