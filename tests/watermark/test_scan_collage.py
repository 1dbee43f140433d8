"""``watermark scan --partial`` on a copy printed small inside a collage, found by local features,
registered and read in the master's frame; on a small crop too plain for features, placed by the
mark's tile phase and the master's thumbnail; and a recipient who pastes another's mark on their
own copy (a real registry file, real PNG files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import photo
from PIL import Image

import attacks
from eval import suspects
from watermark import Key, placement, scan_masters, scan_matching
from watermark import original as original_module
from watermark.registration import Registration
from watermark.registry import Registry, issue_file
from watermark.scan import Scanner, ScanOptions
from watermark.sources import Source

X, Y = "Agence X", "Studio Y"
# A copy too small for its per-copy layer is named unverified: its periodic mark could have been pasted
# (see test_scan.py); these tests are of finding the master and the copy, which either status names.
NAMED = ("attributed", "unverified")
ISSUED = {"coffee": (X, Y), "motorcycle_left": (X, Y)}


def _frame(name):
    return cv2.resize(photo(name), (1920, 1080), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(registry path, key, {(master, recipient): (payload, issued pixels)})."""
    root = tmp_path_factory.mktemp("collage")
    key = Key.from_passphrase("collage test key")
    copies = {}
    with Registry(root / "r.db", create=True) as registry:
        registry.add_key(key)
        for number, (name, recipients) in enumerate(ISSUED.items()):
            Image.fromarray(_frame(name)).save(root / f"{name}.png")
            for index, recipient in enumerate(recipients):
                output = root / recipient.split()[-1] / f"{name}.png"
                output.parent.mkdir(exist_ok=True)
                payload = 0x5EED_0000 + 16 * number + index       # fixed: the same marks every run
                record = issue_file(registry, root / f"{name}.png", output, key, payload=payload,
                                    recipient=recipient).record
                copies[name, recipient] = (record.payload, np.asarray(Image.open(output).convert("RGB")))
    return root / "r.db", key, copies


def _scan(world, pixels, path, *, originals=True):
    registry, key, _ = world
    Image.fromarray(pixels).save(path)
    scanner = Scanner(str(registry), [key], ScanOptions(partial=True, originals=originals))
    try:
        return scanner(Source(str(path), str(path)))
    finally:
        scanner.close()


def _collage(pixels):
    """The picture at a quarter of its size (480x270) in a 2x2 collage of unregistered photographs."""
    return suspects.collage(pixels, [_frame(name) for name in ("chelsea", "astronaut", "rocket")], grid=2, seed=1)


def _hex(payload):
    return f"{payload:#018x}"


@pytest.mark.parametrize("master", ISSUED)
def test_a_copy_at_a_quarter_of_its_size_in_a_collage_is_named(world, master, tmp_path):
    payload, pixels = world[2][master, X]
    row = _scan(world, _collage(pixels), tmp_path / "collage.png")
    assert row["status"] in NAMED, row
    assert row["method"] == "informed" and row["record"]["recipient"] == X
    assert row["payload"] == _hex(payload) and row["p_value"] < 1e-6
    assert row["match"]["read_against"] == "the master file"
    assert row["match"]["likeness"] >= 0.9                    # the cell shows the master's picture
    mark = next(mark for mark in row["marks"] if mark["payload"] == row["payload"])
    assert mark["content_match"] and mark["attributed"] == mark["verified"]


