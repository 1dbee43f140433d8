"""``watermark embed --registry`` and ``watermark registry``, as real processes on a real database file."""

import contextlib
import csv
import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import watermark as wm
from tests.photos import PHOTO_NAMES, photo
from watermark.cli import main
from watermark.registry import ISSUED, Registry, file_sha256, register_master
from watermark.sources import visible


def _run(*args, env=None, check=None):
    result = subprocess.run([sys.executable, "-m", "watermark", *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=900)
    if check is not None:
        assert result.returncode == check, result.stderr
    return result


def _masters(folder, count):
    """``count`` distinct real pictures (crops of scikit-image's photographs), 256-384 px, as PNG."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    for index in range(count):
        image = photo(PHOTO_NAMES[index % len(PHOTO_NAMES)])
        height, width = image.shape[:2]
        h, w = int(rng.integers(256, min(height, 384) + 1)), int(rng.integers(256, min(width, 384) + 1))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        Image.fromarray(image[top:top + h, left:left + w]).save(folder / f"m{index:02d}.png")
    return sorted(folder.iterdir())


@pytest.fixture
def setup(tmp_path):
    """A key file and an empty registry (made in this process, as ``registry init`` makes it: the
    command itself is run in the first test)."""
    key_path = tmp_path / "k.key"
    wm.Key.from_passphrase("cli registry tests").save(key_path)
    database = tmp_path / "filigrane.db"
    Registry(database, create=True).close()
    return key_path, database


def _check_sound(database, expected_issued=None):
    """The invariants a crash must never break."""
    with Registry(database) as registry:
        assert registry.integrity_check() == "ok"
        records = registry.records()
        issued = [record for record in records if record.state == "issued"]
        for record in issued:
            assert file_sha256(record.output_path) == record.output_sha256
        keyed = [(record.key, record.payload) for record in records]
        assert len(keyed) == len(set(keyed))
        if expected_issued is not None:
            assert len(issued) == expected_issued
        return issued


def test_embed_records_each_copy_and_the_registry_commands_show_them(setup, tmp_path):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 3)
    out = tmp_path / "out"
    result = _run("embed", *masters, "-o", out, "--key", key_path, "--registry", database, "--recipient", "Agence X",
                  "--meta", "licence=123", "--json", check=0)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["status"] for row in rows] == ["marked"] * 3 and len({row["payload"] for row in rows}) == 3
    issued = _check_sound(database, expected_issued=3)
    assert {record.recipient for record in issued} == {"Agence X"} and issued[0].metadata == {"licence": "123"}
    for row in rows:
        assert wm.detect_file(row["output"], wm.Key.load(key_path)).payload == int(row["payload"], 16)

    listed = _run("registry", "list", "--registry", database, "--json", check=0).stdout.splitlines()
    assert sorted(json.loads(line)["id"] for line in listed) == sorted(row["record"] for row in rows)
    shown = _run("registry", "show", rows[0]["payload"], "--registry", database, check=0).stdout
    assert rows[0]["record"] in shown and "Agence X" in shown
    assert rows[1]["record"] in _run("registry", "show", rows[1]["record"][:8], "--registry", database, check=0).stdout
    assert _run("registry", "show", "0x1", "--registry", database).returncode == 1

    exported = _run("registry", "export", "--json", "--registry", database, check=0).stdout
    copy = tmp_path / "copy.db"
    _run("registry", "init", copy, check=0)
    (tmp_path / "export.json").write_text(exported, encoding="utf-8")
    _run("registry", "import", tmp_path / "export.json", "--registry", copy, check=0)
    assert _run("registry", "export", "--json", "--registry", copy, check=0).stdout == exported
    csv_lines = _run("registry", "export", "--registry", database, check=0).stdout.splitlines()
    assert csv_lines[0].startswith("id,state,payload") and len(csv_lines) == 4

    again = _run("embed", *masters, "-o", out, "--key", key_path, "--registry", database, "--recipient", "Agence X",
                 "--meta", "licence=123", "--json", check=0)
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == ["skipped"] * 3
    _check_sound(database, expected_issued=3)


def test_an_explicit_payload_is_issued_once(setup, tmp_path):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    _run("embed", master, "-o", tmp_path / "a.png", "--key", key_path, "--registry", database, "--payload", "0x5eed",
         check=0)
    refused = _run("embed", master, "-o", tmp_path / "b.png", "--key", key_path, "--registry", database,
                   "--payload", "0x5eed")
    lines = refused.stderr.splitlines()
    assert refused.returncode == 2 and "already issued" in lines[0]
    assert lines[1:] == ["watermark: 0 marked, 0 skipped, 1 failed"]
    assert not (tmp_path / "b.png").exists()


def test_two_processes_and_two_jobs_share_one_registry(setup, tmp_path):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 6)
    commands = [[sys.executable, "-m", "watermark", "embed", *map(str, masters), "-o", str(tmp_path / f"out{i}"),
                 "--key", str(key_path), "--registry", str(database), "--recipient", f"r{i}", "--jobs", "2"]
                for i in range(2)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command in commands]
    for process in processes:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr
    issued = _check_sound(database, expected_issued=12)
    assert {record.recipient for record in issued} == {"r0", "r1"}
    with Registry(database) as registry:
        assert registry.counts()["masters"] == 6 and registry.counts()["void"] == 0


def test_a_batch_killed_half_way_is_finished_by_running_it_again(setup, tmp_path):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 20)
    command = ["embed", *masters, "-o", tmp_path / "out", "--key", key_path, "--registry", database,
               "--recipient", "Agence X"]
    process = subprocess.Popen([sys.executable, "-m", "watermark", *map(str, command)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        with sqlite3.connect(database) as watch:
            if watch.execute("SELECT count(*) FROM copies WHERE state = 'issued'").fetchone()[0] >= 4:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the batch finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {record.id: record for record in _check_sound(database)}
    assert 4 <= len(before) < 20

    _run(*command, check=0)
    after = _check_sound(database, expected_issued=20)
    assert all(before[record.id] == record for record in after if record.id in before)
    assert len({record.output_path for record in after}) == 20
    with Registry(database) as registry:
        assert registry.counts()["reserved"] == 0 and registry.counts()["void"] <= 1


def _one_line(result):
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("watermark: ")
    return lines[0]


def test_bad_registries_give_one_line_and_exit_2(setup, tmp_path):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    embed = ["embed", master, "-o", tmp_path / "out.png", "--key", key_path]
    assert "absent.db: registry not found" in _one_line(_run(*embed, "--registry", tmp_path / "absent.db"))
    (tmp_path / "corrupt.db").write_bytes(b"\x00garbage" * 512)
    corrupt = _one_line(_run(*embed, "--registry", tmp_path / "corrupt.db"))
    assert "corrupt.db: not a readable Filigrane registry" in corrupt
    newer = tmp_path / "newer.db"
    Registry(newer, create=True).close()
    with sqlite3.connect(newer) as connection:
        connection.execute("PRAGMA user_version = 99")
    assert "schema version 99 is newer" in _one_line(_run(*embed, "--registry", newer))
    stranger = tmp_path / "stranger.key"
    wm.Key.generate().save(stranger)
    assert "is not in this registry" in _one_line(_run("registry", "list", "--registry", database, "--key", stranger))
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "absent.db").exists()


@contextlib.contextmanager
def _locked(database):
    """``database`` held in a write transaction by another process for the block."""
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys\n"
                               "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                               "db.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\nsys.stdin.read()\n",
                               str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("")


def test_a_locked_registry_gives_one_line_and_writes_nothing(setup, tmp_path):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 2)
    with _locked(database):
        result = _run("embed", *masters, "-o", tmp_path / "out", "--key", key_path, "--registry", database,
                      env={"FILIGRANE_REGISTRY_TIMEOUT": "0.3"})
    assert "locked by another writer" in _one_line(result)
    assert not any((tmp_path / "out").glob("*.png"))
    with Registry(database) as registry:
        assert registry.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


def test_a_registry_locked_before_a_copy_is_reserved_names_the_master_it_did_not_issue(setup, tmp_path):
    key_path, database = setup
    first, second = _masters(tmp_path / "masters", 2)
    _run("embed", first, "-o", tmp_path / "first.png", "--key", key_path, "--registry", database, check=0)
    with _locked(database):
        result = _run("embed", second, "-o", tmp_path / "second.png", "--key", key_path, "--registry", database,
                      env={"FILIGRANE_REGISTRY_TIMEOUT": "0.3"})
    assert result.returncode == 2
    line, count = result.stderr.splitlines()
    assert line.startswith(f"watermark: {second}: ") and "locked by another writer" in line
    assert count == "watermark: 0 marked, 0 skipped, 1 failed"
    assert not (tmp_path / "second.png").exists()


def test_an_issued_copy_of_a_low_quality_jpeg_master_is_written_finer_and_carries_its_payload(setup, tmp_path):
    key_path, database = setup
    master = tmp_path / "master.jpg"
    Image.fromarray(photo("astronaut")).save(master, quality=60)
    result = _run("embed", master, "-o", tmp_path / "copy.jpg", "--key", key_path, "--registry", database,
                  "--recipient", "Agence X", "--json", check=0)
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert f"{tmp_path / 'copy.jpg'}: written at JPEG quality" in result.stderr
    assert "not the source's 60" in result.stderr
    detected = json.loads(_run("detect", tmp_path / "copy.jpg", "--key", key_path, "--json", check=0).stdout)
    assert detected["payload"] == row["payload"]


def test_embed_needs_a_payload_or_a_registry(setup, tmp_path, capsys):
    key_path, _ = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "out.png"), "--key", str(key_path)]) == 2
    assert "give --payload" in capsys.readouterr().err and not (tmp_path / "out.png").exists()


def test_registry_show_takes_an_all_digit_record_id_start_as_an_id_too(setup, tmp_path):
    """A record id (a UUID) may start with eight decimal digits, even with a leading zero: `show`
    then looks it up as an id as well as a decimal payload."""
    key_path, database = setup
    _run("embed", *_masters(tmp_path / "masters", 1), "-o", tmp_path / "out", "--key", key_path, "--registry",
         database, "--recipient", "Agence X", check=0)
    document = json.loads(_run("registry", "export", "--json", "--registry", database, check=0).stdout)
    record_id = document["copies"][0]["id"]
    document["copies"][0]["id"] = "01234567" + record_id[8:]
    (tmp_path / "export.json").write_text(json.dumps(document), encoding="utf-8")
    copy = tmp_path / "copy.db"
    _run("registry", "init", copy, check=0)
    _run("registry", "import", tmp_path / "export.json", "--registry", copy, check=0)
    shown = _run("registry", "show", "01234567", "--registry", copy, "--json", check=0).stdout
    assert [json.loads(line)["id"] for line in shown.splitlines()] == ["01234567" + record_id[8:]]
    assert _run("registry", "show", "12345678", "--registry", copy).returncode == 1     # neither: not found


def test_a_file_name_that_is_not_utf8_is_recorded_and_the_batch_goes_on(setup, tmp_path, capsys):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 2)
    odd = masters[0].with_name(os.fsdecode(b"caf\xe9.png"))
    masters[0].rename(odd)
    embed = ["embed", str(tmp_path / "masters"), "-o", str(tmp_path / "out"), "--key", str(key_path),
             "--registry", str(database), "--json"]
    assert main(embed) == 0
    assert [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()] == ["marked"] * 2
    with Registry(database) as registry:
        record = registry.records()[0]
    assert record.master.path == f"{tmp_path}/masters/caf\\xe9.png"
    assert record.output_path == f"{tmp_path}/out/caf\\xe9.png"
    assert record.output_sha256 == file_sha256(tmp_path / "out" / odd.name)
    assert main(embed) == 0                                     # the same path finds its record again
    assert [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()] == ["skipped"] * 2


@pytest.mark.parametrize("option", [["--recipient", os.fsdecode(b"Caf\xe9")], ["--meta", os.fsdecode(b"k=\xe9")],
                                    ["--in-place"]])
def test_bad_text_and_in_place_are_one_line_before_any_work(setup, tmp_path, capsys, option):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    before = master.read_bytes()
    output = [] if option == ["--in-place"] else ["-o", str(tmp_path / "out.png")]
    assert main(["embed", str(master), *output, "--key", str(key_path), "--registry", str(database), *option]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0] == {
        "--recipient": "watermark: --recipient 'Caf\\xe9': not valid UTF-8 text; give it in UTF-8",
        "--meta": "watermark: --meta 'k=\\xe9': not valid UTF-8 text; give it in UTF-8",
        "--in-place": "watermark: --in-place is not available with --registry: a registry issues marked copies of "
                      "masters that stay unmarked; give -o OUT"}[option[0]]
    assert master.read_bytes() == before and not (tmp_path / "out.png").exists()
    with Registry(database) as registry:
        assert registry.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


@pytest.mark.parametrize("count, option, message", [
    (1, ["--registry", "absent.db"], "absent.db: registry not found"),
    (1, ["--recipient", os.fsdecode(b"\xff")], "--recipient '\\xff': not valid UTF-8 text"),
    (1, ["--meta", os.fsdecode(b"k=\xff")], "--meta 'k=\\xff': not valid UTF-8 text"),
    (2, ["--payload", "0x1234"], "--payload with --registry marks one file (2 given)")])
def test_a_refused_registry_run_makes_no_output_directory(setup, tmp_path, monkeypatch, capsys, count, option,
                                                          message):
    key_path, database = setup
    masters = _masters(tmp_path / "masters", count)
    monkeypatch.chdir(tmp_path)
    assert main(["embed", *map(str, masters), "-o", "pub/", "--key", str(key_path), "--registry", str(database),
                 *option]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "pub").exists() and not (tmp_path / "absent.db").exists()


def test_registry_list_refuses_a_recipient_that_is_not_utf8(setup, capsys):
    _, database = setup
    assert main(["registry", "list", "--registry", str(database), "--recipient", os.fsdecode(b"Caf\xe9")]) == 2
    assert capsys.readouterr().err == "watermark: --recipient 'Caf\\xe9': not valid UTF-8 text; give it in UTF-8\n"


def test_embed_warns_of_a_master_that_already_carries_the_mark(setup, tmp_path, capsys):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    embed = ["--key", str(key_path), "--registry", str(database)]
    assert main(["embed", str(master), "-o", str(tmp_path / "a.png"), *embed]) == 0
    assert "warning" not in capsys.readouterr().err
    Image.open(tmp_path / "a.png").save(tmp_path / "a2.png", compress_level=1)     # a copy of the copy
    assert main(["embed", str(tmp_path / "a2.png"), "-o", str(tmp_path / "b.png"), *embed]) == 0
    assert "a2.png: already carries this key's mark" in capsys.readouterr().err


def test_registry_options_without_a_registry_are_refused_before_any_file(setup, tmp_path, capsys):
    """A cron job with FILIGRANE_REGISTRY exported (which embed does not read) and --recipient marked its
    copies, recorded nothing and exited 0."""
    key_path, _ = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--payload", "1",
                 "--recipient", "X", "--meta", "licence=7"]) == 2
    assert capsys.readouterr().err == ("watermark: --recipient, --meta: only a registry records them; give --registry "
                                       "DB (embed does not read FILIGRANE_REGISTRY, and without a registry nothing "
                                       "is recorded)\n")
    assert not (tmp_path / "out").exists()


def test_an_existing_copy_is_skipped_and_a_stranger_in_its_place_fails(setup, tmp_path, capsys):
    """A copy already issued is skipped, with no signing to speak of (c2pa null). A file there that is no
    copy of the registry's was skipped too, exit 0, and the recipient had no copy recorded (a newcomer
    following the README into the folder of its plain embed): it fails, exit 2, and is left alone."""
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 2)
    (tmp_path / "out").mkdir()
    stranger = tmp_path / "out" / masters[1].name
    stranger.write_bytes(masters[0].read_bytes())
    embed = ["embed", *map(str, masters), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
             str(database), "--json"]
    assert main(embed) == 2
    assert main(embed) == 2
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(row["status"], row["c2pa"] is None) for row in rows] == [("marked", False), ("failed", True),
                                                                      ("skipped", True), ("failed", True)]
    assert rows[1]["error"] == (f"{stranger}: already exists and is no copy this registry issued, so nothing was "
                                f"issued for {masters[1]}: give another output (-o), or pass --overwrite to replace it")
    assert stranger.read_bytes() == masters[0].read_bytes()


def test_an_earlier_run_s_copies_among_the_masters_are_skipped_never_marked_again(setup, tmp_path, capsys):
    """A probe's photographer sent client A's copies to shoot/for_A and client B's to shoot/for_B: the
    second run walked for_A too and issued A's copies, marked twice, to B (exit 0, "6 marked")."""
    key_path, database = setup
    masters = _masters(tmp_path / "shoot", 2)
    for recipient in ("A", "B"):
        assert main(["embed", str(tmp_path / "shoot"), "-o", str(tmp_path / "shoot" / f"for_{recipient}"),
                     "--key", str(key_path), "--registry", str(database), "--recipient", recipient,
                     "--json"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    seen = [(Path(row["path"]).relative_to(tmp_path / "shoot").as_posix(), row["status"]) for row in rows]
    assert seen[:2] == [("m00.png", "marked"), ("m01.png", "marked")]                    # for A
    assert sorted(seen[2:]) == [("for_A/m00.png", "skipped"), ("for_A/m01.png", "skipped"), ("m00.png", "marked"),
                                ("m01.png", "marked")]                                   # for B
    with Registry(database) as registry:
        issued = registry.records(state=ISSUED)
        a_copy = registry.find_sha256(file_sha256(tmp_path / "shoot" / "for_A" / "m00.png"))[0][0]
    assert sorted((record.recipient, Path(record.master.path).name) for record in issued) == [
        ("A", "m00.png"), ("A", "m01.png"), ("B", "m00.png"), ("B", "m01.png")]
    assert (f"watermark: warning: {tmp_path}/shoot/for_A/m00.png: is copy {a_copy.id} issued to A (of "
            f"{masters[0]}), not a master: copies are never marked again; skipped") in err.splitlines()
    assert not (tmp_path / "shoot" / "for_B" / "for_A").exists()     # nor the folder made for what was skipped


def test_an_output_holding_another_copy_is_refused_not_skipped(setup, tmp_path, capsys):
    """B's run sent to A's folder said "already exists, skipped", exit 0, and left A's copies to be sent to
    B; a master edited since its copy was issued was skipped the same way, the client keeping the old one."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    embed = ["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
             str(database)]
    assert main([*embed, "--recipient", "A"]) == 0
    with Registry(database) as registry:
        a_copy = registry.records(state=ISSUED)[0]
    assert main([*embed, "--recipient", "B"]) == 2
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"watermark: {tmp_path}/out/m00.png: holds copy {a_copy.id} issued to A (payload {a_copy.payload:#018x}); "
        "this run asks for another recipient: give another output (-o), or pass --overwrite to replace it",
        "watermark: 0 marked, 0 skipped, 1 failed"]
    edited = np.asarray(Image.open(master)).astype(np.int16) + 6
    Image.fromarray(np.clip(edited, 0, 255).astype(np.uint8)).save(master)
    assert main([*embed, "--recipient", "A"]) == 2
    assert capsys.readouterr().err.splitlines()[-2] == (
        f"watermark: {tmp_path}/out/m00.png: holds copy {a_copy.id} issued to A (payload {a_copy.payload:#018x}); "
        "its master's file has changed since: pass --overwrite to issue a copy of the file as it is now")
    with Registry(database) as registry:
        assert [record.recipient for record in registry.records()] == ["A"]
    assert main([*embed, "--recipient", "A", "--overwrite"]) == 0
    with Registry(database) as registry:
        assert [record.recipient for record in registry.records(state=ISSUED)] == ["A", "A"]


@pytest.mark.parametrize("recipient", ["Agence X\u200b", "Agence\xa0X", "Alice ", " Alice", "Agence X\nforged"])
def test_embed_refuses_a_recipient_that_would_look_like_another(setup, tmp_path, recipient, capsys):
    """An attacker's probe: "Agence X" and "Agence X" with a zero-width space were two recipients shown alike in
    the report and on the terminal, and so were "Alice", "Alice " and "Alice" with a no-break space."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "a.png"), "--key", str(key_path), "--registry",
                 str(database), "--recipient", recipient]) == 2
    assert capsys.readouterr().err == (f"watermark: --recipient {visible(repr(recipient))}: holds white space at an "
                                       "end or characters that do not show, so that it would look like another "
                                       "name; give it without them\n")
    assert not (tmp_path / "a.png").exists()


