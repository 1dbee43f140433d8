"""What a read of one image looks at, and where its readings lie on the marked tile.

An image at its working resolution (:func:`working_view`), as the embedder and every read see it. A
suspect's views (:class:`Suspect`), none of which uses a key, so that every key reads them: the working
view and its whitened plane, the residual the lattice search and the dewarp look at, the lattices that
search finds, the plane folded on each lattice hypothesis (:func:`folded`) and the plane with a smooth
warp undone (:class:`Dewarped`). A reading of one hypothesis (:class:`Reading`) maps the working view
to the marked tile (:func:`tile_coordinates`); :func:`to_xy` gives that map as the (x, y) affine a
detection reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ... import color
from . import dewarp, masking, search, sync
from .sync import TILE

__all__ = ["working_view", "widest_part", "search_view", "Folded", "folded", "Suspect", "Dewarped", "Reading",
           "tile_coordinates", "to_xy"]

_SEARCH_SIDE = color.WORKING_SHORT_SIDE  # px: the most of the short side the lattice search looks at (cost)
_WIDEST = 8.0          # a blind read looks at most at this long side over the short (`widest_part`)


def working_view(luma: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``luma`` (an image of full size ``shape``, its own by default, at any size) at its working resolution."""
    return color.resize(luma, color.working_shape(luma.shape, color.working_side(shape or luma.shape)))


