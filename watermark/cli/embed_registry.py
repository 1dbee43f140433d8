"""``watermark embed --registry DB``: mark files and record each copy (who got which payload).

Each worker process opens its own connection to the registry; the UNIQUE (key, payload) constraint
and SQLite's locking make concurrent runs (``--jobs N``, or several commands at once) safe. A run
interrupted at any point (Ctrl-C, SIGKILL, power loss) is finished by running the same command again:
see `watermark.registry.issue`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..coding import payload_to_int
from ..errors import RegistryError, WatermarkError
from ..keys import Key
from ..registry import Registry, issue_file
from .common import ERROR, FOUND, Job, parallel

__all__ = ["registry_options", "run"]

_OPEN: dict[tuple[int, str], Registry] = {}     # this process's connection per registry file


def registry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry (record who received which payload)")
    group.add_argument("--registry", metavar="DB", help="record each copy in this registry (made by "
                                                         "'watermark registry init'); the payload is then drawn "
                                                         "at random unless --payload is given")
    group.add_argument("--recipient", metavar="NAME", help="who receives these copies")
    group.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                       help="free metadata recorded with each copy (repeatable)")


def _metadata(items: list[str]) -> dict[str, str]:
    metadata = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise WatermarkError(f"--meta {item!r}: expected KEY=VALUE")
        metadata[name.strip()] = value
    return metadata


def _registry(path: str) -> Registry:
    slot = (os.getpid(), path)
    if slot not in _OPEN:
        _OPEN[slot] = Registry(path)
    return _OPEN[slot]


def _issue_one(pair: tuple[Path, Path], *, registry: str, key: Key, payload: int | None, recipient: str | None,
               metadata: dict[str, str], strength: float, scheme: str, quality: int, overwrite: bool,
               max_pixels: int | None) -> dict[str, Any]:
    source, destination = pair
    issued = issue_file(_registry(registry), source, destination, key, payload=payload, recipient=recipient,
                        metadata=metadata, strength=strength, scheme=scheme, quality=quality, overwrite=overwrite,
                        max_pixels=max_pixels)
    return {"path": str(source), "output": str(destination), **issued.to_dict(), "error": None}


def run(args: argparse.Namespace, key: Key, pairs: list[tuple[Path, Path]], payload: int | bytes | None) -> int:
    """Issue every (source, destination) pair into ``args.registry``; the exit status."""
    if args.diff:
        raise WatermarkError("--diff is not available with --registry")
    if payload is not None and len(pairs) > 1:
        raise RegistryError(f"--payload with --registry marks one file ({len(pairs)} given): a payload is "
                            "issued once per key; leave --payload out and the registry draws one per copy")
    with Registry(args.registry) as registry:       # refuse a missing, damaged, newer or locked file first
        registry.add_key(key)
    job = Job(_issue_one, registry=args.registry, key=key,
              payload=None if payload is None else payload_to_int(payload), recipient=args.recipient,
              metadata=_metadata(args.meta), strength=args.strength, scheme=args.scheme, quality=args.quality,
              overwrite=args.overwrite or args.in_place, max_pixels=args.max_pixels)
    status = FOUND
    for result in parallel(job, pairs, args.jobs, "embedding"):
        if result.get("error"):
            status = ERROR
            print(f"watermark: {result['error']}", file=sys.stderr)
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        elif not result.get("error"):
            print(f"{result['output']}: {result['status']}, payload {result['payload']}, record {result['record']}",
                  flush=True)
    return status
