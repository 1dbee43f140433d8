"""``watermark detect`` (and its alias ``scan``): look for the mark in files and directories."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import api, imageio, schemes
from ..errors import WatermarkError
from ..keys import Key
from .common import ERROR, FOUND, NOT_FOUND, Job, common_options, key_options, load_key, parallel

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    for name in ("detect", "scan"):
        detect = commands.add_parser(name, help="look for the mark in files and directories (recursive)"
                                     if name == "detect" else "same as detect")
        detect.add_argument("paths", nargs="+", metavar="PATH")
        key_options(detect)
        detect.add_argument("--false-alarm", type=float, default=schemes.DEFAULT_FALSE_ALARM, metavar="P",
                            help="report found when the p-value is at most this (default: %(default)s)")
        common_options(detect)
        detect.set_defaults(run=_run_detect)


def _detect_one(path: Path, *, key: Key, scheme: str, false_alarm: float, max_pixels: int | None) -> dict:
    detection = api.detect_file(path, key, scheme=scheme, false_alarm=false_alarm, max_pixels=max_pixels)
    return {"path": str(path), **detection.to_dict(), "error": None, "_text": str(detection)}


def _run_detect(args: argparse.Namespace) -> int:
    key = load_key(args)
    paths = list(imageio.iter_image_files(args.paths))
    if not paths:
        raise WatermarkError(f"no image files in {', '.join(args.paths)}")
    job = Job(_detect_one, key=key, scheme=args.scheme, false_alarm=args.false_alarm,
               max_pixels=args.max_pixels)
    found = errors = 0
    for result in parallel(job, paths, args.jobs, "scanning"):
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
