"""Lattice reduction, the lag map and the lattice search, on lattices and planes whose answer is known."""

import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from photos import photo

import watermark as wm
from watermark import color
from watermark.schemes.lattice import masking, periodicity, search, views
from watermark.schemes.lattice.periodicity import LagMap, reduce_basis, same_lattice

UNIMODULAR = [np.array(m, dtype=float) for m in ([[1, 0], [0, 1]], [[0, 1], [1, 0]], [[1, 1], [0, 1]],
                                                  [[2, 1], [1, 1]], [[3, 2], [4, 3]], [[-5, 3], [-2, 1]])]


def _rotation(radians):
    return np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])


def _is_reduced(basis):
    """Lagrange-Gauss reduced: |v1| <= |v2| and |v1 . v2| <= |v1|^2 / 2."""
    v1, v2 = basis[:, 0], basis[:, 1]
    return v1 @ v1 <= v2 @ v2 * (1 + 1e-9) and abs(v1 @ v2) <= v1 @ v1 / 2 * (1 + 1e-9)


def _successive_minima(basis, reach=8):
    """The lengths of the shortest lattice vector and of the shortest one independent of it, by
    enumerating integer combinations (a reduced 2-D basis is made of exactly these)."""
    n = np.array([(a, b) for a in range(-reach, reach + 1) for b in range(-reach, reach + 1) if (a, b) != (0, 0)])
    vectors = n @ basis.T
    lengths = np.hypot(vectors[:, 0], vectors[:, 1])
    first = vectors[np.argmin(lengths)]
    independent = np.abs(vectors[:, 0] * first[1] - vectors[:, 1] * first[0]) > 1e-6 * lengths.max() ** 2
    return lengths.min(), lengths[independent].min()


@settings(max_examples=200, deadline=None)
@given(radians=st.floats(0.0, 2 * np.pi), period=st.floats(40.0, 400.0), aspect=st.floats(0.7, 1.4),
       shear=st.floats(-0.45, 0.45), mixing=st.sampled_from(range(len(UNIMODULAR))))
def test_reduction_finds_the_shortest_basis_of_a_mixed_lattice(radians, period, aspect, shear, mixing):
    lattice = period * _rotation(radians) @ np.array([[1.0, shear], [0.0, aspect]])
    mixed = lattice @ UNIMODULAR[mixing]           # the same lattice, another integer basis of it
    reduced = reduce_basis(mixed)
    assert _is_reduced(reduced) and same_lattice(reduced, lattice)
    np.testing.assert_allclose(sorted(np.hypot(*reduced)), _successive_minima(lattice), rtol=1e-9)


def test_reduction_of_a_long_skewed_basis():
    square = 128.0 * np.eye(2)
    reduced = reduce_basis(square @ np.array([[7.0, 5.0], [4.0, 3.0]]))       # det 1, vectors ~1000 px long
    assert _is_reduced(reduced) and same_lattice(reduced, square)
    np.testing.assert_allclose(np.hypot(*reduced), [128.0, 128.0])
    assert reduced[:, 0] @ reduced[:, 1] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("other, same", [
    (lambda b: b @ np.array([[1.0, 1.0], [0.0, 1.0]]), True),           # another basis of it
    (lambda b: -b[:, ::-1], True),                                       # reordered, reversed
    (lambda b: b + 0.1, True),                                           # within a tenth of a pixel
    (lambda b: 1.01 * b, False),                                         # a 1 % larger period
    (lambda b: _rotation(np.radians(1.0)) @ b, False),                   # turned by a degree
    (lambda b: b @ np.diag([2.0, 1.0]), False),                          # a sublattice: one way only
    (lambda b: b @ np.diag([0.5, 1.0]), False),                          # a superlattice
], ids=["unimodular", "reordered", "tenth of a pixel", "scaled 1 %", "rotated 1 deg", "sublattice",
        "superlattice"])
def test_same_lattice(other, same):
    basis = np.array([[120.0, -31.0], [22.0, 115.0]])
    assert same_lattice(basis, other(basis)) is same
    assert same_lattice(other(basis), basis) is same


