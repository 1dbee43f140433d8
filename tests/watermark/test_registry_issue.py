"""issue_file: mark, write, record; and finishing what an interrupted run left, only for the same job
(real files, a real registry, real SIGKILLs and a real lock)."""

import json
import os
import sqlite3
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

import watermark as wm
from tests.photos import photo
from watermark import atomic
from watermark.registry import Registry, export_json, file_sha256, frames, import_document, issue_file, register_master


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


def test_issue_records_a_copy_that_reads_back(registry, master, tmp_path, key):
    output = tmp_path / "out" / "coffee.jpg"
    output.parent.mkdir()
    issued = issue_file(registry, master, output, key, recipient="Agence X", metadata={"licence": "123"})
    record = issued.record
    assert issued.status == "issued" and record.state == "issued"
    assert record.output_sha256 == file_sha256(output) and record.output_path == str(output.resolve())
    assert record.master.sha256 == file_sha256(master) and (record.master.width, record.master.height) == (600, 400)
    assert wm.detect_file(output, key).payload == record.payload
    assert registry.find_sha256(file_sha256(output))[0] == [record]
    assert registry.find_sha256(file_sha256(master))[1] == record.master


def test_issue_keeps_the_masters_frame_and_gives_one_to_a_master_registered_without(registry, master, tmp_path, key):
    loaded = np.asarray(Image.open(master).convert("L"), np.float32) / 255.0
    known = registry.add_master(sha256=file_sha256(master), path=master, width=600, height=400, phash=1,
                                print_=b"print")               # as a registry of before frames has it
    assert registry.frame(known) is None
    issue_file(registry, master, tmp_path / "coffee.png", key)
    frame = frames.decode(registry.frame(known), 600, 400)
    assert frame.shape == frames.frame_shape(600, 400) == (400, 600)       # never enlarged
    assert np.abs(frame - loaded).mean() < 0.01                             # the master's luminance
    assert registry.master(known.id).print == b"print"                     # the first registration's fields stay


def test_a_damaged_frame_is_one_line_naming_the_registry():
    with pytest.raises(wm.RegistryError, match="^r.db: the master's frame cannot be read"):
        frames.decode(b"not a png", 600, 400, name="r.db")
    with pytest.raises(wm.RegistryError, match=r"^r.db: the master's frame is uint8 \(400, 600\), not"):
        frames.decode(frames.encode(np.zeros((400, 600, 3), np.uint8)), 1920, 1080, name="r.db")


def test_rerun_skips_what_is_done(registry, master, tmp_path, key):
    output = tmp_path / "coffee.png"
    first = issue_file(registry, master, output, key, recipient="A")
    again = issue_file(registry, master, output, key, recipient="A")
    assert again.status == "skipped" and again.record.id == first.record.id
    assert registry.counts()["issued"] == 1
    with pytest.raises(wm.RegistryError, match="coffee.png: holds copy .* issued to A .* this run asks for another "
                       "recipient: give another output"):         # another recipient: not the same job, said so
        issue_file(registry, master, output, key, recipient="B")


def test_a_copy_under_another_link_is_still_the_copy_issued_there(registry, master, tmp_path, key):
    """As another case on a case-insensitive disk: the same file by another name (here a hard link, which
    needs no privileges) is the copy issued there, not a file of someone else's."""
    first = issue_file(registry, master, tmp_path / "a.png", key, recipient="Alice")
    os.link(tmp_path / "a.png", tmp_path / "A.png")
    again = issue_file(registry, master, tmp_path / "A.png", key, recipient="Alice")
    assert again.status == "skipped" and again.record.id == first.record.id
    with pytest.raises(wm.RegistryError, match="A.png: holds copy .* issued to Alice .* another recipient"):
        issue_file(registry, master, tmp_path / "A.png", key, recipient="Bob")


