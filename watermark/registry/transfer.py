"""Export a registry to one JSON document and import it back, exactly.

The document names keys by public id, masters by SHA-256 and copies by their UUID (never by the
file's row numbers), lists each in a fixed order and is written with sorted keys, so that
export -> import into an empty registry -> export gives the same bytes. It holds records in every
state: a void payload stays taken after a restore, and a reservation can still be finished.

Importing into a registry that already has records merges: identical entries are skipped; a
conflicting one aborts the whole import, which is one transaction: a copy whose id or (key,
payload) is taken by a different record, a key whose public id is there with another fingerprint,
a master whose SHA-256 is there with another path, size, perceptual hash, print or frame (a master
there without a frame gets the export's). When a key or master was added is each registry's own.

Every field of an export is checked before it is written: its type and range, the registry's own
formats (times, ids, hex, payloads written 0x, paths not empty), a master's print must decode and its
frame be the PNG of its size (its header read first: a decompression bomb is never decoded); a copy is
not issued before it was reserved, and no two copies of the export share an id or a key and payload.
A malformed entry is one line naming it, and nothing is imported. A file is read as it streams
(`import_file`): memory holds its keys and copies and one master, whose print and frame are most of
an export's bytes, and each master is written, uncommitted, as soon as it is checked.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from os import PathLike
from typing import Any, BinaryIO, TextIO

import ijson
from PIL import Image

from ..errors import RegistryError
from ..features import PRINT_LIMIT, THUMBNAIL_SIDE, MasterPrint
from . import frames, holders, schema
from .records import ISSUED, RESERVED, VOID, metadata_of, metadata_text
from .store import Registry

__all__ = ["FORMAT", "export_document", "export_json", "write_export", "import_document", "import_file"]

FORMAT = "filigrane-registry"
_MAX_SIDE = 65535                            # px, a master's largest side (JPEG's): a frame is then <= 34 Mpx
_VERSION = 2                                 # 2: masters carry their frames (which 1's importers drop)
_READ_VERSIONS = (1, 2)
_COPY_FIELDS = ("id", "key", "payload", "master", "state", "output_path", "output_sha256", "recipient", "metadata",
                "scheme", "tool_version", "reserved_at", "issued_at", "note")
_MASTER_FIELDS = ("path", "width", "height", "phash", "print", "frame")
# Of one master (its SHA-256) in two registries, what must agree; the rest is the registry's own: where its
# file is on that registry's machine, and what a version of the tool derived from it (hash, print, frame)
_MASTER_SAME = ("width", "height")
_COPY_SAME = ("id", "payload", "output_path", "recipient", "metadata", "scheme", "tool_version", "reserved_at")
_LATER = {RESERVED: (ISSUED, VOID)}          # the states a reservation moves to, which a later export brings
_ABSENT_IN_OLD_EXPORTS = ("frame",)          # version 1 exports made before frames were kept have none
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"       # the registry's times (`watermark.registry.store.utc_now`)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_SURROGATE = re.compile("[\ud800-\udfff]")   # what no UTF-8 text holds (SQLite stores UTF-8)
_SHOWN = 40                                  # characters of a value that an error quotes
_SECTIONS = ("keys", "masters", "copies")    # the export's lists, imported in this order
_NOT_A_LIST = object()                       # what `_document_fields` gives for a section that is not a list
_DEPTH = 32                                  # levels of JSON an import reads (an export has 4)
_NESTING = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}    # an ijson event's step in depth


def export_document(registry: Registry) -> dict[str, Any]:
    """Everything in ``registry`` as plain JSON-ready data (prints and frames in base64, payloads in 0x hex),
    read in one transaction: a copy issued meanwhile is in it with its key and master, or not at all."""
    with registry.errors(), schema.decoding(registry.path), schema.read(registry.connection) as db:
        return {"format": FORMAT, "version": _VERSION, "keys": list(_keys(db)), "masters": list(_masters(db)),
                "copies": list(_copies(db))}


def export_json(registry: Registry) -> str:
    """The export as canonical JSON text (sorted keys, one entry per line, final newline)."""
    text = io.StringIO()
    write_export(registry, text)
    return text.getvalue()


def write_export(registry: Registry, out: TextIO) -> None:
    """Write `export_json`'s text to ``out`` an entry at a time, read in one transaction: memory holds one
    master's print and frame, not the whole registry (an export of 20,000 masters took 10 GB)."""
    with registry.errors(), schema.decoding(registry.path), schema.read(registry.connection) as db:
        # json.dumps(document, sort_keys=True, indent=1)'s text, its lists written as their entries come
        out.write("{\n")
        _write_list(out, "copies", _copies(db))
        out.write(f',\n "format": {json.dumps(FORMAT)},\n')
        _write_list(out, "keys", _keys(db))
        out.write(",\n")
        _write_list(out, "masters", _masters(db))
        out.write(f',\n "version": {_VERSION}\n}}\n')