def _periodic_plane(basis, shape, noise, seed):
    """White noise of unit variance plus a pattern repeating on the lattice of ``basis`` ((row, col)
    columns): a random 128 px square tile mapped by ``basis / 128``, with ``noise`` times more host."""
    rng = np.random.default_rng(seed)
    square = np.tile(rng.normal(size=(128, 128)).astype(np.float32), (12, 12))
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    to_square = swap @ np.linalg.inv(basis / 128.0) @ swap                   # plane (x, y) -> square (x, y)
    matrix = np.column_stack([to_square, [700.0, 650.0]])
    pattern = cv2.warpAffine(square, matrix, shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return pattern / pattern.std() + noise * rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("basis", [
    np.array([[100.0, 0.0], [0.0, 100.0]]),
    95.0 * _rotation(np.radians(23.0)),
    np.array([[110.0, 18.0], [-6.0, 84.0]]),          # aspect, shear and a slight turn
], ids=["upright square", "rotated square", "general"])
def test_lag_map_peaks_at_the_lattice_of_a_periodic_pattern(basis):
    lags = LagMap(_periodic_plane(basis, (512, 640), noise=3.0, seed=2))
    for vector in (basis[:, 0], basis[:, 1], basis[:, 0] + basis[:, 1], basis[:, 0] - basis[:, 1]):
        row, col = np.rint(vector).astype(int) + lags.origin
        window = lags.values[row - 4:row + 5, col - 4:col + 5]
        assert window.max() > 8.0                                          # noise is ~N(0, 1)
        assert np.abs(np.array(np.unravel_index(window.argmax(), window.shape)) - 4).max() <= 1
    truth = lags.scores([basis])[0]
    assert truth > 20.0
    for wrong in (1.05 * basis, _rotation(np.radians(5.0)) @ basis, basis @ np.diag([1.0, 1.1])):
        assert lags.scores([wrong])[0] < truth / 4


def test_lag_map_of_white_noise_scores_lattices_like_standard_normals():
    rng = np.random.default_rng(7)
    lags = LagMap(rng.normal(size=(512, 640)).astype(np.float32))
    scores = []
    for _ in range(400):
        basis = rng.uniform(60.0, 250.0) * _rotation(rng.uniform(0, np.pi / 2)) @ np.diag([1.0, rng.uniform(0.8, 1.25)])
        scores.append(lags.scores([basis])[0])
    scores = np.array(scores)
    # Centred, and no wider than N(0, 1): far lags overlap less and vary less than the normalising
    # (central) ones, and interpolating between lags averages, so the spread is below 1, never above.
    assert abs(scores.mean()) < 0.15
    assert 0.5 < scores.std() < 1.1
    assert np.abs(scores).max() < 4.5


def test_lag_map_ignores_a_block_grid_it_is_told_of():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:512, 0:512]
    grid = 1.5 * ((rows % 8 == 0) | (cols % 8 == 0)).astype(np.float32)       # JPEG-like 8 px blocks
    plane = rng.normal(size=(512, 512)).astype(np.float32) + grid
    seen, told = LagMap(plane), LagMap(plane, block_period=8.0)
    for period in (64.0, 72.0, 80.0):
        assert seen.scores([period * np.eye(2)])[0] > 8.0
        assert abs(told.scores([period * np.eye(2)])[0]) < 3.0


PAYLOAD = 0xFEED_FACE_0BAD_CAFE


def _lags(image: np.ndarray) -> periodicity.LagMap:
    working = views.working_view(color.luminance(image.astype(np.float32) / 255.0))
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


def test_the_search_proposes_a_weaker_lattice_before_the_multiples_of_a_stronger_one():
    """A picture that repeats (a texture, an enlargement's interpolation pattern) scores at every
    multiple of its period; a weaker mark at another period is proposed right after it, not after
    the picture's harmonics and their rotated and rectangular variants."""
    picture = _periodic_plane(np.diag([80.0, 80.0]), (512, 640), noise=0.0, seed=3)
    mark = _periodic_plane(np.diag([120.0, 120.0]), (512, 640), noise=0.0, seed=4)
    noise = np.random.default_rng(5).normal(size=(512, 640)).astype(np.float32)
    first, second = itertools.islice(search.candidate_lattices(picture + 0.5 * mark + 3.0 * noise), 2)
    assert same_lattice(first.basis, np.diag([80.0, 80.0]))
    assert same_lattice(second.basis, np.diag([120.0, 120.0]))
