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
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import cv2
import numpy as np
from PIL import Image

from . import api, borders, cells, color, imageio, placement, provenance, schemes
from . import original as master_file
from .detection import Geometry
from .errors import FiligraneWarning, RegistryError, WatermarkError
from .featureindex import CANDIDATES, FeatureIndex
from .features import MasterPrint
from .fingerprint import MAX_DISTANCE, perceptual_hash
from .hashindex import HashIndex
from .image import ImageLike, luminance_of, pixels_of, to_float
from .keys import Key
from .original import as_suspect, load_original, refine
from .registration import Registration, Suspect, frame_scaling, register, to_master_frame
from .registry import ISSUED, RESERVED, Master, Record, Registry, feature_index, frames, hash_index, print_of
from .sources import URL_TIMEOUT, Source, masked, quoted, read_bytes, shown_recipient

__all__ = ["Scanner", "ScanOptions", "ROW_FIELDS", "STATUSES", "LIKENESS"]

STATUSES = ("attributed", "unverified", "mark-only", "near-duplicate", "exact", "not-found", "error")
ROW_FIELDS = ("path", "sha256", "status", "method", "payload", "p_value", "record", "match", "geometry", "marks",
              "reason", "credentials", "error", "ms")
# The reason an unverified row gives (see the module's docstring on attribution)
_UNVERIFIED = ("its periodic mark in its master's content, without the copy's per-copy layer: a copy too small "
               "or worn to show it, or a mark pasted from that copy onto another copy of the master; not an "
               "attribution")
_ANALYSIS_SIDE = color.LARGEST_WORKING_SIDE  # px: the short side the blind read and the hash need (JPEG drafts)
_REGISTRATION_SIDE = 1024     # px: the short side local features are found at (a collage holds a master small)
_THUMBNAIL_SIDE = 192
_CELL_LIKENESS = 0.9            # luminance correlation of a rectangle with a master's thumbnail that places it
_WHOLE_SLACK = 0.06             # a registration this near a rectangle's (share of the short side): it holds the master
_ORIGINALS_BYTES = 128 * 2**20   # master files' luminance kept between files (16 at 1080p)
_PRINTS = 256                    # decoded prints (and thumbnails) kept between files: about 80 MB, not one per master
LIKENESS = 0.8                  # the least correlation with its master's thumbnail of a file registered to it
_LIKENESS_PIXELS = 256          # thumbnail pixels a file must cover for that correlation to be taken
_LIKENESS_CONTRAST = 0.01       # and the least RMS contrast (of 1) the master must have there (a plain sky has none)
_SMALL_SIDE = 640               # px: a short side under it may hold too few local features to register
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
    max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS
    thumbnails: bool = False
    credentials: bool = False
    trust_anchors: str | None = None
    originals: bool = True
    url_timeout: float = URL_TIMEOUT

    @property
    def byte_limit(self) -> int | None:
        """The most bytes a suspect is read with: an uncompressed 16-bit RGBA image of ``max_pixels``, and room."""
        return None if self.max_pixels is None else self.max_pixels * _BYTES_PER_PIXEL + _HEADROOM_BYTES


@dataclass
class _Mark:
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
        """In its master, and the copy's per-copy layer found (what no one can paste, see `_UNVERIFIED`),
        or the issued copy's very bytes."""
        return self.in_its_master and (bool(self.verified) or self.method == "exact")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "payload": None if self.payload is None else f"{self.payload:#018x}",
                "p_value": self.p_value, "method": self.method,
                "record": None if self.record is None else _record(self.record),
                "content_match": self.content is not None, "verified": self.verified,
                "layer_p_value": self.layer_p_value, "copies_tested": self.copies_tested,
                "attributed": self.attributes, "doubt": self.doubt}


@dataclass
class _File:
    """What one file gave so far."""

    name: str
    loaded: imageio.LoadedImage                  # decoded at analysis scale, luma for a colour JPEG
    data: bytes = b""
    marks: list[_Mark] = field(default_factory=list)
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
    likeness: dict[int, float | None] = field(default_factory=dict)  # master id -> see Scanner._likeness
    geometry: dict[str, Any] | None = None
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


def _kept(cache: OrderedDict[int, Any], master_id: int, make: Callable[[], Any]) -> Any:
    """``cache[master_id]``, made when missing; the ``_PRINTS`` used last are kept (a partial scan of a small
    crop compares it with every master of its size: kept all, a registry of 20,000 took 6 GB)."""
    if master_id in cache:
        cache.move_to_end(master_id)
        return cache[master_id]
    cache[master_id] = value = make()
    if len(cache) > _PRINTS:
        cache.popitem(last=False)
    return value


