"""The registry file: records, lookups, export/import, and its bad input (real files, real processes)."""

import base64
import contextlib
import functools
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import watermark as wm
from tests.photos import PHOTO_NAMES, photo
from watermark.features import Features, MasterPrint, master_print
from watermark.registry import (
    Registry,
    export_document,
    export_json,
    frames,
    holders,
    import_document,
    import_file,
    write_export,
)
from watermark.registry.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION


@functools.cache
def _picture(name):
    """A 640 x 480 photograph of its own for each master name."""
    return np.asarray(Image.fromarray(photo(PHOTO_NAMES[ord(name) % len(PHOTO_NAMES)])).resize((640, 480)))


@functools.cache
def _print(name):
    return master_print(_picture(name)).to_bytes()


def _frame(name):
    return frames.encode(_picture(name))


def _master(registry, name="a", phash=0xFFFF_0000_1234_5678):
    sha = (name * 64)[:64]
    return registry.add_master(sha256=sha, path=f"/masters/{name}.png", width=640, height=480, phash=phash,
                               print_=_print(name))


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path / "filigrane.db", create=True) as opened:
        yield opened


def test_a_new_registry_is_wal_versioned_and_empty(tmp_path):
    path = tmp_path / "r.db"
    with Registry(path, create=True) as registry:
        assert registry.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}
        assert registry.integrity_check() == "ok"
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reserve_issue_and_look_up(registry, key):
    master = _master(registry)
    record = registry.reserve(key, master, output_path="/out/a.png", recipient="Agence X",
                              metadata={"licence": "123"}, scheme="lattice")
    assert record.state == "reserved" and 0 <= record.payload < 2**64 and record.key == key.public_id
    issued = registry.mark_issued(record.id, "f" * 64)
    assert issued.state == "issued" and issued.output_sha256 == "f" * 64 and issued.issued_at
    assert registry.find_payload(record.payload, key=key)[0].id == record.id
    assert registry.find_sha256("f" * 64) == ([issued], None)
    assert registry.find_sha256(master.sha256) == ([], master)
    assert [r.id for r in registry.copies_of(master)] == [record.id]
    assert registry.records(recipient="Agence X")[0].metadata == {"licence": "123"}
    assert registry.matches(key, record.payload) == {
        "matches": [{"manifestId": f"urn:uuid:{record.id}", "similarityScore": 100}]}
    assert registry.matches(key, record.payload ^ 1) == {"matches": []}


def test_payloads_above_2_63_survive_sqlites_signed_integers(registry, key):
    master = _master(registry)
    record = registry.reserve(key, master, output_path="/out/a.png", payload=2**64 - 1, scheme="lattice")
    assert registry.record(record.id).payload == 2**64 - 1
    assert registry.find_payload(2**64 - 1)[0].id == record.id
    assert registry.master(master.sha256).phash == 0xFFFF_0000_1234_5678


def test_a_payload_is_never_reused_under_a_key_even_once_void(registry, key):
    master = _master(registry)
    record = registry.reserve(key, master, output_path="/out/a.png", payload=7, scheme="lattice")
    registry.void(record.id, "interrupted")
    with pytest.raises(wm.RegistryError, match="already void under key"):
        registry.reserve(key, master, output_path="/out/b.png", payload=7, scheme="lattice")
    other = wm.Key.from_passphrase("another key")
    assert registry.reserve(other, master, output_path="/out/c.png", payload=7, scheme="lattice").payload == 7


def test_allocated_payloads_are_distinct(registry, key):
    master = _master(registry)
    payloads = {registry.reserve(key, master, output_path=f"/out/{i}.png", scheme="lattice").payload
                for i in range(200)}
    assert len(payloads) == 200


def test_mark_issued_refuses_a_voided_reservation(registry, key):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice")
    registry.void(record.id, "voided by a concurrent run")
    with pytest.raises(wm.RegistryError, match="no longer reserved"):
        registry.mark_issued(record.id, "0" * 64)


def test_require_key_names_the_known_keys(registry, key):
    registry.add_key(key)
    assert registry.require_key(key) == key.public_id
    with pytest.raises(wm.RegistryError, match=f"is not in this registry.*{key.fingerprint}"):
        registry.require_key(wm.Key.from_passphrase("stranger"))


