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
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import RegistryError
from . import schema
from .records import ISSUED, RESERVED, VOID
from .store import Registry

__all__ = ["FORMAT", "export_document", "export_json", "import_document"]

FORMAT = "filigrane-registry"
_VERSION = 1
_COPY_FIELDS = ("id", "key", "payload", "master", "state", "output_path", "output_sha256", "recipient", "metadata",
                "scheme", "tool_version", "reserved_at", "issued_at", "note")
_MASTER_FIELDS = ("path", "width", "height", "phash", "print", "frame")     # what makes two entries of a master one


def export_document(registry: Registry) -> dict[str, Any]:
    """Everything in ``registry`` as plain JSON-ready data (prints and frames in base64, payloads in 0x hex)."""
    db = registry.connection
    with registry.errors():
        keys = [{"public_id": p, "fingerprint": f, "added_at": a} for p, f, a in
                db.execute("SELECT public_id, fingerprint, added_at FROM keys ORDER BY added_at, public_id")]
        masters = [{"sha256": s, "path": p, "width": w, "height": h, "phash": f"{schema.to_unsigned(ph):016x}",
                    "print": base64.b64encode(pr).decode("ascii"), "added_at": a,
                    "frame": None if fr is None else base64.b64encode(fr).decode("ascii")}
                   for s, p, w, h, ph, pr, a, fr in db.execute(
                       "SELECT sha256, path, width, height, phash, print, added_at, f.png FROM masters m "
                       "LEFT JOIN frames f ON f.master_id = m.id ORDER BY added_at, sha256")]
        copies = [dict(zip(_COPY_FIELDS, (i, k, f"{schema.to_unsigned(pay):#018x}", m, st, op, osha, r,
                                          json.loads(meta), sc, tv, ra, ia, note)))
                  for i, k, pay, m, st, op, osha, r, meta, sc, tv, ra, ia, note in db.execute(
                      "SELECT c.id, k.public_id, c.payload, m.sha256, c.state, c.output_path, c.output_sha256, "
                      "c.recipient, c.metadata, c.scheme, c.tool_version, c.reserved_at, c.issued_at, c.note "
                      "FROM copies c JOIN keys k ON k.id = c.key_id JOIN masters m ON m.id = c.master_id "
                      "ORDER BY c.reserved_at, c.id")]
    return {"format": FORMAT, "version": _VERSION, "keys": keys, "masters": masters, "copies": copies}


def export_json(registry: Registry) -> str:
    """The export as canonical JSON text (sorted keys, one entry per line, final newline)."""
    return json.dumps(export_document(registry), sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def import_document(registry: Registry, document: Any, *, source: str = "import") -> dict[str, int]:
    """Merge an exported document into ``registry`` in one transaction; returns what was added.

    Raises
    ------
    RegistryError
        The document is not an export, or one of its entries conflicts with a different one already
        there (see the module's notes); nothing is imported then.
    """
    if not (isinstance(document, dict) and document.get("format") == FORMAT):
        raise RegistryError(f"{source}: not a Filigrane registry export (no \"format\": \"{FORMAT}\")")
    if document.get("version") != _VERSION:
        raise RegistryError(f"{source}: export version {document.get('version')!r} is not {_VERSION}")
    added = {"keys": 0, "masters": 0, "copies": 0}
    try:
        with registry.errors(), schema.write(registry.connection) as db:
            for key in document["keys"]:
                added["keys"] += _import_key(db, key, source)
            for master in document["masters"]:
                added["masters"] += _import_master(db, master, source)
            for copy in document["copies"]:
                added["copies"] += _import_copy(db, copy, source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RegistryError(f"{source}: malformed registry export ({type(exc).__name__}: {exc})") from None
    return added


def _uint64(text: str, what: str, source: str) -> int:
    """The unsigned 64-bit integer written in hex as ``text``; a `RegistryError` naming ``what`` if it is not one."""
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 64:
        raise RegistryError(f"{source}: {what} {text!r} is not a 64-bit unsigned hex number; nothing imported")
    return value


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
    sha256 = master["sha256"]
    fields = (master["path"], master["width"], master["height"],
              schema.to_signed(_uint64(master["phash"], f"master {sha256}: phash", source)),
              base64.b64decode(master["print"], validate=True))
    frame = None if master.get("frame") is None else base64.b64decode(master["frame"], validate=True)
    known = db.execute("SELECT m.path, m.width, m.height, m.phash, m.print, f.png FROM masters m "
                       "LEFT JOIN frames f ON f.master_id = m.id WHERE m.sha256 = ?", (sha256,)).fetchone()
    if known is None:
        db.execute("INSERT INTO masters (sha256, path, width, height, phash, print, added_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (sha256, *fields, master["added_at"]))
    else:
        differ = [name for name, here, there in zip(_MASTER_FIELDS, known, (*fields, frame))
                  if here != there and not (name == "frame" and None in (here, there))]
        if differ:
            raise RegistryError(f"{source}: master {sha256} differs from the registry's ({', '.join(differ)}); "
                                "nothing imported")
    if frame is not None and (known is None or known[5] is None):   # exports made before frames were kept have none
        db.execute("INSERT INTO frames (master_id, png) SELECT id, ? FROM masters WHERE sha256 = ?", (frame, sha256))
    return int(known is None)


def _import_copy(db, copy: dict, source: str) -> int:
    if copy["state"] not in (RESERVED, ISSUED, VOID):
        raise ValueError(f"unknown state {copy['state']!r}")
    payload = schema.to_signed(_uint64(copy["payload"], f"copy {copy['id']}: payload", source))
    values = (copy["id"], payload, copy["state"], copy["output_path"], copy["output_sha256"], copy["recipient"],
              json.dumps(copy["metadata"], sort_keys=True, ensure_ascii=False, separators=(",", ":")),
              copy["scheme"], copy["tool_version"], copy["reserved_at"], copy["issued_at"], copy["note"])
    existing = db.execute("SELECT c.id, c.payload, c.state, c.output_path, c.output_sha256, c.recipient, c.metadata, "
                          "c.scheme, c.tool_version, c.reserved_at, c.issued_at, c.note, k.public_id, m.sha256 "
                          "FROM copies c JOIN keys k ON k.id = c.key_id JOIN masters m ON m.id = c.master_id "
                          "WHERE c.id = ? OR (k.public_id = ? AND c.payload = ?)",
                          (copy["id"], copy["key"], payload)).fetchall()
    if existing:
        if len(existing) == 1 and existing[0] == (*values, copy["key"], copy["master"]):
            return 0
        raise RegistryError(f"{source}: copy {copy['id']} (payload {copy['payload']}) conflicts with record "
                            f"{existing[0][0]} already in the registry; nothing imported")
    inserted = db.execute("INSERT INTO copies (id, key_id, payload, master_id, state, output_path, output_sha256, "
                          "recipient, metadata, scheme, tool_version, reserved_at, issued_at, note) "
                          "SELECT ?, k.id, ?, m.id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM keys k, masters m "
                          "WHERE k.public_id = ? AND m.sha256 = ?", (*values, copy["key"], copy["master"])).rowcount
    if inserted != 1:
        raise ValueError(f"copy {copy['id']} names a key or master that is not in the export")
    return 1
