"""How eval reads payload bits from any Filigrane scheme, and the bench key and payloads."""

from __future__ import annotations

import numpy as np
import pytest

import watermark
from eval import contenders
from watermark import coding


def _detection(bits, payload=None):
    return watermark.Detection(found=payload is not None, payload=payload, p_value=0.5, score=0.0,
                               bits=np.asarray(bits, dtype=np.float32), scheme="test")


def test_read_payload_bits_prefers_the_checked_payload():
    assert np.array_equal(contenders.read_payload_bits(_detection(np.zeros(3), payload=0xF0)),
                          coding.int_to_bits(0xF0, 64))


def test_read_payload_bits_decodes_a_noisy_codeword_without_its_crc():
    payload = 0x0123_4567_89AB_CDEF
    soft = 2.0 * coding.encode(payload) - 1.0
    soft += np.random.default_rng(5).normal(0, 0.9, soft.size)     # raw errors, Viterbi fixes most
    read = contenders.read_payload_bits(_detection(soft))
    raw = np.mean((soft > 0) == coding.encode(payload).astype(bool))
    accuracy = np.mean(read == coding.payload_bits(payload))
    assert raw < 1.0 and accuracy >= raw


def test_read_payload_bits_of_a_systematic_layout_and_of_nothing():
    payload = 0xDEAD_BEEF_0000_FFFF
    bits = coding.payload_bits(payload)
    soft = np.concatenate([2.0 * bits - 1.0, np.ones(16)])          # payload + CRC, as the QIM baselines
    assert np.array_equal(contenders.read_payload_bits(_detection(soft)), bits)
    assert contenders.read_payload_bits(_detection(np.zeros(0))) is None


def test_bench_key_and_payloads_are_reproducible():
    assert contenders.bench_key(3) == contenders.bench_key(3) != contenders.bench_key(4)
    assert contenders.payload_for("a", 0, 64) == contenders.payload_for("a", 0, 64)
    assert contenders.payload_for("a", 0, 64) != contenders.payload_for("b", 0, 64)
    assert 0 <= contenders.payload_for("a", 0, 32) < 2**32
    with pytest.raises(ValueError):
        contenders.payload_for("a", 0, 65)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(watermark.UnknownNameError, match="dwtdct"):
        contenders.get("no-such-scheme")
    with pytest.raises(watermark.UnknownNameError, match="peer:blind-watermark"):
        contenders.get("peer:nope")


def test_a_scheme_contender_is_versioned_by_the_package():
    assert contenders.get("lattice").version == f"filigrane-{watermark.__version__}"