def test_registry_list_shows_a_recipient_s_control_characters_instead_of_obeying_them(setup, tmp_path, capsys):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X\nforged line\x1b[2J"])   # as the API or an old version took it
    assert main(["registry", "list", "--registry", str(database)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Agence X\\nforged line\\x1b[2J" in out
    assert out.endswith(f"  {tmp_path / 'masters' / 'm00.png'} -> {tmp_path / '0.png'}\n")   # which file to whom


def test_registry_list_tells_a_recipient_named_dash_or_with_a_backslash_from_none_and_a_control(setup, tmp_path,
                                                                                                capsys):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["-", None, "Agence\\nX", "Agence\nX"])
    assert main(["registry", "list", "--registry", str(database)]) == 0
    shown = [[field for field in line.split("  ") if field][4] for line in capsys.readouterr().out.splitlines()]
    assert shown == ['"-"', "-", '"Agence\\\\nX"', '"Agence\\nX"']


def test_registry_init_and_import_name_their_files_escaped(tmp_path, capsys):
    database, export = tmp_path / "reg\x1b[31mRED\x1b]0;pwn\x07.db", tmp_path / "exp\x1b[32m.json"
    assert main(["registry", "init", str(database)]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/reg\\x1b[31mRED\\x1b]0;pwn\\x07.db: new registry\n"
    assert main(["registry", "export", "--json", "--registry", str(database), "-o", str(export)]) == 0
    assert main(["registry", "import", str(export), "--registry", str(database)]) == 0
    assert capsys.readouterr().out == (f"{tmp_path}/exp\\x1b[32m.json: imported 0 copies, 0 masters, 0 keys into "
                                       f"{tmp_path}/reg\\x1b[31mRED\\x1b]0;pwn\\x07.db\n")


def test_registry_show_a_sha256_in_json_and_under_a_key_and_an_outside_payload(setup, tmp_path, capsys):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    other = tmp_path / "other.key"
    wm.Key.from_passphrase("another key").save(other)
    for key, output in ((key_path, "a.png"), (other, "b.png")):
        assert main(["embed", str(master), "-o", str(tmp_path / output), "--key", str(key), "--registry",
                     str(database), "--new-key"]) == 0
    capsys.readouterr()
    show = ["registry", "show", "--registry", str(database)]

    def shown(*args):
        status = main([*show, *args])
        return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    status, lines = shown(file_sha256(master), "--json")
    assert status == 0 and [line["issued_copies"] for line in lines] == [2]
    assert lines[0]["master"]["sha256"] == file_sha256(master) and lines[0]["master"]["width"] > 0
    assert shown(file_sha256(master), "--json", "--key", str(other))[1][0]["issued_copies"] == 1
    copy = file_sha256(tmp_path / "a.png")
    assert shown(copy, "--json", "--key", str(other)) == (1, [])
    status, lines = shown(copy, "--json", "--key", str(key_path))
    assert status == 0 and [line["output_sha256"] for line in lines] == [copy]
    for outside in ("12345678901234567890123", "0x1ffffffffffffffff"):
        assert main([*show, outside]) == 2
        assert capsys.readouterr().err == f"watermark: payload {outside} is outside [0, 2**64)\n"


def test_the_csv_export_has_the_issued_copies_only_the_json_export_every_record(setup, tmp_path, capsys):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "a.png"), "--key", str(key_path), "--registry",
                 str(database)]) == 0
    with Registry(database) as registry:
        known, key = next(registry.masters()), wm.Key.load(key_path)
        registry.void(registry.reserve(key, known, output_path=tmp_path / "v.png", scheme="lattice").id, "interrupted")
        registry.reserve(key, known, output_path=tmp_path / "r.png", scheme="lattice")
    capsys.readouterr()
    assert main(["registry", "export", "--registry", str(database)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["state"], row["output_path"]) for row in rows] == [("issued", str(tmp_path / "a.png"))]
    assert main(["registry", "export", "--json", "--registry", str(database)]) == 0
    states = [copy["state"] for copy in json.loads(capsys.readouterr().out)["copies"]]
    assert sorted(states) == ["issued", "reserved", "void"]


def test_the_same_batch_run_twice_at_once_issues_each_copy_once(setup, tmp_path):
    """Each run leaves the other's live reservations alone: a copy the other is issuing fails here
    with one line, and nothing is voided."""
    key_path, database = setup
    masters = _masters(tmp_path / "masters", 6)
    command = [sys.executable, "-m", "watermark", "embed", *map(str, masters), "-o", str(tmp_path / "out"),
               "--key", str(key_path), "--registry", str(database), "--recipient", "Agence X"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode in (0, 2), stderr
        said = [line for line in stderr.splitlines()[:-1] if "added key" not in line]   # both may add it
        assert all("being issued by process" in line for line in said), stderr
    issued = _check_sound(database, expected_issued=6)
    assert sorted(record.output_path for record in issued) == [str(tmp_path / "out" / m.name) for m in masters]
    with Registry(database) as registry:
        assert registry.counts()["void"] == 0 and registry.counts()["reserved"] == 0
    assert _run(*command[3:], check=0).stderr.splitlines() == ["watermark: 0 marked, 6 skipped, 0 failed"]


def _issued_to(database, key_path, tmp_path, recipients):
    """One master, registered from a real file, and a copy of it issued to each of ``recipients``."""
    master = _masters(tmp_path / "masters", 1)[0]
    with Registry(database) as registry:
        known = register_master(registry, master)
        for index, recipient in enumerate(recipients):
            record = registry.reserve(wm.Key.load(key_path), known, output_path=tmp_path / f"{index}.png",
                                      recipient=recipient, scheme="lattice")
            registry.mark_issued(record.id, f"{index:064x}")


def _crafted(database, tmp_path, name, text):
    """``watermark registry import`` of ``text`` into a new registry: its one line (exit 2), the registry empty."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    target = tmp_path / f"{name}.db"
    _run("registry", "init", target, check=0)
    line = _one_line(_run("registry", "import", tmp_path / name, "--registry", target))
    with Registry(target) as registry:
        assert registry.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}
    return line


def test_a_crafted_export_is_one_line_naming_it_and_exit_2(setup, tmp_path):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X"])
    exported = _run("registry", "export", "--json", "--registry", database, check=0).stdout
    document = json.loads(exported)
    sha256 = document["masters"][0]["sha256"]

    def crafted(name, entry, field, value):
        changed = json.loads(exported)
        changed[entry][0][field] = value
        return _crafted(database, tmp_path, name, json.dumps(changed))

    assert crafted("width.json", "masters", "width", "abc") == (
        f"watermark: {tmp_path}/width.json: master {sha256}: width 'abc' is not a whole number of pixels from 1 to "
        "65535; nothing imported")
    assert crafted("huge.json", "masters", "width", 10**12) == (
        f"watermark: {tmp_path}/huge.json: master {sha256}: width {10**12} is not a whole number of pixels from 1 "
        "to 65535; nothing imported")
    assert crafted("id.json", "keys", "public_id", {"x": 1}) == (
        f"watermark: {tmp_path}/id.json: key #1: public_id {{...}} is not 32 hex digits; nothing imported")
    assert crafted("who.json", "copies", "recipient", ["Agence X"]).startswith(
        f"watermark: {tmp_path}/who.json: copy {document['copies'][0]['id']}: recipient [...] is not null or UTF-8")
    assert crafted("payload.json", "copies", "payload", "0x" + "f" * 100_000).endswith(
        "payload '0x" + "f" * 37 + "... is not 0x and 16 hex digits in lower case, as the export writes it; "
        "nothing imported")
    deep = exported.replace('"keys": [', '"keys": ' + "[" * 100_000, 1)
    assert _crafted(database, tmp_path, "deep.json", deep) == (
        f"watermark: {tmp_path}/deep.json: not an export (JSON nested too deeply)")
    digits = exported.replace('"width": ', '"width": ' + "9" * 5000, 1)
    assert _crafted(database, tmp_path, "digits.json", digits) == (
        f"watermark: {tmp_path}/digits.json: not JSON (parse error: integer overflow)")


def test_dash_is_standard_input_and_output_for_export_and_import_and_no_folder_for_embed(setup, tmp_path):
    """'export -o -' wrote a file named "-", 'import -' said "-: cannot read", 'embed -o -' made a folder "-"."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
                 str(database)]) == 0
    command = [sys.executable, "-m", "watermark", "registry"]
    exported = subprocess.run([*command, "export", "--json", "--registry", str(database), "-o", "-"], cwd=tmp_path,
                              capture_output=True, check=True).stdout
    assert not (tmp_path / "-").exists() and json.loads(exported)
    assert main(["registry", "init", str(tmp_path / "copy.db")]) == 0
    imported = subprocess.run([*command, "import", "-", "--registry", str(tmp_path / "copy.db")], input=exported,
                              capture_output=True, text=False, cwd=tmp_path)
    assert imported.returncode == 0 and imported.stdout.decode().startswith("-: imported 1 copy, 1 master, 1 key")
    again = subprocess.run([*command, "export", "--json", "--registry", str(tmp_path / "copy.db")],
                           capture_output=True, check=True).stdout
    assert again == exported
    refused = subprocess.run([sys.executable, "-m", "watermark", "embed", str(master), "-o", "-", "--key",
                              str(key_path), "--payload", "1"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr == ("watermark: -o - is no file or folder: the marked images "
                                                          "are written to files (-o OUT)\n")
    assert not (tmp_path / "-").exists()


def test_an_export_to_stdout_that_a_closed_pipe_took_part_of_is_no_success(setup, tmp_path):
    """'export --json | head -c 10' exited 0, and so did one to a disk that filled: the buffered write of a large
    chunk that the system took only part of lost its error (a cut backup, said to be whole)."""
    key_path, database = setup
    for master in _masters(tmp_path / "masters", 3):
        assert main(["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
                     str(database)]) == 0
    export = subprocess.Popen([sys.executable, "-m", "watermark", "registry", "export", "--json", "--registry",
                               str(database)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with export.stdout, export.stderr:
        assert export.stdout.read(10) == b'{\n "copies'           # the rest (more than a pipe holds) is not read
        export.stdout.close()
        assert export.wait(timeout=300) == 141 and export.stderr.read() == b""


def test_an_export_to_a_non_blocking_pipe_waits_for_it_and_writes_every_byte(setup, tmp_path):
    """An audit: a stdout pipe set non-blocking (by the shell's other reader) stopped the export with a
    BlockingIOError traceback once the pipe was full, the backup cut short."""
    key_path, database = setup
    for master in _masters(tmp_path / "masters", 3):
        assert main(["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
                     str(database)]) == 0
    whole = _run("registry", "export", "--json", "--registry", database, check=0).stdout.encode()
    reading, writing = os.pipe()
    os.set_blocking(writing, False)
    export = subprocess.Popen([sys.executable, "-m", "watermark", "registry", "export", "--json", "--registry",
                               str(database)], stdout=writing, stderr=subprocess.PIPE)
    os.close(writing)
    time.sleep(1.0)                                  # the pipe fills while nothing reads it
    with open(reading, "rb") as pipe, export.stderr:
        assert pipe.read() == whole and len(whole) > 65536
        assert export.wait(timeout=300) == 0 and export.stderr.read() == b""


def _with_masters(document, count, tmp_path):
    """``document`` (an export of one master and its copy) given ``count`` masters, the copy's last, written to
    ``tmp_path``/COUNT.json, and a new registry COUNT.db beside it."""
    document["masters"] = [{**document["masters"][0], "sha256": f"{n:064x}"} for n in range(count - 1)]
    document["masters"].append({**document["masters"][0], "sha256": document["copies"][0]["master"]})
    (tmp_path / f"{count}.json").write_text(json.dumps(document), encoding="utf-8")
    _run("registry", "init", tmp_path / f"{count}.db", check=0)


def test_import_holds_one_master_at_a_time_not_the_file(setup, tmp_path, capsys):
    """An export of 20,000 masters took 18 GB to import whole: memory now holds one master's print
    and frame at a time (traced: the same for 12 masters as for 48, and well under the file)."""
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X"])
    document = json.loads(_run("registry", "export", "--json", "--registry", database, check=0).stdout)
    assert document["masters"][0]["frame"] is not None
    peaks = {}
    for count in (12, 48):
        _with_masters(document, count, tmp_path)
        tracemalloc.start()
        try:
            assert main(["registry", "import", str(tmp_path / f"{count}.json"), "--registry",
                         str(tmp_path / f"{count}.db")]) == 0
            peaks[count] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        said = capsys.readouterr().out
        assert said.endswith(f"imported 1 copy, {count} masters, 1 key into {tmp_path}/{count}.db\n")
    size = (tmp_path / "48.json").stat().st_size
    assert peaks[48] < 1.25 * peaks[12] and peaks[48] < size / 3, (peaks, size)


def test_the_csv_export_neutralises_what_a_spreadsheet_would_run(setup, tmp_path, capsys):
    """OWASP's advice against CSV injection: a cell that starts with = + - @, a tab or a CR gets a
    leading '; the JSON export stays exact."""
    key_path, database = setup
    recipients = ["=cmd|'/C calc'!A0", "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx", "Agence X", "X\r=1+1"]
    _issued_to(database, key_path, tmp_path, recipients)
    assert main(["registry", "export", "--registry", str(database), "-o", str(tmp_path / "copies.csv")]) == 0
    with open(tmp_path / "copies.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["recipient"] for row in rows) == sorted(
        ["'=cmd|'/C calc'!A0", "'+1+1", "'-1+1", "'@SUM(A1)", "'\tx", "'\rx", "Agence X", "X\r=1+1"])
    assert main(["registry", "export", "--json", "--registry", str(database)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert sorted(copy["recipient"] for copy in exported["copies"]) == sorted(recipients)


def test_export_refuses_an_existing_file_without_overwrite_and_the_registry_itself_always(setup, tmp_path, capsys):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X"])
    before = database.read_bytes()
    existing = tmp_path / "copies.csv"
    existing.write_text("keep me", encoding="utf-8")
    export = ["registry", "export", "--registry", str(database), "-o"]
    assert main([*export, str(existing)]) == 2
    assert capsys.readouterr().err == f"watermark: {existing}: already exists; pass --overwrite to replace it\n"
    assert existing.read_text(encoding="utf-8") == "keep me"
    (tmp_path / "link.db").symlink_to(database)
    for itself in (database, tmp_path / "link.db"):
        assert main([*export, str(itself), "--json", "--overwrite"]) == 2
        assert capsys.readouterr().err == f"watermark: {itself}: is the registry itself; export to another file\n"
    assert database.read_bytes() == before
    with Registry(database):                                     # a connection keeps the WAL beside it
        wal = database.with_name(f"{database.name}-wal")
        assert main([*export, str(wal), "--overwrite"]) == 2 and wal.exists()
        assert capsys.readouterr().err == f"watermark: {wal}: is the registry itself (its wal file); export to " \
                                          "another file\n"
    assert main([*export, str(existing), "--overwrite"]) == 0
    assert existing.read_text(encoding="utf-8").startswith("id,state,payload")


def test_a_registry_and_its_export_are_private_and_a_missing_folder_is_named(tmp_path, capsys):
    database, backup = tmp_path / "r.db", tmp_path / "backup.json"
    assert main(["registry", "init", str(database)]) == 0
    assert main(["registry", "export", "--json", "--registry", str(database), "-o", str(backup)]) == 0
    assert oct(database.stat().st_mode & 0o777) == oct(backup.stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(database) as connection:          # SQLite gives the WAL its database's mode
        connection.execute("CREATE TABLE scratch (x)")
        assert oct(os.stat(f"{database}-wal").st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert main(["registry", "init", str(tmp_path / "nodir" / "r.db")]) == 2
    assert capsys.readouterr().err == (f"watermark: {tmp_path}/nodir/r.db: folder '{tmp_path}/nodir' does not exist; "
                                       "create it first\n")


def _damage(database):
    """Tell SQLite the copies table's first page holds one cell fewer than it does: a read then quietly
    misses a row, which only a check of the file finds."""
    with sqlite3.connect(database) as connection:
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'copies'").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    with open(database, "r+b") as handle:
        handle.seek((root - 1) * size + 3)               # a b-tree page's header: its number of cells
        cells = int.from_bytes(handle.read(2), "big")
        handle.seek((root - 1) * size + 3)
        handle.write((cells - 1).to_bytes(2, "big"))


def test_a_damaged_registry_is_refused_by_export_with_one_line(setup, tmp_path, capsys):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["r0", "r1", "r2"])
    _damage(database)
    for json_export in ([], ["--json"]):
        assert main(["registry", "export", "--registry", str(database), *json_export]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"watermark: {database}: damaged registry (SQLite's quick_check found ")
        assert err.count("\n") == 1


def test_a_damaged_registry_is_refused_by_every_command_before_it_reads_or_writes(setup, tmp_path, capsys):
    """`registry list` of a damaged file printed 5 of 16 copies with exit 0, and `embed --registry` issued a
    new copy into one: only `export` checked the file."""
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["r0", "r1", "r2"])
    exported = tmp_path / "export.json"
    assert main(["registry", "export", "--registry", str(database), "--json", "-o", str(exported)]) == 0
    _damage(database)
    master = _masters(tmp_path / "more", 1)[0]
    before = database.read_bytes()
    for command in (["registry", "list", "--registry", str(database)],
                    ["registry", "show", "r0", "--registry", str(database)],
                    ["registry", "import", str(exported), "--registry", str(database)],
                    ["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(key_path), "--registry",
                     str(database), "--recipient", "r3"],
                    ["scan", str(master), "--key", str(key_path), "--registry", str(database)]):
        capsys.readouterr()
        assert main(command) == 2, command
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"watermark: {database}: damaged registry (SQLite's quick_check found "), \
            (command, err)
        assert err.count("\n") == 1
    assert database.read_bytes() == before and not (tmp_path / "out").exists()


def test_two_runs_starting_at_once_with_two_keys_add_one(tmp_path):
    """The new-key guard read the keys and added one in two transactions: two cron jobs with two keys,
    started at once into a new registry, both added theirs (a probe: 1 run in 4)."""
    script = (
        "import sys, time, watermark as wm\n"
        "from watermark.registry import Registry\n"
        "from watermark.errors import RegistryError\n"
        "with Registry(sys.argv[1]) as registry:\n"
        "    key = wm.Key.from_passphrase(sys.argv[2])\n"
        "    while time.time() < float(sys.argv[3]):\n"
        "        pass\n"
        "    try:\n"
        "        print(registry.add_first_key(key))\n"
        "    except RegistryError as exc:\n"
        "        print('refused' if 'is new to this registry' in str(exc) else exc)\n")
    for trial in range(4):
        database = tmp_path / f"r{trial}.db"
        Registry(database, create=True).close()
        start = time.time() + 1.5
        runs = [subprocess.Popen([sys.executable, "-c", script, str(database), name, str(start)],
                                 stdout=subprocess.PIPE, text=True) for name in ("key one", "key two")]
        answers = sorted(run.communicate(timeout=60)[0].strip() for run in runs)
        assert answers == ["True", "refused"], answers
        with Registry(database) as registry:
            assert len(registry.keys()) == 1


def test_stored_metadata_that_is_not_json_is_one_line_naming_the_registry(setup, tmp_path, capsys):
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X"])
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE copies SET metadata = '{\"licence\": 12'")
    exported = tmp_path / "export.json"
    for command in (["list"], ["export"], ["export", "--json"], ["show", "0" * 64], ["export", "--json", "-o",
                                                                                       str(exported)]):
        assert main(["registry", *command, "--registry", str(database)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"watermark: {database}: damaged registry: a stored field does not "
                                            "decode (Expecting ',' delimiter") and err.count("\n") == 1
    assert not exported.exists() and not list(tmp_path.glob(".export.json.*"))    # no half export, no temporary


def test_a_key_new_to_a_registry_of_other_keys_is_refused_unless_asked_for(setup, tmp_path, capsys, monkeypatch):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    known = wm.Key.load(key_path)
    embed = ["embed", str(master), "--registry", str(database), "--recipient", "Agence X"]
    assert main([*embed, "-o", str(tmp_path / "a.png"), "--key", str(key_path)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == f"watermark: {database}: added key {known.fingerprint}"
    monkeypatch.setenv("PASSPHRASE", "cli registry tests, mistyped")
    mistyped = wm.Key.from_passphrase("cli registry tests, mistyped")
    assert main([*embed, "-o", str(tmp_path / "b.png"), "--passphrase-env", "PASSPHRASE"]) == 2
    assert capsys.readouterr().err == (
        f"watermark: {database}: key {mistyped.fingerprint} is new to this registry, which records the keys "
        f"{known.fingerprint}; a mistyped passphrase or a wrong key file is the likely cause (--new-key adds it "
        "on purpose)\n")
    assert not (tmp_path / "b.png").exists()
    with Registry(database) as registry:
        assert registry.keys() == [(known.public_id, known.fingerprint)]
    assert main(["registry", "list", "--registry", str(database), "--passphrase-env", "PASSPHRASE"]) == 2
    assert capsys.readouterr().err == (
        f"watermark: {database}: key {mistyped.fingerprint} is not in this registry (its keys' fingerprints: "
        f"{known.fingerprint}); a mistyped passphrase or a wrong key file is the likely cause\n")
    assert main([*embed, "-o", str(tmp_path / "b.png"), "--passphrase-env", "PASSPHRASE", "--new-key"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == f"watermark: {database}: added key {mistyped.fingerprint}"


def test_registry_list_and_show_help_with_a_recipient_and_list_in_the_order_shown(setup, tmp_path, capsys):
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    with Registry(database) as registry:
        known, key = register_master(registry, master), wm.Key.load(key_path)
        first, second = (registry.reserve(key, known, output_path=tmp_path / f"{name}.png", recipient=name,
                                          scheme="lattice") for name in ("reserved first", "issued first"))
        registry.mark_issued(second.id, "2" * 64)
        registry.mark_issued(first.id, "1" * 64)
        registry.reserve(key, known, output_path=tmp_path / "pending.png", recipient="pending", scheme="lattice")
    assert main(["registry", "list", "--registry", str(database), "--json"]) == 0
    listed = [json.loads(line)["recipient"] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["issued first", "reserved first", "pending"]
    assert main(["registry", "list", "--registry", str(database), "--recipient", "Agence\x1b X"]) == 1
    assert capsys.readouterr() == ("", "watermark: no copies issued to Agence\\x1b X\n")
    # an empty answer says what was not there (exit 1 alone printed nothing: a cron job's log showed nothing)
    assert main(["registry", "list", "--registry", str(database), "--state", "void"]) == 1
    assert capsys.readouterr() == ("", f"watermark: {database}: no records in state void\n")
    assert main(["registry", "show", "0x1234", "--registry", str(database)]) == 1
    assert capsys.readouterr() == ("", f"watermark: {database}: no record, master or copy for 0x1234\n")
    assert main(["registry", "show", "Agence X", "--registry", str(database)]) == 2
    assert capsys.readouterr().err == (
        "watermark: 'Agence X' is neither a payload (0x hex or decimal), a record id (8+ characters) nor a SHA-256 "
        "(64 hex digits); a recipient's copies: watermark registry list --recipient NAME\n")


def test_a_registry_that_cannot_grow_says_why_and_stays_sound(setup, tmp_path):
    """A full disk (here a file size limit, as `ulimit -f` sets) said "registry error (disk I/O error)"."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    limit = database.stat().st_size + 20_000                 # less than a master's print and frame

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "watermark", "embed", str(master), "-o", str(tmp_path / "a.jpg"),
                             "--key", str(key_path), "--registry", str(database)],
                            capture_output=True, text=True, timeout=600, preexec_fn=limited)
    assert result.returncode == 2, result.stderr
    assert (f"watermark: {master}: {database}: cannot write the registry (disk I/O error); is its disk full, or the "
            "size of files limited (ulimit -f)? The change was not made") in result.stderr.splitlines(), result.stderr
    _check_sound(database, expected_issued=0)


def test_a_registry_init_that_cannot_finish_leaves_no_file(tmp_path):
    """A probe: `registry init` on a full disk said "the change was not made" and left an empty r.db, which the
    next init refused ("already exists") and every other command called no registry."""
    database = tmp_path / "r.db"

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    result = subprocess.run([sys.executable, "-m", "watermark", "registry", "init", str(database)],
                            capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert result.returncode == 2 and "cannot write the registry" in result.stderr, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    assert main(["registry", "init", str(database)]) == 0


def test_an_issued_copy_reached_through_a_linked_folder_is_the_same_file(setup, tmp_path):
    """Outputs were stored as abspath: A's copy written to outA/, then a run for B into link/ (-> outA) was
    told the file 'is no copy this registry issued', and with --overwrite replaced A's copy without the
    warning that A's record now names another's file."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    (tmp_path / "outA").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "outA")
    _run("embed", master, "-o", tmp_path / "outA", "--key", key_path, "--registry", database, "--recipient", "A",
         check=0)
    refused = _run("embed", master, "-o", tmp_path / "link", "--key", key_path, "--registry", database,
                   "--recipient", "B", check=2)
    assert f"{tmp_path / 'link' / master.name}: holds copy " in refused.stderr and "issued to A" in refused.stderr
    replaced = _run("embed", master, "-o", tmp_path / "link", "--key", key_path, "--registry", database,
                    "--recipient", "B", "--overwrite", check=0)
    assert "replaced the file of copy" in replaced.stderr and "issued to A, whose record still names it" in \
        replaced.stderr


def test_an_export_whose_file_name_says_the_other_format_is_refused(setup, tmp_path, capsys):
    """`registry export -o backup.json` wrote CSV: a backup 'import' cannot read, found on the day it is needed."""
    _, database = setup
    for extra, name, said in (([], "backup.json", "a .json name for the CSV export; pass --json"),
                              (["--json"], "copies.csv", "a .csv name for the JSON export (--json)")):
        assert main(["registry", "export", "--registry", str(database), "-o", str(tmp_path / name), *extra]) == 2
        assert capsys.readouterr().err.startswith(f"watermark: {tmp_path / name}: {said}")
        assert not (tmp_path / name).exists()
    assert main(["registry", "export", "--registry", str(database), "-o", str(tmp_path / "copies.CSV")]) == 0


def test_an_export_to_stdout_holds_no_more_than_one_to_a_file(setup, tmp_path, monkeypatch):
    """`registry export --json > file` held the whole export in memory first (897 MB for 271 MB, a probe
    at 2,000 masters); it is held on disk now, whole before the first byte as before."""
    key_path, database = setup
    _issued_to(database, key_path, tmp_path, ["Agence X"])
    document = json.loads(_run("registry", "export", "--json", "--registry", database, check=0).stdout)
    peaks = {}
    for count in (12, 48):
        _with_masters(document, count, tmp_path)
        _run("registry", "import", tmp_path / f"{count}.json", "--registry", tmp_path / f"{count}.db", check=0)
        with open(tmp_path / f"{count}.out.json", "w", encoding="utf-8") as out:
            monkeypatch.setattr(sys, "stdout", out)
            tracemalloc.start()
            try:
                assert main(["registry", "export", "--json", "--registry", str(tmp_path / f"{count}.db")]) == 0
                peaks[count] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        monkeypatch.undo()
        assert json.loads((tmp_path / f"{count}.out.json").read_text())["masters"] == document["masters"]
    size = (tmp_path / "48.out.json").stat().st_size             # four times the masters: the same memory,
    assert peaks[48] < 1.25 * peaks[12] and peaks[48] < size, (peaks, size)     # and less than the export


@pytest.mark.parametrize("recipient", ["", "no recipient", "No Recipient"])
def test_embed_refuses_a_recipient_shown_as_none(setup, tmp_path, recipient, capsys):
    """An audit: a recipient named "no recipient", or "", was counted in the report with the copies of none."""
    key_path, database = setup
    master = _masters(tmp_path / "masters", 1)[0]
    assert main(["embed", str(master), "-o", str(tmp_path / "a.png"), "--key", str(key_path), "--registry",
                 str(database), "--recipient", recipient]) == 2
    assert capsys.readouterr().err == (f"watermark: --recipient {recipient!r}: is how a copy without a recipient is "
                                       "shown; give a name, or leave --recipient out\n")


def test_an_export_names_the_copy_a_killed_export_left(setup, tmp_path, capsys):
    """A probe killed `registry export -o`: its temporary file (most of the registry) stayed, and later exports
    said nothing of it."""
    _, database = setup
    leftover = tmp_path / ".backup.json.0123456789abcdef.tmp"
    leftover.write_text("{")
    assert main(["registry", "export", "--registry", str(database), "--json", "-o", str(tmp_path / "backup.json")]) == 0
    assert f"watermark: warning: {leftover}: a temporary file that a run killed" in capsys.readouterr().err