def widest_part(luma: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``luma`` (an image of full size ``shape``) and its shape; or, for a strip longer than ``_WIDEST`` times
    its short side, its leading part of that aspect and the part's shape in the image's pixels. The working
    view scales the short side up to the working side: a 130 x 20000 px banner made a 512 x 79000 px plane
    (7 GB, 50 s). The part holds the periodic mark as the whole does, on the same grid (it starts at the
    image's origin), so that the mark's own tile positions, which the per-copy layer uses, stay where they
    were."""
    height, width = luma.shape[:2]
    if max(height, width) <= _WIDEST * min(height, width):
        return luma, (int(shape[0]), int(shape[1]))
    if width > height:
        part = int(_WIDEST * height)
        return luma[:, :part], (int(shape[0]), round(part * shape[1] / width))
    part = int(_WIDEST * width)
    return luma[:part], (round(part * shape[0] / height), int(shape[1]))


def search_view(residual: np.ndarray) -> np.ndarray:
    """``residual`` as the lattice search looks at it: at most ``_SEARCH_SIDE`` px on its short side."""
    return color.resize(residual, color.at_most(residual.shape, _SEARCH_SIDE))


_ALL_SYMMETRIES = tuple(range(len(sync.DIHEDRAL)))


@dataclass(frozen=True)
class Folded:
    """A plane resampled for one lattice hypothesis and folded, before any key reads it: the flattened
    spectra of the folded tile's ``symmetries`` and the 2x3 map from the resampled view to the plane."""

    spectra: np.ndarray
    to_plane: np.ndarray
    symmetries: tuple[int, ...]


def folded(plane: np.ndarray, basis: np.ndarray, symmetries: tuple[int, ...] = _ALL_SYMMETRIES) -> Folded:
    """``plane`` resampled for the lattice ``basis``, folded, and the folded tile's spectrum flattened
    for each of the ``symmetries`` (all 8 by default)."""
    view, to_plane = sync.canonical_view(plane, basis, TILE)
    spectra = sync.dihedral_spectra(sync.fold(view, TILE), symmetries)
    spectra.setflags(write=False)           # shared by every key that reads it
    return Folded(spectra, to_plane, symmetries)


class Suspect:
    """What every key's read of one image shares (none of it uses a key): the working view, its
    whitened plane and the local activity that whitened it; and, computed when a key first needs them,
    the residual view, the lattices the search finds in it, the plane with the smooth warp it shows
    undone, and the folds of the plane on each lattice. ``shape`` is the suspect's pixel grid (as
    encoded), which transforms speak of."""

    def __init__(self, luma: np.ndarray, shape: tuple[int, int], origin: tuple[float, float] = (0.0, 0.0)):
        self.shape = shape
        self.origin = origin        # where this view's (0, 0) lies on the image's grid: a part inside borders
        self.working = working_view(luma, shape)
        self.plane, self.activity = masking.whiten(self.working)
        self._block = sync.JPEG_BLOCK * self.working.shape[0] / shape[0]      # a JPEG grid, at working scale
        self._found: list[np.ndarray] = []
        self._search: Iterator[np.ndarray] | None = None
        self._folds: dict[bytes, Folded] = {}
        # computed when first asked for (not functools.cached_property: on Python 3.11 its lock is one for
        # every instance, so threads' detections waited for each other and a fork during one hung the child)
        self._residual: np.ndarray | None = None
        self._dewarped: Dewarped | None = None

    @property
    def residual(self) -> np.ndarray:
        """The view the lattice search and the dewarp look at (`masking.denoised_residual`)."""
        if self._residual is None:
            self._residual = masking.denoised_residual(self.working, self.activity)
        return self._residual

    def lattices(self) -> Iterator[np.ndarray]:
        """Lattice hypotheses (bases, see `search.candidate_lattices`) for the residual's periodic
        content, in its pixels, best first; found as far as a key has asked for them. The search looks
        at the residual scaled to a short side of ``_SEARCH_SIDE`` px at most: its cost grows with the
        area, the lattice's tens of pixels per period do not need more, and each hypothesis is then
        read (and polished) at the working resolution."""
        if self._search is None:
            view = self.residual
            small = search_view(view)
            scale = np.diag([view.shape[0] / small.shape[0], view.shape[1] / small.shape[1]])
            block = self._block * small.shape[0] / view.shape[0]
            self._search = (scale @ lattice.basis for lattice in search.candidate_lattices(small, block_period=block))
        yield from self._found
        for basis in self._search:
            self._found.append(basis)
            yield basis

    def folded(self, basis: np.ndarray) -> Folded:
        """The whitened plane folded for the lattice ``basis`` (:func:`folded`), once for every key."""
        fold = self._folds.get(basis.tobytes())
        if fold is None:
            fold = self._folds[basis.tobytes()] = folded(self.plane, basis)
        return fold

    @property
    def dewarped(self) -> Dewarped:
        """The plane and the working view with the smooth warp the residual shows undone
        (`dewarp.dewarped`), the plane folded on the tile grid as embedded."""
        if self._dewarped is None:
            (plane, working), to_plane = dewarp.dewarped((self.plane, self.working), self.residual,
                                                         block_period=self._block)
            self._dewarped = Dewarped(folded(plane, np.eye(2) * TILE), to_plane, working, plane)
        return self._dewarped


class Dewarped(NamedTuple):
    """A suspect with a smooth warp undone: its plane folded, the 2x3 map from the view to the plane
    (the warp's affine part), and the views."""

    folded: Folded
    to_plane: np.ndarray
    working: np.ndarray
    plane: np.ndarray


@dataclass(frozen=True)
class Reading:
    """What one lattice hypothesis gave."""

    p_value: float
    z: float
    soft: np.ndarray
    payload: int | None
    to_tile: np.ndarray       # 3x3: working (row, col, 1) -> marked tile (row, col, 1), mod TILE
    symmetry: int             # index into sync.DIHEDRAL

    def conclusive(self, false_alarm: float) -> bool:
        """Found, and its payload decoded: nothing left to look for."""
        return self.payload is not None and self.p_value <= false_alarm


def tile_coordinates(index: int, offset: tuple[int, int]) -> np.ndarray:
    """3x3 map from folded-view (row, col) to tile (row, col): symmetry ``index``, then ``offset``."""
    turns, flip = sync.DIHEDRAL[index]
    matrix = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) if flip else np.eye(3)
    quarter = np.array([[0.0, -1.0, TILE - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])   # numpy's rot90
    for _ in range(turns):
        matrix = quarter @ matrix
    shift = np.array([[1.0, 0.0, -offset[0]], [0.0, 1.0, -offset[1]], [0.0, 0.0, 1.0]])
    return shift @ matrix


def to_xy(matrix: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    """A 3x3 (row, col) map as the 2x3 (x, y) affine OpenCV and most users expect, its translation
    modulo ``period`` (x, y): the tile's period in the target's pixels."""
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    result = (swap @ matrix @ swap)[:2]
    result[:, 2] = np.mod(np.round(result[:, 2], 6), period)
    result[:, 2] = np.where(np.isclose(result[:, 2], period, rtol=0, atol=1e-6), 0.0, result[:, 2])  # not 128
    return result
