"""The scan's informed read: a file registered to a master, read in the master's frame against that master's
issued copies (`watermark.read_in_frame`).

The frame is read at the identity for the periodic mark (what a blind read of the master's part alone would
give), and for each issued copy's per-copy layer, which names colluders and survives a scrubbed periodic mark.
The master is read against as the file shows it, from the master file at hand or else from the registry's
frame of it, the registration refined on it first (`watermark.original`). Where the blind read found a mark,
its lattice's rotation and scale give a second place beside the registration's, and the frame is read once, at
the one whose fine detail matches the master's better (`_in_master_frame`). What the read finds is kept in the
file's `watermark.scan_findings.Findings`: marks added or strengthened (`add_informed`), the payloads whose
layers are present, each layer's p-value, the copies whose layer reads reversed; `watermark.scan_verdict`
weighs them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from . import api, color
from .image import luminance_of, pixels_of
from .keys import Key
from .original import as_suspect, refine
from .registration import Registration, to_master_frame
from .registry import ISSUED, Master, Record, frames
from .scan_findings import Findings, Mark, evidence
from .scan_masters import Masters
from .scan_matching import register_to, shows_master
from .schemes.lattice.masking import highpass

__all__ = ["read_informed", "add_informed"]

_SAME_PLACE = 1.0   # master px: two places whose corners are this close are one (ECC refines either alike)


def read_informed(found: Findings, masters: Masters, keys: list[Key], *, false_alarm: float,
                  max_pixels: int | None) -> None:
    """Read every matched master's frame: the periodic mark at the identity and each issued copy's
    per-copy layer (which names colluders, and survives a scrubbed periodic mark)."""
    matched = set(found.near) | {m_id for m_id, r in found.registrations.items() if r.matched}
    for master_id in sorted(matched):
        registration = register_to(found, masters, master_id, max_pixels)
        if not registration.matched or not shows_master(found, masters, master_id, max_pixels):
            continue
        master = masters.master_by_id(master_id)
        issued = {key: [r for r in masters.registry.copies_of(master, key=key) if r.state == ISSUED]
                  for key in keys}
        if not any(issued.values()):
            continue
        framed, valid, original = _in_master_frame(found, masters, master, registration, max_pixels)
        for key, copies in issued.items():
            if not copies:
                continue
            by_payload = {r.payload: r for r in copies}
            reading = api.read_in_frame(framed, key, list(by_payload), valid=valid, original=original,
                                        false_alarm=false_alarm,
                                        phase_searches=found.placed.get(master_id, (0, 0.0))[0],
                                        master_shape=(master.height, master.width))
            named = set(reading.named)
            layer_ps = {layer.payload: layer.p_value for layer in reading.candidates}
            found.named[(master_id, key.public_id)] = named
            found.layer_ps[(master_id, key.public_id)] = layer_ps
            found.subtracted.setdefault(master_id, []).extend(by_payload[p] for p in reading.inverted)
            if reading.payload in by_payload:
                # The periodic mark where the registration put the master: what a blind read of the
                # master's part alone would give (a copy too small or too warped in the file for the
                # blind search), held to the blind read's check of its per-copy layer (scan_verdict).
                add_informed(found, key, reading.payload, reading.p_value, by_payload[reading.payload],
                             evidence(found, master_id), verified=reading.payload in named,
                             layer_p_value=layer_ps[reading.payload], copies_tested=len(by_payload))
            for layer in reading.candidates:     # each copy whose layer is there (a scrubbed one too)
                if layer.present:
                    add_informed(found, key, layer.payload, None, by_payload[layer.payload],
                                 evidence(found, master_id), verified=True, layer_p_value=layer.p_value,
                                 copies_tested=len(by_payload))


def _in_master_frame(found: Findings, masters: Masters, master: Master, registration: Registration,
                     max_pixels: int | None) -> tuple[Any, np.ndarray, Any]:
    """The suspect resampled into ``master``'s frame at the analysis resolution and the pixels it
    covers; and the master as the suspect shows it in the same frame, from its file if at hand or
    else from its frame in the registry, the registration refined on it first (see
    `watermark.original`; None when the registry has no frame of a master whose file is gone).

    Where the blind read found a mark, a second place is tried beside the registration's: the blind
    lattice's rotation and scale about the point where the registration puts the file's centre
    (`_lattice_place`: the few clustered keypoints of a smooth, dark photograph can tilt a crop's
    registration by a third of a degree, which the lattice, read over the whole file, does not), unless
    it puts the file's corners within ``_SAME_PLACE`` of the registration's (a whole copy). Of the
    two, refined alike, the one whose fine detail matches the master's better is taken (`_detail_likeness`:
    the master's content decides, not the key's mark), and the frame is read there alone, once: the
    informed read's p-value pays for no second place."""
    suspect = found.suspect(max_pixels).image
    size = (master.width, master.height)
    shape = frames.frame_shape(*size)
    original, source = masters.original_of(master), "the master file"
    if original is None:
        original, source = masters.registry_frame(master), "the registry's frame of the master"
    if original is None:
        return (*to_master_frame(suspect, registration, size, shape=shape), None)
    suspect_shape = pixels_of(suspect)[0].shape[:2]
    places = [registration]
    other = _lattice_place(found, registration, suspect_shape, size)
    if other is not None and _apart(registration, other, suspect_shape) > _SAME_PLACE:
        places.append(other)

    def framed_at(place: Registration) -> tuple[Any, np.ndarray, Any]:
        """The suspect in the master's frame at ``place``, the pixels it covers, and the master as the
        suspect shows it there (resampled as the suspect was)."""
        framed, valid = to_master_frame(suspect, place, size, shape=shape)
        seen = as_suspect(original, size, place, suspect_shape)
        return framed, valid, to_master_frame(seen, place, size, shape=shape)[0]

    best: tuple[float, Registration, Any, np.ndarray, Any] | None = None
    for place in places:
        framed, valid, template = framed_at(place)
        refined = refine(place, luminance_of(pixels_of(framed)[0]), valid, template, size)
        if refined is not place:
            framed, valid, template = framed_at(refined)
        likeness = _detail_likeness(luminance_of(pixels_of(framed)[0]), template, valid) if len(places) > 1 else 0.0
        if best is None or likeness > best[0]:
            best = (likeness, refined, framed, valid, template)
    assert best is not None
    _, chosen, framed, valid, template = best
    if chosen is not registration:
        found.registrations[master.id] = chosen
    found.read_against[master.id] = source
    return framed, valid, template


