"""Which registered masters a file's content matches, and where each lies in it: the scan's near-duplicate step.

A file is near a master whole (`near_duplicates`: its perceptual hash, or a rectangle's that its straight lines
bound, a collage's cell), or holds one found by local features (``partial``), registered to each such master
(`register_to`: features and a homography); with ``partial``, a file nothing registered may be placed by the
mark's tile phase and a master's thumbnail, in the master files at hand, or in the rectangle a hash matched
(`place`). A blind mark's record counts only where the content matches its master (`content`), and a
registration only where the file shows the master's picture there (`shows_master`, ``LIKENESS``). What is
found is kept in the file's `watermark.scan_findings.Findings`.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import borders, cells, placement
from . import original as master_file
from .featureindex import CANDIDATES
from .fingerprint import MAX_DISTANCE, perceptual_hash
from .image import ImageLike, luminance_of, pixels_of
from .keys import Key
from .registration import Registration, frame_scaling, register, to_master_frame
from .registry import Master, frames
from .scan_findings import Findings, Mark, evidence
from .scan_masters import Masters

__all__ = ["near_duplicates", "place", "content", "register_to", "shows_master", "LIKENESS"]

LIKENESS = 0.8                  # the least correlation with its master's thumbnail of a file registered to it
_LIKENESS_PIXELS = 256          # thumbnail pixels a file must cover for that correlation to be taken
_LIKENESS_CONTRAST = 0.01       # and the least RMS contrast (of 1) the master must have there (a plain sky has none)
_CELL_LIKENESS = 0.9            # luminance correlation of a rectangle with a master's thumbnail that places it
_WHOLE_SLACK = 0.06             # a registration this near a rectangle's (share of the short side): it holds the master


def register_to(found: Findings, masters: Masters, master_id: int, max_pixels: int | None) -> Registration:
    """The file registered to the master ``master_id`` (once per file and master)."""
    if master_id not in found.registrations:
        master = masters.master_by_id(master_id)
        found.registrations[master_id] = register(found.suspect(max_pixels), masters.print_of(master))
    return found.registrations[master_id]


def _inside_borders(image: ImageLike) -> bool:
    """Whether ``image`` is a picture inside flat borders (`watermark.borders`: a 4:5 or square post)."""
    return borders.inside(luminance_of(pixels_of(image)[0])) is not None


def near_duplicates(found: Findings, masters: Masters, *, partial: bool, max_pixels: int | None) -> None:
    """The masters the file is near by its perceptual hash; where none is, those a rectangle of it is near (with
    ``partial``, or for a picture inside flat borders) and, with ``partial``, those its local features propose;
    each of the latter registered to."""
    hashes = masters.hash_index()
    if len(hashes):
        found.near = dict(hashes.query(perceptual_hash(found.loaded.image), max_distance=MAX_DISTANCE, limit=8))
    if found.near:
        return
    if partial or _inside_borders(found.loaded.image):   # a picture inside flat borders: as a cell
        _cells(found, masters, max_pixels)
    if partial:
        index = masters.feature_index()
        if len(index):
            suspect = found.suspect(max_pixels)
            for master_id, _ in index.candidates(suspect.features()):
                register_to(found, masters, master_id, max_pixels)


def _cells(found: Findings, masters: Masters, max_pixels: int | None) -> None:
    """Each rectangle the file's straight lines bound (`watermark.cells`: a collage's cells, a picture
    inside borders) looked up as a whole file is; a master one matches is proposed (registered, and
    placed in that rectangle by `_place_in_cells` if nothing else places it)."""
    hashes = masters.hash_index()
    if not len(hashes):
        return
    pixels = pixels_of(found.suspect(max_pixels).image)[0]
    for box in cells.rectangles(found.page(max_pixels)):
        top, bottom, left, right = box
        for master_id, distance in hashes.query(perceptual_hash(pixels[top:bottom, left:right]),
                                                max_distance=MAX_DISTANCE, limit=8):
            if distance < found.cells.get(master_id, (MAX_DISTANCE + 1,))[0]:
                found.cells[master_id] = (distance, box)
    # the nearest, as many as the feature index may propose: a page of many lines costs no more
    nearest = sorted(found.cells, key=lambda master_id: found.cells[master_id][0])[:CANDIDATES]
    found.cells = {master_id: found.cells[master_id] for master_id in nearest}
    for master_id in found.cells:
        register_to(found, masters, master_id, max_pixels)


def place(found: Findings, masters: Masters, keys: list[Key], *, partial: bool, originals: bool,
          max_pixels: int | None) -> None:
    """With ``partial``, a file that nothing matched may be a small crop too plain for features:
    sought at each master size's working scale by every key's tile phase, and placed in the
    masters of that size whose thumbnail shows it there (`watermark.placement`); then sought in
    the files of the masters its features pointed to and did not register (`_place_on_files`, with
    ``originals``), and in the rectangles a master's hash matched (`_place_in_cells`)."""
    if not partial or found.near:
        return
    if not any(r.matched for r in found.registrations.values()):
        _place_by_phase(found, masters, keys, max_pixels)
    if originals:
        _place_on_files(found, masters, max_pixels)
    _place_in_cells(found, masters, max_pixels)


