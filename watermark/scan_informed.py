"""The scan's informed read: a file registered to a master, read in the master's frame against that master's
issued copies (`watermark.read_in_frame`).

The frame is read at the identity for the periodic mark (what a blind read of the master's part alone would
give), and for each issued copy's per-copy layer, which names colluders and survives a scrubbed periodic mark.
The master is read against as the file shows it, from the master file at hand or else from the registry's
frame of it, the registration refined on it first (`watermark.original`). What the read finds is kept in the
file's `watermark.scan_findings.Findings`: marks added or strengthened (`add_informed`), the payloads whose
layers are present, each layer's p-value, the copies whose layer reads reversed; `watermark.scan_verdict`
weighs them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import api
from .image import luminance_of, pixels_of
from .keys import Key
from .original import as_suspect, refine
from .registration import Registration, to_master_frame
from .registry import ISSUED, Master, Record, frames
from .scan_findings import Findings, Mark, evidence
from .scan_masters import Masters
from .scan_matching import register_to, shows_master

__all__ = ["read_informed", "add_informed"]


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
    `watermark.original`; None when the registry has no frame of a master whose file is gone)."""
    suspect = found.suspect(max_pixels).image
    size = (master.width, master.height)
    shape = frames.frame_shape(*size)
    framed, valid = to_master_frame(suspect, registration, size, shape=shape)
    original, source = masters.original_of(master), "the master file"
    if original is None:
        original, source = masters.registry_frame(master), "the registry's frame of the master"
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
