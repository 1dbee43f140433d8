"""``watermark registry``: make, list, show, export and import a registry of issued copies.

The registry file is ``--registry DB`` (default: ``$FILIGRANE_REGISTRY``, else ``filigrane.db``).
``list`` and ``show`` exit like grep: 0 when something matched, 1 when nothing did, 2 on an error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import select
import shutil
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, TextIO

from .. import atomic
from ..errors import OutputExistsError, ParameterError, RegistryError, WatermarkError
from ..registry import ISSUED, RESERVED, VOID, Record, Registry, import_file, write_export
from .common import (
    FOUND,
    NOT_FOUND,
    Once,
    counted,
    load_key,
    payload_number,
    refuse_registry_files,
    require_utf8,
    say_leftovers,
    visible,
)

__all__ = ["register", "registry_option", "default_registry", "require_utf8", "spreadsheet_cell"]

_CHUNK = 1 << 20            # bytes an export to stdout is copied in
_RECORD_ID = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"     # a UUID's shape: x a hex digit
_CSV_FIELDS = ("id", "state", "payload", "recipient", "master_path", "master_sha256", "output_path",
               "output_sha256", "issued_at", "metadata", "key", "scheme", "tool_version")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")     # what a spreadsheet may run as a formula (OWASP)


def default_registry() -> str:
    return os.environ.get("FILIGRANE_REGISTRY", "") or "filigrane.db"


def registry_option(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--registry", metavar="DB", required=required,
                        default=None if required else default_registry(),
                        help="registry file (default: $FILIGRANE_REGISTRY, else filigrane.db)"
                        if not required else "registry file (SQLite), made by 'watermark registry init'")


def _optional_key(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--key", action=Once, metavar="KEYFILE", help="only this key's records")
    group.add_argument("--passphrase-env", action=Once, metavar="VAR", help="only the records of this passphrase's key")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("registry", help="the registry of issued copies: init, list, show, export, import")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = actions.add_parser("init", help="create a new, empty registry file")
    init.add_argument("path", metavar="DB")
    init.set_defaults(run=_run_init)

    listing = actions.add_parser("list", help="the records (issued, reserved, void; --state picks one), oldest "
                                              "issue first, then those not issued, oldest reservation first")
    registry_option(listing)
    _optional_key(listing)
    listing.add_argument("--recipient", help="only this recipient's copies")
    listing.add_argument("--state", choices=(ISSUED, RESERVED, VOID), help="only records in this state")
    listing.add_argument("--json", action="store_true", help="one JSON object per record")
    listing.set_defaults(run=_run_list)

    show = actions.add_parser("show", help="the records of a payload, a record id, or a file's SHA-256")
    registry_option(show)
    _optional_key(show)
    show.add_argument("what", metavar="PAYLOAD-or-ID", help="0x payload or decimal, a record id (or its first "
                                                             "8+ characters), or a 64-hex SHA-256")
    show.add_argument("--json", action="store_true", help="one JSON object per record (a master's: "
                                                          "{\"master\": ..., \"issued_copies\": N})")
    show.set_defaults(run=_run_show)

    export = actions.add_parser("export", help="the issued copies as CSV, or everything as JSON (--json)",
                                description="The issued copies as CSV, or everything as JSON (--json). In the CSV, "
                                            "a cell that starts with = + - @, a tab or a carriage return gets a "
                                            "leading ' so that a spreadsheet does not run it as a formula; the "
                                            "JSON export is exact.")
    registry_option(export)
    export.add_argument("--json", action="store_true", help="the whole registry as one JSON document, records "
                                                            "in every state (a backup: 'import' reads it back "
                                                            "exactly, void payloads stay taken)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (atomically, readable by its owner "
                                                               "only) instead of stdout ('-')")
    export.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    export.set_defaults(run=_run_export)

    importing = actions.add_parser("import", help="merge a JSON export into the registry (all or nothing)")
    registry_option(importing)
    importing.add_argument("file", metavar="FILE", help="a JSON export (registry export --json), or - for stdin")
    importing.set_defaults(run=_run_import)


def _run_init(args: argparse.Namespace) -> int:
    if args.path == "-":           # it made a registry file named "-"
        raise ParameterError("- is no file: a registry is a file; give its name")
    Registry(args.path, create=True).close()
    print(visible(f"{args.path}: new registry"))
    return FOUND


def _key_filter(args: argparse.Namespace, registry: Registry) -> str | None:
    if args.key is None and args.passphrase_env is None:
        return None
    return registry.require_key(load_key(args))


def _print_records(records: list[Record], as_json: bool) -> int:
    for record in records:
        print(json.dumps(record.to_dict(), ensure_ascii=False) if as_json else visible(_line(record)), flush=True)
    return FOUND if records else NOT_FOUND


def _line(record: Record) -> str:
    # quoted, its quotes and backslashes escaped: a recipient named "-", or with two spaces, reads as itself
    who = "-" if record.recipient is None else '"' + record.recipient.replace("\\", "\\\\").replace('"', '\\"') + '"'
    when = record.issued_at or "-"
    return f"{record.id}  {record.state:8s}  {record.payload:#018x}  {when}  {who}  {record.master.path} -> " \
           f"{record.output_path}"


def _run_list(args: argparse.Namespace) -> int:
    require_utf8(args.recipient, "--recipient")
    with Registry(args.registry) as registry:
        registry.require_sound()
        key = _key_filter(args, registry)
        records = registry.records(key=key, recipient=args.recipient, state=args.state, prints=False)
    if args.recipient is not None and not records:
        print(visible(f"watermark: no copies issued to {args.recipient}"), file=sys.stderr)
    elif not records:                  # exit 1 says "nothing", a line says what: a script's log shows why
        print(visible(f"watermark: {args.registry}: no records" + (f" in state {args.state}" if args.state else "")
                      + (" under this key" if key is not None else "")), file=sys.stderr)
    return _print_records(sorted(records, key=_shown_time), args.json)


def _shown_time(record: Record) -> tuple:
    """The order of `registry list`: by the time it shows (issued_at), then the records not issued, by
    reserved_at."""
    return record.issued_at is None, record.issued_at or "", record.reserved_at, record.id


def _run_show(args: argparse.Namespace) -> int:
    status = _show(args)
    if status == NOT_FOUND:
        print(visible(f"watermark: {args.registry}: no record, master or copy for {args.what.strip()}"),
              file=sys.stderr)
    return status


def _show(args: argparse.Namespace) -> int:
    what = args.what.strip().lower()
    with Registry(args.registry) as registry:
        registry.require_sound()
        key = _key_filter(args, registry)
        if re.fullmatch(r"[0-9a-f]{64}", what):
            return _show_sha256(registry, what, key, args.json)
        if not _is_record_id(what):
            return _print_records(registry.find_payload(_payload(args.what), key=key), args.json)
        matching = registry.records(key=key, id_prefix=what, prints=False)
        if what.isdigit():     # eight digits: a decimal payload too
            matching = registry.find_payload(int(what), key=key) + matching
        return _print_records(matching, args.json)


def _is_record_id(text: str) -> bool:
    """Whether ``text`` (lower case) is a record id or its first 8+ characters."""
    return (re.fullmatch(r"[0-9a-f-]{8,36}", text) is not None
            and re.sub("[0-9a-f]", "x", text) == _RECORD_ID[:len(text)])


def _show_sha256(registry: Registry, sha256: str, key: str | None, as_json: bool) -> int:
    """The master and the issued copies whose file has this SHA-256 (only ``key``'s copies when given)."""
    copies, master = registry.find_sha256(sha256, key=key)
    if master is not None:
        count = len(registry.copies_of(master, key=key))
        print(json.dumps({"master": master.to_dict(), "issued_copies": count}, ensure_ascii=False) if as_json else
              visible(f"master {master.sha256}  {master.width}x{master.height}  {master.path}  ({count} issued "
                      "copies)"),
              flush=True)
    return _print_records(copies, as_json) if copies else (FOUND if master is not None else NOT_FOUND)


def _payload(text: str) -> int:
    payload = payload_number(text)
    if payload is None:
        raise RegistryError(f"{text!r} is neither a payload (0x hex or decimal), a record id (8+ characters) "
                            "nor a SHA-256 (64 hex digits); a recipient's copies: watermark registry list "
                            "--recipient NAME")
    if not 0 <= payload < 2**64:
        raise RegistryError(f"payload {text} is outside [0, 2**64)")
    return payload


def _run_export(args: argparse.Namespace) -> int:
    if args.output == "-":                  # as for every other path of a command: standard output
        args.output = None
    if args.output is not None:
        _check_suffix(args.output, as_json=args.json)
        _check_output(Path(args.output), Path(args.registry), overwrite=args.overwrite)
    with Registry(args.registry) as registry:
        registry.require_sound()
        if args.output is None:             # whole before the first byte: a damaged field says so, no half export;
            with tempfile.TemporaryFile("w+b") as whole:                             # held on disk, not in memory
                written = io.TextIOWrapper(whole, encoding="utf-8", newline="")        # (271 MB took 897 MB there)
                _export(registry, written, as_json=args.json)
                written.flush()
                written.detach().seek(0)
                _to_stdout(whole)
            return FOUND
        say_leftovers([Path(args.output)])      # a killed export's copy of the records
        try:
            with atomic.writing(Path(args.output), replace=args.overwrite, mode=0o600) as out:
                text = io.TextIOWrapper(out, encoding="utf-8", newline="")
                _export(registry, text, as_json=args.json)
                text.flush()
                text.detach()                   # the file stays open, to be synced and renamed
        except WatermarkError:
            raise                                # a RegistryError is an OSError too: it says what it is
        except OSError as exc:
            raise WatermarkError(f"{args.output}: cannot write the export ({exc.strerror or exc})") from None
    return FOUND


def _to_stdout(whole: BinaryIO) -> None:
    """``whole``'s bytes onto standard output, every one or an `OSError`: a large buffered write that a full
    disk or a closed pipe took only part of lost its error (a cut backup, exit 0)."""
    sys.stdout.flush()
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):           # not a file (a caller's stream): written as text
        text = io.TextIOWrapper(whole, encoding="utf-8", newline="")
        shutil.copyfileobj(text, sys.stdout, _CHUNK)
        text.detach()                                        # ``whole`` is its caller's to close
        return
    while chunk := whole.read(_CHUNK):
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(descriptor, view):]
            except BlockingIOError:                          # a non-blocking pipe, full: wait until it is not
                select.select([], [descriptor], [])