def _place_by_phase(found: Findings, masters: Masters, keys: list[Key], max_pixels: int | None) -> None:
    """Place the file by every key's tile phase and the masters' thumbnails (see `place`)."""
    colour = None
    shapes = {size: placement.phase_shape(found.loaded.original_size, size) for size in masters.by_size()}
    plane = placement.plane_of(found.loaded.image)
    for key in keys:        # one phase per shape: masters of one working scale share it (2,000 sizes
        by_shape = {shape: placement.phase_in(plane, shape, key)          # took 15 s a file)
                    for shape in set(shapes.values()) if shape is not None}
        searches = len(by_shape)
        for size, shape in shapes.items():
            phase = None if shape is None else by_shape[shape]
            if phase is None or phase.p_value > placement.PHASE_GATE:
                continue
            colour = colour if colour is not None else found.suspect(max_pixels).image
            for master_id in masters.by_size()[size]:
                if master_id in found.placed:        # placed by an earlier key
                    continue
                placed = placement.place(colour, found.loaded.original_size,
                                         masters.print_of(masters.master_by_id(master_id)), phase)
                if placed is not None:
                    found.registrations[master_id], rms = placed
                    found.placed[master_id] = (searches, rms)


def _place_on_files(found: Findings, masters: Masters, max_pixels: int | None) -> None:
    """Seek the file in the master files (at hand, unchanged) of the masters the feature index
    proposed and registration did not confirm: the master whole and smaller inside the file (a
    collage's cell, a page: `watermark.original.place_whole`), and, when nothing placed the file
    anywhere, the file as a crop of the master (`watermark.original.place`)."""
    crop = not any(r.matched for r in found.registrations.values())
    for master_id in [m for m, registration in found.registrations.items() if not registration.matched]:
        master = masters.master_by_id(master_id)
        page = found.page(max_pixels)
        size, thumbnail = (master.width, master.height), masters.thumbnail(master)
        whole = master_file.could_be_whole(page, thumbnail)
        part = crop and master_file.could_be_crop(found.loaded.original_size, page, thumbnail, size)
        original = masters.original_of(master) if whole or part else None
        if original is None:
            continue
        placed = master_file.place_whole(page, original, size) if whole else None
        if placed is None and part:
            placed = master_file.place(page, found.loaded.original_size, original, size)
        if placed is not None:
            found.registrations[master_id], found.on_file[master_id] = placed