def test_export_import_round_trips_exactly(registry, key, tmp_path):
    first, second = _master(registry, "a"), _master(registry, "b", phash=3)
    registry.add_master(sha256=first.sha256, path=first.path, width=640, height=480, phash=first.phash,
                        print_=first.print, frame=_frame("a"))          # a frame for one of them only
    for index, master in enumerate((first, second, first)):
        record = registry.reserve(key, master, output_path=f"/out/{index}.jpg", recipient=f"r{index}",
                                  metadata={"n": str(index), "é": "ü"}, scheme="lattice")
        if index != 1:
            registry.mark_issued(record.id, f"{index:064x}")
    registry.reserve(key, second, output_path="/out/void.jpg", payload=2**63 + 5, scheme="lattice")
    exported = export_json(registry)
    # written an entry at a time (an export of 20,000 masters held 10 GB), as json.dumps writes it whole
    assert exported == json.dumps(export_document(registry), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    writes: list[str] = []
    write_export(registry, SimpleNamespace(write=writes.append))
    assert "".join(writes) == exported and len(writes) >= 1 + 4 + 1 + 2
    with Registry(tmp_path / "empty.db", create=True) as empty:
        assert export_json(empty) == json.dumps(export_document(empty), sort_keys=True, indent=1) + "\n"
    with Registry(tmp_path / "copy.db", create=True) as copy:
        assert import_document(copy, json.loads(exported)) == {"keys": 1, "masters": 2, "copies": 4}
        assert export_json(copy) == exported
        assert copy.frame(copy.master(first.sha256)) == _frame("a") and copy.frame(copy.master(second.sha256)) is None
        assert import_document(copy, json.loads(exported)) == {"keys": 0, "masters": 0, "copies": 0}
        assert export_json(copy) == exported


def test_an_export_file_is_imported_as_it_streams_exactly(registry, key, tmp_path):
    """`import_file` reads the file as it comes (an export's copies come before the keys and masters
    they name), and gives what `import_document` gives."""
    first, second = _master(registry, "a"), _master(registry, "b", phash=3)
    registry.add_master(sha256=first.sha256, path=first.path, width=640, height=480, phash=first.phash,
                        print_=first.print, frame=_frame("a"))
    for index, master in enumerate((first, second)):
        registry.mark_issued(registry.reserve(key, master, output_path=f"/out/{index}.jpg", recipient="é",
                                              metadata={"n": str(index)}, scheme="lattice").id, f"{index:064x}")
    exported = export_json(registry)
    (tmp_path / "backup.json").write_text(exported, encoding="utf-8")
    reordered = json.loads(exported)                 # any valid JSON of the export, in any order
    (tmp_path / "reordered.json").write_text(json.dumps({name: reordered[name] for name in reversed(reordered)}))
    for name in ("backup.json", "reordered.json"):
        with Registry(tmp_path / f"{name}.db", create=True) as copy:
            assert import_file(copy, tmp_path / name) == {"keys": 1, "masters": 2, "copies": 2}
            assert export_json(copy) == exported
            assert import_file(copy, tmp_path / name) == {"keys": 0, "masters": 0, "copies": 0}


@pytest.mark.parametrize(("text", "message"), [
    (lambda exported: exported[:len(exported) // 2], "not JSON (parse error: premature EOF)"),
    (lambda exported: exported + "{}", "not JSON (parse error: trailing garbage)"),
    (lambda exported: exported.replace('"format": ', '"keys": [], "format": ', 1),
     'the export has "keys" twice; nothing imported'),
    (lambda exported: exported.replace('"keys": [', '"keyz": [', 1),
     'the export\'s "keys" is not a list; nothing imported'),
    (lambda exported: exported.replace('"version": 2', '"version": 3', 1),
     "export version 3 is not one this Filigrane reads (1, 2)"),
    (lambda exported: exported.replace('"format": "filigrane-registry",', "", 1),
     'not a Filigrane registry export (no "format": "filigrane-registry")'),
    (lambda exported: "[" + exported + "]", 'not a Filigrane registry export (no "format": "filigrane-registry")')])
def test_a_streamed_import_that_fails_late_leaves_nothing(registry, key, tmp_path, text, message):
    """Masters are written as they come: an error further on, found only as the file streams (cut
    short, trailing data, a list twice or missing, the version, which an export writes last), rolls
    them back."""
    for name in "ab":
        registry.mark_issued(registry.reserve(key, _master(registry, name), output_path=f"/out/{name}.jpg",
                                              recipient="r", scheme="lattice").id, name * 64)
    (tmp_path / "x.json").write_text(text(export_json(registry)), encoding="utf-8")
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError) as info:
            import_file(copy, tmp_path / "x.json", source="x.json")
        assert _one_line(info).startswith("x.json: ") and _one_line(info).endswith(message)
        assert copy.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


def test_an_export_made_before_frames_were_kept_imports(registry, key, tmp_path):
    master = _master(registry)
    registry.mark_issued(registry.reserve(key, master, output_path="/out/a.png", scheme="lattice").id, "e" * 64)
    document = {**json.loads(export_json(registry)), "version": 1}      # as exports were then
    for entry in document["masters"]:
        del entry["frame"]
    with Registry(tmp_path / "copy.db", create=True) as copy:
        assert import_document(copy, document) == {"keys": 1, "masters": 1, "copies": 1}
        assert copy.frame(copy.master(master.sha256)) is None
        registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=0,
                            print_=_print("a"), frame=_png(640, 480, 0))         # the office's registry gains one
        assert import_document(copy, json.loads(export_json(registry))) == {"keys": 0, "masters": 0, "copies": 0}
        assert copy.frame(copy.master(master.sha256)) == _png(640, 480, 0)      # and a later export adds it


def test_a_registry_of_the_first_schema_is_migrated_in_place(tmp_path, key):
    """A file as the first schema made it (no frames table) opens, gains the table and keeps its records."""
    path = tmp_path / "v1.db"
    connection = sqlite3.connect(path)
    connection.executescript(MIGRATIONS[0])
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute("PRAGMA user_version = 1")
    connection.execute("INSERT INTO masters (sha256, path, width, height, phash, print, added_at) "
                       "VALUES (?, '/m/a.png', 640, 480, 7, x'00', 'then')", ("a" * 64,))
    connection.commit()
    connection.close()
    shutil.copy(path, tmp_path / "v1-again.db")
    with pytest.warns(wm.RegistryMigratedWarning, match=f"^{path}: registry migrated from schema version 1 to "
                      f"{SCHEMA_VERSION}; older Filigrane versions can no longer open it$"):
        registry = Registry(path)
    with registry:
        master = registry.master("a" * 64)
        assert master is not None and registry.frame(master) is None
        registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=7,
                            print_=master.print, frame=b"now")
        assert registry.frame(master) == b"now" and registry.counts()["masters"] == 1
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    Registry(path).close()                   # migrated once: no warning again (warnings are errors here)
    listed = subprocess.run([sys.executable, "-m", "watermark", "registry", "list", "--registry",
                             str(tmp_path / "v1-again.db")], capture_output=True, text=True, timeout=300)
    assert listed.stderr.splitlines()[0] == (f"watermark: warning: {tmp_path}/v1-again.db: registry migrated from "
                                             f"schema version 1 to {SCHEMA_VERSION}; older Filigrane versions can "
                                             "no longer open it"), listed.stderr