def test_a_page_holding_two_issued_copies_names_both_also_when_the_blind_read_found_one(world, tmp_path):
    """Y's copy of one master large enough for the blind read, X's copy of another at a quarter of its
    size beside it: the blind read names Y, and local features still look for the masters in the rest."""
    (big_payload, big), (small_payload, small) = world[2]["motorcycle_left", Y], world[2]["coffee", X]
    page = np.full((540, 1440, 3), 255, np.uint8)
    page[:, :960] = cv2.resize(big, (960, 540), interpolation=cv2.INTER_AREA)
    page[135:405, 960:] = cv2.resize(small, (480, 270), interpolation=cv2.INTER_AREA)
    row = _scan(world, suspects.jpeg(page, 90), tmp_path / "page.png")
    assert row["status"] == "attributed", row
    marks = {mark["payload"]: mark for mark in row["marks"] if mark["attributed"]}
    big_mark = marks[_hex(big_payload)]
    assert big_mark["method"] in ("blind", "blind+informed") and big_mark["record"]["recipient"] == Y
    assert marks[_hex(small_payload)]["method"] == "informed" and marks[_hex(small_payload)]["record"]["recipient"] == X


def test_a_cell_features_cannot_register_is_found_whole_in_the_master_file(world, tmp_path, monkeypatch):
    """As for a repeated pattern or a night scene: the index proposes the master but no registration
    holds, and no straight lines bound the copy (as for a feathered or irregular cut). The master file,
    at hand, is found whole in the collage and the cell read against it; with the master files moved
    away nothing places it."""
    payload, pixels = world[2]["coffee", X]
    monkeypatch.setattr(scan_matching, "register", lambda suspect, master, **_: Registration(False, None, 0, 0))
    monkeypatch.setattr(scan_matching.cells, "rectangles", lambda luma: [])
    row = _scan(world, _collage(pixels), tmp_path / "collage.png")
    assert row["status"] in NAMED and row["payload"] == _hex(payload) and row["p_value"] < 1e-9, row
    assert row["match"]["placed"] == "the master file" and row["match"]["detail_correlation"] >= 0.5
    moved = _scan(world, _collage(pixels), tmp_path / "collage.png", originals=False)
    assert moved["status"] not in NAMED, moved


def test_a_collage_cell_features_cannot_register_is_placed_in_its_cell(world, tmp_path, monkeypatch):
    """The same in a grid: the cell the collage's lines bound matches the master's hash, and the
    master, its thumbnail alike there, is placed in it, also with the master files moved away."""
    payload, pixels = world[2]["coffee", X]
    monkeypatch.setattr(scan_matching, "register", lambda suspect, master, **_: Registration(False, None, 0, 0))
    row = _scan(world, _collage(pixels), tmp_path / "collage.png", originals=False)
    assert row["status"] in NAMED and row["payload"] == _hex(payload) and row["p_value"] < 1e-9, row
    assert row["match"]["placed"] == "a cell of the page" and row["match"]["hash_distance"] <= 10
    flipped = _scan(world, np.ascontiguousarray(_collage(pixels)[:, ::-1]), tmp_path / "flipped.png", originals=False)
    assert flipped["status"] not in NAMED, flipped             # the hash matches; the thumbnail does not


def test_a_cell_features_register_a_few_percent_off_is_read_where_its_rectangle_puts_it(world, tmp_path,
                                                                                         monkeypatch):
    """As the few keypoints of a small dark or smooth copy may: the registration holds but lies 3 % off
    (tens of the master's pixels at its corners), which folds the mark away. The cell's lines say where
    the master lies to a pixel; without them the same registration attributes nothing."""
    payload, pixels = world[2]["coffee", X]
    real = scan_matching.register
    zoom = np.array([[1.03, 0.0, -0.015 * 1919], [0.0, 1.03, -0.015 * 1079], [0.0, 0.0, 1.0]])

    def off(suspect, master, **options):
        registration = real(suspect, master, **options)
        if not registration.matched:
            return registration
        return Registration(True, zoom @ registration.homography, registration.inliers, registration.matches)

    monkeypatch.setattr(scan_matching, "register", off)
    row = _scan(world, _collage(pixels), tmp_path / "collage.png", originals=False)
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row
    assert row["match"]["inliers"] > 0                        # the features' evidence is kept
    monkeypatch.setattr(scan_matching.cells, "rectangles", lambda luma: [])
    unboxed = _scan(world, _collage(pixels), tmp_path / "collage.png", originals=False)
    assert unboxed["status"] not in NAMED, unboxed


