"""Scan suspects against a registry: whose copy is this, of which master, how sure, with the evidence.

For each file, cheapest step first (see DESIGN's data flow):

1. **exact** — the file's SHA-256 is an issued copy's (that recipient's copy, byte for byte) or a
   master's (the unmarked original);
2. **blind** — the mark is read with each key (`watermark.detect`); a payload is joined to its
   registry record;
3. **near-duplicate** — the file's perceptual hash is near a registered master's (re-encoded,
   resized, flipped, turned), or, with ``partial``, local features find a master inside it (a crop,
   a collage, a page), or, for a crop too plain for features, the mark's tile phase and a master's
   thumbnail place it (`watermark.placement`), or a master file at hand does (`watermark.original`:
   the file as a crop of the master, or the master whole inside the file);
4. **informed** — the file is registered to each matched master (features and a homography) and
   read in the master's frame (`watermark.read_in_frame`): the periodic mark at the identity and
   every issued copy's per-copy layer, which names colluders and survives a scrubbed periodic mark.

An **attribution** ("recipient X's copy of master M") needs a mark of that copy, that copy's
per-copy layer (found blind or in M's frame) AND the file's content matching M. Without the layer the
row is ``unverified``, with the copy named and the reason: a copy too small or worn to carry it, or a
forgery (anyone holding X's published copy can paste its periodic mark on another copy of M: a fellow
recipient framing X). A payload read from a file whose content does not match its master (the mark
may have been pasted from another image), or a mark present without a readable payload, is
``mark-only``. Neither is an attribution.

Each file gives one JSON-ready row (`ROW_FIELDS`); a file's problem is its row's ``error`` (one line
that names the file first), never an exception. A `Scanner` pickles without its open registry and
indexes, which each worker process (or Dask worker) builds again on first use.

This module holds the flow of one file (steps 1 and 2 itself) and the row's public shape; the other
steps live beside it, each filling in the file's `watermark.scan_findings.Findings`: the registry and
its masters as the scan reads them in `watermark.scan_masters`, step 3 in `watermark.scan_matching`,
step 4 in `watermark.scan_informed`, and the row's verdict and reasons in `watermark.scan_verdict`.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image

from . import api_files, color, imageio, pixellimit, provenance, schemes
from .errors import FiligraneWarning, WatermarkError
from .image import to_float
from .keys import Key
from .registry import ISSUED, RESERVED, Registry
from .scan_findings import Findings, Mark, master_fields, record_fields
from .scan_informed import read_informed
from .scan_masters import Masters
from .scan_matching import content, near_duplicates, place
from .scan_verdict import conclude
from .sources import URL_TIMEOUT, Source, masked, quoted, read_bytes

__all__ = ["Scanner", "ScanOptions", "ROW_FIELDS", "STATUSES"]

STATUSES = ("attributed", "unverified", "mark-only", "near-duplicate", "exact", "not-found", "error")
ROW_FIELDS = ("path", "sha256", "status", "method", "payload", "p_value", "record", "match", "geometry", "marks",
              "reason", "credentials", "error", "ms")
_ANALYSIS_SIDE = color.LARGEST_WORKING_SIDE  # px: the short side the blind read and the hash need (JPEG drafts)
_THUMBNAIL_SIDE = 192
_BYTES_PER_PIXEL = 8            # the largest file of ``max_pixels``: uncompressed 16-bit RGBA...
_HEADROOM_BYTES = 64 * 2**20    # ...and room for metadata, previews, a C2PA manifest


@dataclass(frozen=True)
class ScanOptions:
    """How thorough a scan is.

    Attributes
    ----------
    partial : bool
        Also look for masters inside suspects with local features (a crop, a collage, a page):
        finds more, costs a feature pass per file that the hash did not explain (also one where a
        blind read found a mark: a page may hold other issued copies beside the one it read).
    false_alarm : float
        The p-value at which a blind read counts as found.
    max_pixels : int or None
        Decompression-bomb limit per file; a file of more bytes than such an image could take (`byte_limit`)
        is refused unread. None: no limit on either.
    thumbnails : bool
        Put a small JPEG of each finding in the row's ``_thumbnail`` (for the HTML report).
    credentials : bool
        Also read each file's Content Credentials (C2PA manifest; the c2pa extra) into the row's
        ``credentials``, with ``agrees``: whether its soft binding names the payload the scan found and its key.
    trust_anchors : str or None
        PEM root certificates whose signers count as trusted (``credentials.trusted``).
    originals : bool
        Read a suspect registered to a master against the master file itself, when it is still
        where the registry recorded it and unchanged (`watermark.original`): far more sensitive for
        a small part of a master (a crop, a collage's cell). Without it (or without the file) the
        informed read is against the master's frame in the registry, where it has one.
    url_timeout : float
        Seconds an HTTP(S) server may keep a suspect's read waiting (for the connection, or for more
        data) before that file is an error row.
    """

    partial: bool = False
    false_alarm: float = schemes.DEFAULT_FALSE_ALARM
    max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS
    thumbnails: bool = False
    credentials: bool = False
    trust_anchors: str | None = None
    originals: bool = True
    url_timeout: float = URL_TIMEOUT

    @property
    def byte_limit(self) -> int | None:
        """The most bytes a suspect is read with: an uncompressed 16-bit RGBA image of ``max_pixels``, and room."""
        return None if self.max_pixels is None else self.max_pixels * _BYTES_PER_PIXEL + _HEADROOM_BYTES


class Scanner:
    """Scans one file at a time against ``registry_path`` with ``keys``; call it with a `Source`."""

    def __init__(self, registry_path: str, keys: list[Key], options: ScanOptions = ScanOptions()) -> None:
        self.registry_path, self.keys, self.options = str(registry_path), list(keys), options
        self.masters = Masters(self.registry_path, self.keys, originals=options.originals,
                               max_pixels=options.max_pixels)

    def __getstate__(self) -> dict[str, Any]:
        # absolute: a remote Dask worker opens the registry from a working directory of its own
        return {"registry_path": os.path.abspath(self.registry_path), "keys": self.keys, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["registry_path"], state["keys"], state["options"])   # type: ignore[misc]
        self.masters.remote = True

    @property
    def registry(self) -> Registry:
        return self.masters.registry

    def check(self) -> None:
        """Open the registry, check the file and the keys now (before a batch): raises its one-line errors;
        warns (`FiligraneWarning`) of issued copies under a key not given, whose marks this scan cannot read."""
        self.registry.require_sound()
        given = {key.public_id for key in self.keys}
        unread = {public_id: n for public_id, n in self.registry.issued_by_key().items() if public_id not in given}
        if unread:
            fingerprints = dict(self.registry.keys())
            keys = ", ".join(f"{fingerprints[public_id]} ({n} {'copy' if n == 1 else 'copies'})"
                             for public_id, n in unread.items())
            warnings.warn(f"{self.registry_path}: issued copies under key{'s' if len(unread) > 1 else ''} {keys} not "
                          "given (--key): their marks cannot be read, and a copy of theirs reads as a near-duplicate "
                          "of its master at most (unless it is the issued file itself)", FiligraneWarning,
                          stacklevel=2)

    def close(self) -> None:
        self.masters.close()

    # -- one file ---------------------------------------------------------------------------------

    def __call__(self, source: Source) -> dict[str, Any]:
        """The row of one file. A registry this process cannot open raises, as `check` does, rather than
        giving every file an error row (a Dask worker that joined after the scan's start and was never
        asked)."""
        _ = self.registry
        start = time.perf_counter()
        row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
        row.update(path=source.name, marks=[])
        try:
            self._scan(source, row)
        except WatermarkError as exc:
            row.update(status="error", method=None, error=masked(_naming(str(exc), source.name)))
        except MemoryError:          # this file's, not the batch's: the next one may fit
            row.update(status="error", method=None,
                       error=masked(f"{quoted(source.name)}: not enough memory to scan it"))
        row["ms"] = round(1000.0 * (time.perf_counter() - start), 1)
        return row

    def _scan(self, source: Source, row: dict[str, Any]) -> None:
        data = read_bytes(source, max_bytes=self.options.byte_limit, url_timeout=self.options.url_timeout)
        row["sha256"] = hashlib.sha256(data).hexdigest()
        if not self._exact(row):
            self._read(source, data, row)
        if self.options.credentials:
            row["credentials"] = _credentials(data, source.name, row, self.options.trust_anchors)

    def _read(self, source: Source, data: bytes, row: dict[str, Any]) -> None:
        """Every step after the exact one: blind reads, near-duplicates, informed reads, the verdict."""
        # the blind read and the hash see luminance only: a colour JPEG is decoded straight to its luma
        loaded = imageio.load_image_bytes(data, source.name, max_pixels=self.options.max_pixels, animated="first",
                                          reduce_to=_ANALYSIS_SIDE, luminance=True)
        found = Findings(source.name, loaded, data)
        options, masters, max_pixels = self.options, self.masters, self.options.max_pixels
        self._blind(found)
        near_duplicates(found, masters, partial=options.partial, max_pixels=max_pixels)
        place(found, masters, self.keys, partial=options.partial, originals=options.originals, max_pixels=max_pixels)
        content(found, masters, self.keys, max_pixels)
        read_informed(found, masters, self.keys, false_alarm=options.false_alarm, max_pixels=max_pixels)
        conclude(found, row, masters.master_by_id)
        if self.options.thumbnails and row["status"] in ("attributed", "unverified", "mark-only", "near-duplicate"):
            row["_thumbnail"] = _thumbnail(self._colour(found))

    def _colour(self, found: Findings) -> Any:
        """The file at analysis scale in colour, for a finding's thumbnail (rare: decoded again)."""
        return imageio.load_image_bytes(found.data, found.name, max_pixels=self.options.max_pixels,
                                        animated="first", reduce_to=_ANALYSIS_SIDE).image

    def _exact(self, row: dict[str, Any]) -> bool:
        records, master = self.registry.find_sha256(row["sha256"])
        issued = [record for record in records if record.state == ISSUED]
        if issued:
            record = issued[0]
            row.update(status="exact", method="exact", payload=f"{record.payload:#018x}", record=record_fields(record),
                       marks=[Mark(record.key, record.payload, None, "exact", record, {}).to_dict()])
            return True
        if master is not None:
            row.update(status="exact", method="exact", match={"master": master_fields(master), "distance": 0},
                       reason="the unmarked original itself")
            return True
        return False

    def _blind(self, found: Findings) -> None:
        detections = api_files.detect_loaded_keys(found.loaded, self.keys, false_alarm=self.options.false_alarm)
        for key, detection in zip(self.keys, detections):
            if not detection.found:
                continue
            mark = Mark(key.public_id, detection.payload, detection.p_value, "blind", verified=detection.verified,
                        layer_p_value=detection.verification_p_value)
            found.geometry = found.geometry or detection.to_dict()["geometry"]
            if found.lattice is None:
                found.lattice = detection.transform
            if detection.payload is not None:
                records = self.registry.find_payload(detection.payload, key=key)
                mark.record = next((r for r in records if r.state == ISSUED), None)
                mark.unfinished = next((r for r in records if r.state == RESERVED), None)
            found.marks.append(mark)


