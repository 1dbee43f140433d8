"""`RegistryConnection`: a registry file opened, the connection its process's threads take turns on, SQLite's
errors as `RegistryError`, the checks of the file, and its copies' rows read back as records (`Registry` builds
on it, in `watermark.registry.store`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..errors import RegistryError
from . import schema
from .records import Master, Record, metadata_of
from .schema import to_unsigned

__all__ = ["RegistryConnection", "MASTER_COLUMNS", "RECORD_SELECT", "master_from_row"]

MASTER_COLUMNS = "m.id, m.sha256, m.path, m.width, m.height, m.phash, m.print, m.added_at"
RECORD_SELECT = (f"SELECT c.id, k.public_id, c.payload, c.state, c.output_path, c.output_sha256, c.recipient, "
                 f"c.metadata, c.scheme, c.tool_version, c.reserved_at, c.issued_at, c.note, {MASTER_COLUMNS} "
                 "FROM copies c JOIN keys k ON k.id = c.key_id JOIN masters m ON m.id = c.master_id")


class RegistryConnection:
    """A registry file opened (see `Registry`, which records and looks up its keys, masters and copies): its
    connection, shared by the process's threads in turns, and the checks of the file."""

    def __init__(self, path: str | os.PathLike, *, create: bool = False, timeout: float | None = None) -> None:
        self.path = Path(path)
        self._connection = schema.connect(self.path, create=create, timeout=timeout)
        self._timeout = self._connection.execute("PRAGMA busy_timeout").fetchone()[0] / 1000.0

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by the last connection to close)."""
        self._connection.close()

    def errors(self) -> contextlib.AbstractContextManager:
        """A context in which SQLite's exceptions become one-line `RegistryError` naming the file."""
        return schema.errors(self.path, self._timeout)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.errors(), schema.turn(self._connection):
            return self._connection.execute(sql, args).fetchall()

    def _records(self, sql: str, args: tuple = ()) -> list[Record]:
        """The records that ``sql`` (a `RECORD_SELECT`) selects."""
        masters: dict[int, Master] = {}     # one per master, shared by its copies' records (its print: 40 KB)
        with self.errors(), schema.turn(self._connection):
            rows = self._connection.execute(sql, args)
            with schema.decoding(self.path):     # row by row: a copy's row, print and all, then gone
                return [_record(row, masters) for row in rows]

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer: ``"ok"`` for a sound file."""
        return "; ".join(row[0] for row in self._query("PRAGMA integrity_check"))

    def require_writable(self) -> None:
        """A `RegistryError` naming the file if this process may not write it (its file, its folder), said before
        a batch's work rather than at each file's record."""
        if schema.read_only(self._connection):
            raise schema.unwritable(self.path, "this process may only read it")

    def require_sound(self) -> None:
        """A `RegistryError` naming the file and its first problem if SQLite's ``PRAGMA quick_check`` finds it
        damaged (a read of a damaged table may stop short, or go on without the rows it cannot read)."""
        problems = [line for row in self._query("PRAGMA quick_check") for line in row[0].splitlines()
                    if not line.startswith("*** ")]
        if problems != ["ok"]:
            found = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            raise RegistryError(f"{self.path}: damaged registry (SQLite's quick_check found {found}, the first: "
                                f"{problems[0]}); restore it from a backup (an earlier registry export --json, "
                                "imported into a new registry)")

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection (for `watermark.registry.exporting` and `importing`)."""
        return self._connection


def master_from_row(row: tuple) -> Master:
    """The `Master` of one row of the masters' columns (`MASTER_COLUMNS`), as the registry stores it."""
    id_, sha256, path, width, height, phash, print_, added_at = row
    return Master(id=id_, sha256=sha256, path=path, width=width, height=height, phash=to_unsigned(phash),
                  print=bytes(print_), added_at=added_at)


def _record(row: tuple, masters: dict[int, Master]) -> Record:
    """The record of ``row``, its master taken from ``masters`` (by id) when there, else added to it."""
    (id_, key, payload, state, output_path, output_sha256, recipient, metadata, scheme, version,
     reserved_at, issued_at, note) = row[:13]
    master = masters.get(row[13]) or masters.setdefault(row[13], master_from_row(row[13:]))
    return Record(id=id_, key=key, payload=to_unsigned(payload), master=master, state=state,
                  output_path=output_path, output_sha256=output_sha256, recipient=recipient,
                  metadata=metadata_of(metadata), scheme=scheme, tool_version=version, reserved_at=reserved_at,
                  issued_at=issued_at, note=note)
