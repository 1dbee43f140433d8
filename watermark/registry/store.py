"""`Registry`: keys, masters and issued copies in one SQLite file, and the lookups a scan needs (the file opened,
its errors and checks, and its rows read back as records: `watermark.registry.connection`)."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata as _metadata
from typing import Any

import numpy as np

from ..errors import RegistryError
from ..keys import Key
from ..sources import printable
from . import holders, schema
from .connection import MASTER_COLUMNS, RECORD_SELECT, RegistryConnection, master_from_row
from .records import ISSUED, RESERVED, VOID, Master, Record, metadata_text
from .schema import to_signed

__all__ = ["Registry", "utc_now", "tool_version"]

_ALLOCATION_TRIES = 32


def utc_now() -> str:
    """The current UTC time as ISO-8601 with microseconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def tool_version() -> str:
    """This Filigrane's version, as recorded in each copy."""
    try:
        return _metadata.version("filigrane")
    except _metadata.PackageNotFoundError:
        return "unknown"


def _stored_path(path: str | os.PathLike) -> str:
    """``path`` as the registry stores it: absolute, its symbolic links resolved (a file reached through a
    linked folder is the same file), and valid UTF-8 text (SQLite's), where bytes of a file name that are
    not (surrogate escapes) become ``\\xNN``; the same file always gives the same text."""
    return printable(os.path.realpath(path))


def _path_spellings(path: str | os.PathLike) -> tuple[str, str]:
    """How a registry may hold ``path``: as it stores it now, and as it did before links were resolved."""
    return _stored_path(path), printable(os.path.abspath(path))


def _refuse_at_work(output_path: str, record_id: str, holder: str | None, reserved_at: str) -> None:
    if holder is not None and holders.at_work(holder, reserved_at):
        raise RegistryError(f"{output_path}: being issued by {holders.describe(holder)} (record {record_id}); "
                            "run again once it has finished")


def _key_id(key: Key | str) -> str:
    return key.public_id if isinstance(key, Key) else str(key)