def test_only_the_issued_file_itself_is_skipped_not_other_bytes_there_nor_a_copy_of_its_bytes(registry, master,
                                                                                               tmp_path, key):
    """The file at an issued copy's name replaced by other bytes, or the copy's bytes copied to another name:
    neither is the copy issued there, and a rerun for it is told the output exists (not "skipped")."""
    issue_file(registry, master, tmp_path / "a.png", key, recipient="A")
    (tmp_path / "a.png").write_bytes(master.read_bytes())
    issue_file(registry, master, tmp_path / "c.png", key, recipient="A")
    (tmp_path / "d.png").write_bytes((tmp_path / "c.png").read_bytes())
    for name in ("a.png", "d.png"):
        with pytest.raises(wm.OutputExistsError, match=f"{name}: already exists"):
            issue_file(registry, master, tmp_path / name, key, recipient="A")
    assert registry.counts()["issued"] == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="a bind mount needs root")
def test_a_copy_named_another_way_is_still_the_copy_issued_there(registry, master, tmp_path, key, monkeypatch):
    """A probe on a case-insensitive disk: a rerun naming the output in another case read "already exists and
    is no copy this registry issued", for the copy it had issued, and its interrupted run's output was left
    unrecorded (here the other name is a bind mount of the output folder, which resolving links cannot see)."""
    (tmp_path / "Out").mkdir()
    (tmp_path / "out").mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "Out"), str(tmp_path / "out")], check=True)
    try:
        first = issue_file(registry, master, tmp_path / "Out" / "a.png", key, recipient="Alice")
        again = issue_file(registry, master, tmp_path / "out" / "a.png", key, recipient="Alice")
        assert again.status == "skipped" and again.record.id == first.record.id
        with pytest.raises(wm.RegistryError, match="a.png: holds copy .* issued to Alice .* another recipient"):
            issue_file(registry, master, tmp_path / "out" / "a.png", key, recipient="Bob")
        monkeypatch.setattr(atomic, "link_new", _then_ctrl_c(atomic.link_new))
        with pytest.raises(KeyboardInterrupt):
            issue_file(registry, master, tmp_path / "Out" / "b.png", key, recipient="Bob")
        monkeypatch.undo()
        recovered = issue_file(registry, master, tmp_path / "out" / "b.png", key, recipient="Bob")
        assert recovered.status == "recovered" and registry.counts()["issued"] == 2
    finally:
        subprocess.run(["umount", str(tmp_path / "out")], check=True)


def test_a_reservation_without_output_is_voided_and_a_new_payload_drawn(registry, master, tmp_path, key):
    output = tmp_path / "coffee.png"
    stale = registry.reserve(key, registry.add_master(sha256=file_sha256(master), path=master, width=600, height=400,
                                                      phash=0, print_=b""), output_path=output, scheme="lattice")
    issued = issue_file(registry, master, output, key)
    assert issued.status == "issued" and issued.record.payload != stale.payload
    assert registry.record(stale.id).state == "void"
    with pytest.raises(wm.RegistryError, match="already void"):
        registry.reserve(key, issued.record.master, output_path=tmp_path / "x.png", payload=stale.payload,
                         scheme="lattice")


def test_an_output_written_before_the_crash_is_recorded(registry, master, tmp_path, key):
    from watermark.registry import register_master

    output = tmp_path / "coffee.png"
    reservation = registry.reserve(key, register_master(registry, master), output_path=output, scheme="lattice")
    wm.embed_file(master, output, reservation.payload, key)          # the crash came right after this
    recovered = issue_file(registry, master, output, key)
    assert recovered.status == "recovered" and recovered.record.id == reservation.id
    assert recovered.record.output_sha256 == file_sha256(output)


def test_an_output_that_does_not_carry_the_reservation_is_not_claimed(registry, master, tmp_path, key):
    from watermark.registry import register_master

    output = tmp_path / "coffee.png"
    reservation = registry.reserve(key, register_master(registry, master), output_path=output, scheme="lattice")
    Image.open(master).save(output)                                  # someone else's file
    with pytest.raises(wm.OutputExistsError):
        issue_file(registry, master, output, key)
    assert registry.record(reservation.id).state == "void" and registry.counts()["issued"] == 0


def test_a_failed_embed_voids_its_reservation(registry, tmp_path, key):
    small = tmp_path / "small.png"
    Image.fromarray(photo("coffee")[:100, :100]).save(small)
    with pytest.raises(wm.ImageTooSmallError):
        issue_file(registry, small, tmp_path / "out.png", key)
    assert registry.counts()["void"] == 1 and not (tmp_path / "out.png").exists()


