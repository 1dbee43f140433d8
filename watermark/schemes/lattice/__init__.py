"""The flagship scheme, ``lattice``, and its private machinery.

``scheme`` (embedding and detection) builds on ``layout`` (which tile coefficient carries what),
``masking`` (perceptual mask and detector whitening), ``calibration`` (the default amplitude and its
round-trip check), ``sync`` (folding, the pilot search, the tile period ``TILE``), ``views`` (what a
read looks at, once for every key), ``reading`` (one view read for a key's pilot and payload),
``periodicity`` and ``search`` (the lattice a geometric distortion left) and ``dewarp`` (StirMark's
bending undone).
"""

from .scheme import LatticeScheme

__all__ = ["LatticeScheme"]
