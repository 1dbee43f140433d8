"""Null distributions: how likely an unmarked image is to score at least this high.

A correlation with a keyed +-1 carrier is, for any fixed image, a sum of independent symmetric terms
over the key; after normalising by its standard deviation it is close to a standard normal, and
sub-Gaussian in any case (Hoeffding: P(Z >= z) <= exp(-z^2 / 2)). A detector that takes the best of
``hypotheses`` correlations pays for the search with a union bound.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["normal_tail", "max_of_normals_p_value", "refined_search_p_value", "sum_of_squares_p_value", "robust_std",
           "with_checksum"]


def normal_tail(z: float) -> float:
    """P(Z >= z) for a standard normal Z, accurate far into the tail."""
    return float(0.5 * special.erfc(z / math.sqrt(2.0)))


def max_of_normals_p_value(z: float, hypotheses: int) -> float:
    """P(max of ``hypotheses`` standard normals >= z): 1 - (1 - tail)^n, exact for independent
    hypotheses and an upper bound (by the union bound) for dependent ones."""
    tail = normal_tail(z)
    return float(-math.expm1(hypotheses * math.log1p(-tail))) if tail < 1.0 else 1.0


def refined_search_p_value(z: float, hypotheses: int, *, refine_from: float, refinements: int) -> float:
    """P(best >= z) for a search over ``hypotheses`` standard normals whose best, when it reaches
    ``refine_from``, is refined by looking at up to ``refinements`` more.

    Below ``refine_from`` no refinement can have happened, so the search's own bound holds; above,
    the refined looks add at most ``min(P(search >= refine_from), refinements Q(z))`` (union bound).
    """
    p_value = max_of_normals_p_value(z, hypotheses)
    if z >= refine_from:
        p_value += min(max_of_normals_p_value(refine_from, hypotheses), refinements * normal_tail(z))
    return min(1.0, p_value)


def sum_of_squares_p_value(z: np.ndarray) -> float:
    """P(Q >= sum(z**2)) for Q chi-square with ``len(z)`` degrees of freedom: the null of ``len(z)``
    independent standard (sub-)normal scores, such as per-bit correlations without a mark."""
    z = np.asarray(z, dtype=np.float64)
    return float(special.chdtrc(z.size, float(np.sum(z * z))))     # scipy.stats.chi2.sf, without its import


def robust_std(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (insensitive to a peak)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def with_checksum(p_pilot: float, checksum_holds: bool, checksum_bits: int) -> float:
    """Sharpen a pilot p-value with the payload's checksum, an independent test under the null.

    Without this key's mark the decoded checksum holds with probability ``q = 2**-checksum_bits``,
    independently of the pilot. The statistic ``S = U * q`` if it holds, else ``U`` (``U`` the pilot
    p-value, uniform under the null) has ``P(S <= s) = q min(1, s/q) + (1 - q) min(1, s)``.
    """
    q = 2.0 ** -checksum_bits
    s = p_pilot * q if checksum_holds else p_pilot
    return float(min(1.0, q * min(1.0, s / q) + (1.0 - q) * min(1.0, s)))