def test_import_refuses_a_conflicting_copy_and_imports_nothing(registry, key, tmp_path):
    registry.reserve(key, _master(registry), output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    document["copies"][0]["id"] = "00000000-0000-4000-8000-000000000000"
    document["masters"].append({**document["masters"][0], "sha256": "c" * 64})
    with pytest.raises(wm.RegistryError, match="conflicts with record"):
        import_document(registry, document)
    assert registry.counts()["masters"] == 1


@pytest.mark.parametrize(("entry", "field", "value"), [("copies", "payload", "0x1000000000000000000"),
                                                       ("copies", "payload", "-0x5"),
                                                       ("masters", "phash", "1000000000000000000"),
                                                       ("masters", "phash", "-5")])
def test_import_refuses_a_number_outside_64_bits_and_imports_nothing(registry, key, tmp_path, entry, field, value):
    registry.reserve(key, _master(registry), output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    document[entry][0][field] = value
    named = f"copy {document['copies'][0]['id']}" if entry == "copies" else f"master {'a' * 64}"
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError) as info:
            import_document(copy, document, source="x.json")
        digits = "0x and 16 hex digits" if field == "payload" else "16 hex digits"
        assert _one_line(info) == (f"x.json: {named}: {field} {value!r} is not {digits} in lower case, as the export "
                                   "writes it; nothing imported")
        assert copy.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


@pytest.mark.parametrize(("entry", "change", "message"), [
    ("masters", {"width": 641, "frame": None}, "master a{64} is 641 x 480 px in the export and 640 x 480 in the "
                                               "registry"),
    ("keys", {"fingerprint": "00000000"}, "key [0-9a-f]{32} has fingerprint '00000000', the registry's '[0-9a-f]{8}'")])
def test_import_refuses_a_conflicting_key_or_master_and_imports_nothing(registry, key, entry, change, message):
    master = _master(registry)
    registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=master.phash,
                        print_=master.print, frame=_frame("a"))
    registry.reserve(key, master, output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    document["copies"].append({**document["copies"][0], "id": "00000000-0000-4000-8000-000000000000",
                               "payload": "0x000000000000002b"})      # new: would be imported
    document[entry][0].update(change)
    with pytest.raises(wm.RegistryError) as info:
        import_document(registry, document, source="x.json")
    assert re.fullmatch(f"x.json: {message}; nothing imported", _one_line(info))
    assert registry.counts()["reserved"] == 1 and registry.frame(master) == _frame("a")


def test_a_master_another_office_keeps_elsewhere_merges_keeping_this_registrys_path_print_and_frame(registry, key):
    """Two offices with the same master file in their own folders: the merge stopped at 'differs (path)', and
    a frame or print that another version of the tool derived (other bytes) would have stopped it too."""
    master = _master(registry)
    registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=master.phash,
                        print_=master.print, frame=_frame("a"))
    registry.reserve(key, master, output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    document["masters"][0].update(path="/office-b/a.png", phash="0" * 16, print=base64.b64encode(_print("b")).decode(),
                                  frame=base64.b64encode(_frame("b")).decode())
    document["copies"][0].update(id="00000000-0000-4000-8000-000000000000", payload="0x000000000000002b",
                                 output_path="/office-b/out/a.png")
    assert import_document(registry, document) == {"keys": 0, "masters": 0, "copies": 1}
    kept = registry.master(master.id)
    assert (kept.path, kept.phash, kept.print, registry.frame(kept)) == (master.path, master.phash, master.print,
                                                                         _frame("a"))
    assert {r.output_path for r in registry.records()} == {"/out/a.png", "/office-b/out/a.png"}


def test_a_later_export_brings_a_merged_reservation_to_its_state_and_an_earlier_one_changes_nothing(registry, key,
                                                                                                   tmp_path):
    """An export taken while an office issued gave the central registry a reservation; the next export, the
    copy issued, was refused as 'conflicts with record X' (itself), and so was every later sync."""
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice")
    while_issuing = json.loads(export_json(registry))
    registry.mark_issued(record.id, "e" * 64)
    issued = json.loads(export_json(registry))
    with Registry(tmp_path / "central.db", create=True) as central:
        assert import_document(central, while_issuing)["copies"] == 1
        assert central.record(record.id).state == "reserved"
        assert import_document(central, issued)["copies"] == 1                # moved on: said as imported
        assert central.record(record.id) == registry.record(record.id)
        assert import_document(central, while_issuing)["copies"] == 0        # out of order: nothing goes back
        assert central.record(record.id).state == "issued"
        issued["copies"][0]["recipient"] = "someone else"
        with pytest.raises(wm.RegistryError, match=f"conflicts with record {record.id} already in the registry "
                                                   "\\(recipient differs\\)"):
            import_document(central, issued)
        issued["copies"][0].update(recipient=None, output_sha256="f" * 64)      # issued there as another file
        with pytest.raises(wm.RegistryError, match="\\(output_sha256 differs\\)"):
            import_document(central, issued)


def test_import_skips_a_key_and_master_that_differ_only_in_when_they_were_added(registry, key, tmp_path):
    registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice")
    document = json.loads(export_json(registry))
    document["keys"][0]["added_at"] = document["masters"][0]["added_at"] = "2001-01-01T00:00:00.000000Z"
    assert import_document(registry, document) == {"keys": 0, "masters": 0, "copies": 0}
    assert registry.keys()[0] == (key.public_id, key.fingerprint)


def test_a_path_that_is_not_utf8_is_stored_with_its_bytes_escaped(registry, key):
    master = registry.add_master(sha256="a" * 64, path=os.fsdecode(b"/masters/caf\xe9.png"), width=640, height=480,
                                 phash=0, print_=b"print")
    assert master.path == "/masters/caf\\xe9.png"
    record = registry.reserve(key, master, output_path=os.fsdecode(b"/out/caf\xe9.png"), scheme="lattice")
    assert record.output_path == "/out/caf\\xe9.png"
    assert registry.records(output_path=os.fsdecode(b"/out/caf\xe9.png")) == [record]
    assert json.loads(export_json(registry))["copies"][0]["output_path"] == "/out/caf\\xe9.png"


def test_text_that_is_not_utf8_is_one_line_naming_the_registry(registry, key):
    with pytest.raises(wm.RegistryError) as info:
        registry.records(recipient=os.fsdecode(b"Caf\xe9"))
    assert _one_line(info).endswith("filigrane.db: cannot store 'Caf\\udce9', which is not valid UTF-8 text")
    with pytest.raises(wm.RegistryError, match="which is not valid UTF-8 text"):
        registry.reserve(key, _master(registry), output_path="/out/a.png", metadata={"k": os.fsdecode(b"\xe9")},
                         scheme="lattice")
    assert registry.counts()["reserved"] == 0


_DELETED = object()
_SIDE = "is not a whole number of pixels from 1 to 65535"
_TIME = "is not a UTC time as the registry writes it (2001-01-31T23:59:59.000000Z)"
_MALFORMED = [
    ("masters", "width", "abc", f"master {{master}}: width 'abc' {_SIDE}"),
    ("masters", "width", True, f"master {{master}}: width True {_SIDE}"),
    ("masters", "width", 0, f"master {{master}}: width 0 {_SIDE}"),
    ("masters", "height", 65536, f"master {{master}}: height 65536 {_SIDE}"),
    ("masters", "height", 10**30, f"master {{master}}: height {10**30} {_SIDE}"),
    ("masters", "height", 480.0, f"master {{master}}: height 480.0 {_SIDE}"),
    ("masters", "path", "/masters/a\0.png", "master {master}: path '/masters/a\\x00.png' is not a path (UTF-8 text, "
                                            "not empty, without NUL)"),
    ("masters", "print", base64.b64encode(b"garbage" * 10).decode(), "master {master}: print is not a Filigrane "
     "master print of at most 65536 bytes with a thumbnail of at most 192 px"),
    ("masters", "print", "not base64!", "master {master}: print 'not base64!' is not base64"),
    ("masters", "added_at", 1700000000.5, f"master {{master}}: added_at 1700000000.5 {_TIME}"),
    ("masters", "sha256", {"x": 1}, "master #1: sha256 {{...}} is not 64 hex digits"),
    ("masters", "frame", "Z2FyYmFnZQ==", "master {master}: the master's frame cannot be read (not a PNG)"),
    ("keys", "public_id", {"x": 1}, "key #1: public_id {{...}} is not 32 hex digits"),
    ("keys", "fingerprint", 5, "key {key}: fingerprint 5 is not 8 hex digits"),
    ("copies", "recipient", 7, "copy {copy}: recipient 7 is not null or UTF-8 text"),
    ("copies", "recipient", ["Agence X"], "copy {copy}: recipient [...] is not null or UTF-8 text"),
    ("copies", "recipient", "Caf\udce9", "copy {copy}: recipient 'Caf\\udce9' is not null or UTF-8 text"),
    ("copies", "metadata", "licence=123", "copy {copy}: metadata 'licence=123' is not an object of UTF-8 text fields"),
    ("copies", "metadata", {"licence": 123}, "copy {copy}: metadata {{...}} is not an object of UTF-8 text fields"),
    ("copies", "reserved_at", "2024-02-30T00:00:00.000000Z",
     f"copy {{copy}}: reserved_at '2024-02-30T00:00:00.000000Z' {_TIME}"),
    ("copies", "reserved_at", "2024-01-30 00:00:00", f"copy {{copy}}: reserved_at '2024-01-30 00:00:00' {_TIME}"),
    ("copies", "issued_at", 1.5, "copy {copy}: issued_at 1.5 is not null or a UTC time as the registry writes it "
                                 "(2001-01-31T23:59:59.000000Z)"),
    ("copies", "state", "issued", "copy {copy}: state 'issued' without both output_sha256 and issued_at (only an "
                                  "issued copy has both)"),
    ("copies", "state", "lost", "copy {copy}: state 'lost' is not reserved, issued or void"),
    ("copies", "output_path", "/out/a.png\0", "copy {copy}: output_path '/out/a.png\\x00' is not a path (UTF-8 "
                                              "text, not empty, without NUL)"),
    ("copies", "payload", "0x" + "f" * 100_000, "copy {copy}: payload '0x" + "f" * 37 + "... is not 0x and 16 "
                                                "hex digits in lower case, as the export writes it"),
    ("copies", "payload", "10", "copy {copy}: payload '10' is not 0x and 16 hex digits in lower case, as the export "
                                "writes it"),
    ("copies", "payload", "0x" + "f" * 15, "copy {copy}: payload '0x" + "f" * 15 + "' is not 0x and 16 hex digits "
                                           "in lower case, as the export writes it"),
    ("masters", "phash", "F" * 16, "master {master}: phash '" + "F" * 16 + "' is not 16 hex digits in lower case, "
                                   "as the export writes it"),
    ("copies", "output_path", "", "copy {copy}: output_path '' is not a path (UTF-8 text, not empty, without NUL)"),
    ("masters", "path", "", "master {master}: path '' is not a path (UTF-8 text, not empty, without NUL)"),
    ("copies", "id", 5, "copy #1: id 5 is not a record id (a UUID in lower case)"),
    ("copies", "scheme", None, "copy {copy}: scheme None is not UTF-8 text"),
    ("copies", "scheme", _DELETED, "copy {copy}: no scheme")]


@pytest.mark.parametrize(("entry", "field", "value", "message"), _MALFORMED,
                         ids=[f"{entry}.{field}.{number}" for number, (entry, field, *_) in enumerate(_MALFORMED)])
def test_import_refuses_a_malformed_field_and_imports_nothing(registry, key, tmp_path, entry, field, value, message):
    master = _master(registry)
    registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=master.phash,
                        print_=master.print, frame=_frame("a"))
    record = registry.reserve(key, master, output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    if value is _DELETED:
        del document[entry][0][field]
    else:
        document[entry][0][field] = value
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError) as info:
            import_document(copy, document, source="x.json")
        expected = message.format(key=key.public_id, master=master.sha256, copy=record.id)
        assert _one_line(info) == f"x.json: {expected}; nothing imported"
        assert copy.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