def test_a_marked_copy_is_found_again_through_the_registry_alone(registry, master, tmp_path, key):
    from watermark.fingerprint import MAX_DISTANCE, perceptual_hash
    from watermark.registration import Suspect, register
    from watermark.registry import feature_index, hash_index, print_of

    output = tmp_path / "coffee.jpg"
    record = issue_file(registry, master, output, key).record
    master.unlink()                                                    # the master file is gone
    marked = np.asarray(Image.open(output))
    flipped_small = np.ascontiguousarray(marked[::2, ::-2])
    nearest = hash_index(registry).query(perceptual_hash(flipped_small), max_distance=MAX_DISTANCE)[0]
    assert nearest[0] == record.master.id
    crop = Suspect(np.ascontiguousarray(marked[100:300, 150:450]))
    assert feature_index(registry).candidates(crop.features())[0][0] == record.master.id
    found = registry.master(record.master.id)
    registration = register(crop, print_of(found))
    # Where it was cut, judged at the crop's centre (the best-constrained point: a homography's
    # translation is where the corner lands, which a slight scale or tilt moves more: 2.4 px off in
    # one full CI run, the registry's payload being random; at most 1.1 px over 12 payloads).
    centre = registration.homography @ [150.0, 100.0, 1.0]
    assert registration.matched and np.allclose(centre[:2] / centre[2], [300, 200], atol=2)
    assert [copy.id for copy in registry.copies_of(found)] == [record.id]


def test_an_output_whose_reservation_another_run_voided_is_taken_back(registry, master, tmp_path, key, monkeypatch):
    output = tmp_path / "coffee.png"
    original = registry.mark_issued

    def voided_meanwhile(record_id, sha256):
        with Registry(registry.path) as other:                # a concurrent run, on its own connection
            other.void(record_id, "interrupted: output not written")
        return original(record_id, sha256)

    monkeypatch.setattr(registry, "mark_issued", voided_meanwhile)
    with pytest.raises(wm.RegistryError, match="no longer reserved"):
        issue_file(registry, master, output, key)
    assert not output.exists() and registry.counts()["issued"] == 0


def test_a_16_bit_colour_master_is_issued_at_its_own_size(registry, tmp_path, key):
    deep = tmp_path / "deep.png"
    pixels = photo("coffee").astype(np.uint16) * 257
    assert cv2.imwrite(str(deep), np.ascontiguousarray(pixels[:, :, ::-1]))      # OpenCV writes BGR
    output = tmp_path / "deep-out.png"
    record = issue_file(registry, deep, output, key).record
    assert (record.master.width, record.master.height) == (600, 400)
    assert wm.detect_file(output, key).payload == record.payload


def test_a_dark_16_bit_file_is_issued_as_embed_file_marks_it(registry, tmp_path, key):
    dark = tmp_path / "dark16.png"        # a 16-bit file whose values stay under 4096: what it says, not 8 bits
    pixels = (np.asarray(Image.fromarray(photo("coffee")).convert("L"), np.uint16) * 16).astype("<u2")
    Image.frombytes("I;16", (600, 400), pixels.tobytes()).save(dark)
    wm.embed_file(dark, tmp_path / "by-embed.png", 1, key)
    record = issue_file(registry, dark, tmp_path / "by-issue.png", key).record
    with Image.open(tmp_path / "by-issue.png") as issued:
        assert record.state == "issued" and issued.mode == "I;16"


