"""Import an export (`watermark.registry.exporting`) into a registry, in one transaction.

Importing into a registry that already has records merges: identical entries are skipped; a
conflicting one aborts the whole import, which is one transaction: a copy whose id or (key,
payload) is taken by a different record, a key whose public id is there with another fingerprint,
a master whose SHA-256 is there with another path, size, perceptual hash, print or frame (a master
there without a frame gets the export's). When a key or master was added is each registry's own.

Each entry is checked before it is written (`watermark.registry.entries`); a malformed one is one line
naming it, and nothing is imported. A file is read as it streams (`import_file`): memory holds its keys
and copies and one master, whose print and frame are most of an export's bytes, and each master is
written, uncommitted, as soon as it is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike
from typing import Any, BinaryIO

import ijson

from ..errors import RegistryError
from . import holders, schema
from .entries import check_header, checked_copy, checked_key, checked_master, unrepeated
from .exporting import COPY_FIELDS, FORMAT
from .records import ISSUED, RESERVED, VOID
from .store import Registry

__all__ = ["import_document", "import_file"]

_MASTER_FIELDS = ("path", "width", "height", "phash", "print", "frame")
# Of one master (its SHA-256) in two registries, what must agree; the rest is the registry's own: where its
# file is on that registry's machine, and what a version of the tool derived from it (hash, print, frame)
_MASTER_SAME = ("width", "height")
_COPY_SAME = ("id", "payload", "output_path", "recipient", "metadata", "scheme", "tool_version", "reserved_at")
_LATER = {RESERVED: (ISSUED, VOID)}          # the states a reservation moves to, which a later export brings
_SECTIONS = ("keys", "masters", "copies")    # the export's lists, imported in this order
_NOT_A_LIST = object()                       # what `_document_fields` gives for a section that is not a list
_DEPTH = 32                                  # levels of JSON an import reads (an export has 4)
_NESTING = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}    # an ijson event's step in depth


def import_document(registry: Registry, document: Any, *, source: str = "import") -> dict[str, int]:
    """Merge an exported document (the parsed JSON) into ``registry`` in one transaction; returns what
    was added.

    Raises
    ------
    RegistryError
        The document is not an export, one of its entries is malformed, or one conflicts with a
        different one already there (see the module's notes); nothing is imported then.
    """
    return _import(registry, _document_fields(document, source), source)


def import_file(registry: Registry, path: str | PathLike[str], *, source: str | None = None) -> dict[str, int]:
    """`import_document` of the export file at ``path``, read as it streams: memory holds its keys and
    copies and one master at a time (a whole export of 20,000 masters took 18 GB).

    Raises
    ------
    RegistryError
        As `import_document`; also: the file cannot be read, or is not JSON.
    """
    source = str(path) if source is None else source
    try:
        with open(path, "rb") as stream:
            return _import(registry, _streamed_fields(stream, source), source)
    except RegistryError:
        raise
    except OSError as exc:
        raise RegistryError(f"{source}: cannot read ({exc.strerror or exc})") from None


def _import(registry: Registry, fields: Iterator[tuple[str, Any]], source: str) -> dict[str, int]:
    """Check and merge an export's top-level ``fields`` (`_document_fields`, `_streamed_fields`) in one
    transaction: masters are written as they come, keys and copies once every entry is in."""
    keys: list[dict] = []
    copies: list[dict] = []
    taken: dict[Any, str] = {}
    numbers = dict.fromkeys(_SECTIONS, 0)
    added = dict.fromkeys(_SECTIONS, 0)
    header: set[str] = set()
    with registry.errors(), schema.write(registry.connection) as db:
        for name, value in fields:
            if name in ("format", "version"):
                check_header(name, value, source)
                header.add(name)
                continue
            if value is _NOT_A_LIST:
                raise RegistryError(f"{source}: the export's \"{name}\" is not a list; nothing imported")
            numbers[name] += 1
            if name == "keys":
                keys.append(checked_key(value, numbers[name], source))
            elif name == "copies":
                copies.append(unrepeated(checked_copy(value, numbers[name], source), taken, source))
            else:
                added["masters"] += _import_master(db, checked_master(value, numbers[name], source), source)
        for name in ("format", "version"):
            if name not in header:
                check_header(name, None, source)
        for key in keys:
            added["keys"] += _import_key(db, key, source)
        for copy in copies:
            added["copies"] += _import_copy(db, copy, source)
    return added


def _document_fields(document: Any, source: str) -> Iterator[tuple[str, Any]]:
    """A parsed export's format, version and each entry of its lists, as `_import` takes them."""
    if not isinstance(document, dict):
        raise RegistryError(f"{source}: not a Filigrane registry export (no \"format\": \"{FORMAT}\")")
    yield "format", document.get("format")
    yield "version", document.get("version")
    for section in _SECTIONS:
        entries = document.get(section)
        if not isinstance(entries, list):
            yield section, _NOT_A_LIST
            continue
        for entry in entries:
            yield section, entry


def _streamed_fields(stream: BinaryIO, source: str) -> Iterator[tuple[str, Any]]:
    """`_document_fields` of the JSON text in ``stream``, each entry built only when its turn comes, in
    the order of the file (an export's copies come first), then a missing list as not a list."""
    events = _events(stream, source)
    if next(events, (None, None))[0] != "start_map":
        raise RegistryError(f"{source}: not a Filigrane registry export (no \"format\": \"{FORMAT}\")")
    seen = set()
    for event, name in events:
        if event == "end_map":
            break
        if name in seen:
            raise RegistryError(f"{source}: the export has \"{name}\" twice; nothing imported")
        seen.add(name)
        event, value = next(events)
        if name not in _SECTIONS:
            built = _value(events, event, value)
            if name in ("format", "version"):
                yield name, built
        elif event != "start_array":
            _value(events, event, value)
            yield name, _NOT_A_LIST
        else:
            for event, value in events:
                if event == "end_array":
                    break
                yield name, _value(events, event, value)
    for _ in events:                         # the parser's check that nothing follows
        pass
    for section in _SECTIONS:
        if section not in seen:
            yield section, _NOT_A_LIST


def _events(stream: BinaryIO, source: str) -> Iterator[tuple[str, Any]]:
    """ijson's events of the JSON text in ``stream``; its errors, and nesting deeper than an export's
    (a bomb of brackets), as one line each."""
    depth = 0
    try:
        for event, value in ijson.basic_parse(stream, use_float=True):
            depth += _NESTING.get(event, 0)
            if depth > _DEPTH:
                raise RegistryError(f"{source}: not an export (JSON nested too deeply)")
            yield event, value
    except RegistryError:
        raise
    except OSError as exc:
        raise RegistryError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except (ijson.JSONError, ValueError) as exc:   # not UTF-8, not JSON, or cut short
        said = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise RegistryError(f"{source}: not JSON ({said if len(said) <= 100 else said[:100] + '...'})") from None


def _value(events: Iterator[tuple[str, Any]], event: str, value: Any) -> Any:
    """The JSON value that starts with ``event``, built from the rest of it in ``events``."""
    if event not in ("start_map", "start_array"):
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for event, value in events:
        builder.event(event, value)
        depth += _NESTING.get(event, 0)
        if depth == 0:
            break
    return builder.value


def _import_key(db, key: dict, source: str) -> int:
    known = db.execute("SELECT fingerprint FROM keys WHERE public_id = ?", (key["public_id"],)).fetchone()
    if known is None:
        return db.execute("INSERT INTO keys (public_id, fingerprint, added_at) VALUES (?, ?, ?)",
                          (key["public_id"], key["fingerprint"], key["added_at"])).rowcount
    if known[0] != key["fingerprint"]:
        raise RegistryError(f"{source}: key {key['public_id']} has fingerprint {key['fingerprint']!r}, the "
                            f"registry's {known[0]!r}; nothing imported")
    return 0


def _import_master(db, master: dict, source: str) -> int:
    """Add ``master`` unless the registry has it (the same SHA-256: its own path, print and frame are kept, its
    frame added if it had none); refused if the two disagree on what the file is."""
    sha256, frame = master["sha256"], master["frame"]
    known = db.execute("SELECT m.width, m.height, f.png FROM masters m LEFT JOIN frames f ON f.master_id = m.id "
                       "WHERE m.sha256 = ?", (sha256,)).fetchone()
    if known is None:
        db.execute("INSERT INTO masters (sha256, path, width, height, phash, print, added_at) VALUES (?, ?, ?, ?, ?, "
                   "?, ?)", (sha256, *(master[name] for name in _MASTER_FIELDS[:-1]), master["added_at"]))
    else:
        if tuple(master[name] for name in _MASTER_SAME) != known[:2]:
            raise RegistryError(f"{source}: master {sha256} is {master['width']} x {master['height']} px in the "
                                f"export and {known[0]} x {known[1]} in the registry; nothing imported")
    if frame is not None and (known is None or known[2] is None):   # exports made before frames were kept have none
        db.execute("INSERT INTO frames (master_id, png) SELECT id, ? FROM masters WHERE sha256 = ?", (frame, sha256))
    return int(known is None)


def _import_copy(db, copy: dict, source: str) -> int:
    """Add ``copy``, or bring the registry's record of it to the later state the export has (a reservation
    since issued or voided); 1 if it was new or moved on. Refused if the registry has that id, or that key and
    payload, for another copy, or holds it issued as another file."""
    columns = ", ".join(f"c.{name}" for name in _COPY_SAME)
    existing = db.execute(f"SELECT {columns}, k.public_id, m.sha256, c.output_sha256, c.state FROM copies c JOIN "
                          "keys k ON k.id = c.key_id JOIN masters m ON m.id = c.master_id WHERE c.id = ? OR "
                          "(k.public_id = ? AND c.payload = ?)", (copy["id"], copy["key"], copy["payload"])).fetchall()
    if existing:
        *same, state = existing[0]
        differ = [name for name, here in zip((*_COPY_SAME, "key", "master", "output_sha256"), same)
                  if copy[name] != here and (name != "output_sha256" or state == copy["state"] == ISSUED)]
        if len(existing) > 1 or differ:
            what = ", ".join(differ) if differ else "id, and key and payload"
            raise RegistryError(f"{source}: copy {copy['id']} (payload {schema.to_unsigned(copy['payload']):#018x}) "
                                f"conflicts with record {existing[0][0]} already in the registry ({what} differ"
                                f"{'s' if len(differ) == 1 else ''}); nothing imported")
        if copy["state"] in _LATER.get(state, ()):
            db.execute("UPDATE copies SET state = ?, output_sha256 = ?, issued_at = ?, note = ? WHERE id = ?",
                       (copy["state"], copy["output_sha256"], copy["issued_at"], copy["note"], copy["id"]))
            return 1
        if copy["state"] != state and state not in _LATER.get(copy["state"], ()):
            raise RegistryError(f"{source}: copy {copy['id']} is {copy['state']} in the export and {state} in the "
                                "registry; nothing imported")
        return 0
    inserted = db.execute("INSERT INTO copies (id, key_id, payload, master_id, state, output_path, output_sha256, "
                          "recipient, metadata, scheme, tool_version, reserved_at, issued_at, note, holder) "
                          "SELECT ?, k.id, ?, m.id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM keys k, masters m "
                          "WHERE k.public_id = ? AND m.sha256 = ?",
                          (*(copy[field] for field in COPY_FIELDS if field not in ("key", "master")),
                           holders.IMPORTED, copy["key"], copy["master"])).rowcount
    if inserted != 1:
        raise RegistryError(f"{source}: copy {copy['id']} names a key or master that is in neither the export nor "
                            "the registry; nothing imported")
    return 1
