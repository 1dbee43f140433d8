"""What a scan finds in one file as it goes (`Findings`): the marks read and what the registry says of each
(`Mark`), the masters its content matched and how; and those as the JSON fields of the file's row.

The steps of `watermark.scan` fill them in: the blind read, `watermark.scan_matching` (which masters, where),
`watermark.scan_informed` (the read in each master's frame); `watermark.scan_verdict` concludes from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import imageio
from .image import luminance_of, pixels_of
from .registration import Registration, Suspect
from .registry import Master, Record

__all__ = ["Mark", "Findings", "record_fields", "master_fields", "evidence", "p_of"]

_REGISTRATION_SIDE = 1024     # px: the short side local features are found at (a collage holds a master small)


@dataclass
class Mark:
    """One mark found in a file, and what the registry says of it."""

    key: str
    payload: int | None
    p_value: float | None                     # the periodic mark's (the per-copy layer's where only it was
    method: str                               # read: a scrubbed copy); None for an exact copy, not decoded
    record: Record | None = None
    content: dict[str, Any] | None = None     # how the file matched the record's master, if it did
    verified: bool | None = None              # this payload's per-copy layer was found (blind or in frame)
    doubt: str | None = None                  # why the mark is not taken as this copy's, despite the content
    layer_p_value: float | None = None        # the per-copy layer's own p-value, where it was looked for
    unfinished: Record | None = None          # a copy reserved with this payload, never recorded as issued
    copies_tested: int | None = None          # issued copies of its master its layer was tested among (informed)

    @property
    def in_its_master(self) -> bool:
        """An issued copy's mark in content that matches that copy's master, and no doubt about it."""
        return self.record is not None and self.content is not None and not self.doubt

    @property
    def attributes(self) -> bool:
        """In its master, and the copy's per-copy layer found (what no one can paste, see
        `watermark.scan_verdict`'s ``_UNVERIFIED``), or the issued copy's very bytes."""
        return self.in_its_master and (bool(self.verified) or self.method == "exact")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "payload": None if self.payload is None else f"{self.payload:#018x}",
                "p_value": self.p_value, "method": self.method,
                "record": None if self.record is None else record_fields(self.record),
                "content_match": self.content is not None, "verified": self.verified,
                "layer_p_value": self.layer_p_value, "copies_tested": self.copies_tested,
                "attributed": self.attributes, "doubt": self.doubt}


@dataclass
class Findings:
    """What one file gave so far."""

    name: str
    loaded: imageio.LoadedImage                  # decoded at analysis scale, luma for a colour JPEG
    data: bytes = b""
    marks: list[Mark] = field(default_factory=list)
    near: dict[int, int] = field(default_factory=dict)             # master id -> hash distance
    named: dict[tuple[int, str], set[int]] = field(default_factory=dict)   # (master id, key id) -> payloads
    layer_ps: dict[tuple[int, str], dict[int, float]] = field(default_factory=dict)  # ... -> payload -> layer p
    subtracted: dict[int, list[Record]] = field(default_factory=dict)  # master id -> copies whose layer is reversed
    registrations: dict[int, Registration] = field(default_factory=dict)
    placed: dict[int, tuple[int, float]] = field(default_factory=dict)   # master id -> (phase searches, RMS)
    on_file: dict[int, float] = field(default_factory=dict)        # master id -> detail correlation there
    cells: dict[int, tuple[int, tuple[int, int, int, int]]] = field(default_factory=dict)  # id -> (distance, box)
    in_cell: dict[int, int] = field(default_factory=dict)          # master id -> hash distance of its cell
    read_against: dict[int, str] = field(default_factory=dict)       # master id -> its file, or its frame
    likeness: dict[int, float | None] = field(default_factory=dict)  # master id -> see scan_matching's _likeness
    geometry: dict[str, Any] | None = None
    lattice: np.ndarray | None = None       # the first blind mark's transform (the file's pixels -> its mark's)
    _suspect: Suspect | None = None
    _page: np.ndarray | None = None

    def suspect(self, max_pixels: int | None) -> Suspect:
        """The file for registration, decoded at the resolution local features need (once); a whole
        copy of a master (a perceptual-hash match) has its features found at the master print's scale."""
        if self._suspect is None:
            loaded = imageio.load_image_bytes(self.data, self.name, max_pixels=max_pixels, animated="first",
                                              reduce_to=_REGISTRATION_SIDE)
            self._suspect = Suspect(loaded.image, whole=bool(self.near))
        return self._suspect

    def page(self, max_pixels: int | None) -> np.ndarray:
        """The luminance of :meth:`suspect`'s pixels (once): where masters are sought in the file."""
        if self._page is None:
            self._page = luminance_of(pixels_of(self.suspect(max_pixels).image)[0])
        return self._page


def evidence(found: Findings, master_id: int) -> dict[str, Any]:
    """How the file's content matched a master it is registered to: the features' inliers, the
    thumbnail's RMS difference where the mark's tile phase placed it, or the fine detail's correlation
    where the master file placed it; how well it shows the master's picture (``likeness``, see
    `watermark.scan_matching.shows_master`); and whether the master file itself was read against."""
    evidence: dict[str, Any]
    if master_id in found.placed:
        evidence = {"placed": "tile phase and thumbnail", "thumbnail_rms": round(found.placed[master_id][1], 4)}
    elif master_id in found.on_file:
        evidence = {"placed": "the master file", "detail_correlation": round(found.on_file[master_id], 3)}
    elif master_id in found.in_cell:
        evidence = {"placed": "a cell of the page", "hash_distance": found.in_cell[master_id]}
    else:
        evidence = {"inliers": found.registrations[master_id].inliers}
    likeness = found.likeness.get(master_id)
    if likeness is not None:
        evidence["likeness"] = round(likeness, 3)
    if master_id in found.read_against:
        evidence["read_against"] = found.read_against[master_id]
    return evidence


def p_of(mark: Mark) -> float:
    """``mark``'s p-value, for ordering (an exact copy's, not decoded, as none)."""
    return 1.0 if mark.p_value is None else mark.p_value


def record_fields(record: Record) -> dict[str, Any]:
    """An issued copy's record as a row's ``record`` (and a mark's)."""
    return {"id": record.id, "recipient": record.recipient, "master": master_fields(record.master),
            "issued": record.issued_at, "metadata": record.metadata, "output": record.output_path}


def master_fields(master: Master) -> dict[str, Any]:
    """A master as a row's ``match`` (and a record's) names it."""
    return {"path": master.path, "sha256": master.sha256, "width": master.width, "height": master.height}
