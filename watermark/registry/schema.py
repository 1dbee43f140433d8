"""The registry's SQLite file: opening it safely, its schema, and the migrations that build it.

One connection per process (or per worker), in WAL mode (readers never wait for the writer), with
foreign keys on and a busy timeout; every write is a ``BEGIN IMMEDIATE`` transaction, so a second
writer waits for the lock up to the timeout and then fails with one clear line instead of deadlocking.
The file carries ``PRAGMA application_id`` (a Filigrane registry, not any SQLite file) and
``PRAGMA user_version`` (how many migrations it has had). Opening applies the missing migrations in
order, in one transaction; a file of a newer version is refused.

Payloads are unsigned 64-bit integers; SQLite's INTEGER is signed, so they are stored as their
two's-complement signed view (:func:`to_signed`, :func:`to_unsigned`). The perceptual hash is
stored the same way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import RegistryBusyError, RegistryError, RegistryMigratedWarning

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "DEFAULT_TIMEOUT", "connect", "write", "read", "errors", "decoding",
           "to_signed", "to_unsigned"]

APPLICATION_ID = 0x46696C67          # "Filg"
DEFAULT_TIMEOUT = 10.0               # seconds a writer waits for another one (FILIGRANE_REGISTRY_TIMEOUT)
MAX_PRINT_BYTES = 65536

# Each migration is the SQL that takes the schema from version i to i + 1; never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE keys (
        id          INTEGER PRIMARY KEY,
        public_id   TEXT NOT NULL UNIQUE CHECK (length(public_id) = 32),
        fingerprint TEXT NOT NULL,
        added_at    TEXT NOT NULL
    );
    CREATE TABLE masters (
        id          INTEGER PRIMARY KEY,
        sha256      TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
        path        TEXT NOT NULL,
        width       INTEGER NOT NULL CHECK (width > 0),
        height      INTEGER NOT NULL CHECK (height > 0),
        phash       INTEGER NOT NULL,
        print       BLOB NOT NULL CHECK (length(print) <= {MAX_PRINT_BYTES}),
        added_at    TEXT NOT NULL
    );
    CREATE INDEX masters_by_phash ON masters (phash);
    CREATE TABLE copies (
        id            TEXT PRIMARY KEY,
        key_id        INTEGER NOT NULL REFERENCES keys (id),
        payload       INTEGER NOT NULL,
        master_id     INTEGER NOT NULL REFERENCES masters (id),
        state         TEXT NOT NULL CHECK (state IN ('reserved', 'issued', 'void')),
        output_path   TEXT NOT NULL,
        output_sha256 TEXT CHECK (output_sha256 IS NULL OR length(output_sha256) = 64),
        recipient     TEXT,
        metadata      TEXT NOT NULL DEFAULT '{{}}',
        scheme        TEXT NOT NULL,
        tool_version  TEXT NOT NULL,
        reserved_at   TEXT NOT NULL,
        issued_at     TEXT,
        note          TEXT,
        UNIQUE (key_id, payload),
        CHECK ((state = 'issued') = (output_sha256 IS NOT NULL AND issued_at IS NOT NULL))
    );
    CREATE INDEX copies_by_master ON copies (master_id);
    CREATE INDEX copies_by_output_sha256 ON copies (output_sha256);
    CREATE INDEX copies_by_output_path ON copies (output_path);
    CREATE INDEX copies_by_payload ON copies (payload);
    """,
    # 2: each master's frame (`watermark.registry.frames`), apart from the masters' rows, which every
    # index build streams; masters registered before it have none until their file is registered again
    """
    CREATE TABLE frames (
        master_id   INTEGER PRIMARY KEY REFERENCES masters (id),
        png         BLOB NOT NULL
    );
    """,
    # 3: the process that made each reservation (`watermark.registry.holders`), so that a run voids the
    # reservations of processes that are gone, never those of a run at work beside it
    """
    ALTER TABLE copies ADD COLUMN holder TEXT
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def to_signed(value: int) -> int:
    """The signed 64-bit view of an unsigned 64-bit integer, for SQLite's INTEGER."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    """The unsigned 64-bit integer whose signed view SQLite stored."""
    return value + (1 << 64) if value < 0 else value


def _timeout() -> float:
    text = os.environ.get("FILIGRANE_REGISTRY_TIMEOUT", "").strip()
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise RegistryError(f"FILIGRANE_REGISTRY_TIMEOUT={text!r} is not a number of seconds") from None


