"""Adapters to other watermarking libraries, so one table shows Filigrane beside what people already use.

Installed with ``pip install 'filigrane[peers]'``; a peer whose library is absent raises
:class:`PeerUnavailableError` (an ``ImportError`` with the install command), which the runner and
``watermark bench`` turn into a one-line "skipped" message.

==============================  ========================  ========  ====================================
name                            library (import)          payload   key
==============================  ========================  ========  ====================================
``peer:imwatermark-dwtDct``     invisible-watermark       32 bits   none: the library is keyless
                                (``imwatermark``)
``peer:imwatermark-dwtDctSvd``  invisible-watermark       32 bits   none
``peer:blind-watermark``        blind-watermark           64 bits   ``password_img``, ``password_wm``
                                (``blind_watermark``)                 derived from the benchmark key
==============================  ========================  ========  ====================================

Each peer carries its natural payload (invisible-watermark's documented 32 bits; blind-watermark
takes any length, so the same 64 bits as Filigrane); ``bit_accuracy`` and ``exact`` are measured on
that payload. The peers have no detector of their own, only a decoder, so their ``p_value`` is a
*known-message* test: with ``k`` of the ``n`` decoded bits equal to the payload looked for,
``p = P(Binomial(n, 1/2) >= k)``, which assumes that an unmarked image decodes to independent fair
bits (the libraries promise nothing of the kind: the p-value calibration on unmarked images in the
report shows whether it holds). ``score`` is ``(2k - n) / sqrt(n)`` and ``found`` is
``p <= 1e-9``, Filigrane's default false-alarm rate (for 32 bits: every bit right).

Both libraries use OpenCV's BGR order; the adapters convert. blind-watermark prints a banner and
sets the global multiprocessing start method to "fork" when imported: the adapter silences the
one and prevents the other.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import multiprocessing
from importlib import metadata

import numpy as np
from scipy import stats

import watermark
from watermark import coding

from .reading import Reading

__all__ = ["PREFIX", "MIN_SIZE", "PeerUnavailableError", "names", "get", "available", "known_message_reading"]

PREFIX = "peer:"
FALSE_ALARM = 1e-9
_INSTALL = "pip install 'filigrane[peers]'"


class PeerUnavailableError(ImportError):
    """A peer's library is not installed."""


def known_message_reading(read_bits: np.ndarray | None, payload: int, n: int):
    """A :class:`~eval.reading.Reading` for decoded bits tested against the ``n``-bit ``payload``."""
    if read_bits is None or len(read_bits) != n:
        return Reading(bits=None, found=False, payload=None, p_value=1.0, score=math.nan)
    read_bits = np.asarray(read_bits).astype(np.uint8)
    matches = int(np.sum(read_bits == coding.int_to_bits(payload, n)))
    p_value = float(stats.binom.sf(matches - 1, n, 0.5))
    value = coding.bits_to_int(read_bits)
    return Reading(bits=read_bits, found=p_value <= FALSE_ALARM, payload=value, p_value=p_value,
                   score=(2 * matches - n) / math.sqrt(n))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(array, dtype=np.float64)), 0, 255).astype(np.uint8)


def _version(distribution: str) -> str:
    try:
        return f"{distribution}-{metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return f"{distribution}-unknown"


class ImWatermarkPeer:
    """invisible-watermark's ``dwtDct`` or ``dwtDctSvd`` (ShieldMnt), 32 bits, keyless."""

    payload_bits = 32
    min_size = 256          # the library refuses images below 256 x 256 px

    def __init__(self, method: str) -> None:
        try:
            import imwatermark  # noqa: F401  (imports PyTorch)
        except ImportError as exc:
            raise PeerUnavailableError(f"peer:imwatermark-{method} needs invisible-watermark ({exc}): "
                                       f"{_INSTALL}") from None
        self.method = method
        self.name = f"{PREFIX}imwatermark-{method}"
        self.version = _version("invisible-watermark")

    def embed(self, image: np.ndarray, payload: int, key: watermark.Key) -> np.ndarray:
        from imwatermark import WatermarkEncoder

        encoder = WatermarkEncoder()
        encoder.set_watermark("bits", [int(b) for b in coding.int_to_bits(payload, self.payload_bits)])
        bgr = encoder.encode(np.ascontiguousarray(image[:, :, ::-1]), self.method)
        return np.ascontiguousarray(_to_uint8(bgr)[:, :, ::-1])

    def read(self, image: np.ndarray, key: watermark.Key, payload: int):
        from imwatermark import WatermarkDecoder

        if image.shape[0] * image.shape[1] < 256 * 256:
            return known_message_reading(None, payload, self.payload_bits)
        decoder = WatermarkDecoder("bits", self.payload_bits)
        bits = decoder.decode(np.ascontiguousarray(image[:, :, ::-1]), self.method)
        return known_message_reading(np.asarray(bits, dtype=np.uint8), payload, self.payload_bits)


