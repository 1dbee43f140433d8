"""Where SSIMULACRA 2 sees a difference: the metric's weighted error terms, one per channel, scale,
norm and kind, whose sum the score maps to 0-100 (100 when every term is 0).

SSIMULACRA 2 compares two images in the XYB colour space at six scales (0 the full size, each next
one halved) by three maps each: an SSIM error without the luminance term (``ssim``), the edges the
test image adds (``artifact``: ringing, blocks, a pattern) and those it loses (``detail``: blur),
each pooled as a mean (L1) and a 4-norm (L4), and weighs the 108 pooled values. Its weights are far
from uniform: on the luminance channel Y, the L1 SSIM error at scales 2 and 3 (structure 8 to 32 px
across at full size) weighs 225 and 176, at scales 0 and 1 about 0. So the same energy costs very
different points by where in scale it sits. :func:`terms` gives each weighted value, computed with
the ``ssimulacra2`` package's own steps (the ``bench`` extra), so that they add up to the score
:func:`eval.metrics.ssimulacra2` reports.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from eval import metrics

__all__ = ["terms", "shares"]

_CHANNELS = "XYB"
_KINDS = ("ssim", "artifact", "detail")


def _xyb(linear: np.ndarray, steps: ModuleType) -> np.ndarray:
    return steps.make_positive_xyb(steps.linear_rgb_to_xyb(linear))


def terms(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """The weighted error terms of ``test`` against ``reference`` (uint8 sRGB, same shape), keyed
    ``"Y scale 2 L1 ssim"``; the terms that are 0 by weight are left out."""
    steps = metrics.ssimulacra2_package()
    reference, test = metrics.rgb8(reference), metrics.rgb8(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} and {test.shape}")
    linear = [steps.srgb_to_linear(image.astype(np.float64)) for image in (reference, test)]
    pooled = []          # per scale: (ssim[6], edge differences[12]), as the package pools them
    for _ in range(steps.kNumScales):
        if min(linear[0].shape[:2]) < 8:
            break
        one, two = (_xyb(image, steps) for image in linear)
        mean_one, mean_two = steps.blur_image(one), steps.blur_image(two)
        ssim = steps.ssim_map(mean_one, mean_two, steps.blur_image(one * one), steps.blur_image(two * two),
                              steps.blur_image(one * two))
        pooled.append((ssim, steps.edge_diff_map(one, mean_one, two, mean_two)))
        linear = [steps.downsample(image, 2, 2) for image in linear]
    result: dict[str, float] = {}
    weights = iter(steps.weights)
    for channel, name in enumerate(_CHANNELS):
        for scale, (ssim, edges) in enumerate(pooled):
            for norm, label in enumerate(("L1", "L4")):
                values = (ssim[2 * channel + norm], edges[4 * channel + norm], edges[4 * channel + norm + 2])
                for kind, value in zip(_KINDS, values):
                    weight = float(next(weights))
                    if weight > 0.0:
                        result[f"{name} scale {scale} {label} {kind}"] = weight * abs(float(value))
    return result


def shares(weighted: dict[str, float], top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` largest terms of ``weighted`` with their share of the sum (0-1), largest first."""
    total = sum(weighted.values())
    ranked = sorted(weighted.items(), key=lambda item: -item[1])[:top]
    return [(name, value / total if total > 0 else 0.0) for name, value in ranked]
