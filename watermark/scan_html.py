"""The HTML of a scan's report (`watermark.scan_report`): each finding's row in words and pictures, the tables
of counts, what every term means, and the page's style. Every value is escaped and shown as on the terminal
(`escaped`): a URL's password as ``***``, a bidirectional override or a newline as ``\\xNN``."""

from __future__ import annotations

import base64
import html
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .fingerprint import MAX_DISTANCE
from .scan_matching import LIKENESS
from .scan_rows import layer_read, named_as, recipient_of
from .sources import has_secret, masked, visible

__all__ = ["STYLE", "escaped", "rate", "glossary", "counts_table", "finding_row"]

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1b1b1b;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}thead{background:#f2f2f2}
td.n{text-align:right}.meta,.note{color:#555;font-size:12px}
.pair{display:flex;gap:.5em}.pair figure{margin:0;width:180px}.pair img{width:100%;height:auto;border:1px solid #ccc}
figcaption{font-size:11px;color:#333;overflow-wrap:anywhere}code{background:#f5f5f5;padding:0 .2em}
.attributed{color:#0a6b2f;font-weight:600}.unverified,.mark-only{color:#a15c00;font-weight:600}
.exact,.near-duplicate{color:#1d4f91;font-weight:600}dt{font-weight:600;margin-top:.4em}dd{margin-left:1.5em}
.stopped{background:#fff3cd;border:1px solid #e0b000;padding:.5em 1em}
"""


def escaped(value: Any) -> str:
    """``value`` for the page: escaped, a URL's password as ``***``, and what would act rather than show
    (a bidirectional override, a newline) written ``\\xNN`` / ``\\uNNNN`` as on the terminal."""
    text = masked("" if value is None else str(value))
    return html.escape(visible(text))


_MATCH_LABELS = {"distance": "perceptual hash distance", "hash_distance": "perceptual hash distance",
                 "inliers": "features agreeing", "placed": "placed by",
                 "thumbnail_rms": "difference from the thumbnail", "likeness": "likeness to the master",
                 "read_against": "read against", "detail_correlation": "fine detail correlation"}  # the JSON's keys
_BORDER = 100.0        # a per-copy layer p within this factor of it is borderline
_MATCH_UNITS = {"distance": f" of 64 bits (a near-duplicate: at most {MAX_DISTANCE})",
                "hash_distance": f" of 64 bits (at most {MAX_DISTANCE})",
                "likeness": f" (at least {LIKENESS} needed)"}

# What every term of the page means; the standing caveat of an attribution first (see README *Security*)
_GLOSSARY = (
    ("attributed", "the file carries an issued copy's mark and that copy's own per-copy layer (a second layer, "
     "different in every copy and bound to the picture, which cannot be lifted off one image and pasted on "
     "another), and its content matches that copy's master: the file was made from that copy's pixels. It does "
     "not say who made the file: another recipient of the same master who obtained this copy (its published "
     "web version is enough) can put its fine detail into their own copy, and that file is attributed to this "
     "copy (the README's <i>band swap</i>). Weigh an attribution with who else received the master. And "
     "whoever holds the key can mark any picture with any issued copy's payload and layer: this page is "
     "evidence only as far as the key's and the registry's holder is trusted (README: <i>Who must be "
     "trusted</i>)."),
    ("unverified", "an issued copy's mark in its master's content, without that copy's per-copy layer: a copy "
     "too small or worn to show it, or a mark pasted onto another copy of the master. Not an attribution."),
    ("mark-only", "a mark of this key in content that is not its copy's master (or whose payload is unreadable "
     "or was never issued): anyone holding a published copy can paste its mark. Or a picture from which "
     "another copy of the master was subtracted (that copy's per-copy layer is there with its sign reversed): "
     "a difference of copies, made by someone who held both. Not evidence against either recipient alone."),
    ("near-duplicate", "the content matches a registered master, but no mark of its copies was found."),
    ("exact", "the file has the same bytes (SHA-256) as an issued copy (that recipient's file itself) or as a "
     "master (the unmarked original); nothing is decoded."),
    ("p", "the probability that an image without this key's mark would score as high, every hypothesis the "
     "reader tried paid for; a mark counts as found at 1e-9 or less. It says that the mark is there, not whose "
     "copy the file is (a pasted mark has as small a p), and it is not the probability that anyone did "
     "anything. Each way of reading gives its own p: the scan shows the smallest of its reads of the mark, "
     "so <code>watermark detect</code> on the same file may give another. A p below about 1e-3 is computed "
     "from the statistic's model (a normal tail, which the README's <i>Honest statistics</i> bounds at 4.5 "
     "times), not counted: it ranks evidence, and 1e-100 is not a literal probability. Over many files, the "
     "unmarked files expected to pass a blind read by chance are about the files times the keys times 1e-9 "
     "(the summary above gives it for this scan); a file also read in masters' frames is tested more often, "
     "each read paying for its own hypotheses."),
    ("per-copy layer p", "the same probability for the copy's own layer, present at 1e-9 or less: the number "
     "behind \"whose copy\". It pays for every issued copy of the master it was tested among (\"among N "
     "copies\"): a registry that issues more copies of that master later gives the same file a larger one. "
     "Within a factor of 100 of 1e-9 it is marked <i>borderline</i>: a re-encoding of the file may move it "
     "across."),
    ("read", "blind: without the master; informed: in the master's frame, once the file is registered to it "
     "(far more sensitive); blind+informed: both."),
    ("content match", "how the file was matched to the master: the perceptual hash's distance, local features "
     "agreeing on one geometric map, the file's likeness to the master's thumbnail where they overlap "
     "(a correlation, 1 for the same picture), or where the mark's tile phase and the thumbnail placed a crop."),
    ("geometry", "how the file lies over its master (for a file matched to none, over the marked image as the "
     "blind read saw it): rotation in degrees, scale in file pixels per master pixel, offset in the master's "
     "pixels."),
)


def glossary(false_alarm: float) -> str:
    """What every term of the page means, the scan's ``false_alarm`` rate where the text says 1e-9."""
    return ("<h2>How to read this report</h2><dl>"
            + "".join(f"<dt>{escaped(term)}</dt><dd>{text.replace('1e-9', rate(false_alarm))}</dd>"
                      for term, text in _GLOSSARY) + "</dl>")


def _image(data: bytes | None, alt: str, missing: str = "no picture") -> str:
    if not data:
        return f"<figure><div class='note'>{escaped(missing)}</div><figcaption>{escaped(alt)}</figcaption></figure>"
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    return f"<figure><img src='{uri}' alt='{escaped(alt)}'><figcaption>{escaped(alt)}</figcaption></figure>"


def _p(value: Any) -> str:
    return "" if value is None else f"{float(value):.3g}"


def rate(value: float) -> str:
    """A false-alarm rate as the page writes it: 1e-9, not 1e-09."""
    return f"{value:.3g}".replace("e-0", "e-")


def _layer_p(mark: dict, threshold: float) -> str:
    """A mark's per-copy layer p-value, among how many copies, and whether it is borderline: within ``_BORDER``
    of the scan's ``threshold`` (see `_GLOSSARY`)."""
    value = float(mark["layer_p_value"])
    copies = mark.get("copies_tested")
    among = f" among {copies} cop{'y' if copies == 1 else 'ies'}" if copies else ""
    near = " <i>borderline</i>" if threshold / _BORDER <= value <= threshold * _BORDER else ""
    return f"{value:.3g}{among}{near}"


def _geometry(fields: dict[str, Any]) -> str:
    """A row's geometry (`Geometry.to_dict`) in words."""
    scale = fields.get("scale") or [1, 1]
    offset = fields.get("offset") or [0, 0]
    mirrored = "mirrored, " if fields.get("flipped") else ""
    return (f"{mirrored}rotated {float(fields.get('degrees', 0)):.2f}&deg;, scaled {float(scale[0]):.4g} &times; "
            f"{float(scale[1]):.4g}, shear {float(fields.get('shear', 0)):.3g}, offset ({float(offset[0]):.1f}, "
            f"{float(offset[1]):.1f}) px")


def _terms(record: dict) -> str:
    """The terms recorded with a copy (``--meta``), as ``name: value`` pairs."""
    return ", ".join(f"{escaped(name)}: {escaped(value)}"
                     for name, value in sorted((record.get("metadata") or {}).items()))


def _link(path: str | None) -> str:
    """``path`` shown, and linked where a browser can open it: a local file (made absolute from the
    folder the scan ran in), or an http(s) URL without a secret in it (a masked one would not open)."""
    if not path:
        return ""
    parts = urlsplit(path)
    if parts.scheme in ("http", "https") and not has_secret(path):
        href = path
    elif "://" in path:
        return escaped(path)
    else:
        href = Path(os.path.abspath(path)).as_uri()
    return f"<a href='{html.escape(href)}'>{escaped(path)}</a>"


def counts_table(title: str, table: dict[str, Counter[str]], columns: list[str]) -> str:
    """``table``'s counts under ``title``: a row per name, a column per one of ``columns``; nothing without counts."""
    if not table:
        return ""
    head = "".join(f"<th>{escaped(c)}</th>" for c in columns)
    body = "".join(f"<tr><td>{escaped(name)}</td>" + "".join(f"<td class='n'>{counts[c]}</td>" for c in columns)
                   + "</tr>" for name, counts in sorted(table.items()))
    return f"<h2>{escaped(title)}</h2><table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def finding_row(row: dict, thumbnail: bytes | None, earlier: bool, master_thumbnail: Callable[[str], bytes | None],
                false_alarm: float) -> str:
    """A finding's row of the evidence table: the file's picture (``thumbnail``; ``earlier``: of the run a resumed
    scan continues) beside its master's, what the row found and where both files are."""
    record = row.get("record") or {}
    status = row.get("status")
    marked: dict = next((mark["record"] for mark in row.get("marks") or [] if mark.get("record")), {})
    master = record.get("master") or (row.get("match") or {}).get("master") or {}
    caption = "master"
    if not master and marked:                # a copy's mark in other content: the master its copy was made of
        master, caption = marked.get("master") or {}, "master of the copy whose mark it carries"
    missing = ("picture not kept by the earlier run" if earlier else "identical bytes: not decoded"
               if status == "exact" else "no picture")
    pictures = _image(thumbnail, row.get("path", ""), missing) + _image(
        master_thumbnail(master["sha256"]) if master.get("sha256") else None,
        f"{caption}: {master.get('path', '')}")
    how = ("identical bytes (SHA-256)" if row.get("method") == "exact" else ""
           if row.get("method") in (None, status) else f"by {escaped(row.get('method'))} read")
    facts = [f"<span class='{escaped(status)}'>{escaped(status)}</span> {how}"]
    if record and status == "unverified":
        facts.append(f"the mark of {escaped(recipient_of(record))}'s copy {escaped(record.get('id'))}, issued "
                     f"{escaped(record.get('issued'))}: <b>not an attribution</b> (see the reason below)")
    elif record:
        facts.append(f"recipient <b>{escaped(recipient_of(record))}</b>, copy {escaped(record.get('id'))}, "
                     f"issued {escaped(record.get('issued'))}")
    if record.get("metadata"):
        facts.append(f"terms recorded with the copy: {_terms(record)}")
    if row.get("payload"):
        p_value = row.get("p_value")
        evidence = "" if p_value is None else f", p = {_p(p_value)}"
        layer = layer_read(row)
        if layer is not None:
            evidence += f", per-copy layer p = {_layer_p(layer, false_alarm)}"
        facts.append(f"payload <code>{escaped(row['payload'])}</code>{evidence}")
    match = {k: v for k, v in (row.get("match") or {}).items() if k != "master"}
    if match:
        label = "content match" if status in ("attributed", "unverified", "near-duplicate", "exact") else \
            "closest content (not a match)"
        facts.append(f"{label}: " + ", ".join(f"{escaped(_MATCH_LABELS.get(k, k.replace('_', ' ')))} {escaped(v)}"
                                              f"{_MATCH_UNITS.get(k, '')}" for k, v in match.items()))
    if row.get("geometry"):
        facts.append(f"geometry: {_geometry(row['geometry'])}")
    for mark in row.get("marks") or []:     # the others a page names (a collage), or a pasted mark's copy
        if not (record and mark.get("payload") == row.get("payload")):
            facts.append(_mark(row, mark, false_alarm))
    if row.get("reason"):
        facts.append(f"<i>{escaped(row['reason'])}</i>")
    credentials = row.get("credentials") or {}
    if credentials.get("present"):
        agrees = {True: "agrees with the mark", False: "names another payload or key",
                  None: "no payload to compare"}
        facts.append(f"Content Credentials: {'valid' if credentials.get('valid') else 'INVALID'}"
                     f"{', trusted' if credentials.get('trusted') else ''}, signed by "
                     f"{escaped(credentials.get('signer'))}; soft binding {agrees[credentials.get('agrees')]}")
    suspect = _link(row.get("path"))
    if row.get("sha256"):
        suspect += f" &middot; SHA-256 <code>{escaped(row['sha256'])}</code>"
    if master.get("path"):
        suspect += f"<br>{escaped(caption)} {_link(master['path'])}"
    return (f"<tr><td><div class='pair'>{pictures}</div></td><td>{'<br>'.join(facts)}"
            f"<div class='meta'>{suspect}</div></td></tr>")


def _mark(row: dict, mark: dict, false_alarm: float) -> str:
    """One mark the row found: its payload, how sure and how read, and whose copy's mark it is."""
    record = mark.get("record") or {}
    evidence = ("identical bytes" if mark.get("method") == "exact"
                else f"p = {_p(mark.get('p_value'))}, {escaped(mark.get('method'))}")
    if mark.get("layer_p_value") is not None:
        evidence += f"; per-copy layer p = {_layer_p(mark, false_alarm)}"
    text = f"mark {escaped(mark.get('payload'))} ({evidence})"
    copy = (f"copy {escaped(record.get('id'))} of "
            f"{escaped(Path(str((record.get('master') or {}).get('path', '?'))).name)}" if record else "")
    if record and row.get("status") == "mark-only":
        return text + (f": the mark of {escaped(recipient_of(record))}'s {copy}, in content that is not that copy's "
                       "master: not an attribution")
    if record:
        text += f": {escaped(recipient_of(record))}'s {copy}, issued {escaped(record.get('issued'))}"
        terms = _terms(record)
        text += f" ({terms})" if terms else ""
    seen = None if row.get("status") == "exact" else named_as(mark)
    if record and not seen and row.get("status") != "exact":     # another copy's mark on this page
        text += " <i>(" + escaped(mark.get("doubt") or "in content that is not that copy's master: its mark alone, "
                                  "which anyone holding a published copy can paste; not evidence against its "
                                  "recipient") + ")</i>"
    return text + (f" <span class='{seen}'>{seen}</span>" if seen else "")
