"""What the subcommands share: exit codes, keys, payloads, the progress bar and worker processes."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Iterator

from .. import imageio, schemes
from ..errors import KeyFileError, ParameterError, WatermarkError
from ..keys import Key
from . import workers

__all__ = ["FOUND", "NOT_FOUND", "ERROR", "INTERRUPTED", "key_options", "load_key", "payload", "common_options",
           "parallel", "Job"]

FOUND, NOT_FOUND, ERROR = 0, 1, 2
INTERRUPTED = 128 + 2   # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", metavar="KEYFILE", help="key file made by 'watermark keygen'")
    group.add_argument("--passphrase-env", metavar="VAR",
                       help="name of an environment variable holding a passphrase (never the passphrase itself)")


def load_key(args: argparse.Namespace) -> Key:
    if args.key is not None:
        return Key.load(args.key)
    passphrase = os.environ.get(args.passphrase_env, "")
    if not passphrase:
        raise KeyFileError(f"environment variable {args.passphrase_env} is not set or empty")
    return Key.from_passphrase(passphrase)


def payload(args: argparse.Namespace) -> int | bytes:
    if args.payload_text is not None:
        return args.payload_text.encode("utf-8")
    try:
        return int(args.payload, 0)
    except ValueError:
        raise ParameterError(f"payload {args.payload!r} is not a number (use 0x... hex or decimal)") from None


def _progress(total: int, label: str) -> Any:
    """A progress bar on stderr when it is a terminal, else None."""
    if total < 2 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False)


def parallel(function: Callable[[Any], dict], items: list, jobs: int, label: str) -> Iterator[dict]:
    """``function`` over ``items`` in input order, in ``jobs`` processes (0: one per core)."""
    bar = _progress(len(items), label)
    try:
        for result in workers.parallel(function, items, jobs):
            if bar is not None:
                bar.update()
            yield result
    finally:
        if bar is not None:
            bar.close()


class Job:
    """One file's work, picklable for worker processes; returns a JSON-ready dict, never raises
    for the user's problems (the error goes in the dict)."""

    def __init__(self, run: Callable[..., dict], **options: Any) -> None:
        self.run, self.options = run, options

    def __call__(self, item: Any) -> dict:
        try:
            return self.run(item, **self.options)
        except WatermarkError as exc:
            return {"path": str(item if not isinstance(item, tuple) else item[0]), "error": str(exc)}


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default=schemes.DEFAULT_SCHEME, choices=schemes.names(),
                        help="watermarking scheme (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes; 0: one per core")
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    parser.add_argument("--max-pixels", type=imageio.parse_max_pixels, default=imageio.DEFAULT_MAX_PIXELS,
                        metavar="N", help="refuse larger images (decompression bombs); 'none' for no limit "
                                          "(default: %(default)s, or FILIGRANE_MAX_PIXELS)")