def _export(registry: Registry, out: TextIO, *, as_json: bool) -> None:
    """The JSON export, an entry at a time (`write_export`), or the issued copies as CSV, to ``out``."""
    if as_json:
        write_export(registry, out)
    else:
        out.write(_csv(registry.records(state=ISSUED, prints=False)))


def _check_suffix(output: str, *, as_json: bool) -> None:
    """Refuse a file name that says the other format: a .json file of CSV (without --json), a .csv of JSON."""
    suffix = Path(output).suffix.lower()
    if suffix == ".json" and not as_json:
        raise ParameterError(f"{output}: a .json name for the CSV export; pass --json for the JSON export (the "
                             "backup 'import' reads), or name the file .csv")
    if suffix == ".csv" and as_json:
        raise ParameterError(f"{output}: a .csv name for the JSON export (--json); name it .json, or leave --json "
                             "out for the CSV")


def _check_output(output: Path, registry: Path, *, overwrite: bool) -> None:
    """Refuse to export over the registry itself, ever, or over another existing file without --overwrite."""
    refuse_registry_files(output, registry, "export to another file")
    if os.path.lexists(output) and not overwrite:
        raise OutputExistsError(f"{output}: already exists; pass --overwrite to replace it")


def _csv(records: list[Record]) -> str:
    buffer = io.StringIO()
    # RFC 4180's line ends: a CR in a cell is then quoted (with "\n", Python's csv left it bare: a new row)
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        row = {"id": record.id, "state": record.state, "payload": f"{record.payload:#018x}",
               "recipient": record.recipient, "master_path": record.master.path,
               "master_sha256": record.master.sha256, "output_path": record.output_path,
               "output_sha256": record.output_sha256, "issued_at": record.issued_at,
               "metadata": json.dumps(record.metadata, sort_keys=True, ensure_ascii=False),
               "key": record.key, "scheme": record.scheme, "tool_version": record.tool_version}
        writer.writerow({name: spreadsheet_cell(value) for name, value in row.items()})
    return buffer.getvalue()


def spreadsheet_cell(value: str | None) -> str | None:
    """``value`` for a spreadsheet: one that starts as a formula would gets a leading ' (OWASP's CSV injection
    advice), so that it is shown, never run."""
    return f"'{value}" if value is not None and value.startswith(_FORMULA_STARTS) else value


def _run_import(args: argparse.Namespace) -> int:
    if args.file == "-" and sys.stdin is None:
        raise ParameterError("-: standard input is closed (<&-): 'import -' reads the export there")
    with Registry(args.registry) as registry:      # '-': an export piped in (`registry export --json | ...`)
        registry.require_sound()
        added = import_file(registry, "/dev/stdin" if args.file == "-" else args.file, source=args.file)
    print(visible(f"{args.file}: imported {counted(added['copies'], 'copy')}, {counted(added['masters'], 'master')}, "
                  f"{counted(added['keys'], 'key')} into {args.registry}"))
    return FOUND
