"""Payload <-> coded bits: 64-bit payload, CRC-16, and a convolutional code decoded by soft Viterbi.

The code is the rate-1/3, constraint-length-7 convolutional code of LTE and many other systems
(generators 133, 171, 165 octal), zero-terminated: 64 payload + 16 CRC + 6 tail bits = 86 steps,
258 coded bits. ``python -m eval.codes`` measures it against the alternatives (see the README).
When the payload is one of a few known candidates (a registry's copies of one master),
:func:`candidate_z` tests each codeword whole, which needs far less signal than decoding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError, PayloadTooLargeError

__all__ = ["PAYLOAD_BITS", "CRC_BITS", "CODEWORD_BITS", "Decoded", "payload_to_int", "int_to_bits",
           "bits_to_int", "payload_bits", "crc16", "encode", "decode_soft", "codewords", "candidate_z", "match_tail"]

PAYLOAD_BITS = 64
CRC_BITS = 16
_GENERATORS = (0o133, 0o171, 0o165)
_MEMORY = 6
_STATES = 1 << _MEMORY
_RATE = len(_GENERATORS)
_STEPS = PAYLOAD_BITS + CRC_BITS + _MEMORY
CODEWORD_BITS = _RATE * _STEPS


def payload_to_int(payload: int | bytes) -> int:
    """Validate a user's payload: an int in [0, 2**64) or at most 8 bytes (big-endian).

    Raises
    ------
    PayloadTooLargeError
        The payload needs more than 64 bits.
    ParameterError
        The payload is neither an int nor bytes.
    """
    if isinstance(payload, (bytes, bytearray)):
        if len(payload) > PAYLOAD_BITS // 8:
            raise PayloadTooLargeError(f"payload of {len(payload)} bytes exceeds the 8-byte capacity")
        return int.from_bytes(payload, "big")
    if isinstance(payload, bool) or not isinstance(payload, (int, np.integer)):
        raise ParameterError(f"payload must be an int or bytes (text: 'lic-42'.encode()), got {type(payload).__name__}")
    payload = int(payload)
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise PayloadTooLargeError(f"payload {payload:#x} is outside [0, 2**64); the capacity is 64 bits")
    return payload


def int_to_bits(value: int, n: int) -> np.ndarray:
    """The ``n`` low bits of ``value``, most significant first, as uint8 0/1."""
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def bits_to_int(bits: np.ndarray) -> int:
    """The integer whose bits, most significant first, are ``bits`` (0/1 or bool)."""
    return int("".join("1" if b else "0" for b in bits) or "0", 2)


def payload_bits(payload: int) -> np.ndarray:
    """The 64 bits of ``payload``, most significant first, as uint8 0/1."""
    return int_to_bits(payload, PAYLOAD_BITS)


def crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT (polynomial 0x1021, initial 0xFFFF) of a bit sequence, as 16 bits."""
    register = 0xFFFF
    for bit in bits:
        feedback = ((register >> 15) & 1) ^ int(bit)
        register = (register << 1) & 0xFFFF
        if feedback:
            register ^= 0x1021
    return np.array([(register >> (15 - i)) & 1 for i in range(CRC_BITS)], dtype=np.uint8)


def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """``outputs[state, input]`` as +-1 rows of length 3, and ``next_state[state, input]``."""
    outputs = np.zeros((_STATES, 2, _RATE), dtype=np.float32)
    next_state = np.zeros((_STATES, 2), dtype=np.int64)
    for state in range(_STATES):
        for bit in (0, 1):
            register = (bit << _MEMORY) | state
            for k, generator in enumerate(_GENERATORS):
                outputs[state, bit, k] = 1.0 if bin(register & generator).count("1") % 2 else -1.0
            next_state[state, bit] = register >> 1
    return outputs, next_state


