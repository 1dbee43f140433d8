"""Files written whole or not at all: into a new file of a random name beside the target, created
exclusively (a link planted there is never followed), synced, then renamed over the target, or linked
to it only where nothing is there yet."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_file", "writing", "link_new", "temporary", "stem", "leftovers", "TEMPORARY"]

# ``.NAME.<hex>.tmp``, group 1 the target's NAME (12 hex digits: images written before this naming was shared)
TEMPORARY = re.compile(r"\.(.+)\.[0-9a-f]{12,16}\.tmp")


_CUT_CHARACTER = re.compile("[\udc80-\udcff]{1,3}$")   # the bytes of a UTF-8 character cut short, escaped
_NAME_BYTES = 255       # the longest file name most file systems hold (ext4, APFS, NTFS in UTF-16 units)


def temporary(path: Path) -> Path:
    """A new name beside ``path`` for the file that becomes it (`TEMPORARY`'s form, `stem` for NAME)."""
    return path.with_name(f".{stem(path.name)}.{secrets.token_hex(8)}.tmp")


def stem(name: str) -> str:
    """``name`` as a temporary file's name holds it: cut short (at a character) where the temporary name
    would be longer than a file name may be (a target's name of 234 bytes or more could not be written)."""
    room = _NAME_BYTES - len(".") - len(".0123456789abcdef.tmp")
    encoded = os.fsencode(name)
    return name if len(encoded) <= room else _CUT_CHARACTER.sub("", os.fsdecode(encoded[:room])) or "_"


def write_file(path: str | os.PathLike, data: bytes, *, replace: bool = True, mode: int = 0o666) -> None:
    """Write ``data`` as ``path``, atomically; with ``replace`` false, a ``path`` that exists is left
    as it is (FileExistsError). ``mode`` is the new file's, before the umask.

    Raises
    ------
    OSError
        What the file system refused (FileExistsError: ``path`` exists and ``replace`` is false).
    """
    with writing(path, replace=replace, mode=mode) as out:
        out.write(data)


@contextlib.contextmanager
def writing(path: str | os.PathLike, *, replace: bool = True, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A new file to write what becomes ``path`` into, as `write_file` writes it: named ``path`` when the
    block ends (synced first), removed when it raises."""
    path = Path(path)
    temp = temporary(path)
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temp, path)
        else:
            link_new(temp, path)
    finally:
        with contextlib.suppress(OSError):      # gone once renamed; a hard link's first name
            os.unlink(temp)


def link_new(temp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give the file ``temp`` the name ``path`` unless ``path`` exists (FileExistsError): a hard link
    tests and names in one step; on a file system without hard links, checked, then renamed."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(temp, path)


def leftovers(targets: Iterable[Path]) -> list[Path]:
    """The temporary files (`TEMPORARY`, as `temporary` names them) beside ``targets`` that no process holds
    open: what a killed run or a power cut left (a run removes its own, whatever stops it, but SIGKILL; one
    at work holds its file open)."""
    names: dict[Path, set[str]] = {}
    for target in targets:
        names.setdefault(target.parent, set()).add(stem(target.name))
    found = []
    for folder, wanted in names.items():
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            match = TEMPORARY.fullmatch(entry)
            if match and match.group(1) in wanted:
                found.append(folder / entry)
    if found:                # another run writing there now holds its file open: not a leftover
        held = _open_files()
        found = [path for path in found if os.path.realpath(path) not in held and path.exists()]   # or renamed
    return found


def _open_files() -> set[str]:
    """The files this user's processes hold open (Linux's /proc; none known elsewhere)."""
    held = set()
    for descriptor in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            held.add(os.readlink(descriptor))
    return held
