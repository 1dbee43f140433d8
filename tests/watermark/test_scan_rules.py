"""The scan's and its report's rules, each on a made-up file: what names a copy, what is doubted, what a
figure counts."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import watermark as wm
from tests.photos import photo
from watermark import placement, scan_findings, scan_informed, scan_matching, scan_verdict
from watermark import scan as scan_module
from watermark.registration import Registration
from watermark.registry import Master, Record
from watermark.scan_html import _layer_p
from watermark.scan_report import ScanReport
from watermark.sources import masked


def test_a_url_password_holding_an_at_sign_is_masked_whole():
    assert masked("https://user:p@ss@example.com/x.jpg") == "https://***@example.com/x.jpg"


@pytest.mark.parametrize("url, shown", [
    ("http://me@corp.example:S3cretPw@host/x.jpg", "http://***@host/x.jpg"),            # an e-mail login
    ("https://ghp_S3cretToken@host/a.jpg", "https://***@host/a.jpg"),                   # a token alone
    ("https://b.s3.amazonaws.com/a.jpg?X-Amz-Credential=AK%2F1&X-Amz-Signature=9f&w=1",
     "https://b.s3.amazonaws.com/a.jpg?X-Amz-Credential=***&X-Amz-Signature=***&w=1"),
    ("https://h/a.jpg?access_token=zz#top", "https://h/a.jpg?access_token=***#top"),
    ("https://h/a.jpg?api_key=1&key=2&sig=3&monkey=4&keyword=5",
     "https://h/a.jpg?api_key=***&key=***&sig=***&monkey=4&keyword=5"),
    ("https://host/@user/img.jpg", "https://host/@user/img.jpg"),                        # an @ in the path
    ("https://h/a.jpg;jsessionid=AbC123?w=1", "https://h/a.jpg;jsessionid=***?w=1"),       # a path parameter
    ("https://h/a.jpg?session_id=xyz&w=2", "https://h/a.jpg?session_id=***&w=2"),
])
def test_every_secret_a_url_can_carry_is_masked(url, shown):
    """A probe found e-mail logins, token-only user names and query tokens shown in lines and the report."""
    assert masked(f"watermark: {url}: cannot read URL") == f"watermark: {shown}: cannot read URL"


def test_the_report_links_no_url_that_carries_a_secret():
    from watermark.scan_html import _link

    assert "href" not in _link("https://ghp_S3cretToken@host/a.jpg") and "S3cret" not in _link(
        "https://ghp_S3cretToken@host/a.jpg")
    assert "href" not in _link("https://h/a.jpg?access_token=zz")
    assert "href" not in _link("https://***@host/a.jpg") and "href" not in _link("https://h/a.jpg?sig=***")
    assert _link("https://h/a.jpg?w=1") == "<a href='https://h/a.jpg?w=1'>https://h/a.jpg?w=1</a>"


def test_a_strong_layer_p_is_not_borderline():
    assert _layer_p({"layer_p_value": 1e-30, "copies_tested": 3}, 1e-9) == "1e-30 among 3 copies"
    assert _layer_p({"layer_p_value": 1e-10, "copies_tested": 1}, 1e-9) == "1e-10 among 1 copy <i>borderline</i>"


def test_the_chance_figure_counts_every_key(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None, keys=["k1", "k2", "k3"])
    for i in range(5):
        report.add({"path": f"crawl/{i}.jpg", "status": "not-found"})
    text = " ".join(report.write("scan").read_text().split())
    assert "pass a blind read by chance: about 1.5e-8 (files x keys x 1e-9;" in text


def test_an_exact_copy_counts_among_the_recipient_s_copies(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None)
    record = {"id": "0f1e", "recipient": "Agence X", "issued": "2026-12-01T10:00:00Z", "metadata": {},
              "master": {"path": "masters/coffee.tif", "sha256": "ab" * 32}}
    report.add({"path": "crawl/exact.png", "status": "exact", "method": "exact", "record": record,
                "payload": "0x1", "marks": [], "sha256": "cd" * 32})
    assert report.copies_by_recipient["Agence X"] == {"0f1e"}


def test_detection_json_gives_the_layer_s_own_p_value(key):
    image = cv2.resize(photo("astronaut"), (768, 768), interpolation=cv2.INTER_AREA)
    detection = wm.detect(wm.embed(image, 0x1234, key), key)
    fields = detection.to_dict()
    assert detection.verification_p_value is not None
    assert fields["verification_p_value"] == detection.verification_p_value
    assert fields["verification_p_value"] != fields["p_value"]


def test_the_best_match_is_the_nearest_master():
    def master_by_id(i):
        return Master(id=i, sha256=f"{i}" * 64, path=f"/m/{i}.png", width=8, height=8, phash=0, print=b"", added_at="")

    found = scan_findings.Findings("x.jpg", loaded=None, near={7: 9, 3: 2, 5: 6})
    assert scan_verdict.best_match(found, master_by_id) == {
        "master": {"path": "/m/3.png", "sha256": "3" * 64, "width": 8, "height": 8}, "distance": 2}


def _record(id_, payload, recipient, master):
    return Record(id=id_, key="k", payload=payload, master=master, state="issued", output_path=f"/out/{id_}.png",
                  output_sha256="0" * 64, recipient=recipient, metadata={}, scheme="lattice", tool_version="t",
                  reserved_at="2026-01-01T00:00:00Z", issued_at="2026-01-01T00:00:01Z", note=None)


def test_a_periodic_mark_without_its_layer_beside_another_copy_s_layer_is_doubted():
    """X's periodic mark pasted on Y's copy: Y's per-copy layer is there, X's is not. X's mark is no
    'unverified' finding against X: it is doubted as pasted, and the row is Y's."""
    master = Master(id=1, sha256="a" * 64, path="/m/a.png", width=8, height=8, phash=0, print=b"", added_at="")
    x = _record("x", 0x1, "Agence X", master)           # Studio Y's copy 0x2 is what the layer named
    found = scan_findings.Findings("f.png", loaded=SimpleNamespace(original_size=(1000, 800)))
    found.marks = [scan_findings.Mark("k", 0x1, 1e-20, "blind", record=x, content={"inliers": 50}, verified=False)]
    found.named[(1, "k")] = {0x2}
    row = dict.fromkeys(scan_module.ROW_FIELDS)
    scan_verdict.conclude(found, row, scan_module.Scanner("unused.db", []).masters.master_by_id)
    assert row["status"] == "mark-only"
    assert row["reason"].startswith("the periodic mark reads payload 0x0000000000000001")
    assert row["marks"][0]["doubt"] is not None


