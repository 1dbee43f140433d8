"""One shape for everything the benchmark compares: Filigrane's schemes and other libraries (peers).

A contender embeds a payload of its natural size into uint8 RGB and reads it back as a
:class:`Reading`: hard payload bits, whether it claims a mark, a p-value and a score.

How Filigrane's payload bits are read (``bit_accuracy`` in the CSV), whatever the scheme:

1. the detector returned a CRC-checked payload: its 64 bits;
2. otherwise, soft bits of the length of :func:`watermark.coding.encode`'s codeword (a coded
   scheme such as "lattice"): the 64 information bits of the Viterbi best path, CRC or not;
3. otherwise, at least 64 soft bits: the signs of the first 64 (a systematic layout, payload first
   and most significant bit first, as the QIM and spread-spectrum baselines send payload + CRC);
4. otherwise none (NaN).

So ``bit_accuracy`` always compares the same 64 payload bits, decided with the scheme's own decoder,
whether or not the detector declared the mark found: it measures the channel, ``found`` measures the
decision and ``exact`` the whole chain.
"""

from __future__ import annotations

import functools
import hashlib
import math

import numpy as np

import watermark
from watermark import coding, schemes

from . import peers
from .reading import Contender, Reading

__all__ = ["Reading", "Contender", "STRENGTH_MARK", "FiligraneScheme", "get", "names", "null_min_side", "bench_key",
           "payload_for", "read_payload_bits"]


def read_payload_bits(detection: watermark.Detection) -> np.ndarray | None:
    """The 64 payload bits a Filigrane detection reads (rules in the module docstring), or None."""
    if detection.payload is not None:
        return coding.payload_bits(detection.payload)
    soft = np.asarray(detection.bits, dtype=np.float32)
    if soft.size == coding.CODEWORD_BITS:
        return coding.decode_soft(soft).bits
    if soft.size >= coding.PAYLOAD_BITS:
        return (soft[:coding.PAYLOAD_BITS] > 0).astype(np.uint8)
    return None


STRENGTH_MARK = "@"    # "lattice@0.5": the lattice scheme embedding at strength 0.5


class FiligraneScheme:
    """A scheme of ``watermark.schemes`` as a contender (64-bit payload); its name carries the
    strength when it is not the default (``lattice@0.5``)."""

    payload_bits = coding.PAYLOAD_BITS

    def __init__(self, name: str, *, strength: float = 1.0) -> None:
        scheme = schemes.get(name)         # raises UnknownNameError listing the known names
        self.scheme = scheme.name
        self.name = scheme.name if strength == 1.0 else f"{scheme.name}{STRENGTH_MARK}{strength:.15g}"
        self.min_size = scheme.min_size
        self.strength = strength
        self.version = f"filigrane-{watermark.__version__}"

    def embed(self, image: np.ndarray, payload: int, key: watermark.Key) -> np.ndarray:
        return watermark.embed(image, payload, key, strength=self.strength, scheme=self.scheme)

    def read(self, image: np.ndarray, key: watermark.Key, payload: int) -> Reading:
        detection = watermark.detect(image, key, scheme=self.scheme)
        return Reading(bits=read_payload_bits(detection), found=bool(detection.found), payload=detection.payload,
                       p_value=float(detection.p_value), score=float(detection.score))


def null_min_side() -> int:
    """The short side every unmarked image is brought up to: the largest any contender needs, chosen or
    not, so that a run's null images do not change with the schemes it compares."""
    return max([schemes.get(name).min_size for name in schemes.names()] + [peers.MIN_SIZE])


def names() -> list[str]:
    """Every contender name: Filigrane's schemes, then the peers (installed or not)."""
    return list(schemes.names()) + list(peers.names())


@functools.cache
def get(name: str) -> Contender:
    """The contender called ``name`` (a scheme name, ``scheme@strength``, or ``peer:...``).

    Raises
    ------
    watermark.UnknownNameError
        No such scheme or peer; the message lists the known names.
    eval.peers.PeerUnavailableError
        A peer whose library is not installed (an ``ImportError``).
    """
    if name.startswith(peers.PREFIX):
        return peers.get(name)
    base, _, strength = name.partition(STRENGTH_MARK)
    if base not in schemes.names():
        raise watermark.UnknownNameError(f"unknown scheme {name!r}; known: {', '.join(names())}")
    try:
        value = float(strength) if strength else 1.0
    except ValueError:
        value = math.nan
    if not value > 0:
        raise watermark.UnknownNameError(f"{name!r}: the strength after {STRENGTH_MARK!r} must be a number > 0")
    return FiligraneScheme(base, strength=value)


def bench_key(seed: int) -> watermark.Key:
    """The benchmark's key for ``seed``: derived, so a rerun regenerates it (never a user's key)."""
    return watermark.Key(hashlib.blake2b(f"filigrane-bench/key/v1/{seed}".encode(), digest_size=32).digest())


def payload_for(image: str, seed: int, bits: int) -> int:
    """The payload hidden in ``image``: a hash of the image name and ``seed``, ``bits`` bits long."""
    if not 1 <= bits <= 64:
        raise ValueError(f"payloads of 1 to 64 bits are supported, not {bits}")
    digest = hashlib.blake2b(f"filigrane-bench/payload/v1/{seed}/{image}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - bits)