@functools.lru_cache(maxsize=1)
def _blind_watermark():
    """Import blind_watermark without its global side effects (start method, banner)."""
    original = multiprocessing.set_start_method
    multiprocessing.set_start_method = lambda *args, **kwargs: None   # it forces "fork" process-wide
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import blind_watermark
    finally:
        multiprocessing.set_start_method = original
    blind_watermark.bw_notes.close()
    return blind_watermark


class BlindWatermarkPeer:
    """blind-watermark (guofei9987): DWT-DCT-SVD on YUV blocks, 64 bits, two integer passwords."""

    payload_bits = 64
    min_size = 128

    def __init__(self) -> None:
        try:
            _blind_watermark()
        except ImportError as exc:
            raise PeerUnavailableError(f"peer:blind-watermark needs blind-watermark ({exc}): {_INSTALL}") from None
        self.name = f"{PREFIX}blind-watermark"
        self.version = _version("blind-watermark")

    @staticmethod
    def _passwords(key: watermark.Key) -> dict[str, int]:
        def number(purpose: str) -> int:
            return int.from_bytes(key.digest(purpose)[:4], "big") >> 1
        return {"password_img": number("peer/blind-watermark/img/v1"),
                "password_wm": number("peer/blind-watermark/wm/v1")}

    def _instance(self, key: watermark.Key):
        with contextlib.redirect_stdout(io.StringIO()):
            return _blind_watermark().WaterMark(mode="common", **self._passwords(key))

    def embed(self, image: np.ndarray, payload: int, key: watermark.Key) -> np.ndarray:
        mark = self._instance(key)
        mark.read_img(img=np.ascontiguousarray(image[:, :, ::-1]))
        mark.read_wm([bool(b) for b in coding.int_to_bits(payload, self.payload_bits)], mode="bit")
        with contextlib.redirect_stdout(io.StringIO()):
            bgr = mark.embed()
        return np.ascontiguousarray(_to_uint8(bgr)[:, :, ::-1])

    def read(self, image: np.ndarray, key: watermark.Key, payload: int):
        mark = self._instance(key)
        with contextlib.redirect_stdout(io.StringIO()):
            bits = mark.extract(embed_img=np.ascontiguousarray(image[:, :, ::-1]), wm_shape=self.payload_bits,
                                mode="bit")
        return known_message_reading(np.asarray(bits).astype(np.uint8), payload, self.payload_bits)


_PEERS = {
    f"{PREFIX}imwatermark-dwtDct": lambda: ImWatermarkPeer("dwtDct"),
    f"{PREFIX}imwatermark-dwtDctSvd": lambda: ImWatermarkPeer("dwtDctSvd"),
    f"{PREFIX}blind-watermark": BlindWatermarkPeer,
}


MIN_SIZE = max(ImWatermarkPeer.min_size, BlindWatermarkPeer.min_size)   # the largest a peer needs, px


def names() -> list[str]:
    """Names of every peer adapter, installed or not."""
    return list(_PEERS)


def get(name: str):
    """The peer adapter ``name``.

    Raises
    ------
    watermark.UnknownNameError
        No such peer; the message lists them.
    PeerUnavailableError
        Its library is not installed; the message gives the install command.
    """
    if name not in _PEERS:
        raise watermark.UnknownNameError(f"unknown peer {name!r}; known peers: {', '.join(_PEERS)}")
    return _PEERS[name]()


def available() -> list[str]:
    """Names of the peers whose library is installed."""
    found = []
    for name in _PEERS:
        try:
            get(name)
        except PeerUnavailableError:
            continue
        found.append(name)
    return found