_OUTPUTS, _NEXT = _trellis()
# Each next state ns has input bit ns >> 5 and predecessors ((ns & 31) << 1) | {0, 1}.
_PRED = np.stack([((np.arange(_STATES) & 31) << 1), ((np.arange(_STATES) & 31) << 1) | 1], axis=1)
_INPUT = np.arange(_STATES) >> (_MEMORY - 1)


def encode(payload: int) -> np.ndarray:
    """The codeword of ``payload``: ``CODEWORD_BITS`` uint8 0/1 values."""
    info = payload_bits(payload_to_int(payload))
    message = np.concatenate([info, crc16(info), np.zeros(_MEMORY, dtype=np.uint8)])
    state, out = 0, []
    for bit in message:
        out.append(_OUTPUTS[state, bit] > 0)
        state = _NEXT[state, bit]
    return np.concatenate(out).astype(np.uint8)


@dataclass(frozen=True)
class Decoded:
    """The decoder's answer: the information bits of the best path, and the payload if its CRC holds."""

    payload: int | None
    bits: np.ndarray         # the 64 decoded payload bits, uint8 0/1, CRC or not


def decode_soft(soft: np.ndarray) -> Decoded:
    """Maximum-likelihood (Viterbi) decoding of soft values, > 0 meaning 1, then the CRC check."""
    soft = np.asarray(soft, dtype=np.float32)
    if soft.shape != (CODEWORD_BITS,):
        raise ValueError(f"expected {CODEWORD_BITS} soft values, got shape {soft.shape}")
    branch = soft.reshape(_STEPS, _RATE) @ _OUTPUTS.reshape(-1, _RATE).T   # (steps, states*2)
    branch = branch.reshape(_STEPS, _STATES, 2)
    metric = np.full(_STATES, -np.inf, dtype=np.float64)
    metric[0] = 0.0
    choices = np.empty((_STEPS, _STATES), dtype=np.int8)
    rows = np.arange(_STATES)
    for step in range(_STEPS):
        candidates = metric[_PRED] + branch[step][_PRED, _INPUT[:, None]]   # (ns, 2)
        pick = np.argmax(candidates, axis=1)
        choices[step] = pick
        metric = candidates[rows, pick]
    state, message = 0, np.empty(_STEPS, dtype=np.uint8)
    for step in range(_STEPS - 1, -1, -1):
        message[step] = _INPUT[state]
        state = _PRED[state, choices[step, state]]
    info, crc = message[:PAYLOAD_BITS], message[PAYLOAD_BITS:PAYLOAD_BITS + CRC_BITS]
    payload = bits_to_int(info) if np.array_equal(crc16(info), crc) else None
    return Decoded(payload=payload, bits=info)


@dataclass(frozen=True)
class _AffineCode:
    """The code as an affine map of the payload's bits (the CRC and the convolution are both linear over
    GF(2), the CRC's initial value the constant): coded bit ``i`` of a payload drawn at random is
    ``zero[i]`` flipped by a linear form of its bits, ``form[i]`` among the code's distinct forms;
    ``fixed[f]`` when form ``f`` is empty (the bit is the same for every payload)."""

    zero: np.ndarray     # the codeword of payload 0, +-1 float64
    form: np.ndarray     # per coded bit, the index of its linear form
    fixed: np.ndarray    # per linear form, whether it is empty
    flips: np.ndarray    # per payload bit (most significant first), the coded bits it flips: 0/1 float32


@functools.cache
def _affine_code() -> _AffineCode:
    zero = encode(0)
    flips = np.array([encode(1 << (PAYLOAD_BITS - 1 - bit)) ^ zero for bit in range(PAYLOAD_BITS)])
    forms, form = np.unique(flips.T, axis=0, return_inverse=True)
    return _AffineCode(2.0 * zero - 1.0, form.ravel(), np.logical_not(forms.any(axis=1)), flips.astype(np.float32))