def _framed(image: ImageLike) -> bool:
    """Whether ``image`` is a picture inside flat borders (`watermark.borders`: a 4:5 or square post)."""
    return borders.inside(luminance_of(pixels_of(image)[0])) is not None


class Scanner:
    """Scans one file at a time against ``registry_path`` with ``keys``; call it with a `Source`."""

    def __init__(self, registry_path: str, keys: list[Key], options: ScanOptions = ScanOptions()) -> None:
        self.registry_path, self.keys, self.options = str(registry_path), list(keys), options
        self._registry: Registry | None = None
        self._hashes: HashIndex | None = None
        self._features: FeatureIndex | None = None
        self._prints: OrderedDict[int, MasterPrint] = OrderedDict()       # decoded, latest last (_PRINTS)
        self._thumbnails: OrderedDict[int, np.ndarray] = OrderedDict()
        self._sizes: dict[tuple[int, int], list[int]] | None = None
        self._originals: OrderedDict[int, np.ndarray | None] = OrderedDict()   # master files read, latest last
        self._sent = False           # unpickled: in a worker process, perhaps on another machine

    def __getstate__(self) -> dict[str, Any]:
        # absolute: a remote Dask worker opens the registry from a working directory of its own
        return {"registry_path": os.path.abspath(self.registry_path), "keys": self.keys, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["registry_path"], state["keys"], state["options"])   # type: ignore[misc]
        self._sent = True

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            if self._sent and not os.path.exists(self.registry_path):   # a worker that cannot see it
                raise RegistryError(f"{self.registry_path}: no registry at this path on the worker at "
                                    f"{socket.gethostname()}: a scan's workers open the registry at the path the "
                                    "scan names (a shared disk, or a copy at that path on each machine)")
            self._registry = Registry(self.registry_path)
            for key in self.keys:
                self._registry.require_key(key)
        return self._registry

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
        if self._registry is not None:
            self._registry.close()
            self._registry = None

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
        found = _File(source.name, loaded, data)
        self._blind(found)
        self._near_duplicates(found)
        self._place(found)
        self._content(found)
        self._informed(found)
        self._conclude(found, row)
        if self.options.thumbnails and row["status"] in ("attributed", "unverified", "mark-only", "near-duplicate"):
            row["_thumbnail"] = _thumbnail(self._colour(found))

    def _colour(self, found: _File) -> Any:
        """The file at analysis scale in colour, for a finding's thumbnail (rare: decoded again)."""
        return imageio.load_image_bytes(found.data, found.name, max_pixels=self.options.max_pixels,
                                        animated="first", reduce_to=_ANALYSIS_SIDE).image

    def _exact(self, row: dict[str, Any]) -> bool:
        records, master = self.registry.find_sha256(row["sha256"])
        issued = [record for record in records if record.state == ISSUED]
        if issued:
            record = issued[0]
            row.update(status="exact", method="exact", payload=f"{record.payload:#018x}", record=_record(record),
                       marks=[_Mark(record.key, record.payload, None, "exact", record, {}).to_dict()])
            return True
        if master is not None:
            row.update(status="exact", method="exact", match={"master": _master(master), "distance": 0},
                       reason="the unmarked original itself")
            return True
        return False

    def _blind(self, found: _File) -> None:
        detections = api.detect_loaded_keys(found.loaded, self.keys, false_alarm=self.options.false_alarm)
        for key, detection in zip(self.keys, detections):
            if not detection.found:
                continue
            mark = _Mark(key.public_id, detection.payload, detection.p_value, "blind", verified=detection.verified,
                         layer_p_value=detection.verification_p_value)
            found.geometry = found.geometry or detection.to_dict()["geometry"]
            if detection.payload is not None:
                records = self.registry.find_payload(detection.payload, key=key)
                mark.record = next((r for r in records if r.state == ISSUED), None)
                mark.unfinished = next((r for r in records if r.state == RESERVED), None)
            found.marks.append(mark)

    def _near_duplicates(self, found: _File) -> None:
        hashes = self._hash_index()
        if len(hashes):
            found.near = dict(hashes.query(perceptual_hash(found.loaded.image), max_distance=MAX_DISTANCE, limit=8))
        if found.near:
            return
        if self.options.partial or _framed(found.loaded.image):   # a picture inside flat borders: as a cell
            self._cells(found)
        if self.options.partial:
            index = self._feature_index()
            if len(index):
                suspect = found.suspect(self.options.max_pixels)
                for master_id, _ in index.candidates(suspect.features()):
                    self._register(found, master_id)

    def _cells(self, found: _File) -> None:
        """Each rectangle the file's straight lines bound (`watermark.cells`: a collage's cells, a picture
        inside borders) looked up as a whole file is; a master one matches is proposed (registered, and
        placed in that rectangle by `_place_in_cells` if nothing else places it)."""
        hashes = self._hash_index()
        if not len(hashes):
            return
        pixels = pixels_of(found.suspect(self.options.max_pixels).image)[0]
        for box in cells.rectangles(found.page(self.options.max_pixels)):
            top, bottom, left, right = box
            for master_id, distance in hashes.query(perceptual_hash(pixels[top:bottom, left:right]),
                                                    max_distance=MAX_DISTANCE, limit=8):
                if distance < found.cells.get(master_id, (MAX_DISTANCE + 1,))[0]:
                    found.cells[master_id] = (distance, box)
        # the nearest, as many as the feature index may propose: a page of many lines costs no more
        nearest = sorted(found.cells, key=lambda master_id: found.cells[master_id][0])[:CANDIDATES]
        found.cells = {master_id: found.cells[master_id] for master_id in nearest}
        for master_id in found.cells:
            self._register(found, master_id)

    def _place(self, found: _File) -> None:
        """With ``partial``, a file that nothing matched may be a small crop too plain for features:
        sought at each master size's working scale by every key's tile phase, and placed in the
        masters of that size whose thumbnail shows it there (`watermark.placement`); then sought in
        the files of the masters its features pointed to and did not register (`_place_on_files`)."""
        if not self.options.partial or found.near:
            return
        if not any(r.matched for r in found.registrations.values()):
            self._place_by_phase(found)
        self._place_on_files(found)
        self._place_in_cells(found)

    def _place_by_phase(self, found: _File) -> None:
        """Place the file by every key's tile phase and the masters' thumbnails (see `_place`)."""
        colour = None
        shapes = {size: placement.phase_shape(found.loaded.original_size, size) for size in self._masters_by_size()}
        plane = placement.plane_of(found.loaded.image)
        for key in self.keys:        # one phase per shape: masters of one working scale share it (2,000 sizes
            by_shape = {shape: placement.phase_in(plane, shape, key)          # took 15 s a file)
                        for shape in set(shapes.values()) if shape is not None}
            searches = len(by_shape)
            for size, shape in shapes.items():
                phase = None if shape is None else by_shape[shape]
                if phase is None or phase.p_value > placement.PHASE_GATE:
                    continue
                colour = colour if colour is not None else found.suspect(self.options.max_pixels).image
                for master_id in self._masters_by_size()[size]:
                    if master_id in found.placed:        # placed by an earlier key
                        continue
                    placed = placement.place(colour, found.loaded.original_size,
                                             self._print(self._master_by_id(master_id)), phase)
                    if placed is not None:
                        found.registrations[master_id], rms = placed
                        found.placed[master_id] = (searches, rms)

    def _place_on_files(self, found: _File) -> None:
        """Seek the file in the master files (at hand, unchanged) of the masters the feature index
        proposed and registration did not confirm: the master whole and smaller inside the file (a
        collage's cell, a page: `watermark.original.place_whole`), and, when nothing placed the file
        anywhere, the file as a crop of the master (`watermark.original.place`)."""
        if not self.options.originals:
            return
        crop = not any(r.matched for r in found.registrations.values())
        for master_id in [m for m, registration in found.registrations.items() if not registration.matched]:
            master = self._master_by_id(master_id)
            page = found.page(self.options.max_pixels)
            size, thumbnail = (master.width, master.height), self._thumbnail(master)
            whole = master_file.could_be_whole(page, thumbnail)
            part = crop and master_file.could_be_crop(found.loaded.original_size, page, thumbnail, size)
            original = self._original_of(master) if whole or part else None
            if original is None:
                continue
            placed = master_file.place_whole(page, original, size) if whole else None
            if placed is None and part:
                placed = master_file.place(page, found.loaded.original_size, original, size)
            if placed is not None:
                found.registrations[master_id], found.on_file[master_id] = placed

    def _place_in_cells(self, found: _File) -> None:
        """A master a rectangle of the file matched (`_cells`) placed in that rectangle, stretched to it,
        when its print's thumbnail shows it there upright (a hash match may be of a flipped or turned
        master, which local features, not this, must place): where nothing else placed it, and where
        its features' registration says the rectangle holds it whole. The rectangle's edges are exact
        to a pixel; a registration from the few keypoints of a small dark or smooth copy can be tens
        of the master's pixels off, which folds the mark away."""
        for master_id, (distance, box) in found.cells.items():
            registration, master = found.registrations[master_id], self._master_by_id(master_id)
            boxed = _box_homography(master, box)
            if registration.matched and not _holds_whole(registration, boxed, master):
                continue
            if not self._shows_upright(found, master, box):
                continue
            if registration.matched:        # the features' evidence kept, the rectangle's geometry taken
                found.registrations[master_id] = Registration(True, boxed, registration.inliers,
                                                              registration.matches, False, 1.0)
            else:
                found.registrations[master_id] = Registration(True, boxed, 0, 0, False, 1.0)
                found.in_cell[master_id] = distance

    def _shows_master(self, found: _File, master_id: int) -> bool:
        """The file shows the master's picture where its registration puts the master (see `_likeness`,
        measured once per file and master).

        Local features match detail; a composite of another photograph and a copy's whole fine
        residual (`attacks.copy_mark` with ``residual``) carries the copy's mark and enough of its detail
        to register, but the picture at the thumbnail's scale is the other photograph's.
        """
        if master_id not in found.likeness:
            found.likeness[master_id] = self._likeness(found, master_id)
        likeness = found.likeness[master_id]
        return likeness is None or likeness >= LIKENESS

    def _likeness(self, found: _File, master_id: int) -> float | None:
        """The luminance correlation, at the print thumbnail's scale, of the file registered into the
        master's frame with the thumbnail, over the pixels it covers; None where it covers too few
        (a small crop is placed on its own terms) or the master is plain there."""
        master = self._master_by_id(master_id)
        thumbnail = self._thumbnail(master)
        master_size = (master.width, master.height)
        framed, valid = to_master_frame(found.page(self.options.max_pixels), found.registrations[master_id],
                                        master_size, shape=frames.frame_shape(*master_size))
        size = thumbnail.shape[::-1]
        inside = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999
        inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0     # the blur's reach
        if np.count_nonzero(inside) < _LIKENESS_PIXELS:
            return None
        # blurred by a thumbnail pixel: a registration a pixel off there (a bent copy, a star field's
        # points) still shows the master's picture
        seen = cv2.GaussianBlur(cv2.resize(framed, size, interpolation=cv2.INTER_AREA), (5, 5), 1.0)[inside]
        expected = cv2.GaussianBlur(thumbnail, (5, 5), 1.0)[inside]
        if expected.std() < _LIKENESS_CONTRAST or seen.std() == 0:
            return None
        return float(np.corrcoef(seen, expected)[0, 1])

    def _shows_upright(self, found: _File, master: Master, box: tuple[int, int, int, int]) -> bool:
        """The master's thumbnail correlates with the file's rectangle ``box``, stretched to it."""
        top, bottom, left, right = box
        thumbnail = self._thumbnail(master)
        cell = cv2.resize(found.page(self.options.max_pixels)[top:bottom, left:right], thumbnail.shape[::-1],
                          interpolation=cv2.INTER_AREA)
        return bool(cv2.matchTemplate(cell, thumbnail, cv2.TM_CCOEFF_NORMED)[0, 0] >= _CELL_LIKENESS)

    def _content(self, found: _File) -> None:
        """Each blind mark's record counts only if the file's content matches the record's master: near
        it as a whole, registered to it by features, or, for a crop too small or plain for features,
        placed in it by the mark's tile phase (`_place_named`)."""
        for mark in found.marks:
            if mark.record is None:
                continue
            master = mark.record.master
            if master.id in found.near:
                mark.content = {"distance": found.near[master.id]}
            elif (self._register(found, master.id).matched or self._place_named(found, mark, master)) \
                    and self._shows_master(found, master.id):
                mark.content = _evidence(found, master.id)

    def _place_named(self, found: _File, mark: _Mark, master: Master) -> bool:
        """Place the file in ``master``, which its blind mark's record names, by that key's tile phase and
        the master's thumbnail, as `--partial` places a crop that nothing matched (`_place_by_phase`), for
        this one master; whether it was placed. A mark copied onto another picture is placed nowhere:
        the picture must be the master's there."""
        if master.id in found.placed:
            return found.registrations[master.id].matched
        key = next(k for k in self.keys if k.public_id == mark.key)
        phase = placement.phase_at(found.loaded.image, found.loaded.original_size, (master.width, master.height), key)
        if phase is None or phase.p_value > placement.PHASE_GATE:
            return False
        placed = placement.place(found.suspect(self.options.max_pixels).image, found.loaded.original_size,
                                 self._print(master), phase)
        if placed is None:
            return False
        found.registrations[master.id], rms = placed
        found.placed[master.id] = (1, rms)
        return True

    def _informed(self, found: _File) -> None:
        """Read every matched master's frame: the periodic mark at the identity and each issued copy's
        per-copy layer (which names colluders, and survives a scrubbed periodic mark)."""
        masters = set(found.near) | {m_id for m_id, r in found.registrations.items() if r.matched}
        for master_id in sorted(masters):
            registration = self._register(found, master_id)
            if not registration.matched or not self._shows_master(found, master_id):
                continue
            master = self._master_by_id(master_id)
            issued = {key: [r for r in self.registry.copies_of(master, key=key) if r.state == ISSUED]
                      for key in self.keys}
            if not any(issued.values()):
                continue
            framed, valid, original = self._framed(found, master, registration)
            for key, copies in issued.items():
                if not copies:
                    continue
                by_payload = {r.payload: r for r in copies}
                reading = api.read_in_frame(framed, key, list(by_payload), valid=valid, original=original,
                                            false_alarm=self.options.false_alarm,
                                            phase_searches=found.placed.get(master_id, (0, 0.0))[0],
                                            master_shape=(master.height, master.width))
                named = set(reading.named)
                layer_ps = {evidence.payload: evidence.p_value for evidence in reading.candidates}
                found.named[(master_id, key.public_id)] = named
                found.layer_ps[(master_id, key.public_id)] = layer_ps
                found.subtracted.setdefault(master_id, []).extend(by_payload[p] for p in reading.inverted)
                if reading.payload in by_payload:
                    # The periodic mark where the registration put the master: what a blind read of the
                    # master's part alone would give (a copy too small or too warped in the file for the
                    # blind search), held to the blind read's check of its per-copy layer (_conclude).
                    self._add_informed(found, key, reading.payload, reading.p_value, by_payload[reading.payload],
                                       _evidence(found, master_id), verified=reading.payload in named,
                                       layer_p_value=layer_ps[reading.payload], copies_tested=len(by_payload))
                for evidence in reading.candidates:     # each copy whose layer is there (a scrubbed one too)
                    if evidence.present:
                        self._add_informed(found, key, evidence.payload, None, by_payload[evidence.payload],
                                           _evidence(found, master_id), verified=True, layer_p_value=evidence.p_value,
                                           copies_tested=len(by_payload))

    def _framed(self, found: _File, master: Master, registration: Registration) -> tuple[Any, np.ndarray, Any]:
        """The suspect resampled into ``master``'s frame at the analysis resolution and the pixels it
        covers; and the master as the suspect shows it in the same frame, from its file if at hand or
        else from its frame in the registry, the registration refined on it first (see
        `watermark.original`; None when the registry has no frame of a master whose file is gone)."""
        suspect = found.suspect(self.options.max_pixels).image
        size = (master.width, master.height)
        shape = frames.frame_shape(*size)
        framed, valid = to_master_frame(suspect, registration, size, shape=shape)
        original, source = self._original_of(master), "the master file"
        if original is None:
            original, source = self._registry_frame(master), "the registry's frame of the master"
        if original is None:
            return framed, valid, None
        suspect_shape = pixels_of(suspect)[0].shape[:2]
        seen = as_suspect(original, size, registration, suspect_shape)
        template = to_master_frame(seen, registration, size, shape=shape)[0]    # resampled as the suspect was
        refined = refine(registration, luminance_of(pixels_of(framed)[0]), valid, template, size)
        if refined is not registration:
            found.registrations[master.id] = refined
            framed, valid = to_master_frame(suspect, refined, size, shape=shape)
            seen = as_suspect(original, size, refined, suspect_shape)
            template = to_master_frame(seen, refined, size, shape=shape)[0]
        found.read_against[master.id] = source
        return framed, valid, template

    def _original_of(self, master: Master) -> np.ndarray | None:
        """The master file's luminance, if ``originals`` and the file is at hand unchanged. The files
        read last are kept, up to ``_ORIGINALS_BYTES``: a file the index proposes masters for has each
        sought in their files, and the next file is often proposed the same ones."""
        if not self.options.originals:
            return None
        if master.id in self._originals:
            self._originals.move_to_end(master.id)
            return self._originals[master.id]
        original = load_original(master.path, master.sha256, (master.width, master.height),
                                 max_pixels=self.options.max_pixels)
        self._originals[master.id] = original
        while sum(0 if kept is None else kept.nbytes for kept in self._originals.values()) > _ORIGINALS_BYTES:
            self._originals.popitem(last=False)
        return original

    def _registry_frame(self, master: Master) -> np.ndarray | None:
        """``master``'s frame as the registry keeps it (`watermark.registry.frames`), or None."""
        data = self.registry.frame(master)
        return None if data is None else frames.decode(data, master.width, master.height, name=self.registry_path)

    @staticmethod
    def _add_informed(found: _File, key: Key, payload: int, p_value: float | None, record: Record,
                      content: dict[str, Any], *, verified: bool, layer_p_value: float, copies_tested: int) -> None:
        """Add a mark read in a master's frame, or give a mark of the same payload what the read in the
        frame adds: the content match's evidence, a lower p-value of the periodic mark (``p_value``,
        None: only the per-copy layer was read) and the per-copy layer's; a blind mark's method is then
        ``blind+informed``. A mark only the per-copy layer found has that layer's p-value for its own.
        ``copies_tested``: how many issued copies the layer's p-value paid for (a registry that issues more
        copies of the master later gives the same file a larger one)."""
        for mark in found.marks:
            if mark.key == key.public_id and mark.payload == payload:
                mark.content = {**(mark.content or {}), **content}
                lower = p_value is not None and mark.p_value is not None and p_value < mark.p_value
                if mark.method == "blind" and (lower or (verified and not mark.verified)):
                    mark.method = "blind+informed"
                if lower:
                    mark.p_value = p_value
                if mark.layer_p_value is None or layer_p_value < mark.layer_p_value:
                    mark.layer_p_value, mark.copies_tested = layer_p_value, copies_tested
                mark.verified = mark.verified or verified
                return
        found.marks.append(_Mark(key.public_id, payload, layer_p_value if p_value is None else p_value, "informed",
                                 record, content, verified=verified, layer_p_value=layer_p_value,
                                 copies_tested=copies_tested))

    def _conclude(self, found: _File, row: dict[str, Any]) -> None:
        for mark in found.marks:
            named = found.named.get((mark.record.master.id, mark.key)) if mark.record is not None else None
            if mark.record is not None and mark.record.master.id in found.placed:
                # placed by the tile phase, where the blind check of the per-copy layer tried every tile
                # position: a copy's fine band moved by whole tiles onto a plain picture passed it there
                # (a probe's forgery); the layer counts only where the picture puts the master
                mark.verified = named is not None and mark.payload in named
                layer_ps = found.layer_ps.get((mark.record.master.id, mark.key), {})
                mark.layer_p_value = None if mark.payload is None else layer_ps.get(mark.payload)
                mark.copies_tested = len(layer_ps) if mark.layer_p_value is not None else None
            if not mark.verified and named and mark.payload not in named:
                mark.doubt = (f"the periodic mark reads payload {mark.payload:#018x}, but its per-copy layer is "
                              "absent while other copies' are present: that mark was likely pasted")
            if mark.record is not None and found.subtracted.get(mark.record.master.id):
                mark.doubt = _subtracted(found.subtracted[mark.record.master.id], mark.record)
        attributed = sorted((m for m in found.marks if m.attributes), key=_p_of)
        in_master = sorted((m for m in found.marks if m.in_its_master), key=_p_of)
        found.marks.sort(key=lambda m: (m.record.issued_at or "") if m.record else "~")
        row["marks"] = [m.to_dict() for m in found.marks]
        row["geometry"] = found.geometry
        if in_master:
            best = (attributed or in_master)[0]
            record, content = best.record, best.content
            assert record is not None and content is not None        # what in_its_master keeps
            row.update(status="attributed" if attributed else "unverified", method=best.method,
                       payload=f"{best.payload:#018x}", p_value=best.p_value, record=_record(record),
                       match={"master": _master(record.master), **content},
                       geometry=_over_master(found, record.master.id) or found.geometry)
            if not attributed:
                row["reason"] = _UNVERIFIED
            elif mixed := _copies_of_one_master(attributed):
                row["reason"] = mixed
            return
        near = self._best_match(found)
        if found.marks:
            mark = min(found.marks, key=_p_of)
            row.update(status="mark-only", method=mark.method, p_value=mark.p_value, match=near,
                       payload=None if mark.payload is None else f"{mark.payload:#018x}",
                       reason=_why_not_attributed(mark, small=min(found.loaded.original_size) < _SMALL_SIDE))
        elif near is not None:
            row.update(status="near-duplicate", method="near-duplicate", match=near,
                       reason="the content matches a registered master but no mark of its copies was found")
        else:
            row.update(status="not-found")

    def _best_match(self, found: _File) -> dict[str, Any] | None:
        if found.near:
            master_id, distance = min(found.near.items(), key=lambda item: item[1])
            return {"master": _master(self._master_by_id(master_id)), "distance": distance}
        matched = [(r.inliers, -found.placed.get(m, (0, 0.0))[1], m)
                   for m, r in found.registrations.items() if r.matched]
        if matched:
            master_id = max(matched)[2]
            return {"master": _master(self._master_by_id(master_id)), **_evidence(found, master_id)}
        return None

    # -- the registry's indexes, built once per process -------------------------------------------

    def _hash_index(self) -> HashIndex:
        if self._hashes is None:
            self._hashes = hash_index(self.registry)
        return self._hashes

    def _feature_index(self) -> FeatureIndex:
        if self._features is None:
            self._features = feature_index(self.registry)
        return self._features

    def _masters_by_size(self) -> dict[tuple[int, int], list[int]]:
        """Master ids by (width, height), read once."""
        if self._sizes is None:
            self._sizes = {}
            for master in self.registry.masters():
                self._sizes.setdefault((master.width, master.height), []).append(master.id)
        return self._sizes

    def _print(self, master: Master) -> MasterPrint:
        return _kept(self._prints, master.id, lambda: print_of(master))

    def _thumbnail(self, master: Master) -> np.ndarray:
        """The luminance of the master's print thumbnail (float32, 0..1)."""
        return _kept(self._thumbnails, master.id, lambda: luminance_of(self._print(master).thumbnail_image()))

    def _master_by_id(self, master_id: int) -> Master:
        """A master the registry's own indexes named (so it exists)."""
        master = self.registry.master(master_id)
        if master is None:
            raise RegistryError(f"{self.registry_path}: master {master_id} vanished during the scan")
        return master

    def _register(self, found: _File, master_id: int) -> Registration:
        if master_id not in found.registrations:
            master = self._master_by_id(master_id)
            found.registrations[master_id] = register(found.suspect(self.options.max_pixels), self._print(master))
        return found.registrations[master_id]


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


