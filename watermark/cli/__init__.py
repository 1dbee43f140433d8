"""The ``watermark`` command: keygen, embed, detect (alias scan), registry, and the plugged-in attack and bench.

Results go to stdout (text, or ``--json``: one object per input per line); messages and the progress
bar (drawn only on a terminal) go to stderr. Exit codes follow grep: 0 when a mark was found (or the
command succeeded), 1 when none was found, 2 on any error, which wins over the others in a batch.
Keys never appear in output; a passphrase comes from an environment variable, never the command line.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import metadata
from typing import Callable

from ..errors import WatermarkError
from . import detect, embed, keygen, registry
from .common import ERROR, FOUND, NOT_FOUND, version

__all__ = ["main", "build_parser", "FOUND", "NOT_FOUND", "ERROR"]

_PLUGIN_GROUP = "watermark.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watermark", description=__doc__.splitlines()[0],
                                     epilog="Exit status: 0 found (or done), 1 nothing found, 2 error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command in (keygen, embed, detect, registry):
        command.register(commands)

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
