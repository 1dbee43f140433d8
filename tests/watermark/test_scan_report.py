"""The scan report: counts per recipient and master, thumbnails side by side, opened in headless Chromium."""

from __future__ import annotations

import io
import json
import re
import stat
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
from chromium import probe, screenshot
from photos import photo
from PIL import Image
from scan_setup import run
from servers import http_server

from watermark import ImageFileError
from watermark.scan_report import ScanReport


def _jpeg(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo(name)).resize((160, 120)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _row(path, status, recipient=None, master="masters/coffee.tif", payload="0x00000000deadbeef"):
    record = None if recipient is None else {
        "id": "0f1e", "recipient": recipient, "issued": "2026-12-01T10:00:00Z", "metadata": {"licence": "7"},
        "master": {"path": master, "sha256": "ab" * 32}}
    return {"path": path, "status": status, "method": "blind" if status == "attributed" else None,
            "payload": payload if status in ("attributed", "mark-only") else None, "p_value": 1e-40,
            "record": record, "match": {"master": {"path": master, "sha256": "ab" * 32}, "inliers": 212},
            "geometry": {"degrees": 3.0}, "reason": "the content does not match" if status == "mark-only" else None}


def _report(tmp_path, limit=500):
    report = ScanReport(tmp_path / "report", lambda sha: _jpeg("coffee") if sha == "ab" * 32 else None, limit=limit)
    report.add(_row("crawl/a.jpg", "attributed", "Agence <X>"), _jpeg("coffee"))
    report.add(_row("crawl/b.jpg", "attributed", "Agence <X>"), _jpeg("coffee"))
    report.add(_row("crawl/c.jpg", "mark-only", "Studio Y"), _jpeg("rocket"))
    report.add({"path": "crawl/d.jpg", "status": "not-found"})
    report.add({"path": "crawl/e.jpg", "status": "error", "error": "crawl/e.jpg: truncated file"})
    return report


def test_counts_and_escaping(tmp_path):
    page = _report(tmp_path).write("watermark scan crawl --registry r.db")
    text = page.read_text()
    assert "Agence &lt;X&gt;" in text and "<X>" not in text
    assert text.count("<img") == 6                 # three findings, suspect beside master each
    assert "the content does not match" in text
    assert "content match: features agreeing 212" in text            # the JSON's key in words, not "inliers"
    report = _report(tmp_path)
    assert report.by_recipient["Agence <X>"]["attributed"] == 2 and report.status["error"] == 1


class _Text(HTMLParser):
    """What a reader of the page sees: its text and its attributes' values, entities decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.parts += [value for _, value in attrs if value]

    def handle_data(self, data):
        self.parts.append(data)


def _text(page) -> str:
    reader = _Text()
    reader.feed(page.read_text())
    return " ".join(reader.parts)


_ACTING = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_each_copy_a_collage_names_counts_under_its_own_status_and_a_near_duplicate_is_a_finding(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None)
    row = _row("crawl/collage.jpg", "unverified", "Studio Y")
    ladybird = {**row["record"], "recipient": "Agence X",
                "master": {"path": "masters/ladybird.tif", "sha256": "cd" * 32}}
    mark = {"payload": "0x2", "p_value": 1e-40, "method": "blind", "record": row["record"], "content_match": True,
            "verified": False, "attributed": False, "doubt": None}
    row["marks"] = [{**mark, "payload": "0x1", "p_value": 1e-12, "method": "informed", "record": ladybird}, mark]
    report.add(row)
    report.add({"path": "crawl/original.jpg", "status": "near-duplicate", "method": "near-duplicate",
                "match": {"master": {"path": "masters/garden.tif", "sha256": "ef" * 32}, "distance": 3},
                "reason": "the content matches a registered master but no mark of its copies was found"})
    assert report.by_recipient["Agence X"]["unverified"] == 1 and report.by_recipient["Studio Y"]["unverified"] == 1
    assert report.by_master["masters/ladybird.tif"]["unverified"] == 1
    assert report.by_master["masters/garden.tif"]["near-duplicate"] == 1
    text = _text(report.write("watermark scan crawl --registry r.db"))
    assert "Findings: 2." in text and "crawl/original.jpg" in text and "master: masters/garden.tif" in text
    statuses = text[text.index("Files by status"):]
    assert statuses.index("unverified") < statuses.index("near-duplicate")


def test_only_the_first_findings_are_kept(tmp_path):
    report = _report(tmp_path, limit=1)
    assert len(report.findings) == 1 and report.left_out == 2
    assert "2 more findings" in report.write("scan").read_text()


def test_the_top_says_how_many_findings_are_shown_and_the_note_where_the_others_are(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None)
    for i in range(520):
        report.add(_row(f"crawl/{i:03d}.jpg", "attributed", "Agence X"))
    report.add({"path": "crawl/z.jpg", "status": "not-found"})
    text = _text(report.write("watermark scan crawl --registry r.db"))
    assert "Files scanned: 521. Findings: 520, the 500 strongest shown here." in text
    assert text.index("the 500 strongest shown here") < text.index("Files by status")
    assert ("20 more findings, weaker, of the same kind further in the alphabet, or more than 3 files of the same "
            "bytes, are not shown here; their rows are in the scan's output.") in text
    assert "JSON" not in text and "crawl/499.jpg" in text and "crawl/500.jpg" not in text


def test_the_strongest_findings_are_shown_first_and_kept_whatever_came_before(tmp_path):
    """A probe's crawl held 521 exact copies of an unmarked master, then its one attribution: the page
    showed the first 500 findings, all exact copies, and not the attribution."""
    report = ScanReport(tmp_path / "report", lambda sha: None)
    exact = {"status": "exact", "method": "exact", "record": None, "reason": "the unmarked master itself",
             "match": {"master": {"path": "masters/kite.jpg", "sha256": "ab" * 32}}}
    for i in range(521):
        report.add({**exact, "path": f"cap/{i:03d}.jpg"})
    report.add({**_row("z/unverified.jpg", "unverified", "Studio Y"), "method": "blind"})
    report.add(_row("z/hit.jpg", "attributed", "Agence X"))
    report.add({**exact, "path": "a/issued-copy.jpg", "record": _row("x", "attributed", "Agence X")["record"]})
    text = _text(report.write("watermark scan cap --registry r.db"))
    assert "Findings: 524, the 500 strongest shown here." in text
    shown = [text.index(name) for name in ("z/hit.jpg", "a/issued-copy.jpg", "z/unverified.jpg", "cap/000.jpg",
                                           "cap/496.jpg")]
    assert shown == sorted(shown) and "cap/497.jpg" not in text


def test_a_finding_names_its_file_and_master_as_links_with_the_file_s_sha256(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = ScanReport(tmp_path / "report", lambda sha: None)
    report.add({**_row("crawl/a b.jpg", "attributed", "Agence X", master="/masters/coffee.tif"), "sha256": "cd" * 32})
    report.add(_row("https://alice:pw@example.com/b.jpg", "attributed", "Agence X"))
    report.add(_row("https://example.com/c.jpg?x=1&y=2", "attributed", "Agence X"))
    report.add(_row("s3://bucket/d.jpg", "attributed", "Agence X"))
    page = report.write("scan").read_text()
    assert f"<a href='file://{tmp_path}/crawl/a%20b.jpg'>crawl/a b.jpg</a>" in page
    assert "<a href='file:///masters/coffee.tif'>/masters/coffee.tif</a>" in page
    assert "SHA-256 <code>" + "cd" * 32 in page
    assert "<a href='https://example.com/c.jpg?x=1&amp;y=2'>" in page
    assert "href='https://alice" not in page and "href='s3:" not in page and "s3://bucket/d.jpg" in page


def test_unreadable_files_are_listed_and_a_mark_in_other_content_accuses_no_one(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None)
    for i in range(60):
        report.add({"path": f"crawl/bad{i:02d}.jpg", "status": "error", "error": f"crawl/bad{i:02d}.jpg: truncated"})
    forged = _row("crawl/forged.jpg", "mark-only", "Agence X")
    forged["marks"] = [{"payload": "0x1", "p_value": 7.7e-148, "method": "blind", "record": forged["record"]}]
    report.add(forged)
    exact = {**_row("crawl/same.jpg", "attributed", "Studio Y"), "status": "exact", "method": "exact"}
    exact["marks"] = [{"payload": "0x2", "p_value": 0.0, "method": "exact", "record": exact["record"]}]
    report.add(exact)
    text = _text(report.write("scan"))
    assert "60 in all; the first 50 here, the others in the scan's output." in text
    assert text.index("Files that could not be read") < text.index("crawl/bad00.jpg: truncated")
    assert "crawl/bad49.jpg: truncated" in text and "crawl/bad50.jpg" not in text
    assert ("mark 0x1 (p = 7.7e-148, blind): the mark of Agence X's copy 0f1e of coffee.tif, in content that is "
            "not that copy's master: not an attribution") in text
    assert "exact identical bytes (SHA-256) recipient Studio Y" in " ".join(text.split()) and "p = 0" not in text
    assert "identical bytes: not decoded" in text           # not a bare "no picture"
    # counted under the recipient as what it is (the column read 0 for every recipient, whatever was found)
    assert report.by_recipient["Agence X"] == {"mark-only": 1} and report.by_recipient["Studio Y"] == {"exact": 1}
    assert "Per recipient attributed unverified mark-only exact copies Agence X n 0 n 0 n 1 n 0 n 0" in \
        " ".join(text.split())
    assert "which anyone holding a published copy can paste: not evidence against the recipient." in text


def test_a_stopped_scan_s_report_says_so_at_the_top(tmp_path):
    report = _report(tmp_path)
    assert "This scan was stopped" not in _text(report.write("scan"))
    report.stopped = True
    text = _text(report.write("scan"))
    assert text.index("This scan was stopped before its last file") < text.index("Files scanned: 5.")


def test_a_scan_of_no_file_says_so_and_has_no_empty_table(tmp_path):
    page = ScanReport(tmp_path / "report", lambda sha: None).write("watermark scan empty --registry r.db")
    assert "Files scanned: 0. Findings: 0." in _text(page)
    assert "Files by status" not in page.read_text() and "<th></th></tr>" not in page.read_text()


def test_characters_that_would_act_on_the_page_are_shown_escaped(tmp_path):
    report = ScanReport(tmp_path / "report", lambda sha: None)
    for path, recipient in (("06exact\u202eevil.jpg", "-2+3\u202eevil"), ("\t=1+1.jpg", " =1+1"),
                            ("line1\nFAKE LINE.jpg", "x\x1b[31mRED")):
        row = _row(path, "attributed", recipient)
        row["credentials"] = {"present": True, "valid": True, "trusted": False, "signer": "Evil CA\u202e",
                              "agrees": True}
        report.add(row)
    page = report.write("watermark scan 'crawl/\u2066x' --registry r.db")
    text = _text(page)
    assert _ACTING.search(page.read_text()) is None
    for shown in ("06exact\\u202eevil.jpg", "-2+3\\u202eevil", "\\t=1+1.jpg", " =1+1", "line1\\nFAKE LINE.jpg",
                  "x\\x1b[31mRED", "signed by Evil CA\\u202e; soft binding agrees with the mark",
                  "crawl/\\u2066x"):
        assert shown in text, shown


def test_a_password_in_a_url_is_hidden_in_the_report_and_the_rows_and_resume_reads_it_again(scan_world, tmp_path):
    """The rows kept a URL's secrets (which --resume matched); masked, two URLs that differ in a secret-looking
    parameter alone (?key=a.png, ?key=b.png) were one name, and a reviewer's probe saw a resumed scan skip the
    second: a row whose masked name may stand for several files is read again on resume."""
    pytest.importorskip("aiohttp")
    out = tmp_path / "rows.jsonl"
    with http_server((scan_world / "crawl" / "exact.png").read_bytes()) as served:
        url = served.replace("http://", "http://alice:s3cretpw@")
        others = [f"{served}?key=photos/{name}" for name in ("a.png", "b.png")]
        command = ("scan", *others, url, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key",
                   "-o", out)
        run(*command, "--report", tmp_path / "report", check=0)
        out.write_text(out.read_text().splitlines(keepends=True)[0])          # as if stopped after one row
        resumed = run(*command, "--resume", check=0)
    hidden = served.replace("http://", "http://***@")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["path"], row["status"]) for row in rows] == [(f"{served}?key=***", "exact")] * 2 + [(hidden, "exact")]
    assert "s3cretpw" not in out.read_text() and "earlier run" not in resumed.stderr, resumed.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert "s3cretpw" not in page and "alice" not in page
    assert _text(tmp_path / "report" / "report.html").count(hidden) == 3      # the command, the caption, the path


def test_a_real_scan_shows_names_escaped_on_the_terminal_and_in_the_report(scan_world, tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "exact\u202eevil.png").write_bytes((scan_world / "crawl" / "exact.png").read_bytes())
    where = tmp_path / "rep\x1b[31mRED"
    result = run("scan", crawl, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key", "--json",
                 "--report", where, check=0)
    assert result.stderr.splitlines()[-1] == f"watermark: report written to {tmp_path}/rep\\x1b[31mRED/report.html"
    page = where / "report.html"
    assert _ACTING.search(page.read_text()) is None and "exact\\u202eevil.png" in _text(page)


def test_a_16_bit_colour_finding_has_its_picture_in_the_report_and_the_scan_goes_on(scan_world, tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    issued = np.asarray(Image.open(scan_world / "crawl" / "coffee-rotated.png").convert("RGB"))
    Image.fromarray(issued).save(crawl / "a-8bit.png")
    cv2.imwrite(str(crawl / "b-16bit.png"), issued[:, :, ::-1].astype(np.uint16) * 257)
    result = run("scan", crawl, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key", "--json",
                 "--report", tmp_path / "report", check=0)
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in map(json.loads, result.stdout.splitlines())}
    assert result.returncode == 0 and set(rows) == {"a-8bit.png", "b-16bit.png"}, result.stderr
    assert rows["b-16bit.png"]["status"] == rows["a-8bit.png"]["status"] == "attributed"
    assert probe(tmp_path / "report" / "report.html", tmp_path)["images"] == 4


def test_a_resumed_scan_s_report_shows_the_earlier_run_s_findings_too(scan_world, tmp_path):
    """It said "Findings: 0" after a resume, the earlier run's findings only counted in a sentence."""
    common = ("--registry", scan_world / "r.db", "--key", scan_world / "studio.key", "-o", tmp_path / "rows.jsonl")
    run("scan", scan_world / "crawl" / "exact.png", *common, check=0)
    resumed = run("scan", scan_world / "crawl" / "exact.png", scan_world / "crawl" / "unrelated.png", *common,
                  "--resume", "--report", tmp_path / "report", check=0)
    text = _text(tmp_path / "report" / "report.html")
    assert ("Files scanned: 2 (1 of them by the earlier run this one resumed, whose pictures were not kept; their "
            "rows stand as that run made them, with its own command and registry). Findings: 1.") in text
    assert "picture not kept by the earlier run" in text and f"{scan_world}/crawl/exact.png" in text
    for private in (tmp_path / "rows.jsonl", tmp_path / "report" / "report.html"):    # as the registry: they name
        assert stat.S_IMODE(private.stat().st_mode) == 0o600                           # recipients, show masters
    assert "watermark: 2 scanned (1 of them by an earlier run): 0 attributed, 0 unverified, 0 mark-only, " \
           "0 near-duplicate, 1 exact, 1 not-found, 0 error" in resumed.stderr


def test_report_renders_in_headless_chromium(tmp_path):
    page = _report(tmp_path).write("watermark scan crawl --registry r.db")
    seen = probe(page, tmp_path)
    assert seen["images"] == 6 and seen["broken"] == [] and seen["problems"] == [] and seen["console"] == []
    pixels = screenshot(page, tmp_path)
    assert pixels.std() > 10 and np.mean(pixels < 200) > 0.01


def test_a_place_the_report_cannot_go_is_refused_before_any_row(tmp_path):
    (tmp_path / "file").touch()
    with pytest.raises(ImageFileError, match="file: not a directory"):
        ScanReport(tmp_path / "file", lambda sha: None)
    with pytest.raises(ImageFileError, match="cannot make the report's directory"):
        ScanReport(tmp_path / "file" / "below", lambda sha: None)
    (tmp_path / "taken" / "report.html").mkdir(parents=True)
    with pytest.raises(ImageFileError, match="report.html: is a directory"):
        ScanReport(tmp_path / "taken", lambda sha: None)


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    report = _report(tmp_path)
    (tmp_path / "report" / "report.html").mkdir()            # made after the check: the write itself fails
    with pytest.raises(ImageFileError, match="cannot write the report"):
        report.write("watermark scan crawl")
    assert [p.name for p in (tmp_path / "report").iterdir()] == ["report.html"]


def test_a_link_planted_where_a_temporary_file_might_go_is_never_followed(tmp_path):
    report = _report(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for planted in (".report.html.tmp", "report.html"):
        (tmp_path / "report" / planted).symlink_to("../victim")
    page = report.write("watermark scan crawl")
    assert victim.read_text() == "precious" and (tmp_path / "report" / ".report.html.tmp").is_symlink()
    assert not page.is_symlink() and "Agence &lt;X&gt;" in page.read_text()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [".report.html.tmp", "report.html"]


def test_a_lawyer_reads_every_number_explained_and_nothing_claimed_that_was_not_read(tmp_path):
    """A lawyer's reading of a real case: the per-copy layer's p-value (the number behind "whose copy") was
    nowhere; a forgeable attribution carried no caveat; licence terms, units and quoting were missing;
    copies found twice were counted twice; an unverified copy's recipient was shown as an attribution's."""
    report = ScanReport(tmp_path / "report", lambda sha: None, registry="/srv/r.db (2 issued copies of 1 master "
                        "when the scan started)", keys=["211a5198 (eaa5673516f37aacfcd8021d7c098ae3)"])
    for name in ("a.jpg", "b.jpg"):                                   # one copy, found in two files
        row = _row(f"crawl/{name}", "attributed", "Agence X")
        row["geometry"] = {"degrees": 6.969, "scale": [0.99983, 0.99856], "shear": -2e-05, "flipped": False,
                           "offset": [175.9, 0.25]}
        row["marks"] = [{"payload": row["payload"], "p_value": 1e-40, "method": "blind", "record": row["record"],
                         "verified": True, "layer_p_value": 5.74e-22 if name == "a.jpg" else 2e-10,
                         "copies_tested": 3, "attributed": True, "content_match": True}]
        report.add(row)
    unverified = _row("crawl/framed.jpg", "attributed", "Studio Y")
    unverified.update(status="unverified", reason="without the copy's per-copy layer: not an attribution")
    report.add(unverified)
    pasted = _row("crawl/pasted.jpg", "mark-only", "Agence X", master="masters/dune.tif")
    pasted.update(record=None, match=None, marks=[{"payload": "0x1", "p_value": 1e-30, "method": "blind",
                                      "record": pasted["record"]}])
    report.add(pasted)
    report.add({"path": "crawl/orig.jpg", "status": "exact", "method": "exact", "record": None,
                "match": {"master": {"path": "masters/coffee.tif", "sha256": "ab" * 32}, "distance": 0}})
    page = report.write("watermark scan 'Dossier Nord' --registry r.db", "/home/agency")
    text = _text(page)
    assert "per-copy layer p = 5.74e-22 among 3 copies" in text and "band swap" in text
    assert "per-copy layer p = 2e-10 among 3 copies borderline" in " ".join(text.split())   # within 100 of 1e-9
    assert "whoever holds the key can mark any picture with any issued copy's payload and layer" in text
    assert "Unmarked files expected among them to pass a blind read by chance: about 5e-9 (files x keys x 1e-9;" \
        in " ".join(text.split())
    assert "terms recorded with the copy: licence: 7" in text
    text = re.sub(r"\s+", " ", text)
    assert "geometry: rotated 6.97°, scaled 0.9998 × 0.9986, shear -2e-05, offset (175.9, 0.2) px" in text
    assert "command watermark scan 'Dossier Nord' --registry r.db in /home/agency" in text
    assert re.search(r"scan started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    assert "211a5198 (eaa5673516f37aacfcd8021d7c098ae3) (fingerprint and public id: the secret key" in text
    assert "the mark of Studio Y's copy 0f1e" in text and "not an attribution" in text
    assert "<b>Studio Y</b>" not in page.read_text() and "<b>Agence X</b>" in page.read_text()
    assert "master of the copy whose mark it carries: masters/dune.tif" in text
    assert report.copies_by_recipient["Agence X"] == {"0f1e"} and report.by_recipient["Agence X"]["attributed"] == 2
    assert report.by_master["masters/dune.tif"]["mark-only"] == 1 == report.by_recipient["Agence X"]["mark-only"]
    assert report.by_master["masters/coffee.tif"]["original"] == 1
    assert "by blind read" in text and "by near-duplicate" not in text


def test_a_recipient_s_name_shows_its_ends_and_another_copy_s_mark_on_the_page_accuses_no_one(tmp_path):
    """An attacker's probe: "Alice" and "Alice " were two rows that read alike, a recipient named "(none)" was
    counted with the copies of no recipient, and a pasted mark of Bob's copy in a row attributed to Alice was
    listed as "Bob's copy ... of Kite.png", nothing saying it was no evidence against Bob."""
    report = ScanReport(tmp_path / "report", lambda sha: None)
    for recipient in ("Alice", "Alice ", "(none)", ""):
        report.add(_row(f"crawl/{recipient or 'x'}.jpg", "attributed", recipient))
    attributed = _row("crawl/garden.jpg", "attributed", "Alice")
    bob = {**attributed["record"], "id": "b0b", "recipient": "Bob", "master": {"path": "m/Kite.png", "sha256": "cd"}}
    attributed["marks"] = [{"payload": "0x2", "p_value": 1e-90, "method": "blind", "record": bob,
                            "content_match": False, "attributed": False, "doubt": None}]
    report.add(attributed)
    assert set(report.by_recipient) == {"Alice", "'Alice '", "(none)", "no recipient"}
    text = " ".join(_text(report.write("scan")).split())
    assert ("mark 0x2 (p = 1e-90, blind): Bob's copy b0b of Kite.png, issued 2026-12-01T10:00:00Z (licence: 7) (in "
            "content that is not that copy's master: its mark alone, which anyone holding a published copy can "
            "paste; not evidence against its recipient)") in text


def test_many_files_of_the_same_bytes_take_three_places_and_leave_the_rest_to_other_findings(tmp_path):
    """An attacker's probe: 505 links to one issued copy filled the 500 places, the pasted marks' and the
    forgeries' rows pushed off the page."""
    report = ScanReport(tmp_path / "report", lambda sha: None)
    for i in range(505):
        report.add({**_row(f"crawl/link{i:03d}.jpg", "attributed", "Agence X"), "sha256": "ee" * 32})
    report.add({**_row("crawl/pasted.jpg", "mark-only", "Studio Y"), "sha256": "ff" * 32})
    shown = [row["path"] for row, _, _ in report.findings]
    assert shown == ["crawl/link000.jpg", "crawl/link001.jpg", "crawl/link002.jpg", "crawl/pasted.jpg"]
    assert report.left_out == 502 and report.status["attributed"] == 505
