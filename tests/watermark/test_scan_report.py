"""The scan report: counts per recipient and master, thumbnails side by side, opened in headless Chromium."""

from __future__ import annotations

import io

import numpy as np
import pytest
from chromium import probe, screenshot
from photos import photo
from PIL import Image

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
    report = _report(tmp_path)
    assert report.by_recipient["Agence <X>"]["attributed"] == 2 and report.status["error"] == 1


def test_only_the_first_findings_are_kept(tmp_path):
    report = _report(tmp_path, limit=1)
    assert len(report.findings) == 1 and report.left_out == 2
    assert "2 more findings" in report.write("scan").read_text()


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
