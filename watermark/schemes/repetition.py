"""The baselines' shared code: payload + CRC-16 sent as 80 bits, each repeated over many carriers.

The QIM and spread-spectrum baselines send the classical way: no error-correcting code beyond
repetition, each bit decided by the sign of its summed soft values, the CRC checking the result.
"""

from __future__ import annotations

import math

import numpy as np

from .. import coding, stats
from ..detection import Detection

__all__ = ["MESSAGE_BITS", "message_bits", "bit_detection"]

MESSAGE_BITS = coding.PAYLOAD_BITS + coding.CRC_BITS   # 80: payload and CRC, no other coding


def message_bits(payload: int) -> np.ndarray:
    """The 80 transmitted bits: the payload's 64 bits, most significant first, then its CRC-16."""
    info = coding.payload_bits(coding.payload_to_int(payload))
    return np.concatenate([info, coding.crc16(info)])


def bit_detection(z: np.ndarray, scheme: str, false_alarm: float) -> Detection:
    """The Detection for per-bit scores ``z`` that are i.i.d. standard (sub-)normal without a mark.

    ``p_value`` is the chi-square tail of ``sum(z**2)`` (:func:`watermark.stats.sum_of_squares_p_value`);
    the payload is read from the signs of ``z`` when the mark is found and the CRC holds.
    """
    z = np.nan_to_num(np.asarray(z, dtype=np.float64))
    p_value = stats.sum_of_squares_p_value(z)
    found = p_value <= false_alarm
    payload = None
    if found:
        bits = (z > 0).astype(np.uint8)
        info, crc = bits[:coding.PAYLOAD_BITS], bits[coding.PAYLOAD_BITS:]
        if np.array_equal(coding.crc16(info), crc):
            payload = coding.bits_to_int(info)
    dof = z.size
    return Detection(found=found, payload=payload, p_value=p_value,
                     score=(float(np.sum(z * z)) - dof) / math.sqrt(2 * dof), bits=z.astype(np.float32), scheme=scheme)
