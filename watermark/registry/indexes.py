"""The in-memory indexes a scan builds once from a registry: whole-image and partial-copy lookup.


>>> import tempfile, pathlib
>>> with Registry(pathlib.Path(tempfile.mkdtemp()) / "r.db", create=True) as registry:
...     len(hash_index(registry)), len(feature_index(registry))
(0, 0)
"""

from __future__ import annotations

from ..featureindex import FeatureIndex
from ..features import MasterPrint
from ..hashindex import HashIndex
from .records import Master
from .store import Registry

__all__ = ["hash_index", "feature_index", "print_of"]


def hash_index(registry: Registry) -> HashIndex:
    """Every master's perceptual hash, by master id (`HashIndex.query` -> ``[(master id, distance)]``)."""
    return HashIndex(*registry.master_hashes())


def feature_index(registry: Registry) -> FeatureIndex:
    """Every master's keypoints, by master id (`FeatureIndex.candidates` -> ``[(master id, votes)]``);
    reads every print once (about 60 KB a master)."""
    return FeatureIndex.from_prints((master.id, print_of(master)) for master in registry.masters())


def print_of(master: Master) -> MasterPrint:
    """The master's decoded print: keypoints for `watermark.registration.register`, thumbnail, size."""
    return MasterPrint.from_bytes(master.print)