def test_a_nearly_black_file_whose_mark_would_not_read_is_refused_and_not_issued(registry, tmp_path, key):
    dark = tmp_path / "dark16.png"        # values under 128 of 65535: the mark, dimmed, reads as a blank area
    pixels = (np.asarray(Image.fromarray(photo("coffee")).convert("L"), np.uint16) // 2).astype("<u2")
    Image.frombytes("I;16", (600, 400), pixels.tobytes()).save(dark)
    for make in (lambda: wm.embed_file(dark, tmp_path / "by-embed.png", 1, key),
                 lambda: issue_file(registry, dark, tmp_path / "by-issue.png", key)):
        with pytest.raises(wm.InvalidImageError, match="nearly black"):
            make()
    assert not (tmp_path / "by-embed.png").exists() and not (tmp_path / "by-issue.png").exists()
    assert registry.counts()["issued"] == 0


def test_an_output_format_that_cannot_hold_the_master_is_refused_before_the_registry_changes(registry, tmp_path,
                                                                                           key):
    transparent = tmp_path / "transparent.png"
    rgba = np.dstack([photo("coffee"), np.full((400, 600), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(transparent)
    with pytest.raises(wm.WatermarkError, match="out.jpg: JPEG cannot store transparency"):
        issue_file(registry, transparent, tmp_path / "out.jpg", key)
    assert registry.counts() == {"keys": 0, "masters": 0, "reserved": 0, "issued": 0, "void": 0}


def test_an_already_marked_master_is_issued_with_a_warning(registry, master, tmp_path, key):
    first = tmp_path / "first.png"
    issue_file(registry, master, first, key)
    with pytest.raises(wm.IssuedCopyError, match="first.png: is copy .* not a master: copies are never marked again"):
        issue_file(registry, first, tmp_path / "second.png", key)        # the issued copy itself: refused
    Image.open(first).save(tmp_path / "edited.png", compress_level=1)     # the same pixels, other bytes
    with pytest.warns(wm.AlreadyMarkedWarning, match="edited.png: already carries this key's mark"):
        second = issue_file(registry, tmp_path / "edited.png", tmp_path / "second.png", key)
    assert second.status == "issued" and registry.counts()["issued"] == 2


def test_a_copy_issued_under_one_key_is_a_master_for_another(registry, master, tmp_path, key):
    """A second mark under a second key is marking on purpose (an agency's copy given its client's mark)."""
    first = tmp_path / "first.png"
    issue_file(registry, master, first, key)
    second = issue_file(registry, first, tmp_path / "second.png", wm.Key.generate(), recipient="client")
    assert second.status == "issued" and registry.counts()["issued"] == 2


def test_a_master_is_never_marked_in_place(registry, master, key):
    before = master.read_bytes()
    with pytest.raises(wm.ParameterError, match="coffee.png: is the master itself"):
        issue_file(registry, master, master, key, overwrite=True)
    assert master.read_bytes() == before and registry.counts() == {"keys": 0, "masters": 0, "reserved": 0,
                                                                    "issued": 0, "void": 0}


_RESERVE = """
import sys
import watermark as wm
from watermark.registry import Registry
with Registry(sys.argv[1]) as registry:
    registry.reserve(wm.Key.from_passphrase("filigrane test suite"), registry.master(sys.argv[2]),
                     output_path=sys.argv[3], scheme="lattice")
    print("reserved", flush=True)
    sys.stdin.read()
"""


def test_a_reservation_of_a_run_at_work_is_left_to_it_and_voided_once_its_process_is_gone(registry, master,
                                                                                           tmp_path, key):
    from watermark.registry import register_master

    output = tmp_path / "coffee.png"
    known = register_master(registry, master)
    holder = subprocess.Popen([sys.executable, "-c", _RESERVE, str(registry.path), known.sha256, str(output)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "reserved"
        busy = f"coffee.png: being issued by process {holder.pid} on .* run again once it has finished$"
        with pytest.raises(wm.RegistryError, match=busy):
            issue_file(registry, master, output, key)
        with pytest.raises(wm.RegistryError, match=busy):           # nor can a reservation slip in beside it
            registry.reserve(key, known, output_path=output, scheme="lattice")
        assert registry.counts()["reserved"] == 1 and not output.exists()
    finally:
        holder.communicate("")
    assert issue_file(registry, master, output, key).status == "issued"
    assert registry.counts() == {"keys": 1, "masters": 1, "reserved": 0, "issued": 1, "void": 1}


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


def _then_ctrl_c(function):
    """``function``, after which a Ctrl-C comes."""
    def then_ctrl_c(*args):
        function(*args)
        raise KeyboardInterrupt
    return then_ctrl_c


def test_an_interrupt_just_after_the_output_got_its_name_leaves_it_for_a_rerun(registry, master, tmp_path, key,
                                                                              monkeypatch):
    output = tmp_path / "coffee.png"
    monkeypatch.setattr(atomic, "link_new", _then_ctrl_c(atomic.link_new))
    with pytest.raises(KeyboardInterrupt):
        issue_file(registry, master, output, key, recipient="Alice")
    monkeypatch.undo()
    (reserved,) = registry.records()
    assert reserved.state == "reserved" and output.is_file()
    again = issue_file(registry, master, output, key, recipient="Alice")
    assert again.status == "recovered" and again.record.id == reserved.id
    assert again.record.output_sha256 == file_sha256(output)


def test_an_interrupt_just_after_the_reservation_committed_voids_it(registry, master, tmp_path, key, monkeypatch):
    """A CI run's SIGTERM came between the reservation's commit and its return: the reservation of a copy
    never written stayed, where the stop promises to void it."""
    monkeypatch.setattr(Registry, "_existing", _then_ctrl_c(Registry._existing))
    with pytest.raises(KeyboardInterrupt):
        issue_file(registry, master, tmp_path / "coffee.png", key, recipient="Alice")
    monkeypatch.undo()
    (voided,) = registry.records()
    assert voided.state == "void" and not (tmp_path / "coffee.png").exists()


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


def test_an_embed_to_the_output_path_of_a_reservation_merged_from_another_office_leaves_it(registry, master, tmp_path,
                                                                                        key):
    """Office B held office A's reservation (merged while A issued) and issued its own copy to the same
    output path on its own machine: it voided A's copy, and the central registry never took B's export again."""
    with Registry(tmp_path / "a.db", create=True) as office_a:
        a_copy = office_a.reserve(key, register_master(office_a, master), output_path=tmp_path / "out.png",
                                  scheme="lattice")
        import_document(registry, json.loads(export_json(office_a)))
    issued = issue_file(registry, master, tmp_path / "out.png", key, recipient="B's client")
    assert registry.record(a_copy.id).state == "reserved" and issued.record.state == "issued"


def test_a_master_moved_since_it_was_registered_is_recorded_where_it_now_is(registry, master, tmp_path, key):
    """A probe: a master moved to another folder and issued again from there kept its old, missing path, and a
    scan read its copies against the registry's frame rather than the file."""
    first = issue_file(registry, master, tmp_path / "a.png", key, recipient="Alice").record.master
    moved = tmp_path / "archive" / "coffee.png"
    moved.parent.mkdir()
    master.rename(moved)
    again = issue_file(registry, moved, tmp_path / "b.png", key, recipient="Bob").record.master
    assert (again.id, again.path) == (first.id, str(moved.resolve()))
    copy = tmp_path / "elsewhere.png"                  # the same file at a second place, the first one still there
    copy.write_bytes(moved.read_bytes())
    third = issue_file(registry, copy, tmp_path / "c.png", key, recipient="Carol").record.master
    assert third.path == str(moved.resolve())


def test_on_written_comes_with_the_output_in_place_before_the_copy_is_recorded(registry, master, tmp_path, key,
                                                                               monkeypatch):
    """A clean-clone CI run: a Ctrl-C reached a worker just after it recorded a copy, before it said its work was
    done, and the copy issued had no row; the worker is told before the record now."""
    output, said = tmp_path / "coffee.png", []
    record_it = Registry.mark_issued
    monkeypatch.setattr(Registry, "mark_issued", lambda self, *args: said.append("recorded") or record_it(self, *args))
    issue_file(registry, master, output, key, on_written=lambda: said.append(("written", output.is_file())))
    assert said == [("written", True), "recorded"]


def test_a_registry_restored_from_its_own_export_still_finishes_an_interrupted_issue(registry, master, tmp_path, key,
                                                                                      monkeypatch):
    """An audit: restored from its JSON export, every reservation was held as merged from elsewhere, and the rerun
    of an interrupted embed said the output 'is no copy this registry issued' where it had recovered it."""
    output = tmp_path / "coffee.png"
    monkeypatch.setattr(atomic, "link_new", _then_ctrl_c(atomic.link_new))
    with pytest.raises(KeyboardInterrupt):
        issue_file(registry, master, output, key, recipient="Alice")
    monkeypatch.undo()
    with Registry(tmp_path / "restored.db", create=True) as restored:
        import_document(restored, json.loads(export_json(registry)))
        again = issue_file(restored, master, output, key, recipient="Alice")
        assert again.status == "recovered" and again.record.output_sha256 == file_sha256(output)