class Registry(RegistryConnection):
    """A registry file: open it, then record and look up masters and issued copies.

    One `Registry` per process (worker processes open their own), which its threads may share (they take
    turns on its connection); every write is its own transaction, so several processes can issue into one
    file at once.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file.
    create : bool
        Make a new registry (refused if the file exists); otherwise it must exist.
    timeout : float, optional
        Seconds to wait for another writer (default 10, or ``FILIGRANE_REGISTRY_TIMEOUT``).

    Raises
    ------
    RegistryError
        See `watermark.registry.schema.connect`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "filigrane.db"
    >>> with Registry(path, create=True) as registry:
    ...     registry.counts()
    {'keys': 0, 'masters': 0, 'reserved': 0, 'issued': 0, 'void': 0}
    """

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    # -- keys -------------------------------------------------------------------------------------

    def add_key(self, key: Key) -> str:
        """Register ``key`` by its public id (idempotent); returns the public id. The key is never stored."""
        with self.errors(), schema.write(self._connection) as db:
            db.execute("INSERT OR IGNORE INTO keys (public_id, fingerprint, added_at) VALUES (?, ?, ?)",
                       (key.public_id, key.fingerprint, utc_now()))
        return key.public_id

    def add_first_key(self, key: Key) -> bool:
        """Register ``key`` if the registry records no other key, in one transaction (two processes starting
        at once with two keys cannot both add theirs); whether it was added (False: it was there). A
        `RegistryError` naming the known keys when there are others."""
        with self.errors(), schema.write(self._connection) as db:
            known = db.execute("SELECT public_id, fingerprint FROM keys ORDER BY added_at, public_id").fetchall()
            if any(public_id == key.public_id for public_id, _ in known):
                return False
            if known:
                fingerprints = ", ".join(fingerprint for _, fingerprint in known)
                raise RegistryError(f"{self.path}: key {key.fingerprint} is new to this registry, which records "
                                    f"the keys {fingerprints}; a mistyped passphrase or a wrong key file is the "
                                    "likely cause (--new-key adds it on purpose)")
            db.execute("INSERT INTO keys (public_id, fingerprint, added_at) VALUES (?, ?, ?)",
                       (key.public_id, key.fingerprint, utc_now()))
        return True

    def keys(self) -> list[tuple[str, str]]:
        """``(public_id, fingerprint)`` of every registered key, oldest first."""
        return self._query("SELECT public_id, fingerprint FROM keys ORDER BY added_at, public_id")

    def issued_by_key(self) -> dict[str, int]:
        """How many issued copies each key (its public id) has; keys without any are left out."""
        return dict(self._query("SELECT k.public_id, count(*) FROM copies c JOIN keys k ON k.id = c.key_id "
                                "WHERE c.state = 'issued' GROUP BY k.public_id"))

    def require_key(self, key: Key | str) -> str:
        """The key's public id if it is registered; otherwise `RegistryError` naming the known keys."""
        public_id = _key_id(key)
        if self._query("SELECT 1 FROM keys WHERE public_id = ?", (public_id,)):
            return public_id
        known = ", ".join(fingerprint for _, fingerprint in self.keys()) or "none"
        shown = key.fingerprint if isinstance(key, Key) else public_id
        raise RegistryError(f"{self.path}: key {shown} is not in this registry (its keys' fingerprints: {known}); "
                            "a mistyped passphrase or a wrong key file is the likely cause")

    # -- masters ----------------------------------------------------------------------------------

    def add_master(self, *, sha256: str, path: str | os.PathLike, width: int, height: int, phash: int,
                   print_: bytes, frame: bytes | None = None) -> Master:
        """Register a master (idempotent on ``sha256``: the first registration's fields stay) and its
        ``frame`` (`watermark.registry.frames`), if given and it has none yet; in one transaction."""
        if len(print_) > schema.MAX_PRINT_BYTES:
            raise RegistryError(f"{path}: master print of {len(print_)} bytes exceeds {schema.MAX_PRINT_BYTES}")
        with self.errors(), schema.write(self._connection) as db:
            db.execute("INSERT OR IGNORE INTO masters (sha256, path, width, height, phash, print, added_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (sha256, _stored_path(path), int(width), int(height), to_signed(phash), print_, utc_now()))
            if frame is not None:
                db.execute("INSERT OR IGNORE INTO frames (master_id, png) SELECT id, ? FROM masters WHERE sha256 = ?",
                           (frame, sha256))
        master = self.master(sha256)
        if master is None:
            raise RegistryError(f"{self.path}: master {sha256} vanished (another process edited the registry)")
        return master

    def move_master(self, master: Master, path: str | os.PathLike) -> Master:
        """Record that ``master``'s file is now at ``path`` (its recorded place no longer holds it)."""
        with self.errors(), schema.write(self._connection) as db:
            db.execute("UPDATE masters SET path = ? WHERE id = ?", (_stored_path(path), master.id))
        return self.master(master.id) or master

    def master(self, ref: str | int) -> Master | None:
        """The master with this SHA-256 (hex) or registry id, or None."""
        column = "m.id" if isinstance(ref, int) else "m.sha256"
        rows = self._query(f"SELECT {MASTER_COLUMNS} FROM masters m WHERE {column} = ?", (ref,))
        with schema.decoding(self.path):
            return master_from_row(rows[0]) if rows else None

    def masters(self) -> Iterator[Master]:
        """Every master, in registration order (prints included: a streaming read)."""
        with self.errors(), schema.decoding(self.path), schema.turn(self._connection):
            cursor = self._connection.execute(f"SELECT {MASTER_COLUMNS} FROM masters m ORDER BY m.id")
            for row in cursor:
                yield master_from_row(row)

    def frame(self, master: Master | int) -> bytes | None:
        """The PNG of ``master``'s frame (`watermark.registry.frames`), or None if it has none."""
        master_id = master.id if isinstance(master, Master) else int(master)
        rows = self._query("SELECT png FROM frames WHERE master_id = ?", (master_id,))
        with schema.decoding(self.path):
            return bytes(rows[0][0]) if rows else None

    def master_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, phashes)``: int64 master ids and their uint64 perceptual hashes, for an index."""
        rows = self._query("SELECT id, phash FROM masters ORDER BY id")
        with schema.decoding(self.path):
            ids = np.array([row[0] for row in rows], dtype=np.int64)
            hashes = np.array([row[1] for row in rows], dtype=np.int64).view(np.uint64)
        return ids, hashes

    # -- copies -----------------------------------------------------------------------------------

    def reserve(self, key: Key, master: Master, *, output_path: str | os.PathLike, payload: int | None = None,
                recipient: str | None = None, metadata: dict | None = None, scheme: str,
                record_id: str | None = None) -> Record:
        """Allocate a payload for a copy of ``master`` under ``key`` and commit it as ``reserved`` by this process,
        as record ``record_id`` (a new id when None: a caller that names it can void it however far this got).

        Without ``payload``, a random 64-bit payload is drawn from the OS's CSPRNG until the
        UNIQUE (key, payload) constraint accepts it. A given ``payload`` is refused if the key has
        ever used it (issued, reserved, or voided after an interrupted run). Refused too while another
        process at work holds a reservation of ``key`` for the same ``output_path`` (`finishable`).
        """
        public_id = self.add_key(key)
        record_id, now, path = record_id or str(uuid.uuid4()), utc_now(), _stored_path(output_path)
        fields = (record_id, public_id, master.id, path, recipient, metadata_text(metadata), scheme, tool_version(),
                  now, holders.this_process())
        for _ in range(1 if payload is not None else _ALLOCATION_TRIES):
            value = payload if payload is not None else secrets.randbits(64)
            with self.errors():
                try:
                    with schema.write(self._connection) as db:
                        for held in db.execute("SELECT c.id, c.holder, c.reserved_at FROM copies c JOIN keys k ON "
                                               "k.id = c.key_id WHERE k.public_id = ? AND c.output_path IN (?, ?) "
                                               "AND c.state = 'reserved'",
                                               (public_id, *_path_spellings(output_path))).fetchall():
                            _refuse_at_work(path, *held)
                        db.execute("INSERT INTO copies (id, key_id, payload, master_id, state, output_path, "
                                   "recipient, metadata, scheme, tool_version, reserved_at, holder) SELECT ?, id, ?, "
                                   "?, 'reserved', ?, ?, ?, ?, ?, ?, ? FROM keys WHERE public_id = ?",
                                   (fields[0], to_signed(value), *fields[2:], public_id))
                except sqlite3.IntegrityError:   # UNIQUE (key, payload): taken
                    if payload is None:
                        continue
                    taken = self.find_payload(payload, key=key)[0]
                    raise RegistryError(f"{self.path}: payload {payload:#018x} is already {taken.state} under key "
                                        f"{key.fingerprint} (record {taken.id}); a payload is never reused") from None
            return self._existing(record_id)
        raise RegistryError(f"{self.path}: could not draw an unused payload in {_ALLOCATION_TRIES} tries")

    def mark_issued(self, record_id: str, output_sha256: str) -> Record:
        """Turn a reservation into an issued copy whose output has ``output_sha256``.

        Raises `RegistryError` if the record is no longer ``reserved`` (voided meanwhile by a
        concurrent run): the caller then removes the output it wrote.
        """
        with self.errors(), schema.write(self._connection) as db:
            changed = db.execute("UPDATE copies SET state = 'issued', output_sha256 = ?, issued_at = ? "
                                 "WHERE id = ? AND state = 'reserved'", (output_sha256, utc_now(), record_id)).rowcount
        if changed != 1:
            raise RegistryError(f"{self.path}: record {record_id} is no longer reserved (voided by another run)")
        return self._existing(record_id)

    def void(self, record_id: str, note: str) -> None:
        """Void a reservation that will not be issued; its payload stays taken forever."""
        with self.errors(), schema.write(self._connection) as db:
            db.execute("UPDATE copies SET state = 'void', note = ? WHERE id = ? AND state = 'reserved'",
                       (note, record_id))

    def finishable(self, record: Record) -> bool:
        """Whether this run may void the reservation ``record``: not one merged from another registry
        (`holders.IMPORTED`: its output may be on another machine; it is finished only where its output is
        at hand); `RegistryError` if the process that reserved it may still be issuing it
        (`watermark.registry.holders`): only a reservation whose process is gone is left."""
        rows = self._query("SELECT holder FROM copies WHERE id = ?", (record.id,))
        holder = rows[0][0] if rows else None
        if holder == holders.IMPORTED:
            return False
        _refuse_at_work(record.output_path, record.id, holder, record.reserved_at)
        return True

    def _existing(self, record_id: str) -> Record:
        record = self.record(record_id)
        if record is None:
            raise RegistryError(f"{self.path}: record {record_id} vanished (another process edited the registry)")
        return record

    def record(self, record_id: str) -> Record | None:
        """The record with this id, or None."""
        records = self._records(f"{RECORD_SELECT} WHERE c.id = ?", (record_id,))
        return records[0] if records else None

    def find_payload(self, payload: int, *, key: Key | str | None = None) -> list[Record]:
        """Every record (any state) of ``payload``, under ``key`` only when given."""
        if key is None:
            return self._records(f"{RECORD_SELECT} WHERE c.payload = ? ORDER BY c.reserved_at", (to_signed(payload),))
        return self._records(f"{RECORD_SELECT} WHERE c.payload = ? AND k.public_id = ? ORDER BY c.reserved_at",
                             (to_signed(payload), _key_id(key)))

    def find_sha256(self, sha256: str, *, key: Key | str | None = None) -> tuple[list[Record], Master | None]:
        """Exact lookup of a file's bytes: the issued copies with this output SHA-256 (under ``key`` only
        when given), and the master with it."""
        copies = self._records(f"{RECORD_SELECT} WHERE c.output_sha256 = ? AND c.state = 'issued' "
                               "ORDER BY c.issued_at", (sha256,))
        return [copy for copy in copies if key is None or copy.key == _key_id(key)], self.master(sha256)

    def copies_of(self, master: Master | int, *, key: Key | str | None = None) -> list[Record]:
        """The issued copies of a master (all of them: a scan tests them together for collusion)."""
        master_id = master.id if isinstance(master, Master) else int(master)
        return self.records(master=master_id, key=key, state=ISSUED)

    def records(self, *, key: Key | str | None = None, recipient: str | None = None, master: int | None = None,
                state: str | None = None, output_path: str | os.PathLike | None = None, id_prefix: str | None = None,
                prints: bool = True) -> list[Record]:
        """Records matching every filter given (``id_prefix``: the start of a record id), oldest reservation
        first. ``prints=False`` leaves the masters' prints out (``Master.print`` empty): a listing of a large
        registry read every master's 40 KB of features it does not show."""
        clauses, args = [], []
        for clause, value in (("k.public_id = ?", None if key is None else _key_id(key)),
                              ("c.recipient = ?", recipient), ("c.master_id = ?", master),
                              ("c.state = ?", state)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if output_path is not None:
            clauses.append("c.output_path IN (?, ?)")
            args += _path_spellings(output_path)
        if id_prefix is not None:
            clauses.append("substr(c.id, 1, ?) = ?")
            args += [len(id_prefix), id_prefix]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        select = RECORD_SELECT if prints else RECORD_SELECT.replace("m.print", "x''")
        return self._records(f"{select}{where} ORDER BY c.reserved_at, c.id", tuple(args))

    def matches(self, key: Key | str, payload: int) -> dict[str, list[dict[str, Any]]]:
        """The issued copies of ``payload`` under ``key`` in the shape of the C2PA soft-binding
        resolution API's answer: ``{"matches": [{"manifestId": "urn:uuid:<record id>", "similarityScore": 100}]}``.
        """
        return {"matches": [{"manifestId": f"urn:uuid:{record.id}", "similarityScore": 100}
                            for record in self.find_payload(payload, key=key) if record.state == ISSUED]}

    def digest(self) -> str:
        """A SHA-256 of every copy's record as it stands (id, key, payload, state, recipient, terms, master,
        output, dates): the same records give the same digest, and any change to one (a recipient, a date, a
        state) another. A report that names it lets a later run tell whether the registry it reads is the one
        that was read; it cannot tell who changed it (whoever holds the file can recompute it)."""
        digest = hashlib.sha256()
        with self.errors(), schema.turn(self._connection):
            rows = self._connection.execute(
                "SELECT c.id, k.public_id, c.payload, c.state, c.recipient, c.metadata, m.sha256, c.output_path, "
                "c.output_sha256, c.reserved_at, c.issued_at FROM copies c JOIN keys k ON k.id = c.key_id "
                "JOIN masters m ON m.id = c.master_id ORDER BY c.id")
            for row in rows:
                digest.update(repr(tuple(row)).encode("utf-8") + b"\n")
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        """How many keys, masters, and copies in each state."""
        keys, masters = self._query("SELECT (SELECT count(*) FROM keys), (SELECT count(*) FROM masters)")[0]
        states = dict(self._query("SELECT state, count(*) FROM copies GROUP BY state"))
        return {"keys": keys, "masters": masters, **{state: states.get(state, 0) for state in (RESERVED, ISSUED, VOID)}}
