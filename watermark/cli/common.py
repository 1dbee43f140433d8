"""What the subcommands share: exit codes, keys, payloads and options."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import api, atomic, listing, pixellimit, schemes
from ..errors import KeyFileError, ParameterError, WeakPassphraseWarning
from ..keys import Key, passphrase_weakness
from ..sources import NO_RECIPIENT, printable, visible

__all__ = ["FOUND", "NOT_FOUND", "ERROR", "INTERRUPTED", "OUTPUT_CLOSED", "key_options", "load_key", "keys_options",
           "load_keys", "payload", "common_options", "batch_options", "encoder_quality", "probability",
           "mark_strength", "job_count", "seconds", "visible"]

FOUND, NOT_FOUND, ERROR = 0, 1, 2
INTERRUPTED = 128 + 2   # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
OUTPUT_CLOSED = 128 + 13  # 128 + SIGPIPE: what a shell reports for a command whose reader went away (| head)


def say_left_out(left_out: Counter[str]) -> None:
    """One line on stderr for the pictures a folder walk left out (`listing.left_out_line`), if any."""
    line = listing.left_out_line(left_out)
    if line is not None:
        print(visible(f"watermark: {line}"), file=sys.stderr, flush=True)


class Once(argparse.Action):
    """An option that may be given once: a second ``--key`` silently replaced the first (``scan`` reads
    several, ``detect`` and ``embed`` one), so that a wrapper built for ``scan`` got "no mark"."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string} given twice: this command reads one key ('watermark scan' reads several)")
        setattr(namespace, self.dest, values)


def say_leftovers(targets: Iterable[Path]) -> None:
    """A warning line on stderr for each temporary file a killed run left beside ``targets`` (`atomic.leftovers`):
    a key file's, an export's, a report's hold what their target would (a key, the registry's records)."""
    for leftover in atomic.leftovers(targets):
        print(visible(f"watermark: warning: {leftover}: a temporary file that a run killed before it finished "
                      "(or a power cut) left, unless another run is writing there now; remove it"), file=sys.stderr)


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun`` in the singular or plural: "1 copy", "2 copies", "3 masters"."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else f"{n} {noun}s"


def refuse_registry_files(output: str | os.PathLike, registry: str | os.PathLike, instead: str) -> None:
    """A ParameterError if ``output`` is the registry or a file SQLite keeps beside it (its WAL, shared
    memory or journal), under any name: writing there would destroy every record. ``instead``: what to do."""
    for part in ("", "-wal", "-shm", "-journal"):      # by name too: SQLite makes -wal and -shm when it opens
        beside = f"{registry}{part}"
        same = os.path.realpath(output) == os.path.realpath(beside)
        with contextlib.suppress(OSError):              # not there (yet): its name said it
            same = same or os.path.samefile(output, beside)
        if same:
            raise ParameterError(f"{output}: is the registry itself{f' (its {part[1:]} file)' if part else ''};"
                                 f" {instead}")


def key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", action=Once, metavar="KEYFILE", help="key file made by 'watermark keygen'")
    group.add_argument("--passphrase-env", action=Once, metavar="VAR",
                       help="name of an environment variable holding a passphrase (never the passphrase itself)")


def load_key(args: argparse.Namespace) -> Key:
    if args.key is not None:
        return Key.load(args.key)
    return _passphrase_key(args.passphrase_env)


def keys_options(parser: argparse.ArgumentParser) -> None:
    """``--key`` and ``--passphrase-env``, each repeatable, at least one of them."""
    parser.add_argument("--key", action="append", default=[], metavar="KEYFILE",
                        help="key file made by 'watermark keygen' (repeat for several keys)")
    parser.add_argument("--passphrase-env", action="append", default=[], metavar="VAR",
                        help="name of an environment variable holding a passphrase (repeatable)")


def load_keys(args: argparse.Namespace) -> list[Key]:
    """The keys of `keys_options`, in the order given; at least one."""
    keys = [Key.load(path) for path in args.key] + [_passphrase_key(var) for var in args.passphrase_env]
    if not keys:
        raise ParameterError("give at least one --key KEYFILE or --passphrase-env VAR")
    return keys


def secret_from_environment(variable: str | None, option: str) -> bytes | None:
    """The UTF-8 bytes of the environment variable ``variable`` names (given as ``option``), or None when no
    variable is named; neither the value nor the name is ever shown (a secret given in its place)."""
    if variable is None:
        return None
    return _environment_secret(variable, option).encode("utf-8", "surrogateescape")


def _environment_secret(variable: str, option: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):    # never echo what may be the secret
        raise ParameterError(f"{option} takes the NAME of an environment variable (letters, digits and _), "
                             "never the secret itself")
    value = os.environ.get(variable, "")
    if not value:        # the name not repeated either: a secret of letters and digits looks like one
        raise KeyFileError(f"{option}: no environment variable of that name is set, or it is empty (the name "
                           "is not shown, in case a secret was given in its place)")
    return value