def _evidence(found: _File, master_id: int) -> dict[str, Any]:
    """How the file's content matched a master it is registered to: the features' inliers, the
    thumbnail's RMS difference where the mark's tile phase placed it, or the fine detail's correlation
    where the master file placed it; how well it shows the master's picture (``likeness``, see
    `Scanner._likeness`); and whether the master file itself was read against."""
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


def _over_master(found: _File, master_id: int) -> dict[str, Any] | None:
    """How the file lies over the master it is registered to, as `Geometry` fields (its scale in file
    pixels per master pixel, its offset in the master's pixels), or None when it is not registered."""
    registration = found.registrations.get(master_id)
    if registration is None or not registration.matched or registration.homography is None:
        return None
    homography = registration.homography @ _from_file(found)
    return Geometry.from_transform((homography / homography[2, 2])[:2]).to_dict()


def _from_file(found: _File) -> np.ndarray:
    """The 3x3 map from the file's pixels to those registration saw: a large file's decode, reduced by a
    whole factor per side (a 2200 x 3300 copy's geometry read 'scale 0.5'), pixel centres on centres."""
    width, height = found.loaded.original_size
    seen_height, seen_width = found.page(None).shape[:2]          # held: the likeness test made it
    fx, fy = max(1, round(width / seen_width)), max(1, round(height / seen_height))
    return np.array([[1 / fx, 0.0, (1 - fx) / (2 * fx)], [0.0, 1 / fy, (1 - fy) / (2 * fy)], [0.0, 0.0, 1.0]])