def _write_list(out: TextIO, name: str, entries: Iterator[dict[str, Any]]) -> None:
    """`` "name": [...]`` as json.dumps(indent=1) writes it one level in, each entry written as it comes."""
    out.write(f" {json.dumps(name)}: [")
    written = False
    for entry in entries:
        text = json.dumps(entry, sort_keys=True, indent=1, ensure_ascii=False).replace("\n", "\n  ")
        out.write((",\n  " if written else "\n  ") + text)
        written = True
    out.write("\n ]" if written else "]")


def _keys(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for public_id, fingerprint, added_at in db.execute(
            "SELECT public_id, fingerprint, added_at FROM keys ORDER BY added_at, public_id"):
        yield {"public_id": public_id, "fingerprint": fingerprint, "added_at": added_at}


def _masters(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for sha256, path, width, height, phash, print_, added_at, frame in db.execute(
            "SELECT sha256, path, width, height, phash, print, added_at, f.png FROM masters m "
            "LEFT JOIN frames f ON f.master_id = m.id ORDER BY added_at, sha256"):
        yield {"sha256": sha256, "path": path, "width": width, "height": height,
               "phash": f"{schema.to_unsigned(phash):016x}", "print": base64.b64encode(print_).decode("ascii"),
               "added_at": added_at, "frame": None if frame is None else base64.b64encode(frame).decode("ascii")}


def _copies(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for i, k, pay, m, st, op, osha, r, meta, sc, tv, ra, ia, note in db.execute(
            "SELECT c.id, k.public_id, c.payload, m.sha256, c.state, c.output_path, c.output_sha256, "
            "c.recipient, c.metadata, c.scheme, c.tool_version, c.reserved_at, c.issued_at, c.note "
            "FROM copies c JOIN keys k ON k.id = c.key_id JOIN masters m ON m.id = c.master_id "
            "ORDER BY c.reserved_at, c.id"):
        yield dict(zip(_COPY_FIELDS, (i, k, f"{schema.to_unsigned(pay):#018x}", m, st, op, osha, r,
                                      metadata_of(meta), sc, tv, ra, ia, note)))


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
                _check_header(name, value, source)
                header.add(name)
                continue
            if value is _NOT_A_LIST:
                raise RegistryError(f"{source}: the export's \"{name}\" is not a list; nothing imported")
            numbers[name] += 1
            if name == "keys":
                keys.append(_key(value, numbers[name], source))
            elif name == "copies":
                copies.append(_unrepeated(_copy(value, numbers[name], source), taken, source))
            else:
                added["masters"] += _import_master(db, _master(value, numbers[name], source), source)
        for name in ("format", "version"):
            if name not in header:
                _check_header(name, None, source)
        for key in keys:
            added["keys"] += _import_key(db, key, source)
        for copy in copies:
            added["copies"] += _import_copy(db, copy, source)
    return added


def _check_header(name: str, value: Any, source: str) -> None:
    """Refuse an export whose ``"format"`` or ``"version"`` is not this module's."""
    if name == "format" and value != FORMAT:
        raise RegistryError(f"{source}: not a Filigrane registry export (no \"format\": \"{FORMAT}\")")
    if name == "version" and (type(value) is not int or value not in _READ_VERSIONS):
        raise RegistryError(f"{source}: export version {_shown(value)} is not one this Filigrane reads "
                            f"({', '.join(map(str, _READ_VERSIONS))})")


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


def _shown(value: Any) -> str:
    """``value`` as an error quotes it: its repr, cut to :data:`_SHOWN` characters (containers elided)."""
    if isinstance(value, list | dict):
        return "[...]" if isinstance(value, list) else "{...}"
    text = repr(value[:_SHOWN + 1] if isinstance(value, str) else value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _is_text(value: Any) -> bool:
    """Whether ``value`` is text SQLite can store (valid UTF-8: no lone surrogates)."""
    return isinstance(value, str) and _SURROGATE.search(value) is None


def _is_path(value: Any) -> bool:
    return _is_text(value) and value != "" and "\0" not in value


def _is_side(value: Any) -> bool:
    return type(value) is int and 0 < value <= _MAX_SIDE


def _is_time(value: Any) -> bool:
    """Whether ``value`` is a UTC time as the registry writes it."""
    if not (isinstance(value, str) and _TIME.fullmatch(value)):
        return False
    try:
        datetime.strptime(value, _TIME_FORMAT)
    except ValueError:
        return False
    return True


def _is_base64(value: Any) -> bool:
    try:
        return isinstance(value, str) and base64.b64decode(value, validate=True) is not None
    except ValueError:
        return False


def _is_metadata(value: Any) -> bool:
    return isinstance(value, dict) and all(_is_text(name) and _is_text(text) for name, text in value.items())


def _matching(pattern: str) -> Callable[[Any], bool]:
    compiled = re.compile(pattern)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def _optional(check: tuple[Callable[[Any], bool], str]) -> tuple[Callable[[Any], bool], str]:
    return (lambda value: value is None or check[0](value)), f"null or {check[1]}"


_TEXT = (_is_text, "UTF-8 text")
_PUBLIC_ID = (_matching("[0-9a-f]{32}"), "32 hex digits")
_SHA256 = (_matching("[0-9a-f]{64}"), "64 hex digits")
_TIMESTAMP = (_is_time, "a UTC time as the registry writes it (2001-01-31T23:59:59.000000Z)")
_PHASH = (_matching("[0-9a-f]{16}"), "16 hex digits in lower case, as the export writes it")
_PAYLOAD = (_matching("0x[0-9a-f]{16}"), "0x and 16 hex digits in lower case, as the export writes it")
_SIDE = (_is_side, f"a whole number of pixels from 1 to {_MAX_SIDE}")
_PATH = (_is_path, "a path (UTF-8 text, not empty, without NUL)")
_KEY_CHECKS = {"public_id": _PUBLIC_ID, "fingerprint": (_matching("[0-9a-f]{8}"), "8 hex digits"),
               "added_at": _TIMESTAMP}
_MASTER_CHECKS = {"sha256": _SHA256, "path": _PATH, "width": _SIDE, "height": _SIDE, "phash": _PHASH,
                  "print": (_is_base64, "base64"), "frame": _optional((_is_base64, "base64")),
                  "added_at": _TIMESTAMP}
_COPY_CHECKS = {"id": (_matching("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
                       "a record id (a UUID in lower case)"),
                "key": _PUBLIC_ID, "payload": _PAYLOAD, "master": _SHA256,
                "state": ((lambda value: value in (RESERVED, ISSUED, VOID)), f"{RESERVED}, {ISSUED} or {VOID}"),
                "output_path": _PATH, "output_sha256": _optional(_SHA256), "recipient": _optional(_TEXT),
                "metadata": (_is_metadata, "an object of UTF-8 text fields"), "scheme": _TEXT,
                "tool_version": _TEXT, "reserved_at": _TIMESTAMP, "issued_at": _optional(_TIMESTAMP),
                "note": _optional(_TEXT)}


def _fields(entry: Any, checks: dict, kind: str, number: int, source: str) -> tuple[dict[str, Any], str]:
    """The fields of the ``number``-th ``kind`` of the export that ``checks`` names, each checked, and
    the name errors give it: ``kind`` and its first field (its id) once that is checked."""
    name = f"{kind} #{number}"
    if not isinstance(entry, dict):
        raise RegistryError(f"{source}: {name} is not an object; nothing imported")
    for index, (field, (valid, what)) in enumerate(checks.items()):
        if field not in entry and field not in _ABSENT_IN_OLD_EXPORTS:
            raise RegistryError(f"{source}: {name}: no {field}; nothing imported")
        if not valid(entry.get(field)):
            raise RegistryError(f"{source}: {name}: {field} {_shown(entry[field])} is not {what}; nothing imported")
        if index == 0:
            name = f"{kind} {entry[field]}"
    return {field: entry.get(field) for field in checks}, name


def _key(entry: Any, number: int, source: str) -> dict[str, Any]:
    return _fields(entry, _KEY_CHECKS, "key", number, source)[0]


def _master(entry: Any, number: int, source: str) -> dict[str, Any]:
    """A master's checked fields, its phash as SQLite's INTEGER, its print and frame as bytes."""
    master, name = _fields(entry, _MASTER_CHECKS, "master", number, source)
    master["phash"] = schema.to_signed(int(master["phash"], 16))
    master["print"] = _print(base64.b64decode(master["print"]), name, source)
    if master["frame"] is not None:
        master["frame"] = base64.b64decode(master["frame"])
        try:
            frames.decode(master["frame"], master["width"], master["height"], name=f"{source}: {name}")
        except RegistryError as exc:
            raise RegistryError(f"{exc}; nothing imported") from None
    return master


def _print(blob: bytes, name: str, source: str) -> bytes:
    """``blob`` if it is a master print (`MasterPrint.from_bytes`) of a sound size, with a thumbnail's JPEG."""
    try:
        decoded: MasterPrint | None = MasterPrint.from_bytes(blob)
    except ValueError:                       # not a print (InvalidImageError), or one cut short
        decoded = None
    if (decoded is None or len(blob) > PRINT_LIMIT or not (_is_side(decoded.width) and _is_side(decoded.height))
            or not 0 < _thumbnail_side(decoded.thumbnail) <= THUMBNAIL_SIDE):
        raise RegistryError(f"{source}: {name}: print is not a Filigrane master print of at most {PRINT_LIMIT} "
                            f"bytes with a thumbnail of at most {THUMBNAIL_SIDE} px; nothing imported")
    return blob


def _thumbnail_side(data: bytes) -> int:
    """The long side of the JPEG ``data``, from its header (0 if it is not one, or declares a bomb's size)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as thumbnail:
                return max(thumbnail.size)
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return 0


def _copy(entry: Any, number: int, source: str) -> dict[str, Any]:
    """A copy's checked fields, its payload as SQLite's INTEGER and its metadata as the registry's text."""
    copy, name = _fields(entry, _COPY_CHECKS, "copy", number, source)
    both = copy["output_sha256"] is not None and copy["issued_at"] is not None
    if (copy["state"] == ISSUED) != both:
        raise RegistryError(f"{source}: {name}: state {copy['state']!r} with{'' if both else 'out'} both "
                            "output_sha256 and issued_at (only an issued copy has both); nothing imported")
    if copy["issued_at"] is not None and copy["issued_at"] < copy["reserved_at"]:
        raise RegistryError(f"{source}: {name}: issued_at {copy['issued_at']} is earlier than reserved_at "
                            f"{copy['reserved_at']}; nothing imported")
    copy["payload"] = schema.to_signed(int(copy["payload"], 16))
    copy["metadata"] = metadata_text(copy["metadata"])
    return copy


def _unrepeated(copy: dict, taken: dict[Any, str], source: str) -> dict:
    """``copy``, refused when an earlier copy of the export (``taken``) has its id, or its key and payload."""
    payload = f"{schema.to_unsigned(copy['payload']):#018x}"
    if copy["id"] in taken:
        raise RegistryError(f"{source}: copy {copy['id']} is in the export twice; nothing imported")
    if (copy["key"], payload) in taken:
        raise RegistryError(f"{source}: copy {copy['id']} has the payload {payload} of copy "
                            f"{taken[copy['key'], payload]} under the same key, in this same export; "
                            "nothing imported")
    taken[copy["id"]] = taken[copy["key"], payload] = copy["id"]
    return copy


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
                          (*(copy[field] for field in _COPY_FIELDS if field not in ("key", "master")),
                           holders.IMPORTED, copy["key"], copy["master"])).rowcount
    if inserted != 1:
        raise RegistryError(f"{source}: copy {copy['id']} names a key or master that is in neither the export nor "
                            "the registry; nothing imported")
    return 1
