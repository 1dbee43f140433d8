"""Issue a marked copy of a master file and record it, so that a crash at any point loses nothing.

The order is: register the master (SHA-256, size, perceptual hash, print) -> reserve a payload
(committed) -> embed -> write the output atomically -> record it as issued with the output's
SHA-256 (committed). After a SIGKILL anywhere, the registry is sound (each step is one SQLite
transaction), every ``issued`` record points to a complete output (the output exists before the
record says so, and it only appears whole, by rename), and no payload is used twice. Running the
same job again (`issue_file` with the same key, master, output, recipient, metadata and payload, if one
is given) finishes it:

- the output exists and an issued record of that same job has its SHA-256: skipped; a record of another
  job (recipient, metadata, payload, or master: its file changed since) is refused with one line;
- a reservation whose output exists and carries the reservation's payload (read back with the
  key): the crash came between the write and the record, so it is recorded as issued ("recovered"),
  if the reservation is that same job's; another job's is refused with one line naming it (its own
  command records it), or, with ``overwrite``, recorded as the copy it is and then replaced;
- a reservation without its output, or whose output does not read back: voided (its payload is
  never used again) and a new payload is drawn.

An exception (Ctrl-C) that comes once the output is in place, holding the bytes this run wrote, leaves
the reservation for a rerun to record; one that comes before voids it.

Only the reservations of processes that are gone are finished or voided so (`watermark.registry.holders`):
one that another run is still at work on (the same command run twice at once) fails this copy with one
line, and the other run issues it; one merged from another registry (`registry import`) is never voided
here (its output may be on another machine), but finished when the output here carries its payload (a
registry restored from its own export).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import api_files, imageio, imageplace, imagewrite, pixellimit, schemes
from ..errors import (
    FiligraneWarning,
    InvalidImageError,
    IssuedCopyError,
    OutputExistsError,
    ParameterError,
    RegistryError,
)
from ..features import master_print
from ..fingerprint import perceptual_hash
from ..keys import Key
from ..signer import ManifestSigner, new_manifest_id
from ..sources import printable
from . import frames
from .records import ISSUED, RESERVED, VOID, Master, Record
from .store import Registry

__all__ = ["Issued", "issue_file", "register_master", "file_sha256"]


@dataclass(frozen=True)
class Issued:
    """What `issue_file` did: ``status`` is ``"issued"``, ``"recovered"`` (an interrupted run's
    output recorded) or ``"skipped"`` (already issued), and the copy's record."""

    status: str
    record: Record

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the status, the record's id and payload (0x hex), recipient and output."""
        return {"status": self.status, "record": self.record.id, "payload": f"{self.record.payload:#018x}",
                "recipient": self.record.recipient, "output_sha256": self.record.output_sha256}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register_master(registry: Registry, path: str | os.PathLike, loaded: imageio.LoadedImage | None = None,
                    *, max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS, sha256: str | None = None) -> Master:
    """Register the master file at ``path`` (idempotent): its SHA-256 (``sha256`` when the caller has it),
    size, perceptual hash, print and frame (a master registered before frames were kept gets its frame now)."""
    path = Path(path)
    sha256 = sha256 or file_sha256(path)
    known = registry.master(sha256)
    if known is not None and registry.frame(known) is not None:
        return _followed(registry, known, path)
    if loaded is None:
        loaded = imageio.load_image(path, max_pixels=max_pixels, animated="error")
    width, height = loaded.original_size       # (a 16-bit colour master is an array, whose .size is a count)
    return _followed(registry, registry.add_master(
        sha256=sha256, path=path.resolve(), width=width, height=height, phash=perceptual_hash(loaded.image),
        print_=master_print(loaded.image).to_bytes(), frame=frames.encode(loaded.image)), path)


def _followed(registry: Registry, master: Master, path: Path) -> Master:
    """``master``, its file at ``path``: recorded there when its recorded place no longer holds it (a master
    moved or renamed kept the old place forever, and a scan read its copies against the registry's frame, far
    less sensitive than the file)."""
    if master.path == printable(os.path.realpath(path)):     # as the registry stores a path
        return master
    try:
        held = file_sha256(master.path) == master.sha256
    except OSError:
        held = False
    return master if held else registry.move_master(master, path)


