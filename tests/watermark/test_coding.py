import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark import ParameterError, PayloadTooLargeError, coding


@settings(max_examples=25, deadline=None)
@given(payload=st.integers(0, 2**64 - 1), flipped=st.sets(st.integers(0, coding.CODEWORD_BITS - 1), max_size=6))
def test_coding_corrects_a_few_flipped_bits(payload, flipped):
    soft = 2.0 * coding.encode(payload) - 1.0
    soft[list(flipped)] *= -1
    assert coding.decode_soft(soft).payload == payload


def test_soft_decoding_at_zero_db():
    # +-1 per coded bit in unit Gaussian noise (Es/N0 = 0 dB): the code should recover >= 90 %.
    rng = np.random.default_rng(7)
    payloads = rng.integers(0, 2**63, 100, dtype=np.int64).tolist()
    ok = sum(coding.decode_soft(2.0 * coding.encode(p) - 1.0 + rng.normal(0, 1, coding.CODEWORD_BITS)).payload == p
             for p in payloads)
    assert ok >= 90


def test_crc_rejects_noise():
    # Without a mark the decoded checksum should hold about 2**-16 of the time: never in 3000 tries.
    rng = np.random.default_rng(8)
    assert all(coding.decode_soft(rng.normal(0, 1, coding.CODEWORD_BITS)).payload is None for _ in range(3000))


@pytest.mark.parametrize("payload, expected", [(0, 0), (2**64 - 1, 2**64 - 1), (b"\x01\x02", 0x0102),
                                               (b"ABCDEFGH", int.from_bytes(b"ABCDEFGH", "big"))])
def test_payload_forms(payload, expected):
    assert coding.payload_to_int(payload) == expected


@pytest.mark.parametrize("payload", [-1, 2**64, b"123456789"])
def test_payload_too_large(payload):
    with pytest.raises(PayloadTooLargeError):
        coding.payload_to_int(payload)


@pytest.mark.parametrize("payload", [1.5, "12", True, None])
def test_payload_of_the_wrong_type(payload):
    with pytest.raises(ParameterError, match="must be an int or bytes"):
        coding.payload_to_int(payload)


def test_crc16_known_value():
    # CRC-16/CCITT-FALSE of ASCII "123456789" is 0x29B1.
    bits = np.unpackbits(np.frombuffer(b"123456789", dtype=np.uint8))
    assert int("".join(map(str, coding.crc16(bits))), 2) == 0x29B1


@settings(max_examples=25, deadline=None)
@given(payload=st.integers(0, 2**64 - 1))
def test_decoded_bits_are_the_payload_bits_crc_or_not(payload):
    soft = 2.0 * coding.encode(payload) - 1.0
    soft[3 * coding.PAYLOAD_BITS:] = 0.0          # the CRC's part of the codeword erased: no CRC check
    decoded = coding.decode_soft(soft)
    assert np.array_equal(decoded.bits, coding.payload_bits(payload))
    assert coding.bits_to_int(decoded.bits) == payload


@settings(max_examples=25, deadline=None)
@given(value=st.integers(0, 2**64 - 1), extra=st.integers(0, 8))
def test_int_and_bits_round_trip(value, extra):
    n = value.bit_length() + extra
    assert coding.bits_to_int(coding.int_to_bits(value, n)) == value


def test_candidate_z_is_standard_normal_for_payloads_not_there_even_beside_a_strong_mark():
    rng = np.random.default_rng(11)
    others = [int(v) for v in rng.integers(0, 2**64, 400, dtype=np.uint64)]       # as a registry draws them
    for present in (None, 2.0):                 # noise alone; noise plus another payload's codeword, strong
        soft = rng.normal(0, 1, coding.CODEWORD_BITS)
        if present is not None:
            soft += present * (2.0 * coding.encode(12345) - 1.0)
        z = coding.candidate_z(soft, others)
        assert abs(z.mean()) < 0.2 and 0.85 < z.std() < 1.15, (present, z.mean(), z.std())


def test_the_code_is_affine_in_the_payload_s_bits():
    rng = np.random.default_rng(13)
    zero = coding.encode(0)
    for a, b in rng.integers(0, 2**64, (20, 2), dtype=np.uint64):
        assert np.array_equal(coding.encode(int(a) ^ int(b)), coding.encode(int(a)) ^ coding.encode(int(b)) ^ zero)


def test_codewords_in_bulk_are_encode_s():
    rng = np.random.default_rng(15)
    payloads = [int(v) for v in rng.integers(0, 2**64, 50, dtype=np.uint64)]
    bulk = coding.codewords(np.array([coding.payload_bits(payload) for payload in payloads]))
    assert np.array_equal(bulk, np.array([2.0 * coding.encode(payload) - 1.0 for payload in payloads]))


def test_candidate_z_has_the_exact_moments_of_its_null_for_each_soft_reading():
    """A probe: the null was estimated from 512 random codewords, its spread off by up to 5 % for a given
    reading (a z of 5 read as 5.26: a p-value three times too small); the moments are now exact."""
    rng = np.random.default_rng(14)
    payloads = [int(v) for v in rng.integers(0, 2**64, 20000, dtype=np.uint64)]
    codewords = np.array([2.0 * coding.encode(payload) - 1.0 for payload in payloads])
    for strength in (0.0, 0.0, 0.3, 0.6, 1.0, 2.0):          # noise; noise and another payload's mark
        soft = rng.normal(0, 1, coding.CODEWORD_BITS) + strength * (2.0 * coding.encode(0xC0FFEE) - 1.0)
        scores = codewords @ soft
        z = coding.candidate_z(soft, payloads[:2])          # z is affine in the score: its two terms from two
        slope = (z[1] - z[0]) / (scores[1] - scores[0])
        null = slope * (scores - scores[0]) + z[0]           # every payload's z
        assert abs(null.mean()) < 0.02 and abs(null.std() - 1.0) < 0.02, (strength, null.mean(), null.std())


def test_the_match_tail_counts_a_score_at_the_threshold_and_nothing_beyond_the_largest():
    """One coded bit read, a fair coin over random payloads: the score is +-1 (mean 0, spread 1), exactly."""
    soft = np.zeros(coding.CODEWORD_BITS)
    soft[0] = 1.0
    assert coding.match_tail(soft, -1.0) == 1.0
    assert coding.match_tail(soft, 1.0) == 0.5
    assert coding.match_tail(soft, 1.01) == 0.0


def test_a_candidate_codeword_is_matched_far_below_what_decoding_needs():
    # -6 dB per coded bit: the decoder does not find the payload, but among 8 candidates it stands out.
    rng = np.random.default_rng(12)
    candidates = [int(v) for v in rng.integers(0, 2**64, 8, dtype=np.uint64)]
    matched = 0
    for trial in range(20):
        soft = 2.0 * coding.encode(candidates[trial % 8]) - 1.0 + rng.normal(0, 10 ** 0.3, coding.CODEWORD_BITS)
        assert coding.decode_soft(soft).payload is None
        z = coding.candidate_z(soft, candidates)
        matched += int(np.argmax(z)) == trial % 8 and z.max() > 5.0
    assert matched >= 15, matched