def _box_homography(master: Master, box: tuple[int, int, int, int]) -> np.ndarray:
    """The map from the file's pixels to ``master``'s of the master whole in the file's rectangle ``box``
    (top, bottom, left, right), stretched to it."""
    top, bottom, left, right = box
    to_master = np.linalg.inv(frame_scaling((master.width, master.height), (bottom - top, right - left)))
    return to_master @ np.array([[1.0, 0.0, -left], [0.0, 1.0, -top], [0.0, 0.0, 1.0]])


def _holds_whole(registration: Registration, boxed: np.ndarray, master: Master) -> bool:
    """``registration`` (upright) maps the corners of the rectangle that ``boxed`` stretches the master
    to within ``_WHOLE_SLACK`` of the master's short side of the master's corners."""
    if registration.homography is None or registration.mirrored:
        return False
    corners = np.array([[0, master.width - 1, 0, master.width - 1], [0, 0, master.height - 1, master.height - 1],
                        [1, 1, 1, 1]], dtype=np.float64)
    mapped = registration.homography @ np.linalg.inv(boxed) @ corners
    if np.any(np.abs(mapped[2]) < 1e-9):
        return False
    moved = np.hypot(*(mapped[:2] / mapped[2] - corners[:2]))
    return bool(np.max(moved) <= _WHOLE_SLACK * min(master.width, master.height))


