"""The registry file: records, lookups, export/import, and its bad input (real files, real processes)."""

import base64
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest

import watermark as wm
from watermark.registry import Registry, export_json, holders, import_document
from watermark.registry.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION


def _master(registry, name="a", phash=0xFFFF_0000_1234_5678):
    sha = (name * 64)[:64]
    return registry.add_master(sha256=sha, path=f"/masters/{name}.png", width=640, height=480, phash=phash,
                               print_=b"print-of-" + name.encode())


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
                        print_=first.print, frame=b"frame-of-a")        # a frame for one of them only
    for index, master in enumerate((first, second, first)):
        record = registry.reserve(key, master, output_path=f"/out/{index}.jpg", recipient=f"r{index}",
                                  metadata={"n": str(index), "é": "ü"}, scheme="lattice")
        if index != 1:
            registry.mark_issued(record.id, f"{index:064x}")
    registry.reserve(key, second, output_path="/out/void.jpg", payload=2**63 + 5, scheme="lattice")
    exported = export_json(registry)
    with Registry(tmp_path / "copy.db", create=True) as copy:
        assert import_document(copy, json.loads(exported)) == {"keys": 1, "masters": 2, "copies": 4}
        assert export_json(copy) == exported
        assert copy.frame(copy.master(first.sha256)) == b"frame-of-a" and copy.frame(copy.master(second.sha256)) is None
        assert import_document(copy, json.loads(exported)) == {"keys": 0, "masters": 0, "copies": 0}
        assert export_json(copy) == exported


def test_an_export_made_before_frames_were_kept_imports(registry, key, tmp_path):
    master = _master(registry)
    registry.mark_issued(registry.reserve(key, master, output_path="/out/a.png", scheme="lattice").id, "e" * 64)
    document = json.loads(export_json(registry))
    for entry in document["masters"]:
        del entry["frame"]
    with Registry(tmp_path / "copy.db", create=True) as copy:
        assert import_document(copy, document) == {"keys": 1, "masters": 1, "copies": 1}
        assert copy.frame(copy.master(master.sha256)) is None


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
    with Registry(path) as registry:
        master = registry.master("a" * 64)
        assert master is not None and registry.frame(master) is None
        registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=7,
                            print_=master.print, frame=b"now")
        assert registry.frame(master) == b"now" and registry.counts()["masters"] == 1
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


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
        assert _one_line(info) == (f"x.json: {named}: {field} {value!r} is not a 64-bit unsigned hex "
                                   "number; nothing imported")
        assert copy.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


@pytest.mark.parametrize(("entry", "field", "value", "message"), [
    ("masters", "path", "/elsewhere/a.png", "master a{64} differs from the registry's \\(path\\)"),
    ("masters", "width", 641, "master a{64} differs from the registry's \\(width\\)"),
    ("masters", "frame", base64.b64encode(b"another").decode(), "master a{64} differs from the registry's \\(frame\\)"),
    ("keys", "fingerprint", "00000000", "key [0-9a-f]{32} has fingerprint '00000000', the registry's '[0-9a-f]{8}'")])
def test_import_refuses_a_conflicting_key_or_master_and_imports_nothing(registry, key, entry, field, value, message):
    master = _master(registry)
    registry.add_master(sha256=master.sha256, path=master.path, width=640, height=480, phash=master.phash,
                        print_=master.print, frame=b"frame-of-a")
    registry.reserve(key, master, output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))
    document["copies"].append({**document["copies"][0], "id": "00000000-0000-4000-8000-000000000000",
                               "payload": "0x2b"})                        # new: would be imported
    document[entry][0][field] = value
    with pytest.raises(wm.RegistryError) as info:
        import_document(registry, document, source="x.json")
    assert re.fullmatch(f"x.json: {message}; nothing imported", _one_line(info))
    assert registry.counts()["reserved"] == 1 and registry.frame(master) == b"frame-of-a"


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
    assert "absent.db: registry not found; `watermark registry init" in _one_line(info)
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
            with pytest.raises(wm.RegistryError) as info:
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
