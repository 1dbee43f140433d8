"""``watermark embed --registry DB``: mark files and record each copy (who got which payload).

Each worker process opens its own connection to the registry; the UNIQUE (key, payload) constraint
and SQLite's locking make concurrent runs (``--jobs N``, or several commands at once) safe. A run
interrupted at any point (Ctrl-C, SIGKILL, power loss) is finished by running the same command again:
see `watermark.registry.issue`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .. import batch
from ..coding import payload_to_int
from ..errors import IssuedCopyError, OutputExistsError, ParameterError, RegistryError
from ..keys import Key
from ..registry import Registry, issue_file
from ..signer import ManifestSigner
from .batch import EMBED_FIELDS, Job, Outcome, row
from .common import require_shown, require_utf8, visible

__all__ = ["registry_options", "issue_job", "ISSUE_FIELDS"]

# embed's row, and what the registry recorded: the copy's record id, payload, recipient, output SHA-256
ISSUE_FIELDS = EMBED_FIELDS + ("record", "payload", "recipient", "output_sha256")

_OPEN: dict[tuple[int, str], Registry] = {}     # this process's connection per registry file


def registry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry (record who received which payload)")
    group.add_argument("--registry", metavar="DB", help="record each copy in this registry (made by "
                                                         "'watermark registry init'); the payload is then drawn "
                                                         "at random unless --payload is given")
    group.add_argument("--recipient", metavar="NAME", help="who receives these copies (a name that shows as it is: "
                       "no white space at its ends, no invisible character beside Latin letters)")
    group.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                       help="free metadata recorded with each copy (repeatable)")
    group.add_argument("--new-key", action="store_true", help="add this key to a registry that already records "
                                                              "other keys (without it, a key new to such a registry "
                                                              "is refused: a mistyped passphrase is likely)")


def check_registry_options(args: argparse.Namespace) -> None:
    """Refuse the options that only a registry records when there is none: without one, the copies
    would be marked, nothing recorded, and the run would exit 0."""
    given = [name for name, value in (("--recipient", args.recipient), ("--meta", args.meta),
                                      ("--new-key", args.new_key)) if value]
    if given and args.registry is None:
        raise ParameterError(f"{', '.join(given)}: only a registry records them; give --registry DB (embed "
                             "does not read FILIGRANE_REGISTRY, and without a registry nothing is recorded)")


def _metadata(items: list[str]) -> dict[str, str]:
    metadata = {}
    for item in items:
        require_utf8(item, "--meta")
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise ParameterError(f"--meta {item!r}: expected KEY=VALUE")
        metadata[name.strip()] = value
    return metadata


def _registry(path: str) -> Registry:
    slot = (os.getpid(), path)
    if slot not in _OPEN:
        _OPEN[slot] = Registry(path)
    return _OPEN[slot]


def _add_key(registry: Registry, key: Key, *, new_key: bool) -> None:
    """Register ``key`` if it is new, saying so on stderr; refused when the registry already records other
    keys, unless ``new_key``."""
    if any(public_id == key.public_id for public_id, _ in registry.keys()):
        return                                    # a read: a writer at work beside this run is no obstacle
    if new_key:
        registry.add_key(key)
    elif not registry.add_first_key(key):         # the check and the write in one transaction: added meanwhile
        return
    print(visible(f"watermark: {registry.path}: added key {key.fingerprint}"), file=sys.stderr, flush=True)


def _issue_one(pair: tuple[Path, Path], *, registry: str, key: Key, payload: int | None, recipient: str | None,
               metadata: dict[str, str], strength: float, scheme: str, quality: int | None, overwrite: bool,
               max_pixels: int | None, c2pa_signer: ManifestSigner | None) -> Outcome:
    source, destination = pair
    try:
        issued = issue_file(_registry(registry), source, destination, key, payload=payload, recipient=recipient,
                            metadata=metadata, strength=strength, scheme=scheme, quality=quality,
                            overwrite=overwrite, max_pixels=max_pixels, c2pa_signer=c2pa_signer,
                            on_written=batch.work_done)   # a stop from then on waits for this row
    except OutputExistsError:      # no copy of this registry's: left alone, and the recipient has none
        return _issue_failed(pair, f"{destination}: already exists and is no copy this registry issued, so "
                                   f"nothing was issued for {source}: give another output (-o), or pass "
                                   "--overwrite to replace it")
    except IssuedCopyError as exc:  # an earlier run's output among the masters (-o inside the input folder)
        notice = f"{exc}; skipped"
        return Outcome(row(ISSUE_FIELDS, path=str(source), output=str(destination), status="skipped",
                           warning=notice), "skipped", warnings=(notice,))
    batch.work_done()              # a copy skipped or recovered (an earlier run's reservation) is done too
    fields = issued.to_dict()
    status = "skipped" if fields["status"] == "skipped" else "marked"
    text = f"{destination}: {fields['status']}, payload {fields['payload']}, record {fields['record']}"
    manifest = issued.record.metadata.get("c2pa_manifest")
    if c2pa_signer is not None:
        text += f", signed {manifest}"
    c2pa = None if status == "skipped" else {"signed": manifest is not None, "manifest": manifest}
    return Outcome(row(ISSUE_FIELDS, path=str(source), output=str(destination), **{**fields, "status": status},
                       c2pa=c2pa), status, text)


def _issue_failed(pair: tuple[Path, Path], message: str, **options: Any) -> Outcome:
    source, destination = pair
    if not message.startswith((f"{source}:", f"{destination}:")):     # the registry's own error (a lock)
        message = f"{source}: {message}"
    return Outcome(row(ISSUE_FIELDS, path=str(source), output=str(destination), status="failed", error=message),
                   "failed")


def issue_job(args: argparse.Namespace, key: Key, pairs: list[tuple[Path, Path]], payload: int | bytes | None,
              c2pa_signer: ManifestSigner | None = None) -> Job:
    """The job that issues each (source, destination) pair into ``args.registry``, once the options
    and the registry are checked; nothing is written but ``key``, into the registry."""
    if args.diff:
        raise ParameterError("--diff is not available with --registry")
    if args.in_place:
        raise ParameterError("--in-place is not available with --registry: a registry issues marked copies of "
                             "masters that stay unmarked; give -o OUT")
    if payload is not None and len(pairs) > 1:
        raise RegistryError(f"--payload with --registry marks one file ({len(pairs)} given): a payload is "
                            "issued once per key; leave --payload out and the registry draws one per copy")
    require_utf8(args.recipient, "--recipient")
    require_shown(args.recipient, "--recipient")
    metadata = _metadata(args.meta)
    with Registry(args.registry) as registry:       # refuse a missing, damaged, newer or locked file first
        registry.require_sound()
        registry.require_writable()
        _add_key(registry, key, new_key=args.new_key)
    return Job(_issue_one, _issue_failed, registry=args.registry, key=key,
               payload=None if payload is None else payload_to_int(payload), recipient=args.recipient,
               metadata=metadata, strength=args.strength, scheme=args.scheme, quality=args.quality,
               overwrite=args.overwrite, max_pixels=args.max_pixels, c2pa_signer=c2pa_signer)
