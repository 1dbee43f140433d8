"""The shapes the benchmark compares contenders by: a :class:`Reading`, and the :class:`Contender` protocol.

Shared by :mod:`eval.contenders` (Filigrane's schemes) and :mod:`eval.peers` (other libraries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

import watermark

__all__ = ["Reading", "Contender"]


@dataclass(frozen=True)
class Reading:
    """What a contender read in one image.

    Attributes
    ----------
    bits : numpy.ndarray or None
        Hard payload bits (0/1, most significant first), None when nothing could be read.
    found : bool
        The contender's own decision that its mark is present.
    payload : int or None
        The payload it reports (CRC-checked for Filigrane; the raw bits for peers).
    p_value, score : float
        Its detection statistic and p-value (NaN when it has none).
    """

    bits: np.ndarray | None
    found: bool
    payload: int | None
    p_value: float
    score: float


class Contender(Protocol):
    """What the runner needs from a scheme or a peer."""

    name: str            # the CSV's ``scheme`` column
    payload_bits: int    # natural payload size, in bits
    min_size: int        # smallest short side, px
    version: str         # enters the cache key

    def embed(self, image: np.ndarray, payload: int, key: watermark.Key) -> np.ndarray:
        """Mark uint8 RGB ``image`` with ``payload`` (< 2**payload_bits); same shape and dtype."""

    def read(self, image: np.ndarray, key: watermark.Key, payload: int) -> Reading:
        """Read ``image``; ``payload`` is what the tester looks for (peers' known-message test)."""
