"""The answer of a detector: one small, self-describing value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Detection"]


@dataclass(frozen=True, eq=False)  # eq=False: == on array fields is ambiguous
class Detection:
    """What `detect` found in one image; "no mark" is an answer, never an exception.

    Attributes
    ----------
    found : bool
        ``p_value`` is at or below the false-alarm rate the caller asked for.
    payload : int or None
        The CRC-checked payload; None when no mark is found or the mark is unreadable.
    p_value : float
        Probability that an image without this key's mark scores at least ``score``,
        accounting for every hypothesis the detector tried.
    score : float
        The statistic behind ``p_value`` (a normalised correlation peak, in standard deviations).
    bits : numpy.ndarray
        Soft score per coded bit (read-only); > 0 reads as 1.
    scheme : str
        Name of the scheme that answered.
    transform : numpy.ndarray or None
        The 2x3 affine map (suspect pixels -> marked-image pixels) that synchronisation undid.
    """

    found: bool
    payload: int | None
    p_value: float
    score: float
    bits: np.ndarray = field(repr=False)
    scheme: str
    transform: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        bits = np.array(self.bits, dtype=np.float32)
        bits.setflags(write=False)
        object.__setattr__(self, "bits", bits)

    def __str__(self) -> str:
        if self.payload is not None:
            what = f"payload {self.payload:#018x}"
        elif self.found:
            what = "mark found, payload unreadable"
        else:
            what = "no mark"
        return f"{what} (p={self.p_value:.3g}, {self.scheme})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (no per-bit array)."""
        return {
            "found": self.found,
            "payload": None if self.payload is None else f"{self.payload:#018x}",
            "p_value": self.p_value,
            "score": round(self.score, 4),
            "scheme": self.scheme,
            "transform": None if self.transform is None else np.round(self.transform, 5).tolist(),
        }