def codewords(bits: np.ndarray) -> np.ndarray:
    """The codewords of payloads given as rows of their bits (most significant first, 0/1, as
    `payload_bits` gives them), +-1 float32 ``(rows, CODEWORD_BITS)``: many at once, through the code's
    affine form, where `encode` takes one."""
    code = _affine_code()
    coded = np.asarray(bits, np.float32) @ code.flips       # in place from here: a million rows are 1 GB each time
    coded += (code.zero > 0).astype(np.float32)
    np.fmod(coded, np.float32(2.0), out=coded)
    coded *= np.float32(2.0)
    coded -= np.float32(1.0)
    return coded


def candidate_z(soft: np.ndarray, payloads: list[int]) -> np.ndarray:
    """How well each candidate payload's whole codeword matches ``soft`` (> 0 meaning 1), as a z.

    The correlation is standardised by its exact mean and spread over payloads drawn at random (a
    registry's are), whatever ``soft`` holds, another copy's mark included: a coded bit is then fixed
    or a fair coin, and two coded bits are equal or opposite where they share a linear form of the
    payload's bits, uncorrelated otherwise (`_AffineCode`). A codeword is matched at about 5 dB less
    signal per coded bit than Viterbi decoding needs (``python -m eval.codes``), at the price of
    knowing the candidates.
    """
    soft = np.asarray(soft, dtype=np.float64)
    mean, spread = _null_moments(soft)
    scores = np.array([(2.0 * encode(payload) - 1.0) @ soft for payload in payloads], dtype=np.float64)
    return (scores - mean) / spread


def _null_moments(soft: np.ndarray) -> tuple[float, float]:
    """The mean and spread of a random payload's codeword matched with ``soft`` (see `candidate_z`)."""
    code = _affine_code()
    per_form = np.bincount(code.form, weights=code.zero * soft, minlength=code.fixed.size)
    return float(per_form[code.fixed].sum()), max(float(np.sqrt(np.sum(per_form[~code.fixed] ** 2))), 1e-12)


_TAIL_BINS = 256       # bins per spread of the match's null in match_tail: a z within about 0.01


def match_tail(soft: np.ndarray, z: float) -> float:
    """The chance that a payload drawn at random matches ``soft`` at ``z`` (`candidate_z`) or more, from the
    match's whole null distribution rather than the normal law.

    The normal tail is too thin where ``soft`` holds another payload's mark (the codewords' distances to
    it are not normal: 12 times too thin at z 6 and 31 at z 6.5, ``python -m eval.match_null``). The distribution is
    summed over the code's trellis, each step's share of the score in bins of 1/256 of the spread, every
    information and CRC bit a fair coin: the CRC's 16 bits taken as free (2**80 messages for the code's
    2**64), which a Monte Carlo of the code itself agrees with (``python -m eval.match_null``)."""
    soft = np.asarray(soft, dtype=np.float64)
    mean, spread = _null_moments(soft)
    width = spread / _TAIL_BINS
    shares = soft.reshape(_STEPS, _RATE) @ _OUTPUTS.reshape(-1, _RATE).T.astype(np.float64)
    shifts = np.rint(shares / width).astype(np.int64).reshape(_STEPS, _STATES, 2)
    reach = int(np.abs(shifts).max(axis=(1, 2)).sum())          # the largest |score|, in bins
    counts = np.zeros((_STATES, 2 * reach + 1))
    counts[0, reach] = 1.0
    for step in range(_STEPS):
        free = step < PAYLOAD_BITS + CRC_BITS                    # then the zero tail
        moved = np.zeros_like(counts)
        for state in np.flatnonzero(counts.any(axis=1)):
            for bit in (0, 1) if free else (0,):
                shift, source, target = shifts[step, state, bit], counts[state], moved[_NEXT[state, bit]]
                if shift >= 0:
                    target[shift:] += source[:source.size - shift]
                else:
                    target[:shift] += source[-shift:]
        counts = moved * 0.5 if free else moved
    first = reach + int(np.floor((mean + z * spread) / width))
    return float(counts[0, max(first, 0):].sum())