def test_the_row_names_the_strongest_attributed_mark_not_a_stronger_unverified_one():
    master = Master(id=1, sha256="a" * 64, path="/m/a.png", width=8, height=8, phash=0, print=b"", added_at="")
    found = scan_findings.Findings("f.png", loaded=SimpleNamespace(original_size=(1000, 800)))
    found.marks = [scan_findings.Mark("k", payload, p, "blind", record=_record(name, payload, name, master),
                                      content={"inliers": 50}, verified=verified)
                   for name, payload, p, verified in (("weaker", 0x3, 1e-12, True), ("unverified", 0x2, 1e-30, False),
                                                      ("strongest", 0x1, 1e-15, True))]
    row = dict.fromkeys(scan_module.ROW_FIELDS)
    scan_verdict.conclude(found, row, scan_module.Scanner("unused.db", []).masters.master_by_id)
    assert row["status"] == "attributed" and row["record"]["id"] == "strongest" and row["p_value"] == 1e-15


def test_among_masters_placed_alike_the_match_is_the_one_whose_thumbnail_differs_least():
    def master_by_id(i):
        return Master(id=i, sha256=f"{i}" * 64, path=f"/m/{i}.png", width=8, height=8, phash=0, print=b"", added_at="")

    found = scan_findings.Findings("x.jpg", loaded=None)
    found.registrations = {i: SimpleNamespace(matched=True, inliers=0) for i in (1, 2, 3)}
    found.placed = {1: (3, 0.2), 2: (3, 0.05), 3: (3, 0.1)}
    match = scan_verdict.best_match(found, master_by_id)
    assert match["master"]["path"] == "/m/2.png" and match["thumbnail_rms"] == 0.05