@contextlib.contextmanager
def errors(path: Path, timeout: float) -> Iterator[None]:
    """Turn SQLite's exceptions into one-line `RegistryError` naming ``path``."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise RegistryBusyError(f"{path}: locked by another writer (waited {timeout:g} s); try again when "
                                    "it has finished, or raise FILIGRANE_REGISTRY_TIMEOUT") from None
        if "readonly" in text or "unable to open" in text:
            raise unwritable(path, text) from None
        if "disk is full" in text or "disk I/O error" in text:    # ENOSPC, or EFBIG past a size limit
            raise RegistryError(f"{path}: cannot write the registry ({text}); is its disk full, or the size of "
                                "files limited (ulimit -f)? The change was not made") from None
        raise RegistryError(f"{path}: registry error ({text})") from None
    except sqlite3.IntegrityError as exc:
        raise RegistryError(f"{path}: the registry refused the change ({exc})") from None
    except sqlite3.DatabaseError as exc:   # not a database, malformed image, ...
        raise RegistryError(f"{path}: not a readable Filigrane registry ({exc})") from None
    except UnicodeEncodeError as exc:      # a str from undecodable bytes (surrogate escapes): SQLite takes UTF-8 only
        raise RegistryError(f"{path}: cannot store {ascii(exc.object)}, which is not valid UTF-8 text") from None


def unwritable(path: Path, why: str) -> RegistryError:
    """The error of a registry this process may not write, ``why`` in SQLite's words or ours."""
    beside = [f"{path.name}{part}" for part in ("-wal", "-shm") if _read_only(Path(f"{path}{part}"))]
    return RegistryError(f"{path}: cannot write the registry ({why}); check the permissions of the file, "
                         + (f"of {' and '.join(beside)} beside it (SQLite's: make them writable; never "
                            f"remove {path.name}-wal, which holds the latest records), " if beside else "")
                         + "and of its directory (a read-only disk cannot be written at all)")


def read_only(connection: sqlite3.Connection) -> bool:
    """Whether `connect` opened ``connection`` read-only (this process may not write the file or beside it)."""
    return getattr(connection, "read_only", False)


@contextlib.contextmanager
def decoding(path: Path) -> Iterator[None]:
    """Turn a stored field that does not decode (metadata that is not JSON, a number stored as text: a
    damaged registry) into a one-line `RegistryError` naming ``path``."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise RegistryError(f"{path}: damaged registry: a stored field does not decode ({exc})") from None


def connect(path: str | os.PathLike, *, create: bool = False, timeout: float | None = None) -> sqlite3.Connection:
    """Open (or, with ``create``, make: readable by its owner only) the registry at ``path``, migrated to
    :data:`SCHEMA_VERSION`.

    Raises
    ------
    RegistryError
        Missing file (without ``create``), an existing file or a missing folder when creating, a file that is not a
        Filigrane registry or is damaged, a newer schema, a lock held too long by another writer.
    """
    path = Path(path)
    timeout = _timeout() if timeout is None else timeout
    if create:
        _create(path)
    elif not path.is_file():
        if path.is_dir():
            raise RegistryError(f"{path}: is a directory; `watermark registry init FILE` creates a registry")
        raise RegistryError(f"{path}: registry not found; name the one your copies were issued into (--registry, "
                            f"or $FILIGRANE_REGISTRY), or `watermark registry init {path}` creates a new, empty one")
    readable_only = not create and not _writable(path)
    try:
        connection = _open_readable(path, timeout) if readable_only else _open(path, "mode=rw", timeout)
    except sqlite3.Error as exc:
        if create:
            _remove_made(path)
        raise RegistryError(f"{path}: cannot open the registry ({exc})") from None
    connection.read_only = readable_only
    try:
        with errors(path, timeout):
            connection.execute("PRAGMA foreign_keys = ON")
            if readable_only:
                _check_readable(connection, path)
            else:
                _check_and_migrate(connection, path, create)
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")   # an issued record survives power loss
    except BaseException:
        connection.close()
        if create:
            _remove_made(path)
        raise
    return connection


class _Connection(sqlite3.Connection):
    """A registry's connection, which the threads that share it take turns on (`turn`): SQLite has one
    transaction per connection, and a thread's BEGIN inside another's failed ("cannot start a transaction
    within a transaction") or put its statements in the other's transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn = threading.RLock()
        self.read_only = False


def turn(connection: sqlite3.Connection) -> contextlib.AbstractContextManager:
    """The block in which this thread alone uses ``connection`` (a transaction, a streamed query)."""
    return connection.turn if isinstance(connection, _Connection) else contextlib.nullcontext()


def _open(path: Path, options: str, timeout: float) -> _Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=timeout, isolation_level=None,
                           check_same_thread=False, factory=_Connection)


