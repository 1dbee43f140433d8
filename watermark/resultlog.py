"""A batch's results as JSON lines, written as they come and resumable.

Each result is one whole line, written with one system call and flushed, so that a batch stopped
at any moment (Ctrl-C, SIGKILL, a full disk) leaves a file of complete lines, at most the last one
cut short. ``resume=True`` reopens such a file: the last line cut short, and a row with an ``error``
(a file that vanished, changed while read...), are removed, so that the batch tries those files
again; every other row stays, and the names already written are remembered (as 64-bit hashes, 8
bytes each, not the names), so that the batch skips them. A file with any other line that is not a
row (not a batch's output: notes named by mistake) is refused and left as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from typing import Any, TextIO

import numpy as np

from .errors import ImageFileError, OutputExistsError

__all__ = ["ResultLog"]


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


def _row(line: bytes, key: str) -> dict[str, Any] | None:
    """``line``'s row: a whole line holding a JSON object with a ``key`` string; None for anything else."""
    if not line.endswith(b"\n"):
        return None
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get(key), str) else None


def _kept(line: bytes, key: str) -> bool:
    """Whether a resumed batch keeps ``line``: a row (`_row`) without an ``error``."""
    row = _row(line, key)
    return row is not None and not row.get("error")


def _torn(line: bytes) -> bool:
    """Whether ``line``, the file's last, is what a crash leaves: no newline, and the start of a row (or the
    zeros a file system can leave after a power cut)."""
    return not line.endswith(b"\n") and line.lstrip(b"\0")[:1] in (b"", b"{")


def _rewrite(path: str, key: str) -> None:
    """Write ``path`` again with only the lines `_kept` keeps, atomically (the file as it was on failure); a
    symbolic link's target is written, the link stays."""
    folder, name = os.path.split(os.path.realpath(path))
    path = os.path.join(folder, name)
    descriptor, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out, open(path, "rb") as handle:
            out.writelines(line for line in handle if _kept(line, key))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, os.stat(path).st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class ResultLog:
    """Where a batch writes its JSON lines: a file (resumable) or a stream such as stdout.

    Parameters
    ----------
    path : str or None
        The JSON-lines file; None writes to ``stream``.
    resume : bool
        Continue an existing file: its rows stay, but for a last line cut short and rows with an ``error``,
        which are removed; `done` knows the ``path`` values of those that stay, `earlier` counts their
        ``status``. A file with any other line that is not a row is refused, untouched.
    overwrite : bool
        Replace an existing file instead of refusing it.

    Raises
    ------
    OutputExistsError
        ``path`` exists and neither ``resume`` nor ``overwrite`` was asked, or ``resume`` was and it is not a
        batch's output.
    ImageFileError
        The file cannot be read or written.
    """

    def __init__(self, path: str | None = None, *, resume: bool = False, overwrite: bool = False,
                 stream: TextIO | None = None, key: str = "path") -> None:
        self.path, self._key, self._done = path, key, np.zeros(0, dtype=np.uint64)
        self._stream = stream or sys.stdout
        self._fd: int | None = None
        self.resumed = 0
        self.earlier: Counter[str] = Counter()
        if path is None:
            if resume:
                raise ImageFileError("resuming needs an output file (-o FILE.jsonl)")
            return
        exists = os.path.lexists(path)
        if exists and not (resume or overwrite):
            raise OutputExistsError(f"{path}: already exists; "
                                    "pass --resume to continue it or --overwrite to replace it")
        try:
            if exists and resume:
                self._done = self._read_done(path)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if overwrite and not resume else 0)
            self._fd = os.open(path, flags, 0o666)
        except ImageFileError:
            raise
        except OSError as exc:
            raise ImageFileError(f"{path}: cannot open for writing ({exc.strerror or exc})") from None

    def _read_done(self, path: str) -> np.ndarray:
        """Hashes of the names of ``path``'s rows that stay (`_kept`); the others are removed: cut off when they are
        only at the end, else by writing the file again without them. A line that is neither a row nor a torn
        last line (`_torn`) refuses the file, untouched."""
        hashes, end, size, gaps = [], 0, 0, False
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                size += len(line)
                row = _row(line, self._key)
                if row is None and not _torn(line):
                    raise OutputExistsError(f"{path}: line {number} is not a row of a scan's output (a JSON object "
                                            f"with {self._key!r}); not resumed, the file is left as it is")
                if row is None or row.get("error"):
                    continue
                gaps = gaps or end != size - len(line)
                end = size
                hashes.append(_name_hash(row[self._key]))
                self.earlier[str(row.get("status"))] += 1
        if gaps:
            _rewrite(path, self._key)
        elif end != size:
            os.truncate(path, end)
        self.resumed = sum(self.earlier.values())
        return np.unique(np.array(hashes, dtype=np.uint64))

    def done(self, name: str) -> bool:
        """Whether ``name``'s row, written before this run (``resume``), stays."""
        if not self._done.size:
            return False
        value = np.uint64(_name_hash(name))
        index = int(np.searchsorted(self._done, value))
        return index < self._done.size and self._done[index] == value

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` as one line."""
        line = json.dumps(row, ensure_ascii=False) + "\n"
        if self._fd is None:
            self._stream.write(line)
            self._stream.flush()
            return
        data = line.encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise ImageFileError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Make what was written durable and close the file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):       # a pipe or a file system without fsync
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