def test_a_copy_pasted_inside_another_photograph_is_placed_where_its_edges_are(world, tmp_path, monkeypatch):
    """Its edges cross only part of the page, yet stand out in the page's mean jump per column and row."""
    payload, pixels = world[2]["coffee", X]
    page = cv2.resize(_frame("chelsea"), (1440, 810), interpolation=cv2.INTER_AREA)
    page[300:570, 700:1180] = cv2.resize(pixels, (480, 270), interpolation=cv2.INTER_AREA)
    monkeypatch.setattr(scan_matching, "register", lambda suspect, master, **_: Registration(False, None, 0, 0))
    row = _scan(world, suspects.jpeg(page, 85), tmp_path / "page.png", originals=False)
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row
    assert row["match"]["placed"] == "a cell of the page"


def test_with_the_master_files_moved_away_the_registry_alone_still_names_the_copy(world, tmp_path):
    payload, pixels = world[2]["coffee", X]
    row = _scan(world, _collage(pixels), tmp_path / "collage.png", originals=False)
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row
    assert row["match"]["read_against"] == "the registry's frame of the master"


def test_a_recipient_who_pastes_anothers_mark_on_their_own_copy_is_the_one_named(world, tmp_path):
    """Y scrubs the periodic mark of their copy and pastes the one of X's copy of the same master (the
    only place that mark exists): Y's per-copy layer, still there, names Y and discredits X's mark."""
    (pasted, source), (own, pixels) = world[2]["coffee", X], world[2]["coffee", Y]
    row = _scan(world, attacks.copy_mark(attacks.remove_mark(pixels), source=source), tmp_path / "forged.png")
    assert row["status"] == "attributed" and row["payload"] == _hex(own), row
    marks = {mark["payload"]: mark for mark in row["marks"]}
    assert not marks[_hex(pasted)]["attributed"] and not marks[_hex(pasted)]["verified"]


def test_an_unmarked_master_in_a_collage_is_only_a_near_duplicate(world, tmp_path):
    row = _scan(world, _collage(_frame("coffee")), tmp_path / "collage.png")
    assert row["status"] == "near-duplicate", row
    assert row["match"]["master"]["path"].endswith("coffee.png") and not row["marks"]


def _small_crop(pixels):
    """5 % of the area, at the place where coffee's features find too few matches to register."""
    return suspects.jpeg(suspects.crop_area(pixels, fraction=0.05, seed=1), 90)


def test_a_small_crop_too_plain_for_features_is_placed_and_named(world, tmp_path):
    payload, pixels = world[2]["coffee", X]
    row = _scan(world, _small_crop(pixels), tmp_path / "crop.png")
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row
    assert row["record"]["recipient"] == X and row["p_value"] < 1e-9
    assert row["match"]["placed"] == "tile phase and thumbnail" and row["match"]["thumbnail_rms"] < 0.035


def test_the_same_crop_of_the_unmarked_master_is_not_attributed(world, tmp_path):
    row = _scan(world, _small_crop(_frame("coffee")), tmp_path / "crop.png")
    assert row["status"] in ("not-found", "near-duplicate") and not row["marks"], row


def test_a_mark_pasted_on_a_crop_of_another_photograph_is_not_attributed(world, tmp_path):
    """The copy attack at the master's scale, then a small crop: the mark places the crop modulo the
    tile, but no thumbnail of a master of that size shows that content there."""
    registry, key, copies = world
    forged = _small_crop(attacks.copy_mark(_frame("rocket"), source=copies["coffee", X][1]))
    phase = placement.phase_at(forged, forged.shape[1::-1], (1920, 1080), key)
    assert phase is not None and phase.p_value < 1e-6        # the pasted mark is there, and placed
    row = _scan(world, forged, tmp_path / "forged.png")
    assert row["status"] in ("not-found", "mark-only") and row["match"] is None, row


