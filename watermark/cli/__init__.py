"""The ``watermark`` command: keygen, embed, detect, scan, registry, and the plugged-in attack and bench.

Results go to stdout (text, or ``--json``: one object per input per line); messages and the progress
bar (drawn only on a terminal) go to stderr. Exit codes follow grep: 0 when a mark was found (or the
command succeeded), 1 when none was found, 2 on any error, which wins over the others in a batch, and
130 (128 + SIGINT, as shells report it) when interrupted by Ctrl-C, 141 (128 + SIGPIPE) quietly when
the reader of stdout went away (``| head``).
Keys never appear in output; a passphrase comes from an environment variable, never the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import NoReturn, TextIO

from .. import __version__
from ..errors import FiligraneWarning, WatermarkError
from . import detect, embed, keygen, registry, scan
from .common import ERROR, FOUND, INTERRUPTED, NOT_FOUND, OUTPUT_CLOSED, visible

__all__ = ["main", "build_parser", "FOUND", "NOT_FOUND", "ERROR", "INTERRUPTED", "OUTPUT_CLOSED"]

_PLUGIN_GROUP = "watermark.commands"
_DESCRIPTION = "Invisible, keyed, robust image watermarks: keygen, embed, detect, scan, registry, attack, bench."


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command's parser. The plugged-in commands (``attack``, ``bench``) are left out when
    ``command`` (the command line's first word) names a built-in one: their imports cost more than
    half a second of its start-up."""
    parser = _Parser(
        prog="watermark", description=_DESCRIPTION,
        epilog="Exit status: 0 found (or done), 1 nothing found, 2 error, 130 interrupted, "
               "141 output closed (| head).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for module in (keygen, embed, detect, scan, registry):
        module.register(commands)
    if command in commands.choices:
        return parser

    for entry in metadata.entry_points(group=_PLUGIN_GROUP):
        try:
            entry.load()(commands)
        except Exception as exc:   # a broken plugin must not take the other commands down
            broken = commands.add_parser(entry.name, help=f"(unavailable: {exc.__class__.__name__})")
            broken.set_defaults(run=_unavailable(entry.name, exc))
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-commands' too), whose error line shows an argument it did not
    recognise escaped, as `visible` writes it."""

    def error(self, message: str) -> NoReturn:
        super().error(visible(message))


def _unavailable(name: str, exc: Exception) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(visible(f"watermark: the {name} command is unavailable: {exc}"), file=sys.stderr)
        return ERROR
    return run


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():               # our warnings: one line each on stderr
        warnings.simplefilter("always", FiligraneWarning)
        warnings.showwarning = _warning_line
        return _main(argv)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    print(visible(f"watermark: warning: {message}"), file=sys.stderr, flush=True)


def _main(argv: list[str] | None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(argv[0] if argv else None).parse_args(argv)    # argparse exits 2 on a usage error
        return args.run(args)
    except WatermarkError as exc:                 # the user's problem: one line, no traceback
        print(visible(f"watermark: {exc}"), file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:                     # Ctrl-C: workers stopped, temporary files removed
        print("watermark: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:                       # | head: stop quietly, as a killed pipe writer would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # nothing left to flush at exit
        return OUTPUT_CLOSED
    except Exception:                             # our bug: keep the traceback, never exit 1
        traceback.print_exc()
        return ERROR
