"""An encoded image file put in place whole or not at all, and never over a file it was not asked to replace.

`write_atomic` writes the file into a temporary file beside the output (`atomic.temporary`), through
Python's own file object so that a short write raises, fsyncs it and moves it into place: readers see the
old file or the new one, never half. An existing file is replaced only when asked (keeping its
permissions), else the move refuses it with `exists_message`'s line (`OutputExistsError`). What the file
system refuses is an `ImageFileError`; what Pillow's encoder refuses, an `InvalidImageError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from . import atomic
from .errors import ImageFileError, InvalidImageError, OutputExistsError, WatermarkError
from .imageopen import raised_by_file_system, raised_by_pillow

__all__ = ["write_atomic", "exists_message"]

PathLike = str | os.PathLike


class _WithoutDescriptor:
    """A file an encoder writes through its ``write``, not its descriptor: Pillow writes to the descriptor
    of a file that has one in C, and takes a short write (a full disk's last block, a file-size limit) for
    a whole one, which left a truncated image under the final name; Python's own file raises."""

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], fmt: str, overwrite: bool,
                 finish: Callable[[bytes], bytes] | None = None) -> None:
    """``write`` the file into a temporary file beside ``path`` (through ``finish``, when given: encoded
    in memory, then finished), then move it into place."""
    directory = path.parent
    temp = atomic.temporary(path)
    try:
        # os.open applies the umask to 0o666, so the output gets the usual permissions
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileNotFoundError as exc:
        if not directory.is_dir():
            raise ImageFileError(f"{path}: directory {str(directory)!r} does not exist") from None
        raise ImageFileError(f"{path}: cannot write in {str(directory)!r} ({exc.strerror})") from None
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot write in {str(directory)!r} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(descriptor, "wb") as fp:
            try:
                if finish is None:
                    write(cast(IO[bytes], _WithoutDescriptor(fp)))
                else:
                    encoded = io.BytesIO()
                    write(encoded)
                    fp.write(finish(encoded.getvalue()))
            except Exception as exc:
                if raised_by_file_system(exc) or not raised_by_pillow(exc):
                    raise
                raise InvalidImageError(f"{path}: cannot encode as {fmt} ({type(exc).__name__}: {exc})") from None
            fp.flush()
            os.fsync(fp.fileno())
        if overwrite:
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(os.stat(path).st_mode))  # keep a replaced file's permissions
            os.replace(temp, path)
        else:
            _move_no_clobber(temp, path)
    except OSError as exc:
        if isinstance(exc, WatermarkError):
            raise
        raise ImageFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    with contextlib.suppress(OSError):  # make the rename durable, where a directory can be synced
        folder = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _move_no_clobber(temp: Path, path: Path) -> None:
    """Move ``temp`` to ``path`` unless ``path`` exists (`atomic.link_new`)."""
    try:
        atomic.link_new(temp, path)
    except FileExistsError:
        raise OutputExistsError(exists_message(path)) from None


def exists_message(path: PathLike) -> str:
    """The one line that refuses to replace the existing ``path`` without being asked."""
    return f"{path}: already exists; pass overwrite=True (--overwrite) to replace it"
