"""The lag map and the lattice refinement behind the geometric search."""

import numpy as np

import watermark as wm
from watermark import color
from watermark.schemes.lattice import masking, periodicity, scheme

from photos import photo

PAYLOAD = 0xFEED_FACE_0BAD_CAFE


def _lags(image: np.ndarray) -> periodicity.LagMap:
    working = scheme._working_view(color.luminance(image.astype(np.float32) / 255.0))
    _, activity = masking.whiten(working)
    return periodicity.LagMap(masking.denoised_residual(working, activity))


def test_the_lag_map_peaks_at_the_tiles_period(key):
    lags = _lags(wm.embed(photo("coffee"), PAYLOAD, key))
    row, col = lags.origin
    assert lags.values[row + 128, col] > 4.0 and lags.values[row, col + 128] > 4.0
    mark, elsewhere = lags.scores([np.eye(2) * 128.0, np.eye(2) * 113.0])
    assert mark > 20.0 and elsewhere < 5.0


def test_lattices_refined_together_end_where_each_ends_alone(key):
    lags = _lags(wm.embed(photo("rocket"), PAYLOAD, key))
    turn = np.radians(1.0)
    bases = [129.0 * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]),
             np.diag([126.0, 131.0]), np.array([[90.0, 0.0], [5.0, 90.0]]), np.eye(2) * 300.0]
    together = periodicity.refined(lags, bases)
    for basis, lattice in zip(bases, together):
        (alone,) = periodicity.refined(lags, [basis])
        assert np.allclose(alone.basis, lattice.basis) and np.isclose(alone.score, lattice.score)
    assert np.allclose(together[0].basis, np.eye(2) * 128.0, atol=0.3) and together[0].score > 20.0
