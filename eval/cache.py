"""The benchmark's memory: finished cells in an append-only JSONL file, and atomic file writes.

One line per finished cell, ``{"key": ..., "row": {...}}``, appended by the parent process only and
flushed line by line; a line torn by a crash (the last one) is ignored on reading, so a rerun
recomputes exactly the cells that were not finished. The key covers everything a cell's numbers
depend on: the contender and its version, the image and its content, the attack, the seed, and a
fingerprint of the code of ``watermark``, ``attacks`` and the parts of ``eval`` that compute rows
(so editing a scheme invalidates its cached cells even before the version number moves), and the
versions of the libraries and codecs the numbers depend on (`libraries`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Cache", "cell_key", "code_fingerprint", "libraries", "commit", "atomic_write_text",
           "atomic_write_bytes"]

_EVAL_ROW_MODULES = ("metrics.py", "contenders.py", "peers.py", "runner.py", "images.py")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of the source of ``watermark``, ``attacks`` and eval's row-computing modules."""
    digest = hashlib.blake2b(digest_size=8)
    for package in ("watermark", "attacks"):
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            for path in sorted(Path(root).rglob("*.py")):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    here = Path(__file__).parent
    for name in _EVAL_ROW_MODULES:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    digest.update(json.dumps(libraries(), sort_keys=True).encode())     # a new libjpeg encodes other bytes
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def libraries() -> dict[str, str]:
    """The versions of what a cell's numbers depend on besides the code: the array and image libraries,
    Pillow's codecs (which make the attacks' JPEG, WebP and AVIF bytes) and the perceptual metric."""
    import cv2
    import numpy
    import PIL
    import pywt
    import scipy
    from PIL import features

    versions = {"numpy": numpy.__version__, "scipy": scipy.__version__, "Pillow": PIL.__version__,
                "opencv": cv2.__version__, "PyWavelets": pywt.__version__}
    jpeg = "libjpeg_turbo" if features.check("libjpeg_turbo") else "jpg"
    for codec, name in ((jpeg, "libjpeg"), ("webp", "libwebp"), ("avif", "libavif")):
        versions[name] = str(features.version(codec))
    try:
        from importlib.metadata import version

        versions["ssimulacra2"] = version("ssimulacra2")
    except ImportError:
        versions["ssimulacra2"] = "absent"
    return versions


@functools.lru_cache(maxsize=1)
def commit() -> str:
    """The repository's commit (``+`` when files differ from it), or ``not a git checkout``."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return head + ("+" if changed else "")


def cell_key(**fields: Any) -> str:
    """A stable key (hex digest) for a cell described by JSON-able ``fields``."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _atomic_write(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp creates 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and an atomic rename."""
    _atomic_write(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    _atomic_write(path, data)


class Cache:
    """Finished cells by key, backed by ``directory / "cells.jsonl"`` (or memory only when None)."""

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.path = None if directory is None else Path(directory) / "cells.jsonl"
        self._rows: dict[str, dict] = {}
        if self.path is not None and self.path.exists():
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                        self._rows[entry["key"]] = entry["row"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue   # a line torn by an interrupted run: that cell is recomputed
        self._handle = None

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> dict | None:
        """The cached row for ``key``, or None."""
        return self._rows.get(key)

    def put(self, key: str, row: dict) -> None:
        """Remember ``row`` under ``key`` and append it to the file (one complete line, flushed)."""
        self._rows[key] = row
        if self.path is None:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
            if self._handle.tell() > 0:
                self._handle.write("\n")    # never glue a new line onto a torn one
        self._handle.write(json.dumps({"key": key, "row": row}, allow_nan=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file (rows stay readable in memory)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
