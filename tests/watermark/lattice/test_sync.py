"""The canonical view: a plane whose pattern repeats on a known affine lattice, resampled square."""

import cv2
import numpy as np
import pytest
from scipy import ndimage

from watermark.schemes.lattice import sync
from watermark.schemes.lattice.sync import TILE, canonical_view, fold

SWAP = np.array([[0.0, 1.0], [1.0, 0.0]])        # (row, col) <-> (x, y)


def _rotation(degrees):
    radians = np.radians(degrees)
    return np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])


def _smooth_tile(seed):
    """A random TILE x TILE pattern, smooth enough to be resampled bilinearly without loss, periodic."""
    rng = np.random.default_rng(seed)
    tile = ndimage.gaussian_filter(rng.normal(size=(TILE, TILE)), 2.0, mode="wrap").astype(np.float32)
    return tile / tile.std()


def _distorted(tile, linear, shape, shift):
    """The square tiling of ``tile`` mapped by ``linear`` (a (row, col) 2x2) and shifted by ``shift``
    (row, col): a plane whose lattice has the basis ``TILE * linear``."""
    square = np.tile(tile, (16, 16))
    to_square = SWAP @ np.linalg.inv(linear) @ SWAP                               # (x, y) -> (x, y)
    offset = -to_square @ (SWAP @ np.asarray(shift, float)) + 4 * TILE            # away from the edges
    matrix = np.column_stack([to_square, offset])
    return cv2.warpAffine(square, matrix, shape[::-1], flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)


LINEAR = [_rotation(30.0), 0.7 * _rotation(-12.0), np.array([[1.25, 0.0], [0.0, 0.9]]),
          np.array([[1.0, 0.15], [0.0, 1.0]]) @ _rotation(100.0), np.array([[0.0, 1.0], [1.0, 0.0]]) * 1.1]


@pytest.mark.parametrize("linear", LINEAR, ids=["rotated", "scaled and rotated", "aspect", "sheared", "flipped"])
def test_a_known_affine_lattice_becomes_the_square_tile(linear):
    tile = _smooth_tile(3)
    plane = _distorted(tile, linear, (480, 600), shift=(37.0, 11.0))
    view, to_plane = canonical_view(plane, TILE * linear, TILE)
    np.testing.assert_allclose(to_plane[:, :2], linear, atol=1e-12)
    # Around the plane's centre, the view is the square tiling, shifted: find the shift on one tile.
    centre = np.linalg.inv(linear) @ (np.array(plane.shape) / 2 - to_plane[:, 2])
    top, left = np.rint(centre).astype(int) - TILE // 2
    assert np.all(_inside(view.shape, to_plane, plane.shape)[top:top + TILE, left:left + TILE])
    patch = view[top:top + TILE, left:left + TILE]
    spectrum = np.fft.fft2(patch) * np.conj(np.fft.fft2(tile))
    dy, dx = np.unravel_index(np.argmax(np.fft.ifft2(spectrum).real), patch.shape)
    aligned = np.roll(tile, (dy, dx), axis=(0, 1))
    assert np.corrcoef(patch.ravel(), aligned.ravel())[0, 1] > 0.98
    # ... and that shift is where the returned matrix says the plane's shift lands.
    expected = np.linalg.inv(linear) @ (np.array([37.0, 11.0]) - to_plane[:, 2]) - (top, left)
    assert np.abs((np.array([dy, dx]) - expected + TILE / 2) % TILE - TILE / 2).max() <= 1.0


@pytest.mark.parametrize("linear", LINEAR[:3])
def test_the_returned_matrix_says_where_each_view_pixel_was_read(linear):
    plane = _distorted(_smooth_tile(5), linear, (300, 420), shift=(0.0, 0.0))
    view, to_plane = canonical_view(plane, TILE * linear, TILE)
    rng = np.random.default_rng(0)
    inside = np.argwhere(_inside(view.shape, to_plane, plane.shape, margin=2))
    points = inside[rng.choice(len(inside), 500, replace=False)]
    where = points @ to_plane[:, :2].T + to_plane[:, 2]
    np.testing.assert_allclose(view[points[:, 0], points[:, 1]],
                               ndimage.map_coordinates(plane, where.T, order=1), atol=1e-3)
    # Round trip: the plane's corners, mapped back, lie in the view, which holds no more than them.
    corners = np.array([[0, 0], [0, 420], [300, 0], [300, 420]], float)
    back = (corners - to_plane[:, 2]) @ np.linalg.inv(to_plane[:, :2]).T
    assert back.min() > -1e-9 and np.all(back.max(axis=0) <= np.array(view.shape) + 1e-9)
    assert np.all(back.max(axis=0) > np.array(view.shape) - 1.0)


def test_a_square_lattice_of_the_period_is_the_plane_itself():
    plane = np.random.default_rng(1).normal(size=(200, 300)).astype(np.float32)
    view, to_plane = canonical_view(plane, TILE * np.eye(2), TILE)
    assert view is plane
    np.testing.assert_array_equal(to_plane, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_the_fold_of_the_view_is_the_tile_at_any_scale():
    tile = _smooth_tile(8)
    linear = 0.8 * _rotation(7.0)
    plane = _distorted(tile, linear, (512, 512), shift=(0.0, 0.0))
    folded = fold(canonical_view(plane, TILE * linear, TILE)[0], TILE)
    spectrum = np.fft.fft2(folded) * np.conj(np.fft.fft2(tile))
    correlation = np.fft.ifft2(spectrum).real / (np.linalg.norm(folded) * np.linalg.norm(tile))
    assert correlation.max() > 0.9


def _inside(shape, to_plane, plane_shape, margin=0):
    """Which view pixels were read from within ``plane_shape`` (``margin`` px from its edges)."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    where = np.stack([rows, cols], -1) @ to_plane[:, :2].T + to_plane[:, 2]
    return ((where[..., 0] >= margin) & (where[..., 0] <= plane_shape[0] - 1 - margin)
            & (where[..., 1] >= margin) & (where[..., 1] <= plane_shape[1] - 1 - margin))


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
    expected = sync.flattened(np.stack([sync.dihedral(tile, index) for index in indices]))
    assert np.allclose(sync.dihedral_spectra(tile, indices), expected, atol=1e-4)


def test_flattening_whitens_a_coloured_host_without_amplifying_its_nulls():
    """A folded tile of 1/f noise comes out white (its power, averaged over neighbouring frequencies,
    the same at low and high frequencies), and a frequency where the host happens to be nearly zero
    stays nearly zero: phase only would raise it to the level of every other."""
    spectrum = np.fft.rfft2(RNG.normal(size=(128, 128)))
    spectrum /= np.maximum(np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.rfftfreq(128), indexing="ij")), 1 / 128)
    spectrum[5, 7] *= 1e-3
    tile = np.fft.irfft2(spectrum, s=(128, 128)).astype(np.float32)
    coloured, flat = np.abs(np.fft.rfft2(tile)) ** 2, np.abs(sync.flattened(tile)) ** 2
    low, high = (slice(1, 12), slice(1, 12)), (slice(40, 60), slice(30, 60))
    assert np.mean(coloured[low]) > 30 * np.mean(coloured[high])
    assert 0.7 < np.mean(flat[low]) / np.mean(flat[high]) < 1.4
    assert flat[5, 7] < 1e-3 and np.median(flat) > 0.1
    assert np.allclose(np.abs(sync.flattened(tile, sync.PHASE_ONLY)), 1.0, atol=1e-3)
