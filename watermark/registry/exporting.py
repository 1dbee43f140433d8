"""Export a registry to one JSON document, exactly (`watermark.registry.importing` reads it back).

The document names keys by public id, masters by SHA-256 and copies by their UUID (never by the
file's row numbers), lists each in a fixed order and is written with sorted keys, so that
export -> import into an empty registry -> export gives the same bytes. It holds records in every
state: a void payload stays taken after a restore, and a reservation can still be finished.
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from collections.abc import Iterator
from typing import Any, TextIO

from . import schema
from .records import metadata_of
from .store import Registry

__all__ = ["FORMAT", "COPY_FIELDS", "export_document", "export_json", "write_export"]

FORMAT = "filigrane-registry"
_VERSION = 2                                 # 2: masters carry their frames (which 1's importers drop)
COPY_FIELDS = ("id", "key", "payload", "master", "state", "output_path", "output_sha256", "recipient", "metadata",
               "scheme", "tool_version", "reserved_at", "issued_at", "note")


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
        yield dict(zip(COPY_FIELDS, (i, k, f"{schema.to_unsigned(pay):#018x}", m, st, op, osha, r,
                                      metadata_of(meta), sc, tv, ra, ia, note)))
