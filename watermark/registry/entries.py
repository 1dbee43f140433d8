"""An export's header and entries checked before anything of it is imported, each entry in the registry's
own form (`watermark.registry.importing`).

Every field of an export is checked before it is written: its type and range, the registry's own
formats (times, ids, hex, payloads written 0x, paths not empty), a master's print must decode and its
frame be the PNG of its size (its header read first: a decompression bomb is never decoded); a copy is
not issued before it was reserved, and no two copies of the export share an id or a key and payload.
A malformed entry is one line naming it, and nothing is imported.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PIL import Image

from ..errors import RegistryError
from ..features import PRINT_LIMIT, THUMBNAIL_SIDE, MasterPrint
from . import frames, schema
from .exporting import FORMAT
from .records import ISSUED, RESERVED, VOID, metadata_text

__all__ = ["check_header", "checked_key", "checked_master", "checked_copy", "unrepeated"]

_MAX_SIDE = 65535                            # px, a master's largest side (JPEG's): a frame is then <= 34 Mpx
_READ_VERSIONS = (1, 2)
_ABSENT_IN_OLD_EXPORTS = ("frame",)          # version 1 exports made before frames were kept have none
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"       # the registry's times (`watermark.registry.store.utc_now`)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_SURROGATE = re.compile("[\ud800-\udfff]")   # what no UTF-8 text holds (SQLite stores UTF-8)
_SHOWN = 40                                  # characters of a value that an error quotes


def check_header(name: str, value: Any, source: str) -> None:
    """Refuse an export whose ``"format"`` is not `FORMAT` or whose ``"version"`` this Filigrane does not read."""
    if name == "format" and value != FORMAT:
        raise RegistryError(f"{source}: not a Filigrane registry export (no \"format\": \"{FORMAT}\")")
    if name == "version" and (type(value) is not int or value not in _READ_VERSIONS):
        raise RegistryError(f"{source}: export version {_shown(value)} is not one this Filigrane reads "
                            f"({', '.join(map(str, _READ_VERSIONS))})")


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


def checked_key(entry: Any, number: int, source: str) -> dict[str, Any]:
    return _fields(entry, _KEY_CHECKS, "key", number, source)[0]


def checked_master(entry: Any, number: int, source: str) -> dict[str, Any]:
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


def checked_copy(entry: Any, number: int, source: str) -> dict[str, Any]:
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


def unrepeated(copy: dict, taken: dict[Any, str], source: str) -> dict:
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