def test_a_master_file_changed_since_it_was_registered_is_not_read_against(tmp_path):
    """The registry's SHA-256 guards the non-blind read: a file edited (or replaced) at the master's
    path is not the master, and the scan falls back on the registry's print and frame."""
    key = Key.from_passphrase("changed master key")
    master = tmp_path / "coffee.png"
    Image.fromarray(_frame("coffee")).save(master)
    with Registry(tmp_path / "r.db", create=True) as registry:
        registry.add_key(key)
        payload = issue_file(registry, master, tmp_path / "copy.png", key, recipient=X).record.payload
    Image.fromarray(_frame("coffee")[:, ::-1].copy()).save(master)       # edited after issuing
    world = (tmp_path / "r.db", key, {})
    row = _scan(world, _collage(np.asarray(Image.open(tmp_path / "copy.png").convert("RGB"))), tmp_path / "c.png")
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row
    assert row["match"]["read_against"] == "the registry's frame of the master"


def test_a_crop_that_neither_features_nor_the_mark_place_is_placed_in_the_master_file(world, tmp_path):
    """A 2 % crop with too few features and too faint a pilot for the tile phase: sought in the master
    files the feature index proposed, placed where its fine detail matches, and read against it. With
    the master files moved away nothing places it."""
    payload, pixels = world[2]["coffee", X]
    crop = suspects.jpeg(suspects.crop_area(pixels, fraction=0.02, seed=0), 90)
    row = _scan(world, crop, tmp_path / "crop.png")
    assert row["status"] in NAMED and row["payload"] == _hex(payload) and row["p_value"] < 1e-9, row
    assert row["match"]["placed"] == "the master file" and row["match"]["detail_correlation"] >= 0.5
    assert row["match"]["read_against"] == "the master file"
    moved = _scan(world, crop, tmp_path / "crop.png", originals=False)
    assert moved["status"] not in NAMED, moved



def test_a_master_file_is_read_only_where_its_thumbnail_shows_the_master_may_be(world, tmp_path, monkeypatch):
    """With every registration failing, each master the feature index proposes is sought in its file:
    for a page of other photographs no master file is read (their thumbnails do not show them there);
    for the collage holding coffee's copy, only coffee's file is read, and the cell still placed."""
    proposed, read = [], []
    monkeypatch.setattr(scan_matching, "register",
                        lambda suspect, master, **_: proposed.append(master) or Registration(False, None, 0, 0))

    def load_original(path, *args, **kwargs):
        read.append(path)
        return original_module.load_original(path, *args, **kwargs)

    monkeypatch.setattr(scan_masters, "load_original", load_original)
    others = [_frame(name) for name in ("chelsea", "astronaut", "rocket", "retina")]
    row = _scan(world, suspects.collage(others[0], others[1:], grid=2, seed=1), tmp_path / "other.png")
    assert proposed and not read and row["status"] == "not-found", (len(proposed), read, row)
    proposed.clear()
    payload, pixels = world[2]["coffee", X]
    row = _scan(world, _collage(pixels), tmp_path / "collage.png")
    assert len(proposed) == 2 and [path.rsplit("/", 1)[-1] for path in read] == ["coffee.png"], (proposed, read)
    assert row["status"] in NAMED and row["payload"] == _hex(payload), row


@pytest.mark.parametrize("band", [8.0, 64.0])
def test_another_photograph_carrying_a_copys_whole_residual_is_not_attributed(world, tmp_path, band):
    """A composite of an unrelated photograph and X's copy's fine residual (its mark, per-copy layer
    and detail: features register it to the master) does not show the master's picture: the mark is
    reported, and not as X's copy."""
    source = world[2]["coffee", X][1]
    composite = attacks.copy_mark(_frame("chelsea"), source=source, residual=1.0, band=band)
    row = _scan(world, composite, tmp_path / "composite.png")
    assert row["status"] == "mark-only" and "does not match" in row["reason"], row
    assert not any(mark["attributed"] for mark in row["marks"])