@pytest.mark.parametrize(("change", "message"), [
    ({"version": True}, "x.json: export version True is not one this Filigrane reads (1, 2)"),
    ({"version": 1.0}, "x.json: export version 1.0 is not one this Filigrane reads (1, 2)"),
    ({"version": "1" * 100}, "x.json: export version '" + "1" * 39 + "... is not one this Filigrane reads (1, 2)"),
    ({"keys": "abc"}, "x.json: the export's \"keys\" is not a list; nothing imported"),
    ({"masters": [5]}, "x.json: master #1 is not an object; nothing imported")])
def test_import_refuses_a_malformed_document(registry, key, tmp_path, change, message):
    registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice")
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError) as info:
            import_document(copy, {**json.loads(export_json(registry)), **change}, source="x.json")
        assert _one_line(info) == message and copy.counts()["keys"] == 0


@functools.cache
def _png(width, height, colour):
    """A PNG of ``width`` x ``height`` zeros of colour type ``colour`` (0: grey, 6: RGBA), compressed as
    tight as zlib goes: a decompression bomb when large (13000 x 13000 RGBA: 657 KB, 676 MB of pixels)."""
    compressor, row = zlib.compressobj(9), bytes(1 + width * {0: 1, 6: 4}[colour])
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_a_frame_s_header_is_checked_before_any_pixel_is_decoded():
    expected = r"\(480, 640\) luminance of a 640x480 master$"
    with pytest.raises(wm.RegistryError, match=rf"^r.db: the master's frame is PNG colour type 6 of 8 bits "
                                               rf"\(13000, 13000\), not the {expected}"):
        frames.decode(_png(13000, 13000, 6), 640, 480, name="r.db")
    with pytest.raises(wm.RegistryError, match=rf"^r.db: the master's frame is uint8 \(13000, 13000\), not the "
                                               rf"{expected}"):
        frames.decode(_png(13000, 13000, 0), 640, 480, name="r.db")
    with pytest.raises(wm.RegistryError, match=rf"^r.db: the master's frame is PNG colour type 6 of 8 bits "
                                               rf"\(480, 640\), not the {expected}"):
        frames.decode(_png(640, 480, 6), 640, 480, name="r.db")
    assert frames.decode(_png(640, 480, 0), 640, 480).shape == (480, 640)