def _copies_of_one_master(attributed: list[_Mark]) -> str | None:
    """What a file whose picture carries the per-copy layers of two or more copies of one master says, or None:
    it was made from all of them (colluders, or a band swap: one recipient's copy with another's web copy's
    detail), and no one copy's recipient alone made it."""
    by_master: dict[int, list[_Mark]] = {}
    for mark in attributed:
        assert mark.record is not None          # what attributes keeps
        by_master.setdefault(mark.record.master.id, []).append(mark)
    mixed = next((marks for marks in by_master.values() if len(marks) > 1), None)
    if mixed is None:
        return None
    names = ", ".join(f"{shown_recipient(m.record.recipient)}'s copy {m.record.id}" for m in mixed if m.record)
    return (f"the per-copy layers of {len(mixed)} copies of this master are all in this picture ({names}): it was "
            "made from all of them (colluders, or a band swap: one copy with another's published detail); no one "
            "of these recipients alone is shown to have made it")


def _subtracted(copies: list[Record], record: Record) -> str:
    """The doubt of ``record``'s mark in a picture from which ``copies`` of its master were subtracted (their
    per-copy layers reversed): a difference of copies, which only someone holding both made, and either
    recipient could, with the other's published copy."""
    others = [c for c in copies if c.id != record.id]
    if not others:           # its own layer reversed: the copy subtracted from its master (or from nothing)
        return (f"the per-copy layer of {shown_recipient(record.recipient)}'s copy {record.id} is in this picture "
                "with its sign reversed: the copy was subtracted from another picture (its master), which no "
                "processing of it does; not an attribution")
    names = ", ".join(f"{shown_recipient(c.recipient)}'s copy {c.id}" for c in others)
    return (f"the per-copy layer of {names} is in this picture with its sign reversed, beside that of "
            f"{shown_recipient(record.recipient)}'s copy {record.id}: the picture was made from both "
            "copies, one subtracted from the other, which no processing of one copy does; whoever made it held "
            "both (either recipient could, with the other's published copy): no one of them is shown to have made "
            "it, not an attribution")


