"""``watermark scan``: whose copy each suspect is, against a registry (see `watermark.scan`).

Suspects are files, directories (walked), URLs, or ``-`` (one path or URL per line on stdin),
streamed: a million paths cost no more memory than ten. One row per file, as it finishes: a text
line, or with ``--json`` a JSON object, on stdout, or with ``-o FILE`` appended to a JSON-lines
file that ``--resume`` continues after an interruption. A summary per status, recipient and master
ends the scan on stderr; ``--report DIR`` writes a self-contained HTML page of the evidence.
Exit status: 0 when something of the registry was found (attributed, unverified, mark-only, exact
or near-duplicate; with ``--resume``, in any row of the output, earlier ones included), 1 when nothing
was, 2 when any file could not be scanned, 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP (the output holds
every finished row).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections import Counter, defaultdict
from typing import Any

from .. import batch, listing, provenance, schemes
from ..batch_dask import check_address
from ..errors import OutputExistsError, ParameterError, WatermarkError
from ..registry import Record, Registry, print_of
from ..resultlog import ResultLog
from ..scan import ROW_FIELDS, STATUSES, Scanner, ScanOptions
from ..scan_report import ScanReport
from ..scan_rows import copies_named, layer_read, recipient_of, row_problem
from ..sources import URL_TIMEOUT, has_secret, is_url, iter_sources, masked, printable, quoted
from .batch import Lines
from .common import (
    ERROR,
    FOUND,
    NOT_FOUND,
    batch_options,
    counted,
    keys_options,
    load_keys,
    probability,
    refuse_registry_files,
    say_left_out,
    say_leftovers,
    seconds,
    visible,
)
from .registry import default_registry

__all__ = ["register"]

_FOUND_STATUSES = ("attributed", "unverified", "mark-only", "exact", "near-duplicate")


def register(commands: argparse._SubParsersAction) -> None:
    scan = commands.add_parser(
        "scan", help="attribute suspects: whose copy, of which master, with the evidence (needs a registry)",
        description="Scan suspect images against a registry of issued copies: exact copies, marks read "
                    "blind with each key, near-duplicates of registered masters, and informed reads in "
                    "a master's frame. A mark alone is never an attribution: the issued copy's per-copy layer must be "
                    "found and the content must match its master.",
        epilog="Exit status: 0 something of the registry found (with --resume: in any row of the output), "
               "1 nothing, 2 a file could not be scanned (or there was none), 130 interrupted (143 on SIGTERM, "
               "129 on SIGHUP).")
    scan.add_argument("paths", nargs="+", metavar="SUSPECT",
                      help="files, directories, URLs (with fsspec), or - for a list on stdin")
    scan.add_argument("--registry", metavar="DB", default=default_registry(),
                      help="registry file (default: $FILIGRANE_REGISTRY, else filigrane.db)")
    keys_options(scan)
    scan.add_argument("-o", "--output", metavar="FILE.jsonl",
                      help="write JSON lines to this new file instead of stdout (an existing one: --resume "
                           "continues it, --overwrite replaces it)")
    scan.add_argument("--resume", action="store_true",
                      help="continue --output: skip the files it already holds, except those whose row is an error "
                           "or the last line cut short by a crash (these are removed from it and scanned again); a "
                           "file with any other line that is not a scan's row is refused and left as it is")
    scan.add_argument("--overwrite", action="store_true",
                      help="replace an existing --output that holds an earlier run's rows (nothing else)")
    scan.add_argument("--report", metavar="DIR", help="write DIR/report.html: counts and the evidence, self-contained")
    scan.add_argument("--partial", action="store_true",
                      help="also look for masters inside suspects (crops, collages, pages) with local features; "
                           "slower: a feature pass for every file the mark and the hash did not explain")
    scan.add_argument("--no-originals", dest="originals", action="store_false",
                      help="do not read suspects against the master files themselves (by default a master file "
                           "still where the registry recorded it, unchanged, makes its informed read non-blind)")
    scan.add_argument("--no-recursive", dest="recursive", action="store_false",
                      help="do not enter sub-directories")
    scan.add_argument("--include", action="append", default=[], metavar="GLOB",
                      help="only files whose path or name matches (repeatable)")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="skip files whose path or name matches (repeatable)")
    scan.add_argument("--dask", nargs="?", const="local", metavar="ADDRESS",
                      help="run on Dask: a local cluster of --jobs workers, or the scheduler at ADDRESS "
                           "(tcp://host:8786); needs pip install 'filigrane[dask]'")
    scan.add_argument("--false-alarm", type=probability, default=schemes.DEFAULT_FALSE_ALARM, metavar="P",
                      help="a read counts, and a per-copy layer is found, when its p-value is at most this "
                           "(default: %(default)s)")
    scan.add_argument("--url-timeout", type=seconds, default=URL_TIMEOUT, metavar="SECONDS",
                      help="an http(s) suspect whose server keeps the connection or the data waiting longer is "
                           "an error row (default: %(default)g)")
    scan.add_argument("--c2pa", action="store_true",
                      help="also read each file's Content Credentials (C2PA manifest) and say whether its soft "
                           "binding agrees with the mark; needs pip install 'filigrane[c2pa]'")
    scan.add_argument("--c2pa-trust", metavar="PEM",
                      help="with --c2pa: root certificates whose signers count as trusted")
    batch_options(scan)
    scan.set_defaults(run=_run_scan)


def _run_scan(args: argparse.Namespace) -> int:
    if args.c2pa_trust is not None and not args.c2pa:
        raise ParameterError("--c2pa-trust needs --c2pa")
    if args.c2pa:
        provenance.c2pa_module()                     # the missing extra is one line, before any file
        if args.c2pa_trust is not None:
            provenance.read_anchors(args.c2pa_trust)
    options = ScanOptions(partial=args.partial, false_alarm=args.false_alarm, max_pixels=args.max_pixels,
                          thumbnails=args.report is not None, credentials=args.c2pa,
                          trust_anchors=None if args.c2pa_trust is None else os.path.abspath(args.c2pa_trust),
                          originals=args.originals, url_timeout=args.url_timeout)
    if args.output:
        refuse_registry_files(args.output, args.registry, "write the scan's rows to another file")
    scanner = Scanner(args.registry, load_keys(args), options)
    scanner.check()                                  # a bad registry or key stops here, before any file
    if args.dask is not None:
        check_address(args.dask)                     # and an address that is none, before the outputs
    started = scanner.registry.digest() if args.report is not None else ""     # its records, as the report says
    report = None if args.report is None else ScanReport(
        args.report, _thumbnails(scanner.registry), registry=_registry_state(args.registry, scanner.registry, started),
        keys=[f"{key.fingerprint} ({key.public_id})" for key in scanner.keys], false_alarm=args.false_alarm)
    if report is not None:
        say_leftovers([report.path])            # a killed run's report, its findings and thumbnails
    summary = _Summary()
    left_out: Counter[str] = Counter()
    sources = iter_sources(args.paths, recursive=args.recursive, include=args.include, exclude=args.exclude,
                           stdin=None if sys.stdin is None else sys.stdin.buffer,     # closed: "-" says so
                           left_out=left_out)                         # a bad pattern stops here, before the output

    held: dict[str, Record | None] = {}            # the copies earlier rows name, each looked up once

    def earlier(row: dict[str, Any]) -> None:      # a row of the run this one resumes: counted, reported
        _require_recorded(row, scanner.registry, held, args.output)
        summary.add(row)
        if report is not None:
            report.add(row, earlier=True)

    with ResultLog(args.output, resume=args.resume, overwrite=args.overwrite, fields=ROW_FIELDS,
                   statuses=STATUSES, on_earlier=earlier, shape=row_problem, private=True,
                   names_one=lambda name: not (is_url(name) and has_secret(name))) as log:
        pending = (source for source in sources if not log.done(source.name))
        rows_shown = not args.output and sys.stdout.isatty()      # rows on the terminal show the progress
        try:
            with Lines(None, "scanned", bar=not rows_shown) as lines:
                for _source, row in batch.run(pending, scanner, jobs=args.jobs, dask=args.dask):
                    if isinstance(row, BaseException):     # our bug in a worker: its traceback, not a row
                        raise row
                    thumbnail = row.pop("_thumbnail", None)
                    log.write(row) if args.json or args.output else lines.out(masked(_text(row)))
                    if row["error"]:
                        lines.error(masked(f"watermark: {row['error']}"))
                    lines.advance()
                    summary.add(row)
                    if report is not None:
                        report.add(row, thumbnail)
        except BaseException:                      # Ctrl-C, SIGTERM, a worker's bug: the report says so
            if report is not None:
                report.stopped = True
            raise
        finally:
            summary.print(log.resumed)
            say_left_out(left_out)
            try:
                if report is not None:
                    _write_report(report, scanner.registry, started)
            finally:
                scanner.close()
    if not summary.status.total():           # as detect and embed: nothing to scan is a mistake, not "none found"
        print(visible(f"watermark: {listing.no_image_files(', '.join(args.paths))}"), file=sys.stderr)
        return ERROR
    if summary.status["error"]:
        return ERROR
    return FOUND if any(summary.status[s] for s in _FOUND_STATUSES) else NOT_FOUND     # earlier rows included


def _write_report(report: ScanReport, registry: Registry, started: str) -> None:
    """Write the report; while the scan is stopped (its rows' output could not be written, Ctrl-C), a report
    that cannot be written either is said in its own line, so that it does not hide why."""
    try:
        _say_if_changed(report, registry, started)
        written = report.write(printable(shlex.join(sys.argv)), printable(shlex.quote(os.getcwd())))
    except WatermarkError as exc:
        if not report.stopped:
            raise
        print(visible(f"watermark: {exc}"), file=sys.stderr)
        return
    print(visible(f"watermark: report written to {written}"), file=sys.stderr)


def _require_recorded(row: dict[str, Any], registry: Registry, records: dict[str, Record | None], output: str) -> None:
    """Refuse to resume ``output`` if its ``row`` names a copy that ``registry`` does not record as the row
    says: the output of a scan against another registry, or an edited one, whose rows the report would show
    under this registry's name. ``records``: the copies looked up so far, by id (rows name the same few)."""
    for record in [row["record"], *(mark.get("record") for mark in row["marks"])]:
        if record is None:
            continue
        if record["id"] not in records:
            records[record["id"]] = registry.record(record["id"])
        held = records[record["id"]]
        recipient = record.get("recipient")
        if held is None or (held.recipient, held.master.sha256) != (recipient, record["master"]["sha256"]):
            said = "does not hold" if held is None else f"records for {held.recipient!r} of master {held.master.path}"
            raise OutputExistsError(
                f"{output}: its row for {row['path']} names copy {record['id']} for {recipient!r}, which "
                f"{registry.path} {said}: the output of a scan against another registry, or edited; not resumed, "
                "the file is left as it is")


def _registry_state(path: str, registry: Registry, digest: str) -> str:
    """The registry as the report names it: its path and what it held when the scan started (its records'
    ``digest``)."""
    counts = registry.counts()
    return (f"{os.path.abspath(path)} ({counted(counts['issued'], 'issued copy')} of "
            f"{counted(counts['masters'], 'master')} when the scan started, its records' SHA-256 {digest})")


def _say_if_changed(report: ScanReport, registry: Registry, started: str) -> None:
    """Add to the report's registry, and say on stderr, that its records changed since their digest ``started``
    (a recipient renamed with SQL while the scan ran put one copy under two names in one report, under the
    first digest)."""
    digest = registry.digest()
    if digest != started:
        note = (f"its records changed during the scan (SHA-256 {digest} at the end): a finding may name a record "
                "as it was at either time")
        report.registry = f"{report.registry}; {note}"
        print(visible(f"watermark: warning: {registry.path}: {note}"), file=sys.stderr)


def _thumbnails(registry: Registry) -> Any:
    """The report's master pictures: each registered master's thumbnail, from its print."""
    def thumbnail(sha256: str) -> bytes | None:
        master = registry.master(sha256)
        return None if master is None else print_of(master).thumbnail
    return thumbnail


def _text(row: dict[str, Any]) -> str:
    credentials = row.get("credentials")
    if not credentials or not credentials["present"]:
        return _verdict(row)
    state = ("INVALID" if not credentials.get("valid") else "valid, trusted signer" if credentials.get("trusted")
             else "valid, untrusted signer")
    agrees = {True: ", its soft binding agrees with the mark", False: ", its soft binding names ANOTHER payload or key",
              None: ""}[credentials.get("agrees")]
    return f"{_verdict(row)}; C2PA manifest {state}, signed by {credentials.get('signer')}{agrees}"


def _verdict(row: dict[str, Any]) -> str:
    status, record, path = row["status"], row.get("record") or {}, quoted(row["path"])
    if status in ("attributed", "unverified"):
        layer = layer_read(row)
        copy = (f"copy {record.get('id')} of {record['master']['path']}, payload {row['payload']}, "
                f"p={row['p_value']:.3g}, {row['method']}"
                + ("" if layer is None else f", per-copy layer p={layer['layer_p_value']:.3g}"))
        if status == "attributed":
            line = f"{path}: attributed to {recipient_of(record)} ({copy})"
            line += f"; {row['reason']}" if row.get("reason") else ""
        else:
            line = f"{path}: unverified: the mark of {recipient_of(record)}'s copy ({copy}); {row['reason']}"
        return line + "".join(f"; also {seen}: {recipient_of(other)}'s copy {other.get('id')} of "
                              f"{other['master']['path']}" for other, seen in copies_named(row)
                              if other != record)
    if status == "exact" and record:
        return (f"{path}: exact copy of the copy issued to {recipient_of(record)} (copy {record.get('id')} "
                f"of {record['master']['path']}, payload {row['payload']})")
    if status == "exact":
        return f"{path}: exact copy of the registered master {row['match']['master']['path']} ({row['reason']})"
    if status == "near-duplicate":
        master = row["match"]["master"]["path"]
        return f"{path}: near-duplicate of the registered master {master}: {row['reason']}"
    if status == "mark-only":
        return f"{path}: {status}: {row['reason']}"
    if status == "error":
        return f"{path}: error"
    return f"{path}: nothing of the registry found"


class _Summary:
    """Counts per status, recipient and master: what the scan found, printed at the end."""

    def __init__(self) -> None:
        self.status: Counter[str] = Counter()
        self.recipients: defaultdict[str, Counter[str]] = defaultdict(Counter)       # recipient -> named as -> n
        self.recipient_masters: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.recipient_copies: defaultdict[str, set[str]] = defaultdict(set)       # distinct copies named
        self.masters: Counter[str] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        self.status[row["status"]] += 1
        named = copies_named(row)
        for record, seen in named:
            recipient = recipient_of(record)
            self.recipients[recipient][seen] += 1
            self.recipient_copies[recipient].add(str(record.get("id")))
        pairs = {(recipient_of(record), record["master"]["path"]) for record, _ in named}
        for recipient, master in pairs:               # a file once per master, whatever copies of it it names
            self.recipient_masters[recipient][master] += 1
        for master in {master for _, master in pairs}:
            self.masters[master] += 1

    def print(self, resumed: int) -> None:
        """The counts, ``resumed`` rows of an earlier run included."""
        counts = ", ".join(f"{self.status[s]} {s}" for s in STATUSES)
        earlier = f" ({resumed} of them by an earlier run)" if resumed else ""
        print(f"watermark: {sum(self.status.values())} scanned{earlier}: {counts}", file=sys.stderr)
        for recipient, seen in sorted(self.recipients.items()):
            masters = self.recipient_masters[recipient]
            kinds = [f"{seen[s]} {s}" for s in ("attributed", "unverified", "exact") if seen[s]]
            files = "file" if seen.total() == 1 else "files"
            named = f"{kinds[0]} {files}" if len(kinds) == 1 else f"{seen.total()} {files} ({', '.join(kinds)})"
            copies = counted(len(self.recipient_copies[recipient]), "copy")
            print(visible(f"watermark:   recipient {recipient}: {named} naming {copies} of "
                          f"{counted(len(masters), 'master')} ({_top(masters)})"), file=sys.stderr)
        if self.masters:
            print(visible(f"watermark:   masters: {_top(self.masters)}"), file=sys.stderr)


def _top(counts: Counter[str], shown: int = 5) -> str:
    more = len(counts) - shown
    return ", ".join(f"{name} x{n}" for name, n in counts.most_common(shown)) + (f", {more} more" if more > 0 else "")
