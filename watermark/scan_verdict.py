"""What a scanned file's row concludes from what the scan found in it (`conclude`), and its words.

Each mark is weighed first: a mark of a master that the tile phase placed counts its per-copy layer only where
the picture puts the master; a periodic mark without its layer beside other copies' layers is doubted as
pasted; a copy whose layer reads reversed was subtracted, which no processing of one copy does. Then the row:
``attributed`` (a mark in its master with its copy's per-copy layer, or two copies' at once: colluders),
``unverified`` (in its master, without the layer), ``mark-only`` (with the reason it is not an attribution,
`why_not_attributed`), ``near-duplicate`` or ``not-found``, with the match, its evidence, and the file's
geometry over its master.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .detection import Geometry
from .registry import Master, Record
from .scan_findings import Findings, Mark, evidence, master_fields, p_of, record_fields
from .sources import shown_recipient

__all__ = ["conclude", "best_match", "why_not_attributed", "subtraction_doubt", "copies_of_one_master"]

# The reason an unverified row gives (see `watermark.scan`'s docstring on attribution)
_UNVERIFIED = ("its periodic mark in its master's content, without the copy's per-copy layer: a copy too small "
               "or worn to show it, or a mark pasted from that copy onto another copy of the master; not an "
               "attribution")
_SMALL_SIDE = 640               # px: a short side under it may hold too few local features to register


def conclude(found: Findings, row: dict[str, Any], master_by_id: Callable[[int], Master]) -> None:
    """Weigh ``found``'s marks and fill in ``row``'s status, method, payload, p-value, record, match, geometry,
    marks and reason; ``master_by_id`` gives a master the file matched without a mark."""
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
            mark.doubt = subtraction_doubt(found.subtracted[mark.record.master.id], mark.record)
    attributed = sorted((m for m in found.marks if m.attributes), key=p_of)
    in_master = sorted((m for m in found.marks if m.in_its_master), key=p_of)
    found.marks.sort(key=lambda m: (m.record.issued_at or "") if m.record else "~")
    row["marks"] = [m.to_dict() for m in found.marks]
    row["geometry"] = found.geometry
    if in_master:
        best = (attributed or in_master)[0]
        record, content = best.record, best.content
        assert record is not None and content is not None        # what in_its_master keeps
        row.update(status="attributed" if attributed else "unverified", method=best.method,
                   payload=f"{best.payload:#018x}", p_value=best.p_value, record=record_fields(record),
                   match={"master": master_fields(record.master), **content},
                   geometry=_over_master(found, record.master.id) or found.geometry)
        if not attributed:
            row["reason"] = _UNVERIFIED
        elif mixed := copies_of_one_master(attributed):
            row["reason"] = mixed
        return
    near = best_match(found, master_by_id)
    if found.marks:
        mark = min(found.marks, key=p_of)
        row.update(status="mark-only", method=mark.method, p_value=mark.p_value, match=near,
                   payload=None if mark.payload is None else f"{mark.payload:#018x}",
                   reason=why_not_attributed(mark, small=min(found.loaded.original_size) < _SMALL_SIDE))
    elif near is not None:
        row.update(status="near-duplicate", method="near-duplicate", match=near,
                   reason="the content matches a registered master but no mark of its copies was found")
    else:
        row.update(status="not-found")


def best_match(found: Findings, master_by_id: Callable[[int], Master]) -> dict[str, Any] | None:
    """The row's ``match`` for a file without an attribution: the master nearest by hash, else the one
    registered by the most inliers (or placed by the smallest RMS), with its evidence; None if none."""
    if found.near:
        master_id, distance = min(found.near.items(), key=lambda item: item[1])
        return {"master": master_fields(master_by_id(master_id)), "distance": distance}
    matched = [(r.inliers, -found.placed.get(m, (0, 0.0))[1], m)
               for m, r in found.registrations.items() if r.matched]
    if matched:
        master_id = max(matched)[2]
        return {"master": master_fields(master_by_id(master_id)), **evidence(found, master_id)}
    return None


def _over_master(found: Findings, master_id: int) -> dict[str, Any] | None:
    """How the file lies over the master it is registered to, as `Geometry` fields (its scale in file
    pixels per master pixel, its offset in the master's pixels), or None when it is not registered."""
    registration = found.registrations.get(master_id)
    if registration is None or not registration.matched or registration.homography is None:
        return None
    homography = registration.homography @ _from_file(found)
    return Geometry.from_transform((homography / homography[2, 2])[:2]).to_dict()


def _from_file(found: Findings) -> np.ndarray:
    """The 3x3 map from the file's pixels to those registration saw: a large file's decode, reduced by a
    whole factor per side (a 2200 x 3300 copy's geometry read 'scale 0.5'), pixel centres on centres."""
    width, height = found.loaded.original_size
    seen_height, seen_width = found.page(None).shape[:2]          # held: the likeness test made it
    fx, fy = max(1, round(width / seen_width)), max(1, round(height / seen_height))
    return np.array([[1 / fx, 0.0, (1 - fx) / (2 * fx)], [0.0, 1 / fy, (1 - fy) / (2 * fy)], [0.0, 0.0, 1.0]])


def copies_of_one_master(attributed: list[Mark]) -> str | None:
    """What a file whose picture carries the per-copy layers of two or more copies of one master says, or None:
    it was made from all of them (colluders, or a band swap: one recipient's copy with another's web copy's
    detail), and no one copy's recipient alone made it."""
    by_master: dict[int, list[Mark]] = {}
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


def subtraction_doubt(copies: list[Record], record: Record) -> str:
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


def why_not_attributed(mark: Mark, *, small: bool = False) -> str:
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
