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
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import watermark
from watermark import coding, schemes

from . import peers

__all__ = ["Reading", "Contender", "FiligraneScheme", "get", "names", "bench_key", "payload_for",
           "int_to_bits", "read_payload_bits"]


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


def int_to_bits(value: int, n: int) -> np.ndarray:
    """``n`` bits of ``value``, most significant first, uint8."""
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def _code_matrix() -> np.ndarray:
    """``G`` with ``encode(p)[:3*64] = G @ bits(p) mod 2``: the causal, linear head of the codeword."""
    head = 3 * coding.PAYLOAD_BITS
    columns = [coding.encode(1 << (coding.PAYLOAD_BITS - 1 - i))[:head].astype(np.int64)
               for i in range(coding.PAYLOAD_BITS)]
    zero = coding.encode(0)[:head].astype(np.int64)
    matrix = (np.stack(columns, axis=1) - zero[:, None]) % 2
    rate = head // coding.PAYLOAD_BITS
    if not all(matrix[rate * t, t] == 1 and not matrix[rate * t, t + 1:].any() for t in range(coding.PAYLOAD_BITS)):
        raise RuntimeError("watermark.coding's code is not causal with a rate-1/3 head; update eval.contenders")
    return matrix


def _information_bits(codeword: np.ndarray) -> np.ndarray:
    """The 64 payload bits that a (convolutional) codeword encodes, by forward substitution."""
    matrix = _code_matrix()
    rate = matrix.shape[0] // coding.PAYLOAD_BITS
    info = np.zeros(coding.PAYLOAD_BITS, dtype=np.int64)
    for t in range(coding.PAYLOAD_BITS):
        row = matrix[rate * t]
        info[t] = (int(codeword[rate * t]) + int(row[:t] @ info[:t])) % 2
    return info.astype(np.uint8)


def read_payload_bits(detection: watermark.Detection) -> np.ndarray | None:
    """The 64 payload bits a Filigrane detection reads (rules in the module docstring), or None."""
    if detection.payload is not None:
        return int_to_bits(detection.payload, coding.PAYLOAD_BITS)
    soft = np.asarray(detection.bits, dtype=np.float32)
    if soft.size == coding.CODEWORD_BITS:
        return _information_bits(coding.decode_soft(soft).codeword)
    if soft.size >= coding.PAYLOAD_BITS:
        return (soft[:coding.PAYLOAD_BITS] > 0).astype(np.uint8)
    return None


class FiligraneScheme:
    """A scheme of ``watermark.schemes`` as a contender (64-bit payload)."""

    payload_bits = coding.PAYLOAD_BITS

    def __init__(self, name: str, *, strength: float = 1.0) -> None:
        scheme = schemes.get(name)         # raises UnknownNameError listing the known names
        self.name = scheme.name
        self.min_size = scheme.min_size
        self.strength = strength
        self.version = f"filigrane-{_filigrane_version()}"

    def embed(self, image: np.ndarray, payload: int, key: watermark.Key) -> np.ndarray:
        return watermark.embed(image, payload, key, strength=self.strength, scheme=self.name)

    def read(self, image: np.ndarray, key: watermark.Key, payload: int) -> Reading:
        detection = watermark.detect(image, key, scheme=self.name)
        return Reading(bits=read_payload_bits(detection), found=bool(detection.found), payload=detection.payload,
                       p_value=float(detection.p_value), score=float(detection.score))


@functools.lru_cache(maxsize=1)
def _filigrane_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("filigrane")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def names() -> list[str]:
    """Every contender name: Filigrane's schemes, then the peers (installed or not)."""
    return list(schemes.names()) + list(peers.names())


@functools.lru_cache(maxsize=None)
def get(name: str) -> Contender:
    """The contender called ``name`` (a scheme name, or ``peer:...``).

    Raises
    ------
    watermark.UnknownNameError
        No such scheme or peer; the message lists the known names.
    eval.peers.PeerUnavailableError
        A peer whose library is not installed (an ``ImportError``).
    """
    if name.startswith(peers.PREFIX):
        return peers.get(name)
    if name not in schemes.names():
        raise watermark.UnknownNameError(f"unknown scheme {name!r}; known: {', '.join(names())}")
    return FiligraneScheme(name)


def bench_key(seed: int) -> watermark.Key:
    """The benchmark's key for ``seed``: derived, so a rerun regenerates it (never a user's key)."""
    return watermark.Key(hashlib.blake2b(f"filigrane-bench/key/v1/{seed}".encode(), digest_size=32).digest())


def payload_for(image: str, seed: int, bits: int) -> int:
    """The payload hidden in ``image``: a hash of the image name and ``seed``, ``bits`` bits long."""
    if not 1 <= bits <= 64:
        raise ValueError(f"payloads of 1 to 64 bits are supported, not {bits}")
    digest = hashlib.blake2b(f"filigrane-bench/payload/v1/{seed}/{image}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - bits)