def test_a_layer_the_blind_read_verified_stays_verified_when_the_read_in_the_frame_misses_it(key):
    master = Master(id=1, sha256="a" * 64, path="/m/a.png", width=8, height=8, phash=0, print=b"", added_at="")
    record = _record("x", 0x1, "Agence X", master)
    found = scan_findings.Findings("f.png", loaded=None)
    found.marks = [scan_findings.Mark(key.public_id, 0x1, 1e-20, "blind", record=record, verified=True,
                                      layer_p_value=1e-12, copies_tested=1)]
    scan_informed.add_informed(found, key, 0x1, 1e-25, record, {"inliers": 40}, verified=False, layer_p_value=0.3,
                               copies_tested=2)
    mark = found.marks[0]
    assert mark.verified and mark.layer_p_value == 1e-12 and mark.p_value == 1e-25 and mark.method == "blind+informed"


def test_a_placement_by_the_tile_phase_pays_for_every_phase_sought_and_only_a_clear_phase_places(monkeypatch, key):
    """Masters of two working scales: two phases sought per key, which the read in the frame pays for; a
    phase above the gate places nothing (the masters' thumbnails alone would then choose)."""
    shapes = {(800, 600): (80, 60), (400, 300): (40, 30), (1600, 1200): (80, 60)}
    phases = {(80, 60): SimpleNamespace(p_value=1e-12), (40, 30): SimpleNamespace(p_value=2 * placement.PHASE_GATE)}
    tried = []

    def place(colour, original_size, master_print, phase):
        tried.append(master_print)
        return SimpleNamespace(matched=True), 0.01
    monkeypatch.setattr(placement, "phase_shape", lambda original_size, size: shapes[size])
    monkeypatch.setattr(placement, "plane_of", lambda image: None)
    monkeypatch.setattr(placement, "phase_in", lambda plane, shape, key: phases[shape])
    monkeypatch.setattr(placement, "place", place)
    masters = SimpleNamespace(by_size=lambda: {(800, 600): [1], (400, 300): [2], (1600, 1200): [3]},
                              print_of=lambda master: master, master_by_id=lambda master_id: master_id)
    found = scan_findings.Findings("f.png", loaded=SimpleNamespace(original_size=(1000, 750), image=None))
    found._suspect = SimpleNamespace(image=None)
    scan_matching._place_by_phase(found, masters, [key], None)
    assert found.placed == {1: (2, 0.01), 3: (2, 0.01)} and tried == [1, 3]