def _p_of(mark: _Mark) -> float:
    """``mark``'s p-value, for ordering (an exact copy's, not decoded, as none)."""
    return 1.0 if mark.p_value is None else mark.p_value


def _why_not_attributed(mark: _Mark, *, small: bool = False) -> str:
    """Why a mark is not an attribution (a mark-only row's reason); ``small``: the file is a few hundred pixels
    on its short side, where local features may be too few to register it."""
    if mark.doubt:
        return mark.doubt
    if mark.payload is None:
        return "this key's mark is present but its payload is unreadable: not an attribution"
    if mark.record is None and mark.unfinished is not None:
        copy = mark.unfinished
        return (f"payload {mark.payload:#018x} was reserved for copy {copy.id} of {copy.master.path} for "
                f"{shown_recipient(copy.recipient)} ({copy.output_path}), but its issue was never recorded here: the "
                "embed that wrote it was stopped before (run it again to finish it), or it was merged from another "
                "registry's export taken while that copy was being issued (import a later export of that registry)")
    if mark.record is None:
        return (f"payload {mark.payload:#018x} was never issued under this key in this registry: a copy issued with "
                "another registry (--registry), or a mark of this key's not recorded")
    return (f"payload {mark.payload:#018x} was issued as a copy of {mark.record.master.path}, but this file's content "
            "does not match that master well enough: much of the picture was changed (stickers, text, another "
            "picture over it), or the mark was copied from another image"
            + ("; or this file, a few hundred pixels, holds too few local features to register to it" if small
               else ""))


def _record(record: Record) -> dict[str, Any]:
    return {"id": record.id, "recipient": record.recipient, "master": _master(record.master),
            "issued": record.issued_at, "metadata": record.metadata, "output": record.output_path}


def _master(master: Master) -> dict[str, Any]:
    return {"path": master.path, "sha256": master.sha256, "width": master.width, "height": master.height}


def _thumbnail(image: Any) -> bytes:
    """A small JPEG of ``image`` (a PIL image, or an array of any depth: 16-bit, float, grey + alpha)."""
    pixels = to_float(image)[0]
    picture = Image.fromarray(np.rint(pixels[..., :3] * 255.0).astype(np.uint8)).convert("RGB")
    picture.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
