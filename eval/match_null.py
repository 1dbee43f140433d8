"""How far the informed match's p-value can be trusted: the tail of ``coding.candidate_z`` under its null.

The informed read (`watermark.coding.candidate_z`) standardises a candidate codeword's match with a
reading by its exact mean and spread over payloads drawn at random, and takes the p-value from the
normal tail. This draws millions of random payloads, matches their codewords against readings that
carry noise and another payload's mark at several strengths (per coded bit, noise 1), and counts how
often z passes each threshold, beside the normal tail; beyond what counting reaches (z 6-7, where the
default threshold of 1e-9 sits), `coding.match_tail` sums the tail over the code's trellis instead, as a
ratio to the normal one. The decoder's failure rate at each strength
says where a read falls back on the match (where the decoder reads the other payload, no candidate is
named). The codewords are made in bulk from the code's affine form (the CRC and the convolution are
linear in the payload's bits).

Run ``python -m eval.match_null`` (about five minutes a strength on one core).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from watermark import coding, stats

__all__ = ["tail_table"]

_THRESHOLDS = (4.0, 4.5, 5.0, 5.5)
_SUMMED = (5.0, 6.0, 6.5, 7.0)        # where the tail is summed over the trellis (coding.match_tail) instead
_BATCH = 250_000


def tail_table(strengths: Sequence[float], payloads: int, seed: int = 0) -> list[dict]:
    """Per strength of the other mark: the decoder's failure rate (of 50 readings) and, for one reading,
    how many of ``payloads`` random payloads' z pass each threshold, beside the normal tail's share, and
    the tail summed over the code's trellis over the normal one where counting cannot reach (``summed``)."""
    rng = np.random.default_rng(seed)
    other = 2.0 * coding.encode(0x5EED_0123_4567_89AB) - 1.0
    rows = []
    for strength in strengths:
        fails = sum(coding.decode_soft(strength * other + rng.normal(0, 1, other.size)).payload is None
                    for _ in range(50))
        reading = strength * other + rng.normal(0, 1, other.size)
        scores = [float((2.0 * coding.encode(payload) - 1.0) @ reading) for payload in (0, 1)]
        known = coding.candidate_z(reading, [0, 1])       # z is affine in the score: its terms from two payloads
        slope = float(known[1] - known[0]) / (scores[1] - scores[0])
        above = np.zeros(len(_THRESHOLDS), np.int64)
        for start in range(0, payloads, _BATCH):
            bits = rng.integers(0, 2, (min(_BATCH, payloads - start), coding.PAYLOAD_BITS))
            score = coding.codewords(bits) @ reading.astype(np.float32)
            z = known[0] + slope * (score - scores[0])
            above += [int(np.count_nonzero(z > threshold)) for threshold in _THRESHOLDS]
        rows.append({"strength": strength, "decoder_fails": fails / 50, "payloads": payloads,
                     "above": dict(zip(_THRESHOLDS, above.tolist())),
                     "summed": {z: coding.match_tail(reading, z) / stats.normal_tail(z) for z in _SUMMED},
                     "normal": {threshold: payloads * stats.normal_tail(threshold) for threshold in _THRESHOLDS}})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.match_null", description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=4_000_000, help="random payloads per strength")
    parser.add_argument("--strengths", default="0,0.5,0.7,0.9,2",
                        help="the other mark's amplitude per coded bit, noise 1 (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    strengths = [float(value) for value in args.strengths.split(",")]
    print(f"| other mark | decoder fails | {' | '.join(f'z > {t:g}: seen / normal' for t in _THRESHOLDS)} | "
          f"{' | '.join(f'summed / normal, z {z:g}' for z in _SUMMED)} |")
    print(f"|---|---|{'---|' * (len(_THRESHOLDS) + len(_SUMMED))}")
    for row in tail_table(strengths, args.payloads, args.seed):
        cells = [f"{row['above'][t]} / {row['normal'][t]:.1f}" for t in _THRESHOLDS]
        cells += [f"{row['summed'][z]:.2f}" for z in _SUMMED]
        print(f"| {row['strength']:g} | {row['decoder_fails']:.0%} | {' | '.join(cells)} |", flush=True)
    print(f"\n{args.payloads:,} random payloads a row, one reading each (seed {args.seed}); summed: the tail over the "
          "code's trellis (coding.match_tail) over the normal tail.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
