"""Which process holds a reservation, and whether it may still be at work on it.

A reservation records its process as ``"host pid start"`` (``start``: when the process started, from
``/proc`` on Linux, else ``-``), so that a run voids only the reservations of processes that are gone,
never those of a run issuing the same copies beside it. On this host a process that ``/proc`` shows
running, with the same start (not a later process given the same pid), is at work; one without ``/proc``
(macOS) is not if its pid is gone; elsewhere, or where neither can tell, a reservation younger than
`STALE_AFTER` is.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

__all__ = ["STALE_AFTER", "IMPORTED", "this_process", "at_work", "describe"]

STALE_AFTER = 3600.0     # seconds: a reservation older than this whose process cannot be checked is abandoned
# The holder of a reservation merged from another registry's export: its process, and usually its output, are
# that registry's (a later export of it brings the record up to date); never voided here, and finished here
# only where its output is at hand (a registry restored from its own export).
IMPORTED = "imported"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), or None if it is gone, a zombie, or not Linux's."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()   # after the command name, which may hold spaces
    except (OSError, IndexError):
        return None
    return None if len(fields) < 20 or fields[0] == b"Z" else fields[19].decode()


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (perhaps a later one given the same pid); True where
    that cannot be asked without harm (Windows' kill ends the process)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                 # another user's: it exists
        return True
    return True


def this_process() -> str:
    """This process, as its reservations record it."""
    return f"{socket.gethostname()} {os.getpid()} {_started(os.getpid()) or '-'}"


def at_work(holder: str | None, reserved_at: str) -> bool:
    """Whether the process ``holder`` (None: unknown, as in an import) may still be issuing a copy it
    reserved at ``reserved_at``; never this process itself, whose calls are done when they return."""
    if holder in (None, IMPORTED) or holder == this_process():
        return False
    host, pid, started = holder.rsplit(" ", 2)
    if host == socket.gethostname() and started != "-":
        return _started(int(pid)) == started
    if host == socket.gethostname() and not _running(int(pid)):   # no /proc (macOS): a process gone is not at work
        return False
    age = datetime.now(UTC) - datetime.strptime(reserved_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return age.total_seconds() < STALE_AFTER


def describe(holder: str) -> str:
    """``"process PID on HOST"``."""
    host, pid, _ = holder.rsplit(" ", 2)
    return f"process {pid} on {host}"