def issue_file(registry: Registry, source: str | os.PathLike, destination: str | os.PathLike, key: Key, *,
               payload: int | None = None, recipient: str | None = None, metadata: dict[str, str] | None = None,
               strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
               overwrite: bool = False, max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS,
               c2pa_signer: ManifestSigner | None = None, on_written: Callable[[], None] | None = None) -> Issued:
    """Mark ``source`` into ``destination`` (as `watermark.embed_file`) and record the copy.

    Without ``payload`` the registry draws a fresh random one; a given ``payload`` is refused if
    ``key`` has ever used it. Rerunning an interrupted call finishes it (see the module's notes).
    With ``c2pa_signer`` the output carries a signed C2PA manifest soft-bound to the mark, whose id
    the record keeps in its metadata (``c2pa_manifest``). ``on_written`` is called once the output is in
    place, just before it is recorded as issued (a batch worker defers a stop from then on, so that a copy
    recorded never lacks its row).

    A ``source`` that is a copy this registry issued under ``key`` is refused (`IssuedCopyError`); one that otherwise
    carries ``key``'s mark is marked all the same, with an `AlreadyMarkedWarning` (as
    `watermark.embed_file`); ``destination`` is never ``source``. Replacing (``overwrite``) the file of
    an issued copy warns, naming its record and recipient.

    Raises
    ------
    IssuedCopyError
        ``source`` is a copy this registry issued under ``key``, not a master.
    RegistryError
        ``destination`` holds a copy this registry issued for another recipient, metadata or payload, or
        from another master (the master's file changed since), and ``overwrite`` was not asked.
    InvalidImageError, ImageFileError, OutputExistsError, ParameterError
    """
    source, destination = Path(source), Path(destination)
    loaded = imageio.load_image(source, max_pixels=max_pixels, animated="error")
    if destination.exists() and os.path.samefile(source, destination):
        raise ParameterError(f"{destination}: is the master itself; a registry issues marked copies and never "
                             "marks a master in place")
    api_files.check_markable(loaded, destination)  # as embed_file: before the registry changes
    sha256 = file_sha256(source)
    copies = registry.find_sha256(sha256, key=key)[0]     # under another key: a second mark, on purpose
    if copies:
        raise IssuedCopyError(f"{source}: is copy {copies[0].id} issued to {_who(copies[0])} (of "
                              f"{copies[0].master.path}), not a master: copies are never marked again")
    master = register_master(registry, source, loaded, sha256=sha256)
    differences = functools.partial(_differences, master=master, recipient=recipient, metadata=metadata or {},
                                    payload=payload)
    finished = _resume(registry, key, destination, differences, overwrite)
    if finished is not None:
        return finished
    replaced = _issued_there(registry, destination)
    if not overwrite and os.path.lexists(destination):   # refuse before drawing a payload
        if replaced:
            raise RegistryError(_another_copy(destination, replaced[0], differences(replaced[0]), source))
        raise OutputExistsError(imageplace.exists_message(destination))
    if c2pa_signer is not None:
        c2pa_signer.check_output(destination)
        metadata = {**(metadata or {}), "c2pa_manifest": new_manifest_id()}
    api_files.warn_if_marked(loaded.image, key, schemes.get(scheme), source)   # as embed_file does
    record_id, written = str(uuid.uuid4()), _Written()
    try:                 # a stop just after the reservation's commit, before it is returned, voids it too
        record = registry.reserve(key, master, output_path=destination, payload=payload, recipient=recipient,
                                  metadata=metadata, scheme=scheme, record_id=record_id)
        if c2pa_signer is not None:
            written.sign = functools.partial(
                c2pa_signer.sign, output=destination, source=source, source_format=loaded.format,
                payload=record.payload, key_id=key.public_id, scheme=schemes.get(scheme).name,
                manifest_id=record.metadata["c2pa_manifest"])
        marked = api_files.embed_loaded(loaded, record.payload, key, strength=strength, scheme=scheme)
        quality = api_files.output_quality(marked, destination, loaded, key, schemes.get(scheme), quality,
                                           payload=record.payload)
        imagewrite.save_image(marked, destination, like=loaded, quality=quality, overwrite=overwrite, finish=written)
    except BaseException as exc:
        if not written.is_at(destination):      # in place already (Ctrl-C just after the rename): a rerun records it
            with contextlib.suppress(RegistryError):
                registry.void(record_id, f"not written: {exc}"[:500])
        raise
    for old in replaced:
        warnings.warn(f"{destination}: replaced the file of copy {old.id} issued to {_who(old)}, whose record "
                      "still names it", FiligraneWarning, stacklevel=2)
    if on_written is not None:
        on_written()
    return Issued("issued", _record_issued(registry, record.id, destination, written.sha256))


class _Written:
    """The ``finish`` step of `imagewrite.save_image` that signs the encoded file (with ``sign``, when given)
    and keeps the SHA-256 of the bytes it hands on to be written."""

    def __init__(self) -> None:
        self.sign: Callable[[bytes], bytes] | None = None
        self.sha256 = ""

    def __call__(self, encoded: bytes) -> bytes:
        data = encoded if self.sign is None else self.sign(encoded)
        self.sha256 = hashlib.sha256(data).hexdigest()
        return data

    def is_at(self, path: Path) -> bool:
        """Whether the file at ``path`` holds these bytes."""
        try:
            return bool(self.sha256) and file_sha256(path) == self.sha256
        except OSError:
            return False


def _record_issued(registry: Registry, record_id: str, destination: Path, sha256: str) -> Record:
    """Record the reservation ``record_id`` as issued, its output ``destination`` (of ``sha256``) written. If
    that fails, the line says that a rerun records it; unless a concurrent run voided the reservation: the
    output is then taken back."""
    try:
        return registry.mark_issued(record_id, sha256)
    except RegistryError as exc:
        current = registry.record(record_id)
        if current is None or current.state != VOID:
            raise RegistryError(f"{destination}: the copy was written but not recorded ({exc}); run the same "
                                "command again to record it") from None
        with contextlib.suppress(OSError):
            if file_sha256(destination) == sha256:
                os.unlink(destination)
        raise