def _naming(message: str, name: str) -> str:
    """``message`` naming the file ``name`` first: the shared image code's ``image:`` placeholder replaced by it, or
    ``name`` put before a message that does not start with it (decoding names the file by its `Path`)."""
    shown = quoted(name)
    for spelling in ("image", str(PurePath(name))):
        if message.startswith(f"{spelling}:"):
            return shown + message[len(spelling):]
    return message if message.startswith(f"{shown}:") else f"{shown}: {message}"


def _credentials(data: bytes, name: str, row: dict[str, Any], trust_anchors: str | None) -> dict[str, Any]:
    """The file's Content Credentials as JSON fields, and whether their soft binding names the payload the
    scan found and the key it was read with (None when either side has no payload)."""
    credentials = provenance.read_credentials_bytes(data, name, trust_anchors=trust_anchors)
    payload = None if row["payload"] is None else int(row["payload"], 16)
    keys = [mark["key"] for mark in row["marks"] or () if mark["payload"] == row["payload"]]
    answers = [credentials.agrees_with(payload, key) for key in keys or [None]]
    return {**credentials.to_dict(), "agrees": None if None in answers else any(answers)}


def _thumbnail(image: Any) -> bytes:
    """A small JPEG of ``image`` (a PIL image, or an array of any depth: 16-bit, float, grey + alpha)."""
    pixels = to_float(image)[0]
    picture = Image.fromarray(np.rint(pixels[..., :3] * 255.0).astype(np.uint8)).convert("RGB")
    picture.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
