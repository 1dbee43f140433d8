"""The ``watermark`` command: keygen, embed, detect, scan, registry, and the plugged-in attack and bench.

Results go to stdout (text, or ``--json``: one object per input per line); messages and the progress
bar (drawn only on a terminal) go to stderr. Exit codes follow grep: 0 when a mark was found (or the
command succeeded), 1 when none was found, 2 on any error, which wins over the others in a batch (a full
disk on stdout too), 130 (128 + SIGINT, as shells report it) when interrupted by Ctrl-C, 143 and 129
when stopped by SIGTERM or SIGHUP (which stop it as Ctrl-C does: workers stopped, finished rows kept,
temporary files removed), 141 (128 + SIGPIPE) quietly when the reader of stdout went away (``| head``).
Keys never appear in output; a passphrase comes from an environment variable, never the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, NoReturn, TextIO

from .. import __version__
from ..errors import FiligraneWarning, ImageFileError, WatermarkError
from .common import ERROR, FOUND, INTERRUPTED, NOT_FOUND, OUTPUT_CLOSED, visible

__all__ = ["main", "build_parser", "FOUND", "NOT_FOUND", "ERROR", "INTERRUPTED", "OUTPUT_CLOSED"]

_PLUGIN_GROUP = "watermark.commands"
_DESCRIPTION = "Invisible, keyed, robust image watermarks: keygen, embed, detect, scan, registry, attack, bench."
_STOPS = (signal.SIGTERM, signal.SIGHUP)      # taken as Ctrl-C is


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command's parser. The plugged-in commands (``attack``, ``bench``) are left out when
    ``command`` (the command line's first word) names a built-in one: their imports cost more than
    half a second of its start-up. The built-in commands are imported here too, inside `main`'s handling of
    Ctrl-C: most of the start-up, when a Ctrl-C is most likely."""
    from . import detect, embed, keygen, registry, scan

    parser = _Parser(
        prog="watermark", description=_DESCRIPTION,
        epilog="Exit status: 0 found (or done), 1 nothing found, 2 error, 130 interrupted (Ctrl-C; "
               "143 on SIGTERM, 129 on SIGHUP), 141 output closed (| head).")
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


# what follows an option not recognised whose name says it takes a secret (`--passphrase SECRET`), or its `=`
_SECRET_AFTER = re.compile(r"(--[\w-]*(?:pass|secret|token|password)[\w-]*(?:=| ))\S+", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-commands' too), whose error line shows an argument it did not
    recognise escaped, as `visible` writes it, and which takes no abbreviated option (``--passphrase
    SECRET`` was ``--passphrase-env SECRET``, its value then shown as a variable's name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str) -> NoReturn:
        head, marker, unrecognised = message.partition("unrecognized arguments: ")
        super().error(visible(head + marker + _SECRET_AFTER.sub(r"\1***", unrecognised)))


def _parsed(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed; an argument not recognised is named by the (sub-)command it was given to, with its
    usage line and the option it most resembles (argparse named the top-level usage, and suggested nothing)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = _innermost(parser, args)
        options = [option for action in command._actions for option in action.option_strings]
        close = [match for token in unknown if token.startswith("--")
                 for match in difflib.get_close_matches(token.partition("=")[0], options, n=1, cutoff=0.75)]
        hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
        command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def _innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub-)command ``args`` ran: ``registry export``'s, not ``watermark``'s."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return _innermost(action.choices[getattr(args, action.dest)], args)
    return parser


def _unavailable(name: str, exc: Exception) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(visible(f"watermark: the {name} command is unavailable: {exc}"), file=sys.stderr)
        return ERROR
    return run


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the command stops as on Ctrl-C, and exits with 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _stoppable() -> Iterator[None]:
    """`_STOPS` raise `_Stopped` meanwhile, in the main thread; one the caller ignores (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced = [number for number in _STOPS if signal.getsignal(number) == signal.SIG_DFL]
    for number in replaced:
        signal.signal(number, _stop)
    try:
        yield
    finally:
        for number in replaced:
            signal.signal(number, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    if sys.stdout is None:                        # started with >&-: no row could be written, nor `--help`
        print("watermark: standard output is closed (>&-); send it to /dev/null instead", file=sys.stderr)
        return ERROR
    messages = _Messages(sys.stderr)
    with warnings.catch_warnings(), contextlib.redirect_stderr(messages):   # our warnings: one line each
        warnings.simplefilter("always", FiligraneWarning)
        warnings.showwarning = _warning_line
        status = _main(argv)
    _drop_unwritten()
    return ERROR if messages.lost and status in (FOUND, NOT_FOUND) else status


class _Messages:
    """stderr, whose writes never raise: a message that cannot be written (a full disk under ``2>>log``) is
    lost, not the batch (the first such error had stopped it, with exit 1, "nothing found"); the command
    then exits 2 (`main`)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        try:
            if self._stream is not None:
                self._stream.write(text)
        except OSError:
            self.lost = True
        return len(text)

    def flush(self) -> None:
        try:
            if self._stream is not None:
                self._stream.flush()
        except OSError:
            self.lost = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    print(visible(f"watermark: warning: {message}"), file=sys.stderr, flush=True)


def _main(argv: list[str] | None) -> int:
    try:
        with _stoppable():
            argv = sys.argv[1:] if argv is None else argv
            args = _parsed(build_parser(argv[0] if argv else None), argv)    # exits 2 on a usage error
            status = args.run(args)
            _flush_stdout()
            return status
    except WatermarkError as exc:                 # the user's problem: one line, no traceback
        print(visible(f"watermark: {exc}"), file=sys.stderr)
        return ERROR
    except KeyboardInterrupt as exc:              # Ctrl-C, SIGTERM, SIGHUP: workers stopped, temporary files removed
        print("watermark: interrupted", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, _Stopped) else INTERRUPTED
    except BrokenPipeError:                       # | head: stop quietly, as a killed pipe writer would
        return OUTPUT_CLOSED
    except OSError as exc:                        # a full disk under stdout (files' writes say which file)
        if exc.errno not in _FULL:
            traceback.print_exc()
        else:
            print(f"watermark: stdout: cannot write ({exc.strerror})", file=sys.stderr)
        return ERROR
    except Exception:                             # our bug: keep the traceback, never exit 1
        traceback.print_exc()
        return ERROR


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _flush_stdout() -> None:
    """Write out what stdout holds: a full disk is one line, exit 2 (a closed pipe, `OUTPUT_CLOSED`)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ImageFileError(f"stdout: cannot write ({exc.strerror or exc})") from None


def _drop_unwritten() -> None:
    """Drop what stdout and stderr could not take (a closed pipe, a full disk), so that Python's own flush at
    exit says nothing more (and exits 120)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except OSError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
