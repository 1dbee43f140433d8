"""A batch's results as JSON lines, written as they come and resumable.

Each result is one whole line, written with one system call and flushed, so that a batch stopped
at any moment (Ctrl-C, SIGKILL, a full disk) leaves a file of complete lines, at most the last one
cut short. ``resume=True`` reopens such a file: a cut line is removed, and the names already
written are remembered (as 64-bit hashes, 8 bytes each, not the names), so that the batch skips them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from typing import Any, TextIO

import numpy as np

from .errors import ImageFileError, OutputExistsError

__all__ = ["ResultLog"]


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


class ResultLog:
    """Where a batch writes its JSON lines: a file (resumable) or a stream such as stdout.

    Parameters
    ----------
    path : str or None
        The JSON-lines file; None writes to ``stream``.
    resume : bool
        Continue an existing file: its complete lines stay, `done` knows their ``path`` values.
    overwrite : bool
        Replace an existing file instead of refusing it.

    Raises
    ------
    OutputExistsError
        ``path`` exists and neither ``resume`` nor ``overwrite`` was asked.
    ImageFileError
        The file cannot be read or written.
    """

    def __init__(self, path: str | None = None, *, resume: bool = False, overwrite: bool = False,
                 stream: TextIO | None = None, key: str = "path") -> None:
        self.path, self._key, self._done = path, key, np.zeros(0, dtype=np.uint64)
        self._stream = stream or sys.stdout
        self._fd: int | None = None
        self.resumed = 0
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
        except OSError as exc:
            raise ImageFileError(f"{path}: cannot open for writing ({exc.strerror or exc})") from None

    def _read_done(self, path: str) -> np.ndarray:
        """Hashes of the names in ``path``'s complete lines; a last line cut short is cut off."""
        hashes, keep = [], 0
        with open(path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    break
                if isinstance(row, dict) and isinstance(row.get(self._key), str):
                    hashes.append(_name_hash(row[self._key]))
                keep += len(line)
        if keep != os.path.getsize(path):
            os.truncate(path, keep)
        self.resumed = len(hashes)
        return np.unique(np.array(hashes, dtype=np.uint64))

    def done(self, name: str) -> bool:
        """Whether ``name`` was written before this run (``resume``)."""
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
