"""eval.report: the CSV's columns, the Markdown summary, and a self-contained HTML report."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from eval import images, report, runner, tables


@pytest.fixture
def bench(photo_dir, tiny_suite, tmp_path):
    """Rows of a small run, and a report written from them (CSV, Markdown, HTML with thumbnails)."""
    specs = images.images_from(photo_dir)
    rows = runner.run(["dwtdct", "spread"], specs, tiny_suite, unmarked=6, progress=False)
    out = tmp_path / "out"
    report.write_csv(rows, out / "results.csv")
    report.write_markdown(rows, out / "summary.md", command="watermark bench --suite quick")
    pictures = report.pictures_for(["dwtdct", "spread"], specs[0].load(), tiny_suite, name=specs[0].name)
    report.write_html(rows, out / "report.html", command="watermark bench --suite quick", pictures=pictures)
    return rows, out


def test_csv_has_one_row_per_cell_and_the_documented_columns(bench):
    rows, out = bench
    with open(out / "results.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert tuple(read[0]) == runner.COLUMNS
    assert len(read) == len(rows) == 2 * (2 * 4 + 6)
    assert read[0]["strength"] == "" and read[1]["strength"] == "75.0"
    back = report.read_csv(out / "results.csv")
    assert [r["exact"] for r in back] == [r.exact for r in rows]
    assert np.allclose([r["score"] for r in back], [r.score for r in rows])


def test_markdown_summary_tables(bench):
    rows, out = bench
    text = (out / "summary.md").read_text()
    assert "`watermark bench --suite quick`" in text
    assert "| family | dwtdct | spread |" in text and "| no attack | 100 % | 100 % |" in text
    assert "Image quality" in text and "Speed" in text and "calibration" in text


def test_survival_counts_exact_payloads_per_family():
    rows = [dict(scheme="s", image=str(i), attack=a, family=f, strength=1.0, marked=True, seed=0, payload_bits=64,
                 bit_accuracy=1.0, exact=e, found=e, p_value=0.0, score=1.0, psnr=40.0, ssim=0.99, embed_ms=1.0,
                 detect_ms=1.0, width=8, height=8, error="")
            for i, (a, f, e) in enumerate([("none", "none", True), ("j", "codec", True), ("j", "codec", False),
                                           ("r", "geometry", False)])]
    table = tables.survival(rows)
    assert table.columns == ("family", "s")
    assert dict(table.rows) == {"codec": "50 %", "geometry": "0 %", "no attack": "100 %", "all attacks": "33 %"}


def test_html_is_self_contained(bench):
    _, out = bench
    text = (out / "report.html").read_text()
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in text and "http://" not in text and "https://" not in text and "@import" not in text
    assert text.count("<img") == 3 + 2 * (3 + 2)    # 3 plots; per scheme: original, marked, diff, 2 attacks
    for heading in ("Survival per attack family", "Robustness against attack strength", "Quality", "Speed",
                    "Unmarked images", "Examples", "Every attack"):
        assert heading in text


def test_difference_image_amplifies_and_clips():
    a = np.full((2, 2, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0] = 103
    b[1, 1] = 0
    diff = report.difference_image(a, b)
    assert diff[0, 0, 0] == 30 and diff[1, 1, 0] == 255 and diff[0, 1, 0] == 0
