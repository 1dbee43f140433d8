"""A batch's results as JSON lines, written as they come and resumable.

Each result is one whole line, written with one system call and flushed, so that a batch stopped
at any moment (Ctrl-C, SIGKILL, a full disk) leaves a file of complete lines, at most the last one
cut short. The file is locked (`fcntl.flock`) for the whole run: a second run on the same file is
refused. ``resume=True`` reopens such a file: the last line cut short, and a row with an ``error``
(a file that vanished, changed while read...), are removed, so that the batch tries those files
again; every other row stays, and the names already written are remembered (as 64-bit hashes, 8
bytes each, not the names), so that the batch skips them; a local path is taken from the current
directory with ``.`` and doubled slashes left out, so ``./a.jpg``, ``a.jpg`` and its absolute path
are one file (``..`` stays: through a symbolic link it names another folder). A file with any other line that is not a
row of this batch's kind (notes named by mistake, another command's output) is refused and left as
it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import PurePath
from typing import Any, TextIO

import numpy as np

from .errors import ImageFileError, OutputExistsError, ParameterError
from .sources import is_url

__all__ = ["write_whole", "ResultLog", "writing_to"]


def _name_hash(name: str, folder: str) -> int:
    """64 bits of ``name``'s hash, a local path taken from ``folder`` (the run's working directory)."""
    if not is_url(name):
        name = str(PurePath(folder, name))
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


_FIRST_LINE_BYTES = 1 << 20    # what --overwrite reads of a file's first line to tell an earlier run's output


def _torn(line: bytes) -> bool:
    """Whether ``line``, the file's last, is what a crash leaves: no newline, and the start of a row (or the
    zeros a file system can leave after a power cut)."""
    return not line.endswith(b"\n") and line.lstrip(b"\0")[:1] in (b"", b"{")


def _lock(descriptor: int, path: str) -> None:
    """Lock the open file ``descriptor`` for as long as it is open, or refuse it: another run holds it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(descriptor)
        raise ImageFileError(f"{path}: in use by another scan{f' (pid {holder})' if holder else ''}; "
                             "wait for it to end, or write to another file") from None


def _holder(descriptor: int) -> str | None:
    """The id of the process that holds ``descriptor``'s file locked, as Linux's /proc/locks says; None elsewhere."""
    status = os.fstat(descriptor)
    here = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    with contextlib.suppress(OSError), open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if fields[1:2] == ["FLOCK"] and fields[5:6] == [here]:
                return fields[4]
    return None