def test_a_cell_is_placed_only_where_the_features_registration_holds_the_master_whole_in_it(monkeypatch):
    """The slack is a share of the master's short side: a registration off by more keeps its own geometry."""
    master = Master(id=1, sha256="a" * 64, path="/m/a.png", width=1000, height=500, phash=0, print=b"", added_at="")
    box = (10, 260, 20, 520)
    boxed = scan_matching._box_homography(master, box)
    slack = scan_matching._WHOLE_SLACK * 500

    def registered(off_by):
        return Registration(True, np.array([[1.0, 0.0, off_by], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ boxed, 40, 60,
                            False, 1.0)
    assert scan_matching._holds_whole(registered(0.9 * slack), boxed, master)
    assert not scan_matching._holds_whole(registered(1.5 * slack), boxed, master)
    monkeypatch.setattr(scan_matching, "_shows_upright", lambda page, thumbnail, box: True)
    masters = SimpleNamespace(master_by_id=lambda master_id: master, thumbnail=lambda master: None)
    for off_by, placed in ((0.9 * slack, True), (1.5 * slack, False)):
        found = scan_findings.Findings("page.png", loaded=None)
        found.cells, found.registrations[1], found._page = {1: (3, box)}, registered(off_by), np.zeros((300, 600))
        scan_matching._place_in_cells(found, masters, None)
        assert np.allclose(found.registrations[1].homography, boxed) == placed and found.registrations[1].inliers == 40


def test_the_suspect_and_the_master_are_framed_again_by_a_refined_registration(monkeypatch):
    def to_master_frame(image, registration, size, shape):
        return np.full(shape, registration.tag, np.float32), np.ones(shape, bool)
    refined = SimpleNamespace(tag=2.0)
    monkeypatch.setattr(scan_informed, "to_master_frame", to_master_frame)
    monkeypatch.setattr(scan_informed, "as_suspect", lambda original, size, registration, shape: original)
    monkeypatch.setattr(scan_informed, "refine", lambda registration, *rest: refined)
    found = scan_findings.Findings("f.png", loaded=None)
    found._suspect = SimpleNamespace(image=np.zeros((48, 64), np.float32))
    masters = SimpleNamespace(original_of=lambda master: np.zeros((48, 64), np.float32))
    master = SimpleNamespace(id=1, width=64, height=48)
    framed, _, template = scan_informed._in_master_frame(found, masters, master, SimpleNamespace(tag=1.0), None)
    assert found.registrations[1] is refined and np.all(framed == 2.0) and np.all(template == 2.0)


def test_a_crop_placed_by_the_tile_phase_needs_its_layer_where_the_picture_puts_the_master():
    """The blind check of the per-copy layer tried every tile position; once the tile phase places the file
    in the master, only the layer read there counts (a fine band moved by whole tiles onto a plain picture)."""
    master = Master(id=1, sha256="a" * 64, path="/m/a.png", width=8, height=8, phash=0, print=b"", added_at="")
    x = _record("x", 0x1, "Agence X", master)
    found = scan_findings.Findings("crop.png", loaded=SimpleNamespace(original_size=(300, 200)))
    found.marks = [scan_findings.Mark("k", 0x1, 1e-12, "blind", record=x, verified=True, layer_p_value=1e-11,
                                      content={"placed": "tile phase and thumbnail", "thumbnail_rms": 0.05})]
    found.placed[1] = (3, 0.05)
    found.named[(1, "k")], found.layer_ps[(1, "k")] = set(), {0x1: 0.2}
    row = dict.fromkeys(scan_module.ROW_FIELDS)
    scan_verdict.conclude(found, row, scan_module.Scanner("unused.db", []).masters.master_by_id)
    assert row["status"] == "unverified" and row["marks"][0]["verified"] is False
    assert row["marks"][0]["layer_p_value"] == 0.2 and row["marks"][0]["copies_tested"] == 1


@pytest.mark.parametrize("mirrored", [False, True])
def test_the_lattice_place_takes_the_blind_read_s_rotation_and_scale_about_the_registration_s_centre(key, mirrored):
    """A crop's registration tilted by a third of a degree and scaled by 1 % (what a homography on a smooth
    photograph's few keypoints gave) is put back by the blind lattice's rotation and scale, about the point
    where the registration puts the crop's centre; a mirrored crop's too."""
    master = cv2.resize(photo("coffee"), (1280, 800), interpolation=cv2.INTER_AREA)
    marked = wm.embed(master, payload=0x5EED, key=key)
    x, y, width, height = 200, 120, 990, 620
    crop = marked[y:y + height, x:x + width]
    flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if mirrored else np.eye(3)
    detection = wm.detect(np.ascontiguousarray(crop[:, ::-1] if mirrored else crop), key)
    assert detection.found
    found = scan_findings.Findings("crop.png", loaded=SimpleNamespace(original_size=(width, height)))
    found.lattice = detection.transform
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    radians, scale = np.radians(0.33), 0.99
    tilt = scale * np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    tilted = np.eye(3)
    tilted[:2, :2], tilted[:2, 2] = tilt, centre + [x, y] - tilt @ centre
    registration = Registration(True, tilted @ flip, 20, 30, mirrored)
    placed = scan_informed._lattice_place(found, registration, (height, width), (1280, 800))
    assert placed is not None and placed.inliers == 20 and placed.mirrored == mirrored
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [width - 1, height - 1, 1], [0, height - 1, 1]], float)
    truth = (corners @ flip.T)[:, :2] + [x, y]
    for homography, most in ((registration.homography, 5.0), (placed.homography, 1.5)):
        error = np.hypot(*((corners @ homography.T)[:, :2] - truth).T).max()
        assert (error > most) if homography is registration.homography else (error < most), error
    found.lattice = None
    assert scan_informed._lattice_place(found, registration, (height, width), (1280, 800)) is None