def test_import_refuses_a_frame_that_is_a_decompression_bomb(registry, key, tmp_path):
    master = _master(registry)
    registry.reserve(key, master, output_path="/out/a.png", scheme="lattice")
    document = json.loads(export_json(registry))
    document["masters"][0]["frame"] = base64.b64encode(_png(13000, 13000, 6)).decode()
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError) as info:
            import_document(copy, document, source="x.json")
        assert _one_line(info) == (f"x.json: master {master.sha256}: the master's frame is PNG colour type 6 of 8 bits "
                                   "(13000, 13000), not the (480, 640) luminance of a 640x480 master; nothing imported")
        assert copy.counts()["masters"] == 0


def _jpeg(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(("width", "thumbnail"), [(0, _jpeg(192, 144)), (640, _jpeg(400, 300)), (640, b"\xff\xd8")])
def test_import_refuses_a_print_of_no_size_or_with_a_large_or_broken_thumbnail(registry, key, tmp_path, width,
                                                                               thumbnail):
    master = _master(registry)
    registry.reserve(key, master, output_path="/out/a.png", scheme="lattice")
    document = json.loads(export_json(registry))
    features = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), width, 480)
    document["masters"][0]["print"] = base64.b64encode(MasterPrint(features, thumbnail).to_bytes()).decode()
    with Registry(tmp_path / "copy.db", create=True) as copy:
        with pytest.raises(wm.RegistryError, match=f"^x.json: master {master.sha256}: print is not a Filigrane "
                                                   "master print of at most 65536 bytes with a thumbnail"):
            import_document(copy, document, source="x.json")
        assert copy.counts()["masters"] == 0


