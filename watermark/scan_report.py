"""The scan's HTML report: counts per recipient and master, and the evidence for each attribution.

One self-contained file: styles inline, every thumbnail a base64 ``data:`` URI, no script, nothing
fetched from elsewhere, so that it opens offline and can be mailed or archived. Rows are added as
the scan produces them (and, when it resumes an output, the earlier run's rows first); only counts,
the ``limit`` strongest findings (attributions first, then exact copies of issued copies,
unverified copies, marks in other content, the unmarked masters, near-duplicates; each kind by
path) and the first errors are kept, so a scan of a million files does not hold a million rows.
"""

from __future__ import annotations

import base64
import html
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import __version__, atomic, schemes
from .errors import ImageFileError
from .fingerprint import MAX_DISTANCE
from .scan import STATUSES
from .scan_matching import LIKENESS
from .sources import has_secret, masked, shown_recipient, visible

__all__ = ["ScanReport", "copies_named", "layer_read", "recipient_of"]

_SHOWN = ("attributed", "unverified", "mark-only", "near-duplicate", "exact")
_ERRORS_SHOWN = 50
_SAME_BYTES_SHOWN = 3           # findings of one file's bytes (links, copies of it) the page shows; the rest counted
_STYLE = """
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


def _e(value: Any) -> str:
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


def _image(data: bytes | None, alt: str, missing: str = "no picture") -> str:
    if not data:
        return f"<figure><div class='note'>{_e(missing)}</div><figcaption>{_e(alt)}</figcaption></figure>"
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    return f"<figure><img src='{uri}' alt='{_e(alt)}'><figcaption>{_e(alt)}</figcaption></figure>"


def _p(value: Any) -> str:
    return "" if value is None else f"{float(value):.3g}"


def _rate(value: float) -> str:
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
    return ", ".join(f"{_e(name)}: {_e(value)}" for name, value in sorted((record.get("metadata") or {}).items()))


def _link(path: str | None) -> str:
    """``path`` shown, and linked where a browser can open it: a local file (made absolute from the
    folder the scan ran in), or an http(s) URL without a secret in it (a masked one would not open)."""
    if not path:
        return ""
    parts = urlsplit(path)
    if parts.scheme in ("http", "https") and not has_secret(path):
        href = path
    elif "://" in path:
        return _e(path)
    else:
        href = Path(os.path.abspath(path)).as_uri()
    return f"<a href='{html.escape(href)}'>{_e(path)}</a>"


def _order(row: dict) -> tuple[int, str]:
    """Where a finding stands on the page: strongest kind first, then by path."""
    status = row.get("status")
    rank = {"attributed": 0, "unverified": 2, "mark-only": 3, "near-duplicate": 5}.get(str(status), 4)
    if status == "exact" and row.get("record"):
        rank = 1                             # the issued copy itself
    return rank, str(row.get("path"))


def copies_named(row: dict) -> list[tuple[dict, str]]:
    """Each issued copy a scan's row names in its master's content, with what the row makes of it:
    ``exact``, ``attributed`` or ``unverified`` (one copy, or each copy of a collage)."""
    if row.get("status") == "exact":
        return [(row["record"], "exact")] if row.get("record") else []
    return [(mark["record"], seen) for mark in row.get("marks") or [] if (seen := _named_as(mark))]


def layer_read(row: dict) -> dict | None:
    """The mark of a scan row's own payload, when its per-copy layer was read (its ``layer_p_value``)."""
    return next((mark for mark in row.get("marks") or []
                 if mark.get("payload") == row.get("payload") and mark.get("layer_p_value") is not None), None)


def recipient_of(record: dict) -> str:
    """A row's record's recipient as shown (`watermark.sources.shown_recipient`)."""
    return shown_recipient(record.get("recipient"))