@pytest.mark.parametrize("better", ["registration", "lattice"])
def test_the_frame_is_read_at_the_one_place_whose_fine_detail_matches_the_master(monkeypatch, better):
    """Of the registration's place and the lattice's, the one where the suspect's fine detail matches the
    master's is taken, whichever it is (the master's content decides, not the key's mark), and one frame is
    returned for the one informed read."""
    rng = np.random.default_rng(3)
    original = cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 0.7)
    suspect = np.zeros((96, 128), np.float32)

    def to_master_frame(image, registration, size, shape):
        if image is not suspect:                  # the master, as the suspect shows it
            return original, np.ones(shape, bool)
        shift = 0 if registration.tag == better else 2     # the other place is two pixels off
        return np.roll(original, shift, axis=1), np.ones(shape, bool)

    monkeypatch.setattr(scan_informed, "to_master_frame", to_master_frame)
    monkeypatch.setattr(scan_informed, "as_suspect", lambda original, size, registration, shape: original)
    monkeypatch.setattr(scan_informed, "refine", lambda registration, *rest: registration)
    two_px_off = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    monkeypatch.setattr(scan_informed, "_lattice_place",
                        lambda *args: SimpleNamespace(tag="lattice", homography=two_px_off))
    found = scan_findings.Findings("f.png", loaded=None)
    found._suspect = SimpleNamespace(image=suspect)
    masters = SimpleNamespace(original_of=lambda master: original)
    master = SimpleNamespace(id=1, width=128, height=96)
    registration = SimpleNamespace(tag="registration", homography=np.eye(3))
    framed, _, template = scan_informed._in_master_frame(found, masters, master, registration, None)
    chosen = found.registrations.get(1, registration)
    assert chosen.tag == better and np.array_equal(framed, to_master_frame(suspect, chosen, None, (96, 128))[0])


def test_a_lattice_place_within_a_pixel_of_the_registration_is_not_refined_again(monkeypatch):
    """A whole copy: the lattice's place puts the file's corners within a pixel of the registration's, so
    the registration alone is refined and read (the second refine would find the same place)."""
    original = np.random.default_rng(4).random((96, 128)).astype(np.float32)
    refined = []
    monkeypatch.setattr(scan_informed, "to_master_frame", lambda image, registration, size, shape:
                        (original, np.ones(shape, bool)))
    monkeypatch.setattr(scan_informed, "as_suspect", lambda original, size, registration, shape: original)
    monkeypatch.setattr(scan_informed, "refine",
                        lambda registration, *rest: refined.append(registration) or registration)
    half_px_off = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    monkeypatch.setattr(scan_informed, "_lattice_place",
                        lambda *args: SimpleNamespace(tag="lattice", homography=half_px_off))
    found = scan_findings.Findings("f.png", loaded=None)
    found._suspect = SimpleNamespace(image=np.zeros((96, 128), np.float32))
    registration = SimpleNamespace(tag="registration", homography=np.eye(3))
    scan_informed._in_master_frame(found, SimpleNamespace(original_of=lambda master: original),
                                   SimpleNamespace(id=1, width=128, height=96), registration, None)
    assert [place.tag for place in refined] == ["registration"]
