"""What a batch command reports: one JSON row shape per command for results and errors alike,
result and message lines that a progress bar does not break, and a closing count."""

from __future__ import annotations

import json
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .. import batch
from ..errors import FiligraneWarning, WatermarkError
from ..resultlog import write_whole, writing_to
from ..sources import printable
from .common import visible

__all__ = ["DETECT_FIELDS", "EMBED_FIELDS", "row", "Outcome", "Job", "run_batch", "Lines"]

# Every --json row of a command has exactly these keys, whether its file succeeded or failed.
DETECT_FIELDS = ("path", "found", "status", "payload", "payload_text", "p_value", "score", "verified",
                 "verification_p_value", "scheme", "transform", "geometry", "error")
EMBED_FIELDS = ("path", "output", "status", "diff", "c2pa", "warning", "error")
_TICK = 1.0     # seconds between redraws of the progress bar


def row(fields: tuple[str, ...], **values: Any) -> dict[str, Any]:
    """A JSON row with exactly ``fields``: ``values``, and None for the fields not given. Its text is
    valid UTF-8, as in scan's rows: a file name's bytes that are not are written ``\\xNN`` (`printable`)."""
    unknown = set(values) - set(fields)
    if unknown:
        raise KeyError(f"not fields of this row: {', '.join(sorted(unknown))}")
    given = {name: values.get(name) for name in fields}
    return {name: printable(value) if isinstance(value, str) else value for name, value in given.items()}


@dataclass(frozen=True)
class Outcome:
    """One file's result: its JSON row, how it counts ("marked", "found", "failed"...), the line
    printed without ``--json`` (None: nothing on stdout) and the warnings raised on the way."""

    row: dict[str, Any]
    status: str
    text: str | None = None
    warnings: tuple[str, ...] = field(default=())


class Job:
    """One file's work, picklable for worker processes: ``run(item, **options)`` gives its
    `Outcome`; the user's problems (`WatermarkError`) give ``failed(item, message, **options)``'s, and
    so does any other error, a bug met on this file, which must not cost the others. Warnings are kept
    in the outcome, each once, to be printed as lines by the parent."""

    def __init__(self, run: Callable[..., Outcome], failed: Callable[..., Outcome], **options: Any) -> None:
        self.run, self.failed, self.options = run, failed, options

    def __call__(self, item: Any) -> Outcome:
        name = item[0] if isinstance(item, tuple) else item       # the file: a path, or (source, output)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                outcome = self.run(item, **self.options)
            except WatermarkError as exc:
                outcome = self.failed(item, str(exc), **self.options)
            except Exception as exc:      # our bug, on this file: the batch goes on, the row says so
                outcome = self.failed(item, f"{name}: unexpected error ({type(exc).__name__}: {exc}); this is a bug "
                                            "in Filigrane, please report it", **self.options)
        if not caught:
            return outcome
        said = tuple(dict.fromkeys(_naming(warning, name) for warning in caught))    # once each
        fields = dict(outcome.row, warning="; ".join(said)) if "warning" in outcome.row else outcome.row
        return Outcome(fields, outcome.status, outcome.text, said)


def _naming(warning: warnings.WarningMessage, name: Any) -> str:
    """A warning's line: ours name their file; another library's (Pillow's "Corrupt EXIF data") gets it."""
    text = str(warning.message).strip()
    return text if issubclass(warning.category, FiligraneWarning) else f"{name}: {text}"


def run_batch(job: Job, items: list, *, jobs: int, json_rows: bool, label: str, statuses: tuple[str, ...]) -> Counter:
    """Run ``job`` over ``items`` (in ``jobs`` processes), print each outcome as it comes, in input
    order, and a closing count of ``statuses`` on stderr; returns the count."""
    counts: Counter = Counter()
    try:
        with Lines(len(items), label) as lines:
            for _, outcome in batch.run(items, job, jobs=jobs, ordered=True):
                if isinstance(outcome, BaseException):      # our bug in a worker: keep its message, not a row
                    raise outcome
                counts[outcome.status] += 1                  # done (a file marked) before its row is shown: a stop
                for warning in outcome.warnings:             # or a closed stdout while showing it leaves it counted
                    lines.error(f"watermark: warning: {warning}")
                if outcome.row.get("error"):
                    lines.error(f"watermark: {outcome.row['error']}")
                if json_rows:
                    lines.out(json.dumps(outcome.row))
                elif outcome.text is not None:
                    lines.out(outcome.text)
                lines.advance()
    finally:                                            # stopped too: what was done is counted
        print("watermark: " + ", ".join(f"{counts[status]} {status}" for status in statuses), file=sys.stderr,
              flush=True)
    return counts


class Lines:
    """stdout and stderr lines, and a progress bar on stderr when it is a terminal (and ``bar``): lines
    are written above the bar (tqdm clears and redraws it), and the bar is gone once the block ends.
    ``total`` None: a stream of unknown length, counted with its rate; 1: one file, the time it has
    taken. The bar is redrawn every second, so a large file's minute shows as time passing, not silence."""

    def __init__(self, total: int | None, label: str, *, bar: bool = True) -> None:
        self.bar = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if bar and (total is None or total >= 1) and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False,
                            bar_format="{desc}: {elapsed}" if total == 1 else None)
            self._ticker = threading.Thread(target=self._tick, args=(self.bar,), name="progress", daemon=True)
            self._ticker.start()

    def _tick(self, bar: Any) -> None:
        while not self._stop.wait(_TICK):
            bar.refresh()

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.bar is not None:
            self.bar.close()

    def out(self, line: str) -> None:
        self._write(line, sys.stdout)

    def error(self, line: str) -> None:
        self._write(line, sys.stderr)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def _write(self, line: str, stream: TextIO) -> None:
        """Write ``line`` on ``stream`` now; a full disk there is one `ImageFileError` (a closed pipe stays a
        `BrokenPipeError`, the command's quiet end)."""
        line = visible(line)          # a file name's newline or escape sequence shows, never acts
        with writing_to(stream):
            if self.bar is None and stream is sys.stdout:
                write_whole(stream, line + "\n")
            elif self.bar is None:
                print(line, file=stream, flush=True)
            else:
                self.bar.write(line, file=stream)
                stream.flush()