def _lattice_place(found: Findings, registration: Registration, suspect_shape: tuple[int, int],
                   master_size: tuple[int, int]) -> Registration | None:
    """``registration`` with the blind read's rotation and scale in place of its own: the similarity
    nearest the lattice's map (the file's pixels to its mark's, taken to the master's pixels by the two
    working resolutions) about the point where ``registration`` puts the suspect's centre. None without
    a blind mark, or where the lattice and the registration disagree on a mirror."""
    if found.lattice is None or registration.homography is None:
        return None
    width, height = found.loaded.original_size
    file_frame, master_frame = color.working_shape((height, width)), color.working_shape(master_size[::-1])
    to_master = np.diag([master_size[0] / master_frame[1] * file_frame[1] / width,
                         master_size[1] / master_frame[0] * file_frame[0] / height])
    from_suspect = np.diag([width / suspect_shape[1], height / suspect_shape[0]])
    linear = to_master @ np.asarray(found.lattice, np.float64)[:, :2] @ from_suspect   # suspect px -> master px
    centre = np.array([(suspect_shape[1] - 1) / 2.0, (suspect_shape[0] - 1) / 2.0, 1.0])
    there = registration.homography @ centre
    if (np.linalg.det(linear) < 0) != registration.mirrored:
        return None
    mirror = np.diag([-1.0, 1.0]) if registration.mirrored else np.eye(2)
    upright = linear @ mirror
    a, b = (upright[0, 0] + upright[1, 1]) / 2.0, (upright[1, 0] - upright[0, 1]) / 2.0
    similarity = np.array([[a, -b], [b, a]]) @ mirror
    homography = np.eye(3)
    homography[:2, :2] = similarity
    homography[:2, 2] = there[:2] / there[2] - similarity @ centre[:2]
    return replace(registration, homography=homography)


def _apart(a: Registration, b: Registration, suspect_shape: tuple[int, int]) -> float:
    """How far apart, in the master's pixels, ``a`` and ``b`` put the suspect's corners (the most)."""
    height, width = suspect_shape
    corners = np.array([[0, width, width, 0], [0, 0, height, height], [1, 1, 1, 1]], np.float64)
    mapped_a, mapped_b = (np.asarray(r.homography, np.float64) @ corners for r in (a, b))
    return float(np.max(np.hypot(*(mapped_a[:2] / mapped_a[2] - mapped_b[:2] / mapped_b[2]))))


def _detail_likeness(framed: np.ndarray, template: np.ndarray, valid: np.ndarray) -> float:
    """Correlation of the fine detail (`masking.highpass`) of the suspect and of the master, both in the
    master's frame, over the pixels the suspect covers; -1 where it covers none."""
    inside = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if np.count_nonzero(inside) < 16:
        return -1.0
    a, b = highpass(framed)[inside], highpass(template)[inside]
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else -1.0


def add_informed(found: Findings, key: Key, payload: int, p_value: float | None, record: Record,
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
    found.marks.append(Mark(key.public_id, payload, layer_p_value if p_value is None else p_value, "informed",
                            record, content, verified=verified, layer_p_value=layer_p_value,
                            copies_tested=copies_tested))
