"""The scan's HTML report: counts per recipient and master, and the evidence for each attribution.
`ScanReport` keeps the counts and the strongest findings and writes the page; `watermark.scan_html` writes
each finding's row, the tables of counts and the glossary.

One self-contained file: styles inline, every thumbnail a base64 ``data:`` URI, no script, nothing
fetched from elsewhere, so that it opens offline and can be mailed or archived. Rows are added as
the scan produces them (and, when it resumes an output, the earlier run's rows first); only counts,
the ``limit`` strongest findings (attributions first, then exact copies of issued copies,
unverified copies, marks in other content, the unmarked masters, near-duplicates; each kind by
path) and the first errors are kept, so a scan of a million files does not hold a million rows.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import __version__, atomic, schemes
from .errors import ImageFileError
from .scan import STATUSES
from .scan_html import STYLE, counts_table, escaped, finding_row, glossary, rate
from .scan_rows import copies_named, recipient_of

__all__ = ["ScanReport"]

_SHOWN = ("attributed", "unverified", "mark-only", "near-duplicate", "exact")
_ERRORS_SHOWN = 50
_SAME_BYTES_SHOWN = 3           # findings of one file's bytes (links, copies of it) the page shows; the rest counted


def _order(row: dict) -> tuple[int, str]:
    """Where a finding stands on the page: strongest kind first, then by path."""
    status = row.get("status")
    rank = {"attributed": 0, "unverified": 2, "mark-only": 3, "near-duplicate": 5}.get(str(status), 4)
    if status == "exact" and row.get("record"):
        rank = 1                             # the issued copy itself
    return rank, str(row.get("path"))


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
        where = f" in <code>{escaped(cwd)}</code>" if cwd else ""
        parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Filigrane scan report</title>"
                 f"<style>{STYLE}</style></head><body><h1>Filigrane scan report</h1>",
                 f"<p class='meta'>{' &middot; '.join(map(escaped, about))} &middot; command "
                 f"<code>{escaped(command)}</code>{where}</p>"]
        if self.stopped:
            parts.append("<p class='stopped'>This scan was stopped before its last file: the files it did not reach "
                         "are not in this page. The same command with <code>--resume</code> finishes it and writes "
                         "the page again, whole.</p>")
        parts += [f"<p>{self._summary()}</p>",
                  counts_table("Files by status", {"all files": self.status} if self.status else {}, list(STATUSES)),
                  "<p class='note'>Files with nothing of the registry (not-found) are counted here, not listed: the "
                  "scan's output lists every file (with <code>--json</code> or <code>-o</code>, with its "
                  "SHA-256).</p>" if self.status["not-found"] else "",
                  glossary(self.false_alarm)]
        recipients = {name: counts + Counter(copies=len(self.copies_by_recipient[name]))
                      for name, counts in self.by_recipient.items()}
        parts.append(counts_table("Per recipient", recipients, ["attributed", "unverified", "mark-only", "exact",
                                                                "copies"]))
        parts.append("<p class='note'>Files per kind of finding; copies: how many of the recipient's issued copies "
                     "these files name (a copy found in two files counts once). mark-only: the recipient's mark in "
                     "other content, which anyone holding a published copy can paste: not evidence against the "
                     "recipient.</p>" if self.by_recipient else "")
        parts.append(counts_table("Per master", self.by_master,
                                  ["attributed", "unverified", "mark-only", "near-duplicate", "exact", "original"]))
        parts.append("<p class='note'>exact: the issued copy's own file; original: the unmarked master's.</p>"
                     if self.by_master else "")
        parts.append("<h2>Evidence</h2>")
        if not self.findings:
            parts.append("<p>No attribution, mark, near-duplicate or exact copy was found.</p>")
        parts.append("<table><thead><tr><th>suspect and master</th><th>finding</th></tr></thead><tbody>")
        for row, thumbnail, earlier in self.findings:
            parts.append(finding_row(row, thumbnail, earlier, self._master_thumbnail, self.false_alarm))
        parts.append("</tbody></table>")
        if self.left_out:
            parts.append(f"<p class='note'>{self.left_out} more findings, weaker, of the same kind further in "
                         f"the alphabet, or more than {_SAME_BYTES_SHOWN} files of the same bytes, are not shown here; "
                         "their rows are in the scan's output.</p>")
        if self.errors:
            more = self.status["error"] - len(self.errors)
            parts.append(f"<h2>Files that could not be read</h2><p class='note'>{self.status['error']} in all"
                         + (f"; the first {len(self.errors)} here, the others in the scan's output" if more else "")
                         + ".</p><ul>" + "".join(f"<li>{escaped(row.get('error'))}</li>" for row in self.errors)
                         + "</ul>")
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
                f"expected among them to pass a blind read by chance: about {rate(chance)} (files x keys x "
                f"{rate(self.false_alarm)}; see <i>p</i> below).")
