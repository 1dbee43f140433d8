"""``watermark detect``: look for one key's mark in files and directories (a blind read, no registry)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import api_files, listing, schemes
from ..errors import ParameterError, WatermarkError
from ..keys import Key
from ..sources import STDIN, STDIN_CLOSED, is_url, listed_paths, masked, quoted
from .batch import DETECT_FIELDS, Job, Outcome, row, run_batch
from .common import ERROR, FOUND, NOT_FOUND, common_options, key_options, load_key, probability, say_left_out

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    detect = commands.add_parser("detect", help="look for one key's mark in files and directories (recursive); "
                                                "'scan' attributes against a registry")
    detect.add_argument("paths", nargs="+", metavar="PATH",
                        help="image files and directories, or - for a list of paths on stdin (one a line)")
    key_options(detect)
    detect.add_argument("--false-alarm", type=probability, default=schemes.DEFAULT_FALSE_ALARM, metavar="P",
                        help="report found when the p-value is at most this (default: %(default)s)")
    common_options(detect)
    detect.set_defaults(run=_run_detect)


def _detect_one(path: Path | listing.Unlisted, *, key: Key, scheme: str, false_alarm: float,
                max_pixels: int | None) -> Outcome:
    if isinstance(path, listing.Unlisted):
        raise WatermarkError(path.problem)
    detection = api_files.detect_file(path, key, scheme=scheme, false_alarm=false_alarm, max_pixels=max_pixels)
    return Outcome(row(DETECT_FIELDS, path=str(path), **detection.to_dict()),
                   "found" if detection.found else "not found", f"{quoted(str(path))}: {detection}")


def _detect_failed(item: Path | listing.Unlisted, message: str, *, scheme: str, **options: Any) -> Outcome:
    path = item.path if isinstance(item, listing.Unlisted) else item
    return Outcome(row(DETECT_FIELDS, path=str(path), found=False, status="error", scheme=scheme, error=message),
                   "failed")


def _listed(arguments: list[str]) -> Iterator[str]:
    """``arguments``, ``-`` replaced by the paths listed on stdin (`sources.listed_paths`)."""
    for argument in arguments:
        if argument == STDIN:
            if sys.stdin is None:
                raise ParameterError(STDIN_CLOSED)
            yield from listed_paths(sys.stdin.buffer)
        elif is_url(argument):
            raise ParameterError(f"{masked(argument)}: detect reads local files; 'watermark scan' reads URLs")
        else:
            yield argument


def _run_detect(args: argparse.Namespace) -> int:
    key = load_key(args)
    left_out: Counter[str] = Counter()
    unlisted: list[listing.Unlisted] = []          # as scan: each its row
    paths: list[Path | listing.Unlisted] = list(listing.iter_image_files(_listed(args.paths), left_out=left_out,
                                                                         follow_links=True, unlisted=unlisted))
    paths += unlisted
    if not paths:
        raise WatermarkError(listing.no_image_files(", ".join(args.paths), left_out))
    say_left_out(left_out)
    job = Job(_detect_one, _detect_failed, key=key, scheme=args.scheme, false_alarm=args.false_alarm,
              max_pixels=args.max_pixels)
    counts = run_batch(job, paths, jobs=args.jobs, json_rows=args.json, label="scanning",
                       statuses=("found", "not found", "failed"))
    return ERROR if counts["failed"] else FOUND if counts["found"] else NOT_FOUND