def _resume(registry: Registry, key: Key, destination: Path, differences: Callable[[Record], list[str]],
            overwrite: bool) -> Issued | None:
    """Finish or clean up what an earlier run left for ``destination``; the finished copy, if any.

    ``differences`` names what of a record is not the copy this run asks for (see the module's notes)."""
    written = file_sha256(destination) if destination.is_file() else None
    for record in _reserved_for(registry, key, destination):
        ours = registry.finishable(record)    # refused if another run is still at work on it
        if written is None or not _carries(destination, key, record):
            if ours:                          # one merged from another registry: its output may be elsewhere
                registry.void(record.id, "interrupted: " + ("output not written" if written is None else
                                                            "the output there does not carry this payload"))
            continue
        differ = differences(record)
        if not differ:
            return Issued("recovered", _record_issued(registry, record.id, destination, written))
        if not overwrite:
            raise RegistryError(_not_asked(destination, record, differ))
        _record_issued(registry, record.id, destination, written)    # recorded as the copy it is, then replaced
    if written is not None:
        for record in _issued_as(registry, destination, written, key=key):
            if not differences(record):
                return Issued("skipped", record)
    return None


def _reserved_for(registry: Registry, key: Key, destination: Path) -> list[Record]:
    """The reservations of ``key`` for ``destination``, recorded under its name or, when it exists, under
    another name of the same file (another case on a case-insensitive disk, a bind mount)."""
    named = registry.records(key=key, output_path=destination, state=RESERVED)
    if not os.path.lexists(destination):
        return named
    return _with_other_names(named, registry.records(key=key, state=RESERVED), destination)


def _issued_as(registry: Registry, destination: Path, written: str, *, key: Key | None = None) -> list[Record]:
    """The issued copies (of ``key`` when given) whose file is ``destination``, its SHA-256 ``written``,
    recorded under its name or under another name of the same file."""
    named = [record for record in registry.records(key=key, output_path=destination, state=ISSUED)
             if record.output_sha256 == written]
    return _with_other_names(named, registry.find_sha256(written, key=key)[0], destination)


def _with_other_names(named: list[Record], others: list[Record], destination: Path) -> list[Record]:
    """``named`` (the records under ``destination``'s name), then those of ``others`` that name its file
    otherwise (`os.path.samefile`: a record's path that no longer opens names nothing)."""
    ids = {record.id for record in named}

    def same_file(recorded: str) -> bool:
        try:
            return os.path.samefile(recorded, destination)
        except (OSError, ValueError):
            return False
    return named + [record for record in others if record.id not in ids and same_file(record.output_path)]


def _differences(record: Record, *, master: Master, recipient: str | None, metadata: dict,
                 payload: int | None) -> list[str]:
    """What of ``record`` is not what this run asks for: its master, recipient, metadata or payload (if given)."""
    same = {"master": record.master.id == master.id, "recipient": record.recipient == recipient,
            "metadata": _asked(record.metadata) == metadata, "payload": payload in (None, record.payload)}
    return [name for name, equal in same.items() if not equal]


def _not_asked(destination: Path, record: Record, differences: list[str]) -> str:
    """The line that refuses to recover, for this run, the output an interrupted run left for another copy."""
    return (f"{destination}: holds copy {record.id} for {_who(record)} (payload {record.payload:#018x}), which an "
            f"interrupted run left unrecorded; this run asks for another {' and '.join(differences)}: run that "
            "run's command again to record it, or remove the file or pass --overwrite to issue a new copy")


def _another_copy(destination: Path, record: Record, differences: list[str], source: Path) -> str:
    """The line that refuses to skip an output holding another issued copy than this run asks for."""
    if differences == ["master"] and record.master.path == str(source.resolve()):
        asked = "its master's file has changed since: pass --overwrite to issue a copy of the file as it is now"
    else:
        asked = (f"this run asks for another {' and '.join(differences)}: give another output (-o), or pass "
                 "--overwrite to replace it")
    return (f"{destination}: holds copy {record.id} issued to {_who(record)} (payload {record.payload:#018x}); "
            + asked)


def _issued_there(registry: Registry, destination: Path) -> list[Record]:
    """The issued copies whose file is ``destination`` as it is now (what writing there replaces)."""
    return _issued_as(registry, destination, file_sha256(destination)) if destination.is_file() else []


def _who(record: Record) -> str:
    return record.recipient if record.recipient is not None else "(no recipient)"


def _asked(metadata: dict) -> dict:
    """A record's metadata as the command gave it (without the manifest id that signing added)."""
    return {name: value for name, value in metadata.items() if name != "c2pa_manifest"}


def _carries(path: Path, key: Key, record: Record) -> bool:
    """Whether the file at ``path`` reads back as ``record``'s payload under ``key``."""
    try:
        return api_files.detect_file(path, key, scheme=record.scheme).payload == record.payload
    except InvalidImageError:
        return False
