"""issue_file: mark, write, record; and finishing what an interrupted run left."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

import watermark as wm
from tests.photos import photo
from watermark.registry import Registry, file_sha256, frames, issue_file


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
    with pytest.raises(wm.OutputExistsError):          # another recipient: not the same job
        issue_file(registry, master, output, key, recipient="B")


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


def test_an_already_marked_master_is_issued_with_a_warning(registry, master, tmp_path, key):
    first = tmp_path / "first.png"
    issue_file(registry, master, first, key)
    with pytest.warns(wm.AlreadyMarkedWarning, match="first.png: already carries this key's mark"):
        second = issue_file(registry, first, tmp_path / "second.png", key)
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