def _place_in_cells(found: Findings, masters: Masters, max_pixels: int | None) -> None:
    """A master a rectangle of the file matched (`_cells`) placed in that rectangle, stretched to it,
    when its print's thumbnail shows it there upright (a hash match may be of a flipped or turned
    master, which local features, not this, must place): where nothing else placed it, and where
    its features' registration says the rectangle holds it whole. The rectangle's edges are exact
    to a pixel; a registration from the few keypoints of a small dark or smooth copy can be tens
    of the master's pixels off, which folds the mark away."""
    for master_id, (distance, box) in found.cells.items():
        registration, master = found.registrations[master_id], masters.master_by_id(master_id)
        boxed = _box_homography(master, box)
        if registration.matched and not _holds_whole(registration, boxed, master):
            continue
        if not _shows_upright(found.page(max_pixels), masters.thumbnail(master), box):
            continue
        if registration.matched:        # the features' evidence kept, the rectangle's geometry taken
            found.registrations[master_id] = Registration(True, boxed, registration.inliers,
                                                          registration.matches, False, 1.0)
        else:
            found.registrations[master_id] = Registration(True, boxed, 0, 0, False, 1.0)
            found.in_cell[master_id] = distance


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


def _shows_upright(page: np.ndarray, thumbnail: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The master's ``thumbnail`` correlates with the file's rectangle ``box`` of its ``page``, stretched to it."""
    top, bottom, left, right = box
    cell = cv2.resize(page[top:bottom, left:right], thumbnail.shape[::-1], interpolation=cv2.INTER_AREA)
    return bool(cv2.matchTemplate(cell, thumbnail, cv2.TM_CCOEFF_NORMED)[0, 0] >= _CELL_LIKENESS)


def shows_master(found: Findings, masters: Masters, master_id: int, max_pixels: int | None) -> bool:
    """The file shows the master's picture where its registration puts the master (see `_likeness`,
    measured once per file and master).

    Local features match detail; a composite of another photograph and a copy's whole fine
    residual (`attacks.copy_mark` with ``residual``) carries the copy's mark and enough of its detail
    to register, but the picture at the thumbnail's scale is the other photograph's.
    """
    if master_id not in found.likeness:
        found.likeness[master_id] = _likeness(found, masters, master_id, max_pixels)
    likeness = found.likeness[master_id]
    return likeness is None or likeness >= LIKENESS


def _likeness(found: Findings, masters: Masters, master_id: int, max_pixels: int | None) -> float | None:
    """The luminance correlation, at the print thumbnail's scale, of the file registered into the
    master's frame with the thumbnail, over the pixels it covers; None where it covers too few
    (a small crop is placed on its own terms) or the master is plain there."""
    master = masters.master_by_id(master_id)
    thumbnail = masters.thumbnail(master)
    master_size = (master.width, master.height)
    framed, valid = to_master_frame(found.page(max_pixels), found.registrations[master_id],
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


def content(found: Findings, masters: Masters, keys: list[Key], max_pixels: int | None) -> None:
    """Each blind mark's record counts only if the file's content matches the record's master: near
    it as a whole, registered to it by features, or, for a crop too small or plain for features,
    placed in it by the mark's tile phase (`_place_named`)."""
    for mark in found.marks:
        if mark.record is None:
            continue
        master = mark.record.master
        if master.id in found.near:
            mark.content = {"distance": found.near[master.id]}
        elif (register_to(found, masters, master.id, max_pixels).matched
              or _place_named(found, masters, keys, mark, master, max_pixels)) \
                and shows_master(found, masters, master.id, max_pixels):
            mark.content = evidence(found, master.id)


def _place_named(found: Findings, masters: Masters, keys: list[Key], mark: Mark, master: Master,
                 max_pixels: int | None) -> bool:
    """Place the file in ``master``, which its blind mark's record names, by that key's tile phase and
    the master's thumbnail, as `--partial` places a crop that nothing matched (`_place_by_phase`), for
    this one master; whether it was placed. A mark copied onto another picture is placed nowhere:
    the picture must be the master's there."""
    if master.id in found.placed:
        return found.registrations[master.id].matched
    key = next(k for k in keys if k.public_id == mark.key)
    phase = placement.phase_at(found.loaded.image, found.loaded.original_size, (master.width, master.height), key)
    if phase is None or phase.p_value > placement.PHASE_GATE:
        return False
    placed = placement.place(found.suspect(max_pixels).image, found.loaded.original_size,
                             masters.print_of(master), phase)
    if placed is None:
        return False
    found.registrations[master.id], rms = placed
    found.placed[master.id] = (1, rms)
    return True
