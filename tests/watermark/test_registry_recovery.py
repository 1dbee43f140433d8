"""Finishing what an interrupted `issue_file` left, only for the same job: real files, a real registry,
real SIGKILLs and a real lock."""

import os
import sqlite3
import subprocess
import sys

import pytest
from PIL import Image

import watermark as wm
from tests.photos import photo
from watermark import atomic
from watermark.registry import Registry, file_sha256, issue_file, register_master


@pytest.fixture
def master(tmp_path):
    path = tmp_path / "masters" / "coffee.png"
    path.parent.mkdir()
    Image.fromarray(photo("coffee")).save(path)
    return path


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path / "filigrane.db", create=True) as opened:
        yield opened


def _left_unrecorded(registry, master, output, key, **asked):
    """What a run killed between writing ``output`` and recording it leaves: a reservation and its output."""
    reservation = registry.reserve(key, register_master(registry, master), output_path=output, scheme="lattice",
                                   **asked)
    wm.embed_file(master, output, reservation.payload, key)
    return reservation


def test_an_unrecorded_output_is_recovered_only_by_the_same_job(registry, master, tmp_path, key):
    output = tmp_path / "coffee.png"
    alice = _left_unrecorded(registry, master, output, key, recipient="Alice", metadata={"order": "1"})
    for asked, differ in (({"recipient": "Bob", "metadata": {"order": "2"}}, "recipient and metadata"),
                          ({"recipient": "Alice", "metadata": {"order": "2"}}, "metadata"),
                          ({"recipient": "Alice", "metadata": {"order": "1"}, "payload": alice.payload ^ 1},
                           "payload")):
        with pytest.raises(wm.RegistryError) as refused:
            issue_file(registry, master, output, key, **asked)
        assert str(refused.value) == (
            f"{output}: holds copy {alice.id} for Alice (payload {alice.payload:#018x}), which an interrupted run "
            f"left unrecorded; this run asks for another {differ}: run that run's command again to record it, or "
            "remove the file or pass --overwrite to issue a new copy")
        assert registry.counts() == {"keys": 1, "masters": 1, "reserved": 1, "issued": 0, "void": 0}
    recovered = issue_file(registry, master, output, key, recipient="Alice", metadata={"order": "1"})
    assert recovered.status == "recovered" and recovered.record.id == alice.id


def test_overwrite_records_the_unrecorded_copy_then_replaces_it_with_a_warning(registry, master, tmp_path, key):
    output = tmp_path / "coffee.png"
    alice = _left_unrecorded(registry, master, output, key, recipient="Alice")
    with pytest.warns(wm.FiligraneWarning, match=f"coffee.png: replaced the file of copy {alice.id} issued to Alice"):
        bob = issue_file(registry, master, output, key, recipient="Bob", overwrite=True)
    assert bob.status == "issued" and bob.record.recipient == "Bob"
    assert registry.record(alice.id).state == "issued" and wm.detect_file(output, key).payload == bob.record.payload


def test_overwriting_an_issued_copy_names_it_in_a_warning(registry, master, tmp_path, key):
    output = tmp_path / "coffee.png"
    first = issue_file(registry, master, output, key, recipient="Agence X").record
    with pytest.warns(wm.FiligraneWarning) as said:
        issue_file(registry, master, output, key, recipient="Agence Y", overwrite=True)
    assert [str(warning.message) for warning in said] == [
        f"{output}: replaced the file of copy {first.id} issued to Agence X, whose record still names it"]


def test_an_interrupt_just_after_the_output_got_its_name_leaves_it_for_a_rerun(registry, master, tmp_path, key,
                                                                              monkeypatch):
    output = tmp_path / "coffee.png"
    named = atomic.link_new

    def link_then_ctrl_c(temp, path):
        named(temp, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "link_new", link_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        issue_file(registry, master, output, key, recipient="Alice")
    monkeypatch.undo()
    (reserved,) = registry.records()
    assert reserved.state == "reserved" and output.is_file()
    again = issue_file(registry, master, output, key, recipient="Alice")
    assert again.status == "recovered" and again.record.id == reserved.id
    assert again.record.output_sha256 == file_sha256(output)


def test_a_record_refused_by_a_lock_names_the_image_and_a_rerun_records_it(tmp_path, master, key, monkeypatch):
    path, output = tmp_path / "r.db", tmp_path / "coffee.png"
    Registry(path, create=True).close()
    with Registry(path, timeout=0.2) as registry:
        record_it = registry.mark_issued

        def while_another_writer_holds_the_lock(record_id, sha256):
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                return record_it(record_id, sha256)
            finally:
                other.execute("ROLLBACK")
                other.close()

        monkeypatch.setattr(registry, "mark_issued", while_another_writer_holds_the_lock)
        with pytest.raises(wm.RegistryError) as refused:
            issue_file(registry, master, output, key, recipient="Alice")
        assert str(refused.value).startswith(f"{output}: the copy was written but not recorded ({path}: locked by "
                                             "another writer (waited 0.2 s)")
        assert str(refused.value).endswith("; run the same command again to record it")
        monkeypatch.undo()
        assert registry.counts()["reserved"] == 1 and output.is_file()
        again = issue_file(registry, master, output, key, recipient="Alice")
        assert again.status == "recovered" and again.record.output_sha256 == file_sha256(output)


_KILLED_WHEN_RECORDING = """
import os, signal, sys
from watermark.registry import store
store.Registry.mark_issued = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
from watermark.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _watermark(*args, code="from watermark.cli import main; import sys; sys.exit(main(sys.argv[1:]))"):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "FILIGRANE_REGISTRY": ""})


def test_a_run_for_another_recipient_never_takes_a_killed_run_s_output(tmp_path, master):
    key_path, database, output = tmp_path / "k.key", tmp_path / "r.db", tmp_path / "out" / "x.png"
    wm.Key.from_passphrase("recovery tests").save(key_path)
    Registry(database, create=True).close()
    embed = ["embed", master, "-o", output, "--key", key_path, "--registry", database]
    killed = _watermark(*embed, "--recipient", "Alice", "--meta", "order=1", code=_KILLED_WHEN_RECORDING)
    assert killed.returncode == -9 and output.is_file()

    bob = _watermark(*embed, "--recipient", "Bob", "--meta", "order=2")
    assert bob.returncode == 2
    with Registry(database) as registry:
        (alice,) = registry.records()
        assert alice.state == "reserved" and registry.records(recipient="Bob") == []
    assert bob.stderr.splitlines() == [
        f"watermark: {output}: holds copy {alice.id} for Alice (payload {alice.payload:#018x}), which an "
        "interrupted run left unrecorded; this run asks for another recipient and metadata: run that run's "
        "command again to record it, or remove the file or pass --overwrite to issue a new copy",
        "watermark: 0 marked, 0 skipped, 1 failed"]

    assert "recovered" in _watermark(*embed, "--recipient", "Alice", "--meta", "order=1").stdout
    replaced = _watermark(*embed, "--recipient", "Bob", "--meta", "order=2", "--overwrite")
    assert replaced.returncode == 0 and f"replaced the file of copy {alice.id} issued to Alice" in replaced.stderr
    with Registry(database) as registry:
        assert {record.recipient: record.state for record in registry.records()} == {"Alice": "issued",
                                                                                      "Bob": "issued"}
