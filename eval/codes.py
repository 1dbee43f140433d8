"""Which error-correcting code? Exact-payload rate of candidate codes on the soft-bit channel.

The lattice scheme has room for about 258 coded bits per tile. This compares, at the same number
of channel uses and the same per-use signal-to-noise ratio, what the scheme could put there:

* ``repetition``: 80 bits (payload + CRC-16) each repeated, soft values summed (no real code);
* ``convolutional``: the K=7 rate-1/3 code with soft Viterbi decoding that ``watermark.coding`` uses;
* ``candidates``: no decoding, the codeword matched among 2 known payloads (an informed read against
  a registry's two copies of a master), found at p <= 1e-9.

Run ``python -m eval.codes`` (about a minute); the table is in the README.
"""

from __future__ import annotations

import argparse

import numpy as np

from watermark import coding, stats

__all__ = ["exact_rate"]

_INFO_BITS = coding.PAYLOAD_BITS + coding.CRC_BITS


def _received(sent: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``sent`` (+-1 per channel use) through unit-amplitude Gaussian noise at ``snr_db`` per use."""
    return sent + rng.normal(0.0, 10 ** (-snr_db / 20), sent.size)


def _repetition_trial(payload: int, snr_db: float, rng: np.random.Generator) -> bool:
    info = np.concatenate([coding.payload_bits(payload), coding.crc16(coding.payload_bits(payload))])
    copies = -(-coding.CODEWORD_BITS // _INFO_BITS)
    received = _received(np.tile(2.0 * info - 1.0, copies)[: coding.CODEWORD_BITS], snr_db, rng)
    sums = np.bincount(np.arange(received.size) % _INFO_BITS, weights=received, minlength=_INFO_BITS)
    bits = (sums > 0).astype(np.uint8)
    return bool(np.array_equal(bits, info))


def _convolutional_trial(payload: int, snr_db: float, rng: np.random.Generator) -> bool:
    received = _received(2.0 * coding.encode(payload) - 1.0, snr_db, rng)
    return coding.decode_soft(received).payload == payload


def _candidates_trial(payload: int, snr_db: float, rng: np.random.Generator) -> bool:
    received = _received(2.0 * coding.encode(payload) - 1.0, snr_db, rng)
    z = coding.candidate_z(received, [payload, int(rng.integers(0, 2**63))])
    return bool(z[0] > z[1] and 2 * stats.normal_tail(float(z[0])) <= 1e-9)


def exact_rate(code: str, snr_db: float, trials: int, seed: int = 0) -> float:
    """Fraction of ``trials`` random payloads decoded exactly through a Gaussian soft-bit channel."""
    trial = {"repetition": _repetition_trial, "convolutional": _convolutional_trial,
             "candidates": _candidates_trial}[code]
    rng = np.random.default_rng(seed)
    payloads = rng.integers(0, 2**63, trials, dtype=np.int64)
    return float(np.mean([trial(int(p), snr_db, rng) for p in payloads]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.codes", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    args = parser.parse_args(argv)
    levels = [-8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 2.0]
    print(f"exact-payload rate vs SNR per coded bit (dB), {args.trials} trials each")
    print("| code | " + " | ".join(f"{snr:+.0f} dB" for snr in levels) + " |")
    print("|---|" + "---|" * len(levels))
    for code in ("repetition", "convolutional", "candidates"):
        rates = [exact_rate(code, snr, args.trials) for snr in levels]
        print(f"| {code} | " + " | ".join(f"{rate:.2f}" for rate in rates) + " |")


if __name__ == "__main__":
    main()