@pytest.mark.parametrize("document", [[], {"format": "other"}, {"format": "filigrane-registry", "version": 1}])
def test_import_refuses_what_is_not_an_export(registry, document):
    with pytest.raises(wm.RegistryError, match="export"):
        import_document(registry, document, source="x.json")


def _one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


def test_missing_registry_without_create(tmp_path):
    with pytest.raises(wm.RegistryError) as info:
        Registry(tmp_path / "absent.db")
    assert "absent.db: registry not found; name the one your copies were issued into (--registry" in _one_line(info)
    assert "`watermark registry init" in _one_line(info)
    assert not (tmp_path / "absent.db").exists()


def test_create_refuses_an_existing_file(tmp_path):
    (tmp_path / "r.db").write_bytes(b"")
    with pytest.raises(wm.RegistryError, match="already exists"):
        Registry(tmp_path / "r.db", create=True)


@pytest.mark.parametrize("content", [b"not a database at all, just text" * 100,
                                     b"SQLite format 3\x00" + b"\xff" * 2000])
def test_corrupt_files_give_one_line(tmp_path, content):
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    with pytest.raises(wm.RegistryError) as info:
        Registry(path)
    assert str(path) in _one_line(info)
    assert path.read_bytes() == content


def test_an_sqlite_file_of_another_application_is_refused(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)")
    with pytest.raises(wm.RegistryError, match="not a Filigrane registry"):
        Registry(path)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    Registry(path, create=True).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(wm.RegistryError) as info:
        Registry(path)
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in _one_line(info)


_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO keys (public_id, fingerprint, added_at) VALUES (?, 'held', 'now')", ("0" * 32,))
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


def test_a_lock_held_by_another_process_gives_one_line_and_writes_nothing(tmp_path, key):
    path = tmp_path / "r.db"
    Registry(path, create=True).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Registry(path, timeout=0.2) as registry:
            with pytest.raises(wm.RegistryBusyError) as info:     # a service retries on this class
                registry.add_key(key)
            assert "locked by another writer" in _one_line(info)
            assert registry.counts()["keys"] == 0            # readers are not blocked (WAL)
    finally:
        holder.communicate("")
    with Registry(path) as registry:
        assert registry.counts()["keys"] == 0 and registry.integrity_check() == "ok"


_HOLDER = "from watermark.registry import holders; print(holders.this_process(), flush=True); input()"


def test_a_reservation_is_at_work_while_its_process_runs_or_elsewhere_for_an_hour():
    now, old = datetime.now(UTC), "2001-01-01T00:00:00.000000Z"
    recent = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert not holders.at_work(None, recent) and not holders.at_work(holders.this_process(), recent)
    assert holders.at_work("elsewhere 123 -", recent) and not holders.at_work("elsewhere 123 -", old)
    process = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        running = process.stdout.readline().strip()
        assert running.startswith(f"{socket.gethostname()} {process.pid} ")
        assert holders.at_work(running, old)                                  # however old: it runs
        assert not holders.at_work(running.rsplit(" ", 1)[0] + " 1", recent)  # its pid, an earlier process's start
    finally:
        process.communicate("\n")
    assert not holders.at_work(running, recent)                               # gone
    # without /proc (macOS) its start is not known: a recent reservation is at work while its pid runs, not after
    unknown = f"{running.rsplit(' ', 1)[0]} -"
    assert not holders.at_work(unknown, recent)
    assert holders.at_work(f"{socket.gethostname()} {os.getpid()} -", recent)


def test_an_export_is_one_snapshot_while_another_connection_issues(registry, key):
    """A copy issued (with its new master) while the export reads is in it whole, or not at all."""
    registry.reserve(key, _master(registry, "a"), output_path="/out/a.png", scheme="lattice")
    issued = []

    def issue_between_the_masters_and_the_copies(statement):
        if "FROM copies c" in statement and not issued:
            with Registry(registry.path) as other:
                issued.append(other.reserve(key, _master(other, "b"), output_path="/out/b.png", scheme="lattice"))

    registry.connection.set_trace_callback(issue_between_the_masters_and_the_copies)
    try:
        document = export_document(registry)
    finally:
        registry.connection.set_trace_callback(None)
    assert issued and registry.counts()["reserved"] == 2
    masters = {master["sha256"] for master in document["masters"]}
    assert [copy["master"] for copy in document["copies"]] == ["a" * 64] and masters == {"a" * 64}


def test_a_stored_field_that_does_not_decode_is_one_line_naming_the_registry(registry, key):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice")
    for damaged in ("{not json", "[1, 2]"):
        registry.connection.execute("UPDATE copies SET metadata = ? WHERE id = ?", (damaged, record.id))
        for read in (registry.records, lambda: registry.record(record.id), lambda: export_document(registry)):
            with pytest.raises(wm.RegistryError) as info:
                read()
            assert _one_line(info).startswith(f"{registry.path}: damaged registry: a stored field does not decode (")


