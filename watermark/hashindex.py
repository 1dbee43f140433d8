"""`HashIndex`: every registered master within a Hamming distance of a 64-bit hash, fast at a million.

Multi-index hashing (Norouzi, Punjani and Fleet, CVPR 2012): the 64 bits are cut into four 16-bit
chunks and each chunk has a table (masters sorted by that chunk). Two hashes within ``d`` bits agree
within ``d // 4`` bits on at least one chunk (pigeonhole), so a query probes, in each table, the
chunk values within ``d // 4`` bits of its own and checks the full distance only for the masters
found there: a few thousand candidates at a million masters instead of a million.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["HashIndex"]

_CHUNKS, _CHUNK_BITS = 4, 16


def _flip_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for count in range(1, radius + 1):
        masks += [sum(1 << bit for bit in bits) for bits in itertools.combinations(range(_CHUNK_BITS), count)]
    return np.array(masks, dtype=np.uint16)


class HashIndex:
    """Ids and 64-bit hashes, searchable by Hamming distance.

    Parameters
    ----------
    ids : array of int
        Caller's ids (e.g. registry master ids), int64.
    hashes : array of uint64
        One hash per id.

    Examples
    --------
    >>> index = HashIndex(np.array([7, 8]), np.array([0b1011, 2**64 - 1], dtype=np.uint64))
    >>> index.query(0b0011, max_distance=2)
    [(7, 1)]
    """

    def __init__(self, ids: np.ndarray | Sequence[int], hashes: np.ndarray | Sequence[int]) -> None:
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.hashes = np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64))
        if self.ids.shape != self.hashes.shape or self.ids.ndim != 1:
            raise ValueError("ids and hashes must be 1-D arrays of the same length")
        chunks = self.hashes.view(np.uint16).reshape(-1, _CHUNKS)     # little-endian chunks of each hash
        self._order, self._starts = [], []
        for column in range(_CHUNKS):
            order = np.argsort(chunks[:, column], kind="stable").astype(np.int64)
            counts = np.bincount(chunks[order, column], minlength=1 << _CHUNK_BITS)
            self._order.append(order)
            self._starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        self._masks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.ids.size)

    def distances(self, query: int | Sequence[int], max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, distances)`` of every entry within ``max_distance`` bits of any of the
        ``query`` hashes (the smallest distance each), in no particular order."""
        queries = np.atleast_1d(np.asarray(query, dtype=np.uint64))
        radius = max_distance // _CHUNKS
        if radius not in self._masks:
            self._masks[radius] = _flip_masks(radius)
        masks = self._masks[radius]
        found = []
        for value in queries:
            pieces = np.array([value], dtype=np.uint64).view(np.uint16)
            for column in range(_CHUNKS):
                probes = (masks ^ pieces[column]).astype(np.int64)
                starts, ends = self._starts[column][probes], self._starts[column][probes + 1]
                sizes = ends - starts
                total = int(sizes.sum())
                if total == 0:
                    continue
                offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(total)
                found.append(self._order[column][offsets])
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        candidates = np.concatenate(found)      # with repeats: cheaper to check twice than to sort first
        distance = np.min([np.bitwise_count(self.hashes[candidates] ^ value) for value in queries], axis=0)
        keep = distance <= max_distance
        positions, first = np.unique(candidates[keep], return_index=True)
        return positions, distance[keep][first].astype(np.int64)

    def query(self, query: int | Sequence[int], *, max_distance: int,
              limit: int | None = None) -> list[tuple[int, int]]:
        """``(id, distance)`` of the entries within ``max_distance`` bits of ``query`` (one hash or
        several, e.g. a suspect's orientations), nearest first, at most ``limit``."""
        positions, distance = self.distances(query, max_distance)
        order = np.lexsort((self.ids[positions], distance))[:limit]
        return [(int(self.ids[positions[i]]), int(distance[i])) for i in order]
