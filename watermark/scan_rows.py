"""A scan's rows read back: whether a JSON object is one (`row_problem`), and the issued copies one names
(`copies_named`, `layer_read`, `recipient_of`), for the command's lines and summary and the HTML report.

`row_problem` checks the types of a row's fields (`watermark.scan.ROW_FIELDS`), nested records and marks
included. ``scan --resume`` counts and reports the rows of the run it continues, and a row of another shape (an
edited file, another program's) made the report fail with a traceback once the whole scan was done. A nested
field an earlier version did not write (a mark's ``copies_tested``) may be missing; those that name a copy (a
record's ``id`` and ``master``, a master's ``sha256`` and ``path``) may not."""

from __future__ import annotations

from typing import Any

from .sources import shown_recipient

__all__ = ["row_problem", "copies_named", "layer_read", "recipient_of", "named_as"]

_NUMBER = float                 # an int or a float (never a bool)
_OPTIONAL_TEXT = (str, None)
_REQUIRED = {"id", "master", "sha256", "path"}
_CREDENTIALS = {"present": bool, "valid": (bool, None), "trusted": (bool, None), "signer": _OPTIONAL_TEXT,
                "agrees": (bool, None)}
_MASTER = {"path": str, "sha256": str, "width": int, "height": int}
_RECORD = {"id": str, "recipient": _OPTIONAL_TEXT, "master": _MASTER, "issued": _OPTIONAL_TEXT, "metadata": dict,
           "output": _OPTIONAL_TEXT}
_PAIR = [_NUMBER, _NUMBER]
_GEOMETRY = {"degrees": _NUMBER, "scale": _PAIR, "shear": _NUMBER, "flipped": bool, "offset": _PAIR}
_MARK = {"key": str, "payload": _OPTIONAL_TEXT, "p_value": (_NUMBER, None), "method": str, "record": (_RECORD, None),
         "content_match": bool, "verified": (bool, None), "layer_p_value": (_NUMBER, None),
         "copies_tested": (int, None), "attributed": bool, "doubt": _OPTIONAL_TEXT}
_ROW = {"path": str, "sha256": _OPTIONAL_TEXT, "status": str, "method": _OPTIONAL_TEXT, "payload": _OPTIONAL_TEXT,
        "p_value": (_NUMBER, None), "record": (_RECORD, None), "match": ({"master": _MASTER}, None),
        "geometry": (_GEOMETRY, None), "marks": (_MARK,), "reason": _OPTIONAL_TEXT, "credentials": (_CREDENTIALS, None),
        "error": _OPTIONAL_TEXT, "ms": (_NUMBER, None)}


def row_problem(row: dict[str, Any]) -> str | None:
    """What of ``row`` is not a scan's row, in a few words; None if it is one."""
    return _problem(row, _ROW, "the row")


def _problem(value: Any, shape: Any, name: str) -> str | None:
    """What of ``value`` does not have ``shape``: a type (float: any number), None, a tuple of alternatives
    (one element: a list of that shape), a list of shapes (that many items), or a dict of the fields it may
    have (`_REQUIRED` ones it must; others may be there)."""
    if isinstance(shape, tuple) and len(shape) == 1:
        if not isinstance(value, list):
            return f"{name} is not a list"
        return next(filter(None, (_problem(item, shape[0], f"{name}[{n}]") for n, item in enumerate(value))), None)
    if isinstance(shape, tuple):        # the first alternative that fits ends it (most fields are their first)
        problems = []
        for alternative in shape:
            problem = _problem(value, alternative, name)
            if problem is None:
                return None
            problems.append(problem)
        return problems[0]
    if shape is None:
        return None if value is None else f"{name} is not null"
    if isinstance(shape, list):
        if not isinstance(value, list) or len(value) != len(shape):
            return f"{name} is not a list of {len(shape)}"
        return next(filter(None, (_problem(item, part, f"{name}[{n}]") for n, (item, part) in
                                  enumerate(zip(value, shape)))), None)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{name} is not an object"
        missing = next((field for field in shape if field not in value and field in _REQUIRED), None)
        if missing is not None:
            return f"{name} has no {missing!r}"
        return next(filter(None, (_problem(value[field], part, f"{name}'s {field!r}") for field, part in
                                  shape.items() if field in value)), None)
    kinds = (int, float) if shape is float else (shape,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        return f"{name} is not {_NAMES.get(shape, shape.__name__)}"
    return None


_NAMES = {float: "a number", int: "a whole number", str: "text", bool: "true or false", dict: "an object"}


def copies_named(row: dict) -> list[tuple[dict, str]]:
    """Each issued copy a scan's row names in its master's content, with what the row makes of it:
    ``exact``, ``attributed`` or ``unverified`` (one copy, or each copy of a collage)."""
    if row.get("status") == "exact":
        return [(row["record"], "exact")] if row.get("record") else []
    return [(mark["record"], seen) for mark in row.get("marks") or [] if (seen := named_as(mark))]


def layer_read(row: dict) -> dict | None:
    """The mark of a scan row's own payload, when its per-copy layer was read (its ``layer_p_value``)."""
    return next((mark for mark in row.get("marks") or []
                 if mark.get("payload") == row.get("payload") and mark.get("layer_p_value") is not None), None)


def recipient_of(record: dict) -> str:
    """A row's record's recipient as shown (`watermark.sources.shown_recipient`)."""
    return shown_recipient(record.get("recipient"))


def named_as(mark: dict) -> str | None:
    """``attributed`` or ``unverified`` for a mark of an issued copy in that copy's master's content
    (`watermark.scan`), else None."""
    if not mark.get("record"):
        return None
    if mark.get("attributed"):
        return "attributed"
    return "unverified" if mark.get("content_match") and not mark.get("doubt") else None
