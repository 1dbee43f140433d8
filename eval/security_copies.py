"""The masters of a security run (`eval.security`) and the copies issued of each: distinct payloads, as a
registry allocates them, each master's frame as a registry keeps it, and one marked copy per payload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

import watermark as wm
from watermark.registry import frames

from . import images as images_mod

__all__ = ["Master", "issued_payloads", "issued_masters", "ISSUED"]

ISSUED = 8                     # copies issued per master (candidates of the informed read)


def issued_payloads(master: str, seed: int) -> list[int]:
    """The payloads issued for ``master``: distinct, from a hash (a registry draws them at random)."""
    out = []
    for index in range(ISSUED):
        digest = hashlib.blake2b(f"filigrane-security/{seed}/{master}/{index}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "big"))
    return out


@dataclass
class Master:
    """A photograph of the security run, the payloads issued for it, their marked copies and its frame."""

    name: str
    pixels: np.ndarray
    payloads: list[int]
    copies: list[np.ndarray]          # one marked copy per issued payload (made on demand)
    frame: np.ndarray | None          # the master's frame as a registry keeps it (None: a registry without)


def issued_masters(specs: list[images_mod.ImageSpec], key: wm.Key, seed: int, copies: int,
                   with_frames: bool) -> list[Master]:
    out = []
    for spec in specs:
        pixels = spec.load()
        payloads = issued_payloads(spec.name, seed)
        frame = frames.decode(frames.encode(pixels), pixels.shape[1], pixels.shape[0]) if with_frames else None
        out.append(Master(spec.name, pixels, payloads, [wm.embed(pixels, p, key) for p in payloads[:copies]], frame))
    return out