def _open_readable(path: Path, timeout: float) -> _Connection:
    """A registry this process may only read (a read-only share, another user's file), opened read-only: as a
    WAL database while a writer keeps its WAL index there (its latest records read), else as an immutable
    file (WAL's index would need write access; with no writer at work the file holds every record, and
    opening it otherwise made -wal and -shm files beside it, read-only, which then refused every writer)."""
    if not any(os.path.exists(f"{path}{part}") for part in ("-wal", "-shm")):
        return _open(path, "mode=ro&immutable=1", timeout)   # no writer at work: nothing made beside the file
    connection = _open(path, "mode=ro", timeout)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:      # immutable reads the file alone: its latest records unseen
        raise RegistryError(f"{path}: its latest records are in {wal.name}, which SQLite reads only with a "
                            f"{path.name}-shm beside it, and this folder may not be written to make one: copy "
                            f"{path.name} and {wal.name} to a folder you may write, and name that copy")
    return _open(path, "mode=ro&immutable=1", timeout)


def _read_only(path: Path) -> bool:
    """Whether ``path`` exists and this process may not write it."""
    return path.exists() and not os.access(path, os.W_OK)


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` and make files beside it (SQLite's WAL index, ``-shm``)."""
    return os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK | os.X_OK)


def _check_readable(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a registry this process may only read unless it is of this version: migrating writes."""
    if _version(connection, path, create=False) != SCHEMA_VERSION:
        raise RegistryError(f"{path}: registry schema version {_version(connection, path, create=False)} needs "
                            "migrating, which needs write access: open it once as a user who may write it")


def _create(path: Path) -> None:
    """Make ``path`` an empty file that only its owner can read: a registry holds a copy of every master
    (SQLite gives its -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise RegistryError(f"{path}: already exists; a new registry needs a new file") from None
    except FileNotFoundError:
        raise RegistryError(f"{path}: folder {str(path.parent)!r} does not exist; create it first") from None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot create the registry ({exc.strerror or exc})") from None


def _remove_made(path: Path) -> None:
    """Remove a registry whose creation failed (a full disk): an empty file was left, which a second init
    refused and every other command called no registry."""
    for part in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{part}")


def _check_and_migrate(connection: sqlite3.Connection, path: Path, create: bool) -> None:
    """Refuse what is not a registry of a version we know; migrate an older one (a write lock only then)."""
    if _version(connection, path, create) == SCHEMA_VERSION:
        return
    with write(connection):
        version = _version(connection, path, create)     # again, under the lock: another process may have
        for number in range(version, SCHEMA_VERSION):    # migrated it meanwhile
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    try:
                        connection.execute(statement)
                    except sqlite3.OperationalError as exc:     # its tables are of another version than it says
                        raise RegistryError(f"{path}: registry schema version {version} does not match its tables "
                                            f"(migrating it failed: {exc}); the file was changed by another "
                                            "program: restore it from a backup") from None
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    if 0 < version < SCHEMA_VERSION:
        warnings.warn(RegistryMigratedWarning(f"{path}: registry migrated from schema version {version} to "
                                              f"{SCHEMA_VERSION}; older Filigrane versions can no longer open it"),
                      stacklevel=2)


def _version(connection: sqlite3.Connection, path: Path, create: bool) -> int:
    application = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if application != APPLICATION_ID and (application != 0 or tables or not create):
        if not tables and not create and path.exists() and path.stat().st_size == 0:
            raise RegistryError(f"{path}: an empty file, not a Filigrane registry (`watermark registry init` "
                                "makes one in a new file)")
        raise RegistryError(f"{path}: an SQLite database, but not a Filigrane registry")
    if version < 0:
        raise RegistryError(f"{path}: registry schema version {version} is none Filigrane writes; the file was "
                            "changed by another program: restore it from a backup")
    if version > SCHEMA_VERSION:
        raise RegistryError(f"{path}: registry schema version {version} is newer than this Filigrane's "
                            f"({SCHEMA_VERSION}); upgrade Filigrane to use it")
    return version


@contextlib.contextmanager
def write(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``), committed or rolled back whole; the
    connection's other threads wait for it (`turn`)."""
    with turn(connection):
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


@contextlib.contextmanager
def read(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every query in it sees the file as it was at the first (WAL keeps that
    snapshot while other processes write); the connection's other threads wait for it (`turn`)."""
    with turn(connection):
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