def _named_as(mark: dict) -> str | None:
    """``attributed`` or ``unverified`` for a mark of an issued copy in that copy's master's content
    (`watermark.scan`), else None."""
    if not mark.get("record"):
        return None
    if mark.get("attributed"):
        return "attributed"
    return "unverified" if mark.get("content_match") and not mark.get("doubt") else None


class ScanReport:
    """Collects a scan's rows and writes ``report.html`` into ``directory``.

    ``master_thumbnail(master_sha256)`` gives the registered master's small JPEG (the registry keeps
    one, so the master file need not exist any more), or None. ``registry`` and ``keys`` (public ids)
    are named at the top. Set ``stopped`` when the scan ends before its last file.

    Raises
    ------
    ImageFileError
        ``directory`` cannot be made or written to, or its ``report.html`` is a directory: found here,
        before the scan, rather than once it is over.
    """

    def __init__(self, directory: str | os.PathLike, master_thumbnail: Callable[[str], bytes | None], *,
                 limit: int = 500, registry: str | None = None, keys: Sequence[str] = (),
                 false_alarm: float = schemes.DEFAULT_FALSE_ALARM) -> None:
        self.directory, self.limit = Path(directory), limit
        self.path = self.directory / "report.html"
        self._check()
        self._master_thumbnail = master_thumbnail
        self.registry, self.keys, self.false_alarm = registry, tuple(keys), false_alarm
        self.started = datetime.now(UTC)
        self.status: Counter[str] = Counter()
        self.by_recipient: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.copies_by_recipient: defaultdict[str, set[str]] = defaultdict(set)     # distinct copies named
        self.by_master: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._findings: list[tuple[dict, bytes | None, bool]] = []
        self._left_out = 0
        self.errors: list[dict] = []
        self.earlier = 0           # rows of an earlier run, which the scan resumed after
        self.stopped = False

    def add(self, row: dict, suspect_thumbnail: bytes | None = None, *, earlier: bool = False) -> None:
        """Count ``row`` (a scan's JSON row) and keep it, with its picture, if it is among the strongest
        findings; ``earlier``: a row of the earlier run a resumed scan continues (its picture not kept)."""
        status = row.get("status") or "error"
        self.status[status] += 1
        self.earlier += earlier
        records = copies_named(row) or ([(row["record"], status)] if row.get("record") else [])
        for record, named in records:
            self.by_recipient[recipient_of(record)][named] += 1
            if named in ("attributed", "unverified", "exact"):
                self.copies_by_recipient[recipient_of(record)].add(str(record.get("id")))
        for master, named in {((record.get("master") or {}).get("path") or "?", named) for record, named in records}:
            self.by_master[master][named] += 1                # a file once per master, whatever copies it names
        pasted = [] if records else [mark["record"] for mark in row.get("marks") or [] if mark.get("record")]
        for record in pasted:                # a copy's mark in other content: mark-only, under that copy's names
            self.by_recipient[recipient_of(record)]["mark-only"] += 1
            self.by_master[(record.get("master") or {}).get("path") or "?"]["mark-only"] += 1
        if not records and not pasted and row.get("match"):
            kind = "original" if status == "exact" else status          # an exact copy of the unmarked master
            self.by_master[(row["match"].get("master") or {}).get("path") or "?"][kind] += 1
        if status == "error" and len(self.errors) < _ERRORS_SHOWN:
            self.errors.append(row)
        if status in _SHOWN:
            self._findings.append((row, suspect_thumbnail, earlier))
            if len(self._findings) >= 2 * self.limit:
                self._trim()

    @property
    def findings(self) -> list[tuple[dict, bytes | None, bool]]:
        """The findings the page shows, strongest first (`_order`): row, picture, whether of the earlier run."""
        self._trim()
        return self._findings

    @property
    def left_out(self) -> int:
        """How many findings the page does not show."""
        self._trim()
        return self._left_out

    def _trim(self) -> None:
        """Keep the ``limit`` strongest findings, at most `_SAME_BYTES_SHOWN` of the same bytes: 505 links to one
        copy filled every place, the pasted marks' and forgeries' rows pushed off the page."""
        self._findings.sort(key=lambda finding: _order(finding[0]))
        shown: Counter[str | None] = Counter()     # None: a row without bytes read is never counted
        kept = []
        for finding in self._findings:
            sha256 = finding[0].get("sha256")
            shown[sha256] += sha256 is not None
            if shown[sha256] <= _SAME_BYTES_SHOWN:
                kept.append(finding)
        self._left_out += len(self._findings) - len(kept[:self.limit])
        self._findings = kept[:self.limit]

    def _check(self) -> None:
        """Make ``directory`` (if need be) and check that ``report.html`` can be written there."""
        if str(self.directory) == "-":          # it made a folder named "-"
            raise ImageFileError("--report - is no folder: the report is written into one (--report DIR)")
        if self.directory.exists() and not self.directory.is_dir():
            raise ImageFileError(f"{self.directory}: not a directory; the report is written into one "
                                 "(as DIR/report.html)")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageFileError(f"{self.directory}: cannot make the report's directory "
                                 f"({exc.strerror or exc})") from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise ImageFileError(f"{self.directory}: permission denied; the report cannot be written there")
        if self.path.is_dir():
            raise ImageFileError(f"{self.path}: is a directory; the report cannot be written there")

    def write(self, command: str, cwd: str | None = None) -> Path:
        """Write ``report.html`` atomically (nothing is left behind on failure), readable by its owner only (it
        shows recipients and masters' pictures, as the registry holds them); returns its path. ``command``
        is the scan's command line, shell-quoted, run in the directory ``cwd``."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)      # made at the start; removed since?
            atomic.write_file(self.path, self._html(command, cwd).encode("utf-8"), mode=0o600)   # as the registry
        except OSError as exc:
            raise ImageFileError(f"{self.path}: cannot write the report ({exc.strerror or exc})") from None
        return self.path

    def _html(self, command: str, cwd: str | None) -> str:
        moment = "%Y-%m-%d %H:%M:%S UTC"
        about = [f"Filigrane {__version__}", f"scan started {self.started.strftime(moment)}, this page written "
                 f"{datetime.now(UTC).strftime(moment)}"]
        if self.registry:
            about.append(f"registry {self.registry}")
        if self.keys:
            about.append("key" + ("s " if len(self.keys) > 1 else " ") + ", ".join(self.keys)
                         + " (fingerprint and public id: the secret key is never shown)")
        where = f" in <code>{_e(cwd)}</code>" if cwd else ""
        parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Filigrane scan report</title>"
                 f"<style>{_STYLE}</style></head><body><h1>Filigrane scan report</h1>",
                 f"<p class='meta'>{' &middot; '.join(map(_e, about))} &middot; command <code>{_e(command)}</code>"
                 f"{where}</p>"]
        if self.stopped:
            parts.append("<p class='stopped'>This scan was stopped before its last file: the files it did not reach "
                         "are not in this page. The same command with <code>--resume</code> finishes it and writes "
                         "the page again, whole.</p>")
        parts += [f"<p>{self._summary()}</p>",
                  self._counts("Files by status", {"all files": self.status} if self.status else {}, list(STATUSES)),
                  "<p class='note'>Files with nothing of the registry (not-found) are counted here, not listed: the "
                  "scan's output lists every file (with <code>--json</code> or <code>-o</code>, with its "
                  "SHA-256).</p>" if self.status["not-found"] else "",
                  "<h2>How to read this report</h2><dl>"
                  + "".join(f"<dt>{_e(term)}</dt><dd>{text.replace('1e-9', _rate(self.false_alarm))}</dd>"
                            for term, text in _GLOSSARY) + "</dl>"]
        recipients = {name: counts + Counter(copies=len(self.copies_by_recipient[name]))
                      for name, counts in self.by_recipient.items()}
        parts.append(self._counts("Per recipient", recipients, ["attributed", "unverified", "mark-only", "exact",
                                                                "copies"]))
        parts.append("<p class='note'>Files per kind of finding; copies: how many of the recipient's issued copies "
                     "these files name (a copy found in two files counts once). mark-only: the recipient's mark in "
                     "other content, which anyone holding a published copy can paste: not evidence against the "
                     "recipient.</p>" if self.by_recipient else "")
        parts.append(self._counts("Per master", self.by_master,
                                  ["attributed", "unverified", "mark-only", "near-duplicate", "exact", "original"]))
        parts.append("<p class='note'>exact: the issued copy's own file; original: the unmarked master's.</p>"
                     if self.by_master else "")
        parts.append("<h2>Evidence</h2>")
        if not self.findings:
            parts.append("<p>No attribution, mark, near-duplicate or exact copy was found.</p>")
        parts.append("<table><thead><tr><th>suspect and master</th><th>finding</th></tr></thead><tbody>")
        for row, thumbnail, earlier in self.findings:
            parts.append(self._finding(row, thumbnail, earlier))
        parts.append("</tbody></table>")
        if self.left_out:
            parts.append(f"<p class='note'>{self.left_out} more findings, weaker, of the same kind further in "
                         f"the alphabet, or more than {_SAME_BYTES_SHOWN} files of the same bytes, are not shown here; "
                         "their rows are in the scan's output.</p>")
        if self.errors:
            more = self.status["error"] - len(self.errors)
            parts.append(f"<h2>Files that could not be read</h2><p class='note'>{self.status['error']} in all"
                         + (f"; the first {len(self.errors)} here, the others in the scan's output" if more else "")
                         + ".</p><ul>" + "".join(f"<li>{_e(row.get('error'))}</li>" for row in self.errors) + "</ul>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def _summary(self) -> str:
        """How many files were scanned, and how many of the findings the page shows."""
        found = len(self.findings) + self.left_out
        shown = f", the {len(self.findings)} strongest shown here" if self.left_out else ""
        earlier = (f" ({self.earlier} of them by the earlier run this one resumed, whose pictures were not kept; "
                   "their rows stand as that run made them, with its own command and registry)" if self.earlier else "")
        chance = self.status.total() * max(1, len(self.keys)) * self.false_alarm
        return (f"Files scanned: {self.status.total()}{earlier}. Findings: {found}{shown}. Unmarked files "
                f"expected among them to pass a blind read by chance: about {_rate(chance)} (files x keys x "
                f"{_rate(self.false_alarm)}; see <i>p</i> below).")

    @staticmethod
    def _counts(title: str, table: dict[str, Counter[str]], columns: list[str]) -> str:
        if not table:
            return ""
        head = "".join(f"<th>{_e(c)}</th>" for c in columns)
        body = "".join(f"<tr><td>{_e(name)}</td>" + "".join(f"<td class='n'>{counts[c]}</td>" for c in columns)
                       + "</tr>" for name, counts in sorted(table.items()))
        return f"<h2>{_e(title)}</h2><table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _finding(self, row: dict, thumbnail: bytes | None, earlier: bool) -> str:
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
            self._master_thumbnail(master["sha256"]) if master.get("sha256") else None,
            f"{caption}: {master.get('path', '')}")
        how = ("identical bytes (SHA-256)" if row.get("method") == "exact" else ""
               if row.get("method") in (None, status) else f"by {_e(row.get('method'))} read")
        facts = [f"<span class='{_e(status)}'>{_e(status)}</span> {how}"]
        if record and status == "unverified":
            facts.append(f"the mark of {_e(recipient_of(record))}'s copy {_e(record.get('id'))}, issued "
                         f"{_e(record.get('issued'))}: <b>not an attribution</b> (see the reason below)")
        elif record:
            facts.append(f"recipient <b>{_e(recipient_of(record))}</b>, copy {_e(record.get('id'))}, "
                         f"issued {_e(record.get('issued'))}")
        if record.get("metadata"):
            facts.append(f"terms recorded with the copy: {_terms(record)}")
        if row.get("payload"):
            p_value = row.get("p_value")
            evidence = "" if p_value is None else f", p = {_p(p_value)}"
            layer = layer_read(row)
            if layer is not None:
                evidence += f", per-copy layer p = {_layer_p(layer, self.false_alarm)}"
            facts.append(f"payload <code>{_e(row['payload'])}</code>{evidence}")
        match = {k: v for k, v in (row.get("match") or {}).items() if k != "master"}
        if match:
            label = "content match" if status in ("attributed", "unverified", "near-duplicate", "exact") else \
                "closest content (not a match)"
            facts.append(f"{label}: " + ", ".join(f"{_e(_MATCH_LABELS.get(k, k.replace('_', ' ')))} {_e(v)}"
                                                  f"{_MATCH_UNITS.get(k, '')}" for k, v in match.items()))
        if row.get("geometry"):
            facts.append(f"geometry: {_geometry(row['geometry'])}")
        for mark in row.get("marks") or []:     # the others a page names (a collage), or a pasted mark's copy
            if not (record and mark.get("payload") == row.get("payload")):
                facts.append(self._mark(row, mark))
        if row.get("reason"):
            facts.append(f"<i>{_e(row['reason'])}</i>")
        credentials = row.get("credentials") or {}
        if credentials.get("present"):
            agrees = {True: "agrees with the mark", False: "names another payload or key",
                      None: "no payload to compare"}
            facts.append(f"Content Credentials: {'valid' if credentials.get('valid') else 'INVALID'}"
                         f"{', trusted' if credentials.get('trusted') else ''}, signed by "
                         f"{_e(credentials.get('signer'))}; soft binding {agrees[credentials.get('agrees')]}")
        suspect = _link(row.get("path"))
        if row.get("sha256"):
            suspect += f" &middot; SHA-256 <code>{_e(row['sha256'])}</code>"
        if master.get("path"):
            suspect += f"<br>{_e(caption)} {_link(master['path'])}"
        return (f"<tr><td><div class='pair'>{pictures}</div></td><td>{'<br>'.join(facts)}"
                f"<div class='meta'>{suspect}</div></td></tr>")

    def _mark(self, row: dict, mark: dict) -> str:
        """One mark the row found: its payload, how sure and how read, and whose copy's mark it is."""
        record = mark.get("record") or {}
        evidence = ("identical bytes" if mark.get("method") == "exact"
                    else f"p = {_p(mark.get('p_value'))}, {_e(mark.get('method'))}")
        if mark.get("layer_p_value") is not None:
            evidence += f"; per-copy layer p = {_layer_p(mark, self.false_alarm)}"
        text = f"mark {_e(mark.get('payload'))} ({evidence})"
        copy = (f"copy {_e(record.get('id'))} of {_e(Path(str((record.get('master') or {}).get('path', '?'))).name)}"
                if record else "")
        if record and row.get("status") == "mark-only":
            return text + (f": the mark of {_e(recipient_of(record))}'s {copy}, in content that is not that copy's "
                           "master: not an attribution")
        if record:
            text += f": {_e(recipient_of(record))}'s {copy}, issued {_e(record.get('issued'))}"
            terms = _terms(record)
            text += f" ({terms})" if terms else ""
        seen = None if row.get("status") == "exact" else _named_as(mark)
        if record and not seen and row.get("status") != "exact":     # another copy's mark on this page
            text += " <i>(" + _e(mark.get("doubt") or "in content that is not that copy's master: its mark alone, "
                                 "which anyone holding a published copy can paste; not evidence against its "
                                 "recipient") + ")</i>"
        return text + (f" <span class='{seen}'>{seen}</span>" if seen else "")
