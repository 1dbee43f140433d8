"""`FeatureIndex`: which masters might be part of a suspect (a crop, a collage), by keypoint votes.

Each master contributes the first :data:`INDEXED_KEYPOINTS` keypoints of its print (spread over the
image). A descriptor is hashed by random-hyperplane LSH (Charikar 2002) after whitening: the signs
of :data:`BITS` x :data:`TABLES` coordinates in a fixed random rotation of the descriptors' principal
axes; each table maps a code to the masters that have a descriptor with that code. A suspect's descriptors look up their
codes in every table; each entry found there is a vote for its master, weighted by how rare the
code is. A table's code is shared by chance with many unrelated descriptors, the whole sketch (every
table's code, :data:`BITS` x :data:`TABLES` bits) only by near-identical ones, so the votes of entries
within :data:`NEAR_BITS` bits of the query's sketch (the check of multi-index hashing) rank the
masters first, and all votes break their ties: a master filling a ninth of a collage is not buried
under chance votes, and a small crop whose few keypoints changed more still has its shared codes.
The candidates, to be confirmed by `watermark.registration.register` (votes alone prove nothing),
are the masters with near votes (at most :data:`CANDIDATES`), or the first :data:`SHORTLIST` when
fewer have them (each costs the scan a registration). Crowded codes (more than
:data:`CROWDED` times the average bucket: flat sky, gradients) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from .features import Features, MasterPrint

__all__ = ["FeatureIndex", "Votes", "INDEXED_KEYPOINTS", "BITS", "TABLES", "NEAR_BITS", "CANDIDATES", "SHORTLIST"]

INDEXED_KEYPOINTS = 400
BITS = 16
TABLES = 4
NEAR_BITS = 10         # most bits a near entry's whole sketch may differ from the query's by
CANDIDATES = 12        # most masters returned (a 3x3 collage of registered photographs holds 9)
SHORTLIST = 8          # masters returned by all votes when fewer have near votes
CROWDED = 32
_SEED = 0x5EED_F1A7
_DIMENSIONS = 64       # principal axes kept for hashing
_SAMPLE = 100_000      # descriptors the axes are estimated from


def _rotation() -> np.ndarray:
    """A fixed random rotation of the whitened descriptor space (``_DIMENSIONS`` square)."""
    q, r = np.linalg.qr(np.random.default_rng(_SEED).standard_normal((_DIMENSIONS, _DIMENSIONS)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


_ROTATION = _rotation()


def _sketches(codes: np.ndarray, bits: int) -> np.ndarray:
    """Every table's code of each descriptor side by side: uint64 ``(N,)`` from ``(N, tables)`` codes."""
    shifts = np.arange(codes.shape[1], dtype=np.uint64) * np.uint64(bits)
    return np.bitwise_or.reduce(codes.astype(np.uint64) << shifts, axis=1)


class _Projection:
    """Descriptors -> LSH codes: centred and whitened by the indexed descriptors' own principal
    axes (RootSIFT is far from isotropic: raw random hyperplanes split it unevenly), then the signs
    of a fixed random rotation's coordinates."""

    def __init__(self, sample: np.ndarray, bits: int, tables: int) -> None:
        self.bits, self.tables = bits, tables
        sample = np.asarray(sample, np.float64)
        self.mean = sample.mean(axis=0) if len(sample) else np.zeros(128)
        if len(sample) > _DIMENSIONS:
            _, spread, axes = np.linalg.svd(sample - self.mean, full_matrices=False)
            basis = axes[:_DIMENSIONS].T / np.maximum(spread[:_DIMENSIONS], 1e-9)
        else:
            basis = np.eye(128)[:, :_DIMENSIONS]
        self.matrix = (basis @ _ROTATION[:, :bits * tables]).astype(np.float32)
        self.mean = self.mean.astype(np.float32)

    def codes(self, descriptors: np.ndarray) -> np.ndarray:
        """The LSH code of each descriptor in each table: int64 ``(N, tables)`` in ``[0, 2**bits)``."""
        signs = ((np.asarray(descriptors, np.float32) - self.mean) @ self.matrix > 0)
        weights = 1 << np.arange(self.bits, dtype=np.int64)
        return signs.reshape(len(descriptors), self.tables, self.bits).astype(np.int64) @ weights


class Votes(NamedTuple):
    """Weighted votes per master (insertion order): of entries near the query's whole sketch, and of
    every entry sharing a table's code."""

    near: np.ndarray
    shared: np.ndarray


