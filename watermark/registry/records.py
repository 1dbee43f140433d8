"""What a registry holds, as small frozen values: a registered master and an issued copy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Master", "Record", "RESERVED", "ISSUED", "VOID", "metadata_text", "metadata_of"]

RESERVED, ISSUED, VOID = "reserved", "issued", "void"


@dataclass(frozen=True)
class Master:
    """An original that copies were made from, with what finds it again when its file is gone.

    Attributes
    ----------
    id : int
        The registry's number for it (not stable across registries: ``sha256`` is).
    sha256 : str
        Hex SHA-256 of the master file's bytes.
    path : str
        Where the file was when it was registered (it may have moved since), absolute; bytes of a file
        name that are not valid UTF-8 are written ``\\xNN``.
    width, height : int
        Pixel size, upright.
    phash : int
        64-bit perceptual hash (`watermark.fingerprint.perceptual_hash`).
    print : bytes
        The master's print (`watermark.features.MasterPrint`): local features and a thumbnail,
        at most 64 KB; decode it with ``MasterPrint.from_bytes``.
    added_at : str
        UTC ISO-8601 time of registration.
    """

    id: int
    sha256: str
    path: str
    width: int
    height: int
    phash: int
    print: bytes = field(repr=False)
    added_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields for reports (no print)."""
        return {"sha256": self.sha256, "path": self.path, "width": self.width, "height": self.height,
                "phash": f"{self.phash:016x}", "added_at": self.added_at}


@dataclass(frozen=True)
class Record:
    """One copy of a master issued (or being issued) to a recipient under a key, with its payload.

    ``state`` is ``"reserved"`` from the payload's allocation until the output is written and
    checked, then ``"issued"``; a reservation that never produced its output becomes ``"void"``,
    and its payload is never used again under that key.

    Attributes
    ----------
    id : str
        A random UUID (version 4), the record's identity everywhere (exports, reports, C2PA).
    key : str
        The key's public id (`Key.public_id`), never the key.
    payload : int
        The 64-bit payload marked into the copy.
    master : Master
        The original the copy was made from.
    state : str
        ``"reserved"``, ``"issued"`` or ``"void"``.
    output_path : str
        Where the copy was written (absolute; written as ``path`` of `Master` is).
    output_sha256 : str or None
        Hex SHA-256 of the issued file's bytes; None until issued.
    recipient : str or None
        Who received the copy.
    metadata : dict
        Free ``str -> str`` fields given at issue time (licence, order number, ...).
    scheme, tool_version : str
        The watermarking scheme and the Filigrane version that made the copy.
    reserved_at, issued_at : str
        UTC ISO-8601 times; ``issued_at`` is None until issued.
    note : str or None
        Why a reservation was voided.
    """

    id: str
    key: str
    payload: int
    master: Master
    state: str
    output_path: str
    output_sha256: str | None
    recipient: str | None
    metadata: dict = field(hash=False)
    scheme: str
    tool_version: str
    reserved_at: str
    issued_at: str | None
    note: str | None = None

    def __str__(self) -> str:
        who = self.recipient if self.recipient is not None else "(no recipient)"
        when = self.issued_at or f"reserved {self.reserved_at}"
        return f"{self.id} {self.state} payload {self.payload:#018x} to {who} of {self.master.path} ({when})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: the payload as 0x hex (JSON numbers lose 64-bit precision)."""
        return {"id": self.id, "key": self.key, "payload": f"{self.payload:#018x}", "state": self.state,
                "recipient": self.recipient, "metadata": self.metadata, "master": self.master.to_dict(),
                "output_path": self.output_path, "output_sha256": self.output_sha256, "scheme": self.scheme,
                "tool_version": self.tool_version, "reserved_at": self.reserved_at,
                "issued_at": self.issued_at, "note": self.note}


def metadata_text(metadata: dict | None) -> str:
    """The canonical JSON text of a metadata dict (sorted keys: byte-identical round trips)."""
    return json.dumps(metadata or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def metadata_of(text: str) -> dict:
    """The metadata dict stored as ``text``; ValueError if it is not a JSON object (a damaged registry)."""
    metadata = json.loads(text)
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata {text[:40]!r} is not a JSON object")
    return metadata
