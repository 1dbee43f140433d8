"""Folding and the symmetries' spectra behind every lattice read."""

import numpy as np
import pytest

from watermark.schemes.lattice import sync

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("shape", [(512, 910), (300, 451), (128, 128), (130, 700)])
def test_fold_sums_the_zero_padded_blocks(shape):
    plane = RNG.normal(size=shape).astype(np.float32)
    rows, cols = -(-shape[0] // 128), -(-shape[1] // 128)
    padded = np.zeros((rows * 128, cols * 128), np.float32)
    padded[:shape[0], :shape[1]] = plane
    expected = padded.reshape(rows, 128, cols, 128).sum(axis=(0, 2))
    assert np.allclose(sync.fold(plane, 128), expected, atol=1e-4)


@pytest.mark.parametrize("indices", [tuple(range(8)), (0, 3, 5), (6,)])
def test_dihedral_spectra_are_those_of_the_symmetric_tiles(indices):
    tile = RNG.normal(size=(128, 128)).astype(np.float32)
    expected = sync.phase_only(np.stack([sync.dihedral(tile, index) for index in indices]))
    assert np.allclose(sync.dihedral_spectra(tile, indices), expected, atol=1e-4)
