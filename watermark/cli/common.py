"""What the subcommands share: exit codes, keys, payloads and options."""

from __future__ import annotations

import argparse
import math
import os

from .. import imageio, schemes
from ..errors import KeyFileError, ParameterError
from ..keys import Key

__all__ = ["FOUND", "NOT_FOUND", "ERROR", "INTERRUPTED", "key_options", "load_key", "payload", "common_options",
           "quality", "false_alarm", "strength"]

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


# argparse types: a bad value gives "argument --option: <what is wrong>", never a function's name.

def quality(text: str) -> int:
    """An encoder quality from 1 to 100."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 100, got {text!r}")
    return value


def false_alarm(text: str) -> float:
    """A false-alarm rate, strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability strictly between 0 and 1 (such as 1e-9), got {text!r}")
    return value


def strength(text: str) -> float:
    """A mark's strength: a positive number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _jobs(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number of processes (0: one per core), got {text!r}")
    return int(text)


def _pixel_limit(text: str) -> int | None:
    try:
        return imageio.parse_max_pixels(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default=schemes.DEFAULT_SCHEME, choices=schemes.names(),
                        help="watermarking scheme (default: %(default)s)")
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N", help="worker processes; 0: one per core")
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    parser.add_argument("--max-pixels", type=_pixel_limit, default=imageio.DEFAULT_MAX_PIXELS,
                        metavar="N", help="refuse larger images (decompression bombs); 'none' for no limit "
                                          "(default: %(default)s, or FILIGRANE_MAX_PIXELS)")
