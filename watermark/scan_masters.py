"""The registry as a scan reads it in one process: opened on first use, its indexes built once, and the
masters' prints, thumbnails and files kept between files, the ones used last, within bounds.

A `watermark.scan.Scanner` holds one `Masters`; a worker process (or Dask worker) that unpickles the scanner
builds its own, which opens the registry at the path the scan named.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import RegistryError
from .featureindex import FeatureIndex
from .features import MasterPrint
from .hashindex import HashIndex
from .image import luminance_of
from .keys import Key
from .original import load_original
from .registry import Master, Registry, feature_index, frames, hash_index, print_of

__all__ = ["Masters"]

_ORIGINALS_BYTES = 128 * 2**20   # master files' luminance kept between files (16 at 1080p)
_PRINTS = 256                    # decoded prints (and thumbnails) kept between files: about 80 MB, not one per master


def _kept(cache: OrderedDict[int, Any], master_id: int, make: Callable[[], Any]) -> Any:
    """``cache[master_id]``, made when missing; the ``_PRINTS`` used last are kept (a partial scan of a small
    crop compares it with every master of its size: kept all, a registry of 20,000 took 6 GB)."""
    if master_id in cache:
        cache.move_to_end(master_id)
        return cache[master_id]
    cache[master_id] = value = make()
    if len(cache) > _PRINTS:
        cache.popitem(last=False)
    return value


class Masters:
    """The registry at ``registry_path``, checked against ``keys`` when opened, and what a scan reads of its
    masters; ``originals``: master files are read too (`watermark.original`), each held to ``max_pixels``."""

    def __init__(self, registry_path: str, keys: list[Key], *, originals: bool, max_pixels: int | None) -> None:
        self.registry_path, self.keys, self.originals, self.max_pixels = registry_path, keys, originals, max_pixels
        self.remote = False          # its scanner unpickled: in a worker process, perhaps on another machine
        self._registry: Registry | None = None
        self._hashes: HashIndex | None = None
        self._features: FeatureIndex | None = None
        self._prints: OrderedDict[int, MasterPrint] = OrderedDict()       # decoded, latest last (_PRINTS)
        self._thumbnails: OrderedDict[int, np.ndarray] = OrderedDict()
        self._sizes: dict[tuple[int, int], list[int]] | None = None
        self._originals: OrderedDict[int, np.ndarray | None] = OrderedDict()   # master files read, latest last

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            if self.remote:
                _check_seen(self.registry_path)
            self._registry = Registry(self.registry_path)
            for key in self.keys:
                self._registry.require_key(key)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    # -- the registry's indexes, built once per process -------------------------------------------

    def hash_index(self) -> HashIndex:
        if self._hashes is None:
            self._hashes = hash_index(self.registry)
        return self._hashes

    def feature_index(self) -> FeatureIndex:
        if self._features is None:
            self._features = feature_index(self.registry)
        return self._features

    def by_size(self) -> dict[tuple[int, int], list[int]]:
        """Master ids by (width, height), read once."""
        if self._sizes is None:
            self._sizes = {}
            for master in self.registry.masters():
                self._sizes.setdefault((master.width, master.height), []).append(master.id)
        return self._sizes

    # -- one master ---------------------------------------------------------------------------------

    def master_by_id(self, master_id: int) -> Master:
        """A master the registry's own indexes named (so it exists)."""
        master = self.registry.master(master_id)
        if master is None:
            raise RegistryError(f"{self.registry_path}: master {master_id} vanished during the scan")
        return master

    def print_of(self, master: Master) -> MasterPrint:
        return _kept(self._prints, master.id, lambda: print_of(master))

    def thumbnail(self, master: Master) -> np.ndarray:
        """The luminance of the master's print thumbnail (float32, 0..1)."""
        return _kept(self._thumbnails, master.id, lambda: luminance_of(self.print_of(master).thumbnail_image()))

    def original_of(self, master: Master) -> np.ndarray | None:
        """The master file's luminance, if ``originals`` and the file is at hand unchanged. The files
        read last are kept, up to ``_ORIGINALS_BYTES``: a file the index proposes masters for has each
        sought in their files, and the next file is often proposed the same ones."""
        if not self.originals:
            return None
        if master.id in self._originals:
            self._originals.move_to_end(master.id)
            return self._originals[master.id]
        original = load_original(master.path, master.sha256, (master.width, master.height),
                                 max_pixels=self.max_pixels)
        self._originals[master.id] = original
        while sum(0 if kept is None else kept.nbytes for kept in self._originals.values()) > _ORIGINALS_BYTES:
            self._originals.popitem(last=False)
        return original

    def registry_frame(self, master: Master) -> np.ndarray | None:
        """``master``'s frame as the registry keeps it (`watermark.registry.frames`), or None."""
        data = self.registry.frame(master)
        return None if data is None else frames.decode(data, master.width, master.height, name=self.registry_path)


def _check_seen(path: str) -> None:
    """Refuse, on a worker, a registry path it cannot see: missing there, or in a folder it may not enter
    (which `os.path.exists` reads as missing)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        raise RegistryError(f"{path}: no registry at this path on the worker at {socket.gethostname()}: a scan's "
                            "workers open the registry at the path the scan names (a shared disk, or a copy at "
                            "that path on each machine)") from None
    except OSError as exc:
        raise RegistryError(f"{path}: the worker at {socket.gethostname()} may not reach it ({exc.strerror}): "
                            "give the workers' user access to the registry's folder") from None
