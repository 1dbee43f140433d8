"""The flagship scheme, ``lattice``, and its private machinery.

``scheme`` (embedding and detection) builds on ``layout`` (which tile coefficient carries what),
``masking`` (perceptual mask and detector whitening), ``sync`` (folding, the pilot search, the
tile period ``TILE``), ``periodicity`` and ``search`` (the lattice a geometric distortion left) and
``dewarp`` (StirMark's bending undone).
"""

from .scheme import LatticeScheme

__all__ = ["LatticeScheme"]