def test_import_refuses_a_copy_issued_before_it_was_reserved(registry, key, tmp_path):
    registry.mark_issued(registry.reserve(key, _master(registry), output_path="/out/a.png", scheme="lattice").id,
                         "e" * 64)
    document = json.loads(export_json(registry))
    copy = document["copies"][0]
    copy["issued_at"] = "2000-01-01T00:00:00.000000Z"
    with Registry(tmp_path / "copy.db", create=True) as target:
        with pytest.raises(wm.RegistryError) as info:
            import_document(target, document, source="x.json")
        assert _one_line(info) == (f"x.json: copy {copy['id']}: issued_at 2000-01-01T00:00:00.000000Z is earlier "
                                   f"than reserved_at {copy['reserved_at']}; nothing imported")
        assert target.counts()["keys"] == 0


def test_import_names_a_payload_or_id_repeated_within_the_same_export(registry, key, tmp_path):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    other = "00000000-0000-4000-8000-000000000000"
    for number, (repeated, message) in enumerate((
            ({"id": other}, f"copy {other} has the payload 0x000000000000002a of copy {record.id} under the same "
                            "key, in this same export"),
            ({"payload": "0x000000000000002b"}, f"copy {record.id} is in the export twice"))):
        changed = {**document, "copies": [*document["copies"], {**document["copies"][0], **repeated}]}
        with Registry(tmp_path / f"copy{number}.db", create=True) as target:
            with pytest.raises(wm.RegistryError) as info:
                import_document(target, changed, source="x.json")
            assert _one_line(info) == f"x.json: {message}; nothing imported"
            assert target.counts()["keys"] == 0


_AS_A_READER = """
import os, sys
from watermark.errors import RegistryError
from watermark.registry import Registry
path, uid = sys.argv[1], int(sys.argv[2])
if uid:                          # root: become a user who may only read the folder and the file
    os.setgid(uid)
    os.setuid(uid)
try:
    registry = Registry(path)
except RegistryError as exc:
    sys.exit(print(exc))
with registry:
    print(registry.keys()[0][1], len(registry.records()))
    try:
        registry.add_key(__import__("watermark").Key.generate())
    except RegistryError as exc:
        print(exc)
    try:
        registry.require_writable()
    except RegistryError as exc:
        print(exc)
"""
_KILLED_WRITER = """
import os, sys
from watermark import Key
from watermark.registry import Registry
Registry(sys.argv[1]).add_key(Key.generate())
os._exit(0)                      # killed: the key committed to the -wal, never folded into the file
"""


@contextlib.contextmanager
def _read_by_another_user(key, folder_mode, *, killed_writer=False):
    """A registry of ``key`` made read-only (0444) in a new folder of ``folder_mode``, read by a user who may
    not write it (`_AS_A_READER`, as nobody when this is root): yields (folder, path, the reader's lines).
    ``killed_writer``: a writer killed after it added a second key leaves a -wal, without its -shm."""
    folder = tempfile.mkdtemp(dir="/tmp")          # pytest's tmp_path is its owner's only
    try:
        path = os.path.join(folder, "r.db")
        with Registry(path, create=True) as registry:
            registry.add_key(key)
        if killed_writer:
            subprocess.run([sys.executable, "-c", _KILLED_WRITER, path], check=True)
            os.remove(f"{path}-shm")
            os.chmod(f"{path}-wal", 0o444)
        os.chmod(path, 0o444)
        os.chmod(folder, folder_mode)
        reader = 65534 if os.geteuid() == 0 else 0
        result = subprocess.run([sys.executable, "-c", _AS_A_READER, path, str(reader)], capture_output=True,
                                text=True, check=True)
        yield folder, path, result.stdout.splitlines()
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


def test_a_registry_this_user_may_only_read_is_read_and_refuses_writes_with_one_line(key):
    """A registry on a read-only share or of another user: WAL's index needs write access, so it is read
    as an immutable file (and, while a writer keeps its WAL there, as a WAL database: the latest records)."""
    with _read_by_another_user(key, 0o555) as (folder, path, lines):
        assert lines[0] == f"{key.fingerprint} 0", lines
        assert lines[1] == f"{path}: cannot write the registry (attempt to write a readonly database); check the " \
                           "permissions of the file, and of its directory (a read-only disk cannot be written at all)"
        assert sorted(os.listdir(folder)) == ["r.db"]          # no -wal or -shm left by the reader


def test_a_registry_this_user_cannot_write_says_so_before_any_work(key):
    """A probe: `embed --registry` into a registry it could not write loaded and hashed every master, each to fail
    at its record; `require_writable` (which it now asks first) refuses at once, and changes nothing."""
    with _read_by_another_user(key, 0o555) as (folder, path, lines):
        assert lines[2] == f"{path}: cannot write the registry (this process may only read it); check the " \
                           "permissions of the file, and of its directory (a read-only disk cannot be written at all)"
        assert sorted(os.listdir(folder)) == ["r.db"]


def test_a_registry_whose_wal_may_not_be_written_is_never_said_to_allow_removing_it(tmp_path, monkeypatch):
    """A probe: after a writer was killed, the line for a read-only registry said its -wal "may be removed";
    removed, it took the registry's latest records (six issued copies) with it."""
    from watermark.registry import schema

    path = tmp_path / "r.db"
    monkeypatch.setattr(schema, "_read_only", lambda beside: beside.name in ("r.db-wal", "r.db-shm"))
    with pytest.raises(wm.RegistryError) as info, schema.errors(path, 1.0):
        raise sqlite3.OperationalError("attempt to write a readonly database")
    assert "may be removed" not in str(info.value)
    assert "of r.db-wal and r.db-shm beside it (SQLite's: make them writable; never remove r.db-wal, which holds " \
           "the latest records)" in str(info.value)