def _passphrase_key(variable: str) -> Key:
    passphrase = _environment_secret(variable, "--passphrase-env")
    if (weakness := passphrase_weakness(passphrase)) is not None:
        warnings.warn(f"--passphrase-env: {weakness}", WeakPassphraseWarning, stacklevel=2)
    return Key.from_passphrase(passphrase)


def require_utf8(text: str | None, option: str) -> None:
    """A `ParameterError` if ``text``, given as ``option``, is not valid UTF-8, which the registry stores
    (bytes that are not come from the command line as surrogate escapes)."""
    shown = None if text is None else printable(text)
    if shown != text:
        raise ParameterError(f"{option} '{shown}': not valid UTF-8 text; give it in UTF-8")


def require_shown(text: str | None, option: str) -> None:
    """A `ParameterError` if ``text``, a name given as ``option`` that others will read (a recipient), holds
    characters that do not show (`visible`: a zero-width or no-break space) or white space at its ends: two
    names that look one."""
    if text is not None and (visible(text) != text or text != text.strip()):
        raise ParameterError(f"{option} {visible(repr(text))}: holds white space at an end or characters that do "
                             "not show, so that it would look like another name; give it without them")
    if text is not None and text.strip().lower() in ("", NO_RECIPIENT):
        raise ParameterError(f"{option} {text!r}: is how a copy without a recipient is shown; give a name, or leave "
                             f"{option} out")


def payload(args: argparse.Namespace) -> int | bytes:
    if args.payload_text is not None:
        require_utf8(args.payload_text, "--payload-text")
        if not args.payload_text:
            raise ParameterError("--payload-text '' is empty: give 1 to 8 bytes of UTF-8 text")
        return args.payload_text.encode("utf-8")
    number = payload_number(args.payload)
    if number is None:
        raise ParameterError(f"payload {args.payload!r} is not a number (use 0x... hex or decimal)")
    return number


def payload_number(text: str) -> int | None:
    """The payload that ``text`` writes as 0x hex or decimal digits (leading zeros allowed), as every command
    reads one; None for anything else (Python's 0b, 0o, underscores and signs, which embed took and registry
    show did not)."""
    digits = text.strip().lower()
    if _PAYLOAD_DIGITS.fullmatch(digits) is None:
        return None
    return int(digits, 16) if digits.startswith("0x") else int(digits, 10)


_PAYLOAD_DIGITS = re.compile("0x[0-9a-f]+|[0-9]+")


def _checked(convert: Callable[[str], float], valid: Callable[[float], bool], requirement: str) -> Callable:
    """An argparse type: a bad value gives "argument --option: must be <requirement>, got '...'",
    never the name of a function."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text!r}")
        return value
    return parse


encoder_quality = _checked(int, lambda value: 1 <= value <= 100, "an integer from 1 to 100")
probability = _checked(float, lambda value: 0.0 < value < 1.0,
                       "a probability strictly between 0 and 1 (such as 1e-9)")
seconds = _checked(float, lambda value: 0.0 < value < float("inf"), "a positive number of seconds")
mark_strength = _checked(float, lambda value: 0.0 < value <= api.MAX_STRENGTH, f"a number in (0, {api.MAX_STRENGTH:g}]")
_MOST_JOBS_PER_CORE = 4      # each worker holds its own images: more only costs memory
job_count = _checked(int, lambda value: 0 <= value <= _MOST_JOBS_PER_CORE * (os.cpu_count() or 1),
                 f"a whole number of processes from 0 (one per core) to {_MOST_JOBS_PER_CORE} per core "
                 f"({_MOST_JOBS_PER_CORE * (os.cpu_count() or 1)} here)")


def _pixel_limit(text: str) -> int | None:
    try:
        return pixellimit.parse_max_pixels(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (from --max-pixels, or else FILIGRANE_MAX_PIXELS)") from None


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default=schemes.DEFAULT_SCHEME, choices=schemes.names(),
                        help="watermarking scheme (default: %(default)s)")
    batch_options(parser)


def batch_options(parser: argparse.ArgumentParser) -> None:
    """``--jobs``, ``--json`` and ``--max-pixels``: what every batch command takes."""
    parser.add_argument("--jobs", type=job_count, default=1, metavar="N", help="worker processes; 0: one per core")
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    # a FILIGRANE_MAX_PIXELS text is the default as written: argparse parses it (and refuses a wrong one)
    # only when --max-pixels is not given
    limit = os.environ.get("FILIGRANE_MAX_PIXELS", "").strip() or pixellimit.DEFAULT_MAX_PIXELS
    parser.add_argument("--max-pixels", type=_pixel_limit, default=limit,
                        metavar="N", help="refuse larger images (decompression bombs); 'none' or 0 for no limit "
                                          "(default: %(default)s, or FILIGRANE_MAX_PIXELS)")