class FeatureIndex:
    """An inverted index of the masters' keypoint codes.

    Build it with :meth:`from_prints` (or :meth:`add`, then :meth:`build`), then ask
    :meth:`candidates`. The whitening is estimated from the first masters added (up to
    ``_SAMPLE`` descriptors); later ones are coded as they come, so memory stays at the codes.
    """

    def __init__(self, *, bits: int = BITS, tables: int = TABLES, keypoints: int = INDEXED_KEYPOINTS) -> None:
        if not (8 <= bits <= 24 and 1 <= tables and bits * tables <= _DIMENSIONS):
            raise ValueError(f"FeatureIndex: need 8 <= bits <= 24 and bits * tables <= {_DIMENSIONS}")
        self.bits, self.tables, self.keypoints = bits, tables, keypoints
        self._ids: list[int] = []
        self._waiting: list[np.ndarray] = []     # descriptors until the projection is fitted
        self._codes: list[np.ndarray] = []       # int32 (n, TABLES) per master once fitted
        self._projection: _Projection | None = None
        self._order: list[np.ndarray] = []       # per table: entries' masters, sorted by that table's code
        self._sketch: list[np.ndarray] = []      # per table: entries' whole sketches, in the same order
        self._starts: list[np.ndarray] = []      # per table: where each code's entries start
        self._limit = 0

    @classmethod
    def from_prints(cls, prints: Iterable[tuple[int, MasterPrint | Features]], **options: int) -> FeatureIndex:
        """An index of ``(id, print)`` pairs (e.g. registry master ids and their decoded prints)."""
        index = cls(**options)
        for master_id, print_ in prints:
            index.add(master_id, print_)
        return index.build()

    def add(self, master_id: int, print_: MasterPrint | Features) -> None:
        """Queue one master's keypoints; call :meth:`build` when all are added."""
        if self._order:
            raise ValueError("FeatureIndex.add: the index is built; make a new one")
        features = print_.features if isinstance(print_, MasterPrint) else print_
        self._ids.append(int(master_id))
        descriptors = np.asarray(features.descriptors[:self.keypoints], np.float32)
        if self._projection is not None:
            self._codes.append(self._projection.codes(descriptors).astype(np.int32))
            return
        self._waiting.append(descriptors)
        if sum(len(d) for d in self._waiting) >= _SAMPLE:
            self._fit()

    def codes(self, descriptors: np.ndarray) -> np.ndarray:
        """The LSH codes of descriptors, int32 ``(N, tables)``, once the whitening is fitted (after
        ``_SAMPLE`` descriptors were added); for :meth:`add_codes`."""
        if self._projection is None:
            raise ValueError("FeatureIndex.codes: add more masters first (the whitening is not fitted yet)")
        return self._projection.codes(descriptors).astype(np.int32)

    def add_codes(self, master_id: int, codes: np.ndarray) -> None:
        """Add a master by codes already computed with :meth:`codes` (a stored or synthetic index)."""
        if self._projection is None or self._order:
            raise ValueError("FeatureIndex.add_codes: the whitening must be fitted and the index not built")
        self._ids.append(int(master_id))
        self._codes.append(np.asarray(codes, np.int32)[:self.keypoints])

    def _fit(self) -> None:
        sample = np.concatenate(self._waiting) if self._waiting else np.zeros((0, 128))
        self._projection = _Projection(sample, self.bits, self.tables)
        self._codes = [self._projection.codes(d).astype(np.int32) for d in self._waiting]
        self._waiting = []

    def build(self) -> FeatureIndex:
        """Sort the codes into one inverted list per LSH table; returns ``self``."""
        if self._projection is None:
            self._fit()
        counts = np.array([len(c) for c in self._codes], np.int64)
        owner = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        every = np.concatenate(self._codes) if self._codes else np.zeros((0, self.tables), np.int32)
        sketch = _sketches(every, self.bits)
        for table in range(self.tables):
            column = every[:, table]
            order = np.argsort(column, kind="stable")
            self._order.append(owner[order])
            self._sketch.append(sketch[order])
            self._starts.append(np.searchsorted(column[order], np.arange((1 << self.bits) + 1)).astype(np.int64))
        self._limit = max(CROWDED, int(CROWDED * len(every) / (1 << self.bits)))
        self._entries = max(1, len(every))
        self._codes = []
        return self

    def __len__(self) -> int:
        return len(self._ids)

    def votes(self, suspect: Features, *, near_bits: int = NEAR_BITS) -> Votes:
        """The suspect's descriptors' votes per master (see `Votes`), each weighted by how rare its
        code is (``log(entries / bucket size)``, as tf-idf weighs words); ``near_bits``: how many bits
        a near entry's whole sketch may differ from the query's."""
        if not self._order or self._projection is None:
            raise ValueError("FeatureIndex.votes: call build() first")
        if not self._ids or len(suspect) == 0:
            return Votes(np.zeros(len(self._ids)), np.zeros(len(self._ids)))
        query = self._projection.codes(suspect.descriptors)
        sketch = _sketches(query, self.bits)
        near, shared = np.zeros(len(self._ids)), np.zeros(len(self._ids))
        for table in range(self.tables):
            starts = self._starts[table][query[:, table]]
            sizes = self._starts[table][query[:, table] + 1] - starts
            keep = (sizes > 0) & (sizes <= self._limit)
            starts, sizes = starts[keep], sizes[keep]
            total = int(sizes.sum())
            if total:
                offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(total)
                owners = self._order[table][offsets]
                weights = np.repeat(np.log(self._entries / sizes), sizes)      # rare codes count more
                close = np.bitwise_count(self._sketch[table][offsets] ^ np.repeat(sketch[keep], sizes)) <= near_bits
                shared += np.bincount(owners, weights, minlength=len(self._ids))
                near += np.bincount(owners[close], weights[close], minlength=len(self._ids))
        return Votes(near, shared)

    def candidates(self, suspect: Features, *, limit: int = CANDIDATES, shortlist: int = SHORTLIST,
                   min_votes: float = 10.0) -> list[tuple[int, float]]:
        """``(master id, near votes)`` ranked by near votes, then by all votes: the masters with at least
        ``min_votes`` near votes (at most ``limit``), or the first ``shortlist`` with at least
        ``min_votes`` in all when fewer have them."""
        votes = self.votes(suspect)
        ranked = np.lexsort((-votes.shared, -votes.near))
        count = max(min(limit, int((votes.near >= min_votes).sum())), shortlist)
        return [(self._ids[i], round(float(votes.near[i]), 2)) for i in ranked[:count] if votes.shared[i] >= min_votes]