def _refuse_if_in_use(path: str) -> None:
    """Refuse ``path`` (`_lock`'s line) when another run holds it locked."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:                  # gone, unreadable: the caller's line says what there is to say
        return
    try:
        _lock(descriptor, path)
    finally:
        os.close(descriptor)


def _open_locked(path: str, flags: int, mode: int = 0o666) -> int:
    """``path`` opened with ``flags`` (made with ``mode``) and locked (`_lock`); opened again if the run that held
    it replaced it (``--resume``'s rewrite) meanwhile, so that the lock is on the file that has the name."""
    while True:
        descriptor = os.open(path, flags, mode)
        try:
            _lock(descriptor, path)
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


@contextlib.contextmanager
def writing_to(stream: TextIO) -> Iterator[None]:
    """Writes to ``stream`` (stdout), a full disk there turned into one `ImageFileError` naming it; a closed
    pipe (``| head``) stays a `BrokenPipeError`, the command's quiet end."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        name = str(getattr(stream, "name", "the output")).strip("<>")
        raise ImageFileError(f"{name}: cannot write ({exc.strerror or exc})") from None


def write_whole(stream: TextIO, text: str) -> None:
    """Write ``text`` on ``stream`` (stdout) now and whole: to its descriptor, each short write followed by
    the rest, so that a full disk raises at the row it cuts (Python's buffered file took a short write
    without a word, the closing count then naming one more row than the file held whole); a stream
    without a descriptor (a test's capture) is written as it is."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        stream.write(text)
        stream.flush()
        return
    stream.flush()                                # what the text layer holds goes first
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        data = data[os.write(descriptor, data):]


class ResultLog:
    """Where a batch writes its JSON lines: a file (locked, resumable) or a stream such as stdout.

    Parameters
    ----------
    path : str or None
        The JSON-lines file; None writes to ``stream``.
    resume : bool
        Continue an existing file: its rows stay, but for a last line cut short and rows with an ``error`` or a
        ``key`` that ``names_one`` refuses, which are removed; `done` knows the ``key`` values of those that
        stay, `earlier` counts their ``status``. A file with any other line that is not a row is refused,
        untouched.
    overwrite : bool
        Replace an existing file instead of refusing it.
    fields : sequence of str
        The keys every row of this batch has, besides ``key``: a line without them is not a row.
    statuses : collection of str, optional
        The values a row's ``status`` takes: a line with another is not a row.
    on_earlier : callable, optional
        Given each row that ``resume`` keeps, in the file's order (a report counts the earlier run's).
    shape : callable, optional
        What of a row is not of this batch's shape (field types), or None: a line it finds fault with is
        not a row.
    private : bool
        Make a new file readable by its owner only (a scan's rows name recipients and masters).
    names_one : callable, optional
        Whether a row's ``key`` value names one input only (a URL whose secret was written ``***`` may name
        several): a row whose name does not is done again on ``resume``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and neither ``resume`` nor ``overwrite`` was asked, or ``resume`` was and it is not a
        batch's output.
    ImageFileError
        The file cannot be read or written, or another run has it open (locked).
    ParameterError
        Both ``resume`` and ``overwrite``, or ``path`` ``-``.
    """

    def __init__(self, path: str | None = None, *, resume: bool = False, overwrite: bool = False,
                 stream: TextIO | None = None, key: str = "path", fields: Sequence[str] = (),
                 statuses: Collection[str] | None = None, on_earlier: Callable[[dict], None] | None = None,
                 shape: Callable[[dict], str | None] | None = None, private: bool = False,
                 names_one: Callable[[str], bool] | None = None) -> None:
        self.path, self._key, self._done = path, key, np.zeros(0, dtype=np.uint64)
        self._on_earlier, self._shape, self._names_one = on_earlier, shape, names_one
        self._folder = os.getcwd()             # where the names of local files are taken from
        self._fields, self._statuses = (key, *fields), statuses
        self._stream = stream or sys.stdout
        self._fd: int | None = None
        self._replaced: int | None = None      # the file --resume rewrote, still locked
        self._made = False                     # this run made the file (neither --resume nor --overwrite)
        self._rows = 0                         # rows this run wrote
        self.resumed = 0
        self.earlier: Counter[str] = Counter()
        if resume and overwrite:
            raise ParameterError("--resume continues the output and --overwrite replaces it: give one of them")
        if path is None:
            if resume:
                raise ImageFileError("resuming needs an output file (-o FILE.jsonl)")
            return
        if path == "-":
            raise ParameterError("-o - is no file: without -o the rows go to stdout (--json for JSON lines)")
        exclusive = 0 if resume or overwrite else os.O_EXCL
        try:
            self._fd = _open_locked(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | exclusive,
                                    0o600 if private else 0o666)
            self._made = bool(exclusive)
            if resume:
                self._done = self._read_done(path)
            elif overwrite and stat.S_ISREG(os.fstat(self._fd).st_mode):    # not /dev/null, which cannot be
                self._require_output(path)
                os.ftruncate(self._fd, 0)
        except ImageFileError:           # refused: in use, or not a batch's output
            self.close()
            raise
        except FileExistsError:
            _refuse_if_in_use(path)
            raise OutputExistsError(f"{path}: already exists; "
                                    "pass --resume to continue it or --overwrite to replace it") from None
        except OSError as exc:
            self.close()
            raise ImageFileError(f"{path}: cannot open for writing ({exc.strerror or exc})") from None

    def _row(self, line: bytes) -> dict[str, Any] | str:
        """``line``'s row: a whole line holding a JSON object with this batch's fields; else what a row is."""
        try:
            row = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get(self._key), str):
            return f"a JSON object with {self._key!r}"
        missing = [name for name in self._fields if name not in row]
        if missing:
            return f"it has no {missing[0]!r}: another command's output, or an older Filigrane's?"
        if self._statuses is not None and row.get("status") not in self._statuses:
            return f"its status {row.get('status')!r} is none of a scan's: another command's output?"
        problem = None if self._shape is None else self._shape(row)
        return row if problem is None else problem

    def _require_output(self, path: str) -> None:
        """Refuse to replace ``path`` unless it is empty or an earlier run's rows (its first line one, or cut
        short): ``--overwrite`` through a link planted there replaced another file (a registry) with rows."""
        with open(path, "rb") as handle:
            first = handle.readline(_FIRST_LINE_BYTES)
        whole = first.endswith(b"\n")
        if first.lstrip(b"\0") and (isinstance(self._row(first), str) if whole else not _torn(first)):
            raise OutputExistsError(f"{path}: holds something else than an earlier run's rows; not replaced: remove "
                                    "it, or give another output")

    def _kept(self, line: bytes) -> bool:
        """Whether a resumed batch keeps ``line``: a row (`_row`) without an ``error``, whose name names one input."""
        row = self._row(line)
        return isinstance(row, dict) and self._stays(row)

    def _stays(self, row: dict[str, Any]) -> bool:
        return not row.get("error") and (self._names_one is None or self._names_one(row[self._key]))

    def _read_done(self, path: str) -> np.ndarray:
        """Hashes of the names of ``path``'s rows that stay (`_kept`); the others are removed: cut off when they are
        only at the end, else by writing the file again without them. A line that is neither a row nor a torn
        last line (`_torn`) refuses the file, untouched."""
        hashes, end, size, gaps = [], 0, 0, False
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                size += len(line)
                row = self._row(line)
                if isinstance(row, str) and not _torn(line):
                    raise OutputExistsError(f"{path}: line {number} is not a row of a scan's output ({row}); "
                                            "not resumed, the file is left as it is")
                if isinstance(row, str) or not self._stays(row):
                    continue
                gaps = gaps or end != size - len(line)
                end = size
                hashes.append(_name_hash(row[self._key], self._folder))
                self.earlier[str(row.get("status"))] += 1
                if self._on_earlier is not None:
                    self._on_earlier(row)
        if gaps:
            self._rewrite(path)
        elif end != size:
            os.truncate(path, end)
        self.resumed = sum(self.earlier.values())
        return np.unique(np.array(hashes, dtype=np.uint64))

    def _rewrite(self, path: str) -> None:
        """Write ``path`` again with only the lines `_kept` keeps, atomically (the file as it was on failure), and
        write on from there; the new file is locked before it takes the name, the old one stays locked, so that no
        other run gets in between. A symbolic link's target is written, the link stays."""
        folder, name = os.path.split(os.path.realpath(path))
        target = os.path.join(folder, name)
        descriptor, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with open(descriptor, "wb", closefd=False) as out, open(target, "rb") as handle:
                out.writelines(line for line in handle if self._kept(line))
            os.fsync(descriptor)
            os.chmod(temp, os.stat(target).st_mode & 0o7777)
            _lock(descriptor, temp)
            os.replace(temp, target)
        except BaseException:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._replaced, self._fd = self._fd, descriptor

    def done(self, name: str) -> bool:
        """Whether ``name``'s row, written before this run (``resume``), stays."""
        if not self._done.size:
            return False
        value = np.uint64(_name_hash(name, self._folder))
        index = int(np.searchsorted(self._done, value))
        return index < self._done.size and self._done[index] == value

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` as one line."""
        line = json.dumps(row, ensure_ascii=False) + "\n"
        if self._fd is None:
            self._write_stream(line)
            return
        data = line.encode("utf-8", "backslashreplace")
        self._rows += 1
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise ImageFileError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def _write_stream(self, line: str) -> None:
        with writing_to(self._stream):
            write_whole(self._stream, line)

    def close(self) -> None:
        """Make what was written durable, close the file and release its lock."""
        if self._fd is not None:
            with contextlib.suppress(OSError):       # a pipe or a file system without fsync
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._replaced is not None:
            os.close(self._replaced)
            self._replaced = None

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        """Close; a file this run made and that stopped before its first row is removed (a scan that could
        not start left an empty file, which its rerun was refused as existing)."""
        unused = kind is not None and self._made and not self._rows
        made = os.fstat(self._fd) if unused and self._fd is not None else None
        self.close()
        if made is not None and self.path is not None:
            with contextlib.suppress(OSError):
                now = os.stat(self.path)
                if os.path.samestat(made, now) and now.st_size == 0:
                    os.unlink(self.path)
