"""Block DCT, global DCT and DWT helpers: exact round trips, orthonormality, shapes, no writes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft

from watermark import transforms


def _plane(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    plane = np.random.default_rng(seed).random(shape).astype(np.float32)
    plane.setflags(write=False)   # the helpers must never write into their input
    return plane


@pytest.mark.parametrize("size", [4, 8, 16])
@pytest.mark.parametrize("shape", [(64, 96), (67, 101)])
def test_block_dct_round_trip_covers_whole_blocks(shape, size):
    plane = _plane(shape)
    coefficients = transforms.block_dct(plane, size)
    rows, cols = shape[0] // size, shape[1] // size
    assert coefficients.shape == (rows, cols, size, size)
    assert coefficients.dtype == np.float32
    back = transforms.block_idct(coefficients)
    np.testing.assert_allclose(back, plane[:rows * size, :cols * size], atol=2e-6)


def test_block_dct_is_the_orthonormal_dct_of_each_block():
    plane = _plane((24, 32), seed=1)
    coefficients = transforms.block_dct(plane, 8)
    expected = fft.dctn(plane[8:16, 16:24].astype(np.float64), norm="ortho")
    np.testing.assert_allclose(coefficients[1, 2], expected, atol=1e-5)
    np.testing.assert_allclose(np.sum(coefficients.astype(np.float64) ** 2),
                               np.sum(plane.astype(np.float64) ** 2), rtol=1e-5)


def test_blocks_round_trip_exactly():
    plane = _plane((40, 48), seed=2)
    blocks = transforms.to_blocks(plane, 8)
    assert blocks.shape == (5, 6, 8, 8)
    np.testing.assert_array_equal(blocks[2, 3], plane[16:24, 24:32])
    np.testing.assert_array_equal(transforms.from_blocks(blocks), plane)


def test_global_dct_round_trip_and_energy():
    plane = _plane((45, 70), seed=3)
    coefficients = transforms.dct2(plane)
    np.testing.assert_allclose(transforms.idct2(coefficients), plane, atol=2e-6)
    np.testing.assert_allclose(np.sum(coefficients.astype(np.float64) ** 2),
                               np.sum(plane.astype(np.float64) ** 2), rtol=1e-5)


@pytest.mark.parametrize("wavelet", ["haar", "db2"])
@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("shape", [(64, 64), (37, 51)])
def test_dwt_round_trip_handles_odd_sizes(shape, level, wavelet):
    plane = _plane(shape, seed=4)
    coefficients = transforms.dwt2(plane, wavelet, level)
    assert len(coefficients) == level + 1
    expected = shape
    for _ in range(level):
        expected = (-(-expected[0] // 2), -(-expected[1] // 2))
    assert coefficients[0].shape == expected
    assert coefficients[0].dtype == np.float32
    np.testing.assert_allclose(transforms.idwt2(coefficients, shape, wavelet), plane, atol=2e-6)


def test_haar_dwt_is_orthonormal():
    plane = _plane((32, 48), seed=5)
    low, details = transforms.dwt2(plane, "haar", 1)
    energy = np.sum(low.astype(np.float64) ** 2) + sum(np.sum(d.astype(np.float64) ** 2) for d in details)
    np.testing.assert_allclose(energy, np.sum(plane.astype(np.float64) ** 2), rtol=1e-5)


def test_idwt_takes_missing_details_as_zeros():
    plane = _plane((16, 20), seed=6)
    low, details = transforms.dwt2(plane, "haar", 1)
    zeros = tuple(np.zeros_like(d) for d in details)
    np.testing.assert_allclose(transforms.idwt2([low, (None, None, None)], plane.shape),
                               transforms.idwt2([low, zeros], plane.shape), atol=1e-7)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        transforms.dwt2(_plane((4, 4)), "haar", 5)
    with pytest.raises(ValueError):
        transforms.dwt2(_plane((8, 8)), "haar", 0)
    with pytest.raises(ValueError):
        transforms.to_blocks(_plane((8, 8)), 0)