def test_a_read_only_registry_whose_latest_records_are_in_a_wal_without_its_index_is_refused(key):
    """A probe's office machine, killed mid-run, its registry and -wal copied to a read-only medium: read as an
    immutable file, it listed no records and a scan called an issued copy 'never issued'."""
    with _read_by_another_user(key, 0o555, killed_writer=True) as (folder, path, lines):
        assert lines == [f"{path}: its latest records are in r.db-wal, which SQLite reads only with a r.db-shm "
                         "beside it, and this folder may not be written to make one: copy r.db and r.db-wal to a "
                         "folder you may write, and name that copy"]
        assert sorted(os.listdir(folder)) == ["r.db", "r.db-wal"]


def test_a_read_only_registry_in_a_writable_folder_is_read_without_leaving_files_that_refuse_writers(key):
    """A read of a registry made read-only (chmod 400) in a folder its reader may write left read-only -wal
    and -shm files beside it: once the file was writable again, every embed failed "attempt to write a
    readonly database; check the file's and its directory's permissions", both of which were fine."""
    with _read_by_another_user(key, 0o777) as (folder, path, lines):
        assert lines[0] == f"{key.fingerprint} 0", lines
        assert sorted(os.listdir(folder)) == ["r.db"]
        os.chmod(path, 0o600)
        with Registry(path) as registry:                      # its owner writes it again
            registry.add_key(wm.Key.generate())
            assert len(registry.keys()) == 2


def test_threads_may_share_one_registry(registry, key):
    """A service's threads issuing through one Registry: one in ten calls failed with "cannot start a
    transaction within a transaction" (SQLite has one transaction per connection); they take turns now."""
    master = _master(registry)
    registry.add_key(key)

    def issue(index):
        record = registry.reserve(key, master, output_path=f"/out/{index}.png", recipient=f"r{index % 3}",
                                  scheme="lattice")
        listed = registry.records(recipient=f"r{index % 3}")
        return registry.mark_issued(record.id, f"{index:064x}"), listed

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(issue, range(96)))
    assert len({issued.payload for issued, _ in results}) == 96 and registry.counts()["issued"] == 96
    assert registry.integrity_check() == "ok"


@pytest.mark.parametrize("version, said", [
    (-1, "registry schema version -1 is none Filigrane writes; the file was changed by another program"),
    (2, "registry schema version 2 does not match its tables (migrating it failed: duplicate column name: holder)"),
    (9, "registry schema version 9 is newer than this Filigrane's"),
])
def test_a_registry_whose_version_another_program_changed_is_refused_in_words_and_left_as_it_is(tmp_path, key,
                                                                                                   version, said):
    """A user_version of -1 read MIGRATIONS[-1] ('duplicate column name: holder'), -3 'table keys already
    exists': raw SQLite errors for a file another program changed."""
    path = tmp_path / "r.db"
    with Registry(path, create=True) as registry:
        registry.add_key(key)
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {version}")
    before = path.read_bytes()
    with pytest.raises(wm.RegistryError, match=re.escape(f"{path}: {said}")):
        Registry(path)
    assert path.read_bytes() == before


def test_an_empty_file_is_said_to_be_empty_not_an_sqlite_database(tmp_path):
    (tmp_path / "r.db").touch()
    with pytest.raises(wm.RegistryError, match="r.db: an empty file, not a Filigrane registry"):
        Registry(tmp_path / "r.db")
    assert (tmp_path / "r.db").read_bytes() == b""


def test_the_digest_of_a_registry_s_records_changes_with_any_of_them(registry, key):
    """An opposing expert edited a recipient, dates and a state with plain SQL: nothing showed it. The
    report now names the records' digest at the scan's start, which a later run can compare."""
    master = _master(registry)
    registry.add_key(key)
    record = registry.reserve(key, master, output_path="/out/a.png", recipient="Bob", scheme="lattice")
    registry.mark_issued(record.id, "0" * 64)
    first = registry.digest()
    assert first == registry.digest() and len(first) == 64
    for change in ("UPDATE copies SET recipient = 'Alice'", "UPDATE copies SET issued_at = '2025-01-01T00:00:00Z'",
                   "UPDATE copies SET metadata = '{\"licence\": \"all rights\"}'"):
        with sqlite3.connect(registry.path) as connection:
            connection.execute(change)
        assert registry.digest() != first
        first = registry.digest()


def test_a_listing_reads_no_prints_and_a_record_is_found_by_the_start_of_its_id(registry, key):
    """`registry list` and `show <id>` read every record with its master's 40 KB print (215 MiB at 2,501
    masters, to print one line): a listing needs none, and an id's start is a query, not a scan."""
    master = _master(registry)
    registry.add_key(key)
    records = [registry.reserve(key, master, output_path=f"/out/{i}.png", recipient=f"r{i}", scheme="lattice")
               for i in range(3)]
    listed = registry.records(prints=False)
    assert [r.id for r in listed] == [r.id for r in records] and all(r.master.print == b"" for r in listed)
    assert registry.records()[0].master.print == master.print != b""
    assert [r.id for r in registry.records(id_prefix=records[1].id[:8])] == [records[1].id]
    assert registry.records(id_prefix="zzzzzzzz") == []
