"""Issue a marked copy of a master file and record it, so that a crash at any point loses nothing.

The order is: register the master (SHA-256, size, perceptual hash, print) -> reserve a payload
(committed) -> embed -> write the output atomically -> record it as issued with the output's
SHA-256 (committed). After a SIGKILL anywhere, the registry is sound (each step is one SQLite
transaction), every ``issued`` record points to a complete output (the output exists before the
record says so, and it only appears whole, by rename), and no payload is used twice. Running the
same job again (`issue_file` with the same key, master, output and recipient) finishes it:

- the output exists and an issued record of this master and recipient has its SHA-256: skipped;
- a reservation whose output exists and carries the reservation's payload (read back with the
  key): the crash came between the write and the record, so it is recorded as issued;
- a reservation without its output, or whose output does not read back: voided (its payload is
  never used again) and a new payload is drawn.

Only the reservations of processes that are gone are finished or voided so (`watermark.registry.holders`):
one that another run is still at work on (the same command run twice at once) fails this copy with one
line, and the other run issues it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import api, imageio, schemes
from ..errors import InvalidImageError, OutputExistsError, ParameterError, RegistryError
from ..features import master_print
from ..fingerprint import perceptual_hash
from ..keys import Key
from ..signer import ManifestSigner, new_manifest_id
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
                    *, max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS) -> Master:
    """Register the master file at ``path`` (idempotent): its SHA-256, size, perceptual hash, print and
    frame (a master registered before frames were kept gets its frame now)."""
    path = Path(path)
    sha256 = file_sha256(path)
    known = registry.master(sha256)
    if known is not None and registry.frame(known) is not None:
        return known
    if loaded is None:
        loaded = imageio.load_image(path, max_pixels=max_pixels, animated="error")
    width, height = loaded.original_size       # (a 16-bit colour master is an array, whose .size is a count)
    return registry.add_master(sha256=sha256, path=path.resolve(), width=width, height=height,
                               phash=perceptual_hash(loaded.image), print_=master_print(loaded.image).to_bytes(),
                               frame=frames.encode(loaded.image))


def issue_file(registry: Registry, source: str | os.PathLike, destination: str | os.PathLike, key: Key, *,
               payload: int | None = None, recipient: str | None = None, metadata: dict[str, str] | None = None,
               strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
               overwrite: bool = False, max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS,
               c2pa_signer: ManifestSigner | None = None) -> Issued:
    """Mark ``source`` into ``destination`` (as `watermark.embed_file`) and record the copy.

    Without ``payload`` the registry draws a fresh random one; a given ``payload`` is refused if
    ``key`` has ever used it. Rerunning an interrupted call finishes it (see the module's notes).
    With ``c2pa_signer`` the output carries a signed C2PA manifest soft-bound to the mark, whose id
    the record keeps in its metadata (``c2pa_manifest``).

    A ``source`` that already carries ``key``'s mark is marked all the same, with an `AlreadyMarkedWarning`
    (as `watermark.embed_file`); ``destination`` is never ``source``.

    Raises
    ------
    InvalidImageError, ImageFileError, OutputExistsError, ParameterError, RegistryError
    """
    source, destination = Path(source), Path(destination)
    loaded = imageio.load_image(source, max_pixels=max_pixels, animated="error")
    if destination.exists() and os.path.samefile(source, destination):
        raise ParameterError(f"{destination}: is the master itself; a registry issues marked copies and never "
                             "marks a master in place")
    master = register_master(registry, source, loaded)
    finished = _resume(registry, key, master, destination, recipient, metadata or {})
    if finished is not None:
        return finished
    if not overwrite and os.path.lexists(destination):   # refuse before drawing a payload
        raise OutputExistsError(f"{destination}: already exists; pass overwrite=True (--overwrite) "
                                        "to replace it")
    if c2pa_signer is not None:
        c2pa_signer.check_output(destination)
        metadata = {**(metadata or {}), "c2pa_manifest": new_manifest_id()}
    api.warn_if_marked(loaded.image, key, schemes.get(scheme), source)   # as embed_file does
    record = registry.reserve(key, master, output_path=destination, payload=payload, recipient=recipient,
                              metadata=metadata, scheme=scheme)
    try:
        try:
            marked = api.embed(loaded.image, record.payload, key, strength=strength, scheme=scheme)
        except InvalidImageError as exc:
            raise type(exc)(str(exc).replace("image:", f"{source}:", 1)) from None
        finish = None if c2pa_signer is None else functools.partial(
            c2pa_signer.sign, output=destination, source=source, source_format=loaded.format, payload=record.payload,
            key_id=key.public_id, scheme=schemes.get(scheme).name, manifest_id=record.metadata["c2pa_manifest"])
        imageio.save_image(marked, destination, like=loaded, quality=quality, overwrite=overwrite, finish=finish)
    except BaseException as exc:
        with contextlib.suppress(RegistryError):
            registry.void(record.id, f"not written: {exc}"[:500])
        raise
    written = file_sha256(destination)
    try:
        return Issued("issued", registry.mark_issued(record.id, written))
    except RegistryError:
        current = registry.record(record.id)
        if current is not None and current.state == VOID:    # voided by a concurrent run: take our output back
            with contextlib.suppress(OSError):
                if file_sha256(destination) == written:
                    os.unlink(destination)
        raise                                                # (still reserved: a rerun records it)


def _resume(registry: Registry, key: Key, master: Master, destination: Path, recipient: str | None,
            metadata: dict) -> Issued | None:
    """Finish or clean up what an earlier run left for ``destination``; the finished copy, if any."""
    written = file_sha256(destination) if destination.is_file() else None
    for record in registry.records(key=key, output_path=destination, state=RESERVED):
        registry.refuse_at_work(record)                     # another run's, still at work: left to it
        if written is not None and record.master.id == master.id and _carries(destination, key, record):
            return Issued("recovered", registry.mark_issued(record.id, written))
        registry.void(record.id, "interrupted: " + ("output not written" if written is None else
                                                    "the output there does not carry this payload"))
    if written is not None:
        for record in registry.records(key=key, output_path=destination, state=ISSUED):
            if (record.output_sha256 == written and record.master.id == master.id
                    and (record.recipient, _asked(record.metadata)) == (recipient, metadata)):
                return Issued("skipped", record)
    return None


def _asked(metadata: dict) -> dict:
    """A record's metadata as the command gave it (without the manifest id that signing added)."""
    return {name: value for name, value in metadata.items() if name != "c2pa_manifest"}


def _carries(path: Path, key: Key, record: Record) -> bool:
    """Whether the file at ``path`` reads back as ``record``'s payload under ``key``."""
    try:
        return api.detect_file(path, key, scheme=record.scheme).payload == record.payload
    except InvalidImageError:
        return False
