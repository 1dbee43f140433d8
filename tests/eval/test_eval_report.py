"""eval.report: the CSV's columns, the Markdown summary, and a self-contained HTML report."""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest
from benchrows import result_row as _row

from eval import images, metrics, report, runner, tables


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
    assert "| family | dwtdct | spread |" in text
    assert "| no attack | 100 % (2/2; 34-100) | 100 % (2/2; 34-100) |" in text
    assert "Image quality" in text and "Speed" in text and "calibration" in text
    assert "**Detection rate at 0.1 % false positives per attack family**" in text


def test_text_cells_a_spreadsheet_would_run_get_a_quote_and_numbers_stay_numbers(tmp_path):
    report.write_csv([_row(image="-2+3.png", attack="@x", family="+y", score=-1.5, seed=-2, error="=1+1\tz"),
                      _row(image="\tname", scheme="\rs"), _row(image='a\r=HYPERLINK("evil").png')],
                     tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="") as handle:
        first, second, third = csv.DictReader(handle)        # a CR in a cell starts no row of its own
    assert (first["image"], first["attack"], first["family"], first["error"]) == ("'-2+3.png", "'@x", "'+y", "'=1+1\tz")
    assert (first["score"], first["seed"], second["image"], second["scheme"]) == ("-1.5", "-2", "'\tname", "'\rs")
    assert third["image"] == 'a\r=HYPERLINK("evil").png' and third["attack"] == "none"


def test_survival_counts_exact_payloads_per_family_and_says_what_it_counted():
    rows = [_row(image=str(i), attack=a, family=f, exact=e, found=e)
            for i, (a, f, e) in enumerate([("none", "none", True), ("j", "codec", True), ("j", "codec", False),
                                           ("r", "geometry", False)])]
    failed = _row(image="small", attack="j", family="codec", exact=False, error="ImageTooSmallError: 64x64 px")
    table = tables.survival(rows + [failed])
    assert table.columns == ("family", "s")
    # a failed cell is lost: left out, a scheme that failed on the hard images was scored on the easy ones
    assert dict(table.rows) == {"codec": "33 % (1/3; 6-79)", "geometry": "0 % (0/1; 0-79)",
                                "no attack": "100 % (1/1; 21-100)", "all attacks": "25 % (1/4; 5-70)"}
    assert "Failed cells, counted as lost: s 1 (ImageTooSmallError)" in table.note


def test_detection_counts_scores_above_the_unmarked_threshold_per_family():
    null = [_row(image=f"n{i}", marked=False, exact=False, found=False, score=float(i)) for i in range(10)]
    marked = [_row(score=20.0), _row(attack="j", family="codec", score=9.5),
              _row(attack="j", family="codec", score=8.0), _row(attack="r", family="geometry", score=0.0)]
    failed = _row(attack="j", family="codec", score=float("nan"), error="ImageTooSmallError: 64x64 px")
    table = tables.detection(marked + null + [_row(scheme="t"), failed])
    assert table.columns == ("family", "s", "t")
    assert dict((r[0], r[1]) for r in table.rows) == {"codec": "33 % (1/3; 6-79)", "geometry": "0 % (0/1; 0-79)",
                                                      "no attack": "100 % (1/1; 21-100)",
                                                      "all attacks": "25 % (1/4; 5-70)"}
    assert {r[2] for r in table.rows} == {"–"}           # no unmarked images: no threshold
    assert "not resolved" in table.note
    assert "Failed cells, counted as lost: s 1 (ImageTooSmallError)" in table.note


def test_the_notes_say_when_the_unmarked_images_are_variants_of_fewer_photographs():
    """A researcher's probe: 1000 unmarked images made of 15 photographs' crops and rescales were counted as
    1000 independent images, which a threshold at 0.1 % false positives would need."""
    variants = [_row(image=f"camera{'~' + str(i) if i else ''}", marked=False, exact=False, found=False,
                     score=float(i)) for i in range(4)] + [_row(image="moon", marked=False, exact=False, found=False)]
    rows = [_row(score=20.0)] + variants
    expected = "The 5 unmarked images are 2 photographs and their crops and rescales, whose scores are not independent"
    assert expected in tables.detection(rows).note and expected in tables.null_calibration(rows).note
    distinct = [_row(score=20.0)] + [_row(image=f"PHOTO~{i}.JPG", marked=False, exact=False, found=False)
                                     for i in range(3)]                     # a camera's names, not variants
    assert "crops and rescales" not in tables.detection(distinct).note + tables.null_calibration(distinct).note


def test_rates_carry_a_wilson_interval_that_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17, table I: 0/10 -> 0-0.2775, 81/263 -> 0.2553-0.3662
    assert [round(x, 4) for x in metrics.wilson_interval(0, 10)] == [0.0, 0.2775]
    assert [round(x, 4) for x in metrics.wilson_interval(81, 263)] == [0.2553, 0.3662]
    assert all(math.isnan(x) for x in metrics.wilson_interval(0, 0))


def test_comparison_counts_the_cells_only_one_scheme_read_and_tests_the_split():
    cells = [(f"i{i}", "j") for i in range(12)]
    first = [_row(scheme="a", image=i, attack=a, family="codec", exact=True) for i, a in cells]
    # b loses 10 of the 12 cells a reads, reads none that a misses; c reads exactly what a reads
    second = [_row(scheme="b", image=i, attack=a, family="codec", exact=n >= 10) for n, (i, a) in enumerate(cells)]
    third = [_row(scheme="c", image=i, attack=a, family="codec", exact=True) for i, a in cells]
    failed = _row(scheme="c", image="i0", attack="r", family="geometry", exact=False, error="ImageTooSmallError: x")
    table = tables.comparison(first + second + third + [failed])
    assert table.columns == ("scheme", "cells", "only a", "only this scheme", "sign test p")
    by_scheme = {row[0]: row[1:] for row in table.rows}
    assert by_scheme["b"] == ("12", "10", "0", "0.0039")     # 2 x 0.5 ** 10, twice: Holm's, of two comparisons
    assert by_scheme["c"] == ("12", "0", "0", "1")             # the cell only c ran is not shared
    assert "With 2 comparisons, each p-value is Holm's adjusted one" in table.note
    assert tables.comparison(first + second).rows[0][-1] == "0.002"          # one comparison: as it is
    assert tables.comparison(first).rows == () and "nothing to compare" in tables.comparison(first).note


def test_detection_note_says_peers_are_scored_by_a_known_message_test():
    null = [_row(scheme=s, image=f"n{i}", marked=False, exact=False, found=False, score=float(i))
            for s in ("s", "peer:x") for i in range(10)]
    rows = [_row(scheme="s"), _row(scheme="peer:x")] + null
    assert "Peers (peer:x) have no detector: their score is a known-message test" in tables.detection(rows).note
    assert "known-message" not in tables.detection([r for r in rows if r["scheme"] == "s"]).note


def test_without_unmarked_images_detection_and_null_tables_say_not_measured():
    marked = [_row(), _row(attack="j", family="codec", score=9.5)]
    for table in (tables.detection(marked), tables.null_calibration(marked)):
        assert table.rows == () and table.note == "not measured (--unmarked 0)"
        assert table.to_markdown() == f"**{table.title}**\n\nnot measured (--unmarked 0)"
        assert "<table" not in table.to_html() and "not measured (--unmarked 0)" in table.to_html()


def test_an_example_is_attacked_with_its_cells_seed(small_photo):
    import attacks

    noise = attacks.attack("gaussian_noise", sigma=0.05)
    image = small_photo("coffee")
    pictures = report.examples("dwtdct", image, [noise], seed=3, name="coffee.png")
    marked = pictures[1][1]
    assert np.array_equal(pictures[3][1], noise(marked, seed=runner.attack_seed(3, "coffee.png", str(noise))))


def test_strength_curves_keep_coinciding_schemes_apart_and_say_n(monkeypatch):
    from eval import plots

    drawn = []
    monkeypatch.setattr(plots, "_png", lambda figure: drawn.append(figure) or b"")
    rows = [_row(scheme=scheme, image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q))
            for scheme in ("dwtdct", "dwtdctsvd", "spread") for image in ("a", "b", "c") for q in (50, 90)]
    plots.strength_curves(rows, "exact")
    figure = drawn[0]
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["dwtdct", "dwtdctsvd", "spread"]
    assert len({(line.get_marker(), line.get_linestyle()) for line in lines}) == 3       # all at 100 %: all seen
    assert all(line.get_fillstyle() == "none" for line in lines)
    assert figure.get_suptitle() == "n = 3 images per point (a failed cell counts as lost)"


def test_per_attack_and_speed_tables_without_readable_bits_or_full_size_reads():
    rows = [_row(embed_ms=30.0, detect_ms=20.0), _row(attack="r", family="geometry", detect_ms=0.1),
            _row(attack="r", family="geometry", bit_accuracy=float("nan"), exact=False),
            _row(image="n", marked=False, detect_ms=60.0, width=500, height=500)]
    per_attack = dict(((r[0], r[1]), r[5]) for r in tables.per_attack([*rows[:1], rows[2]]).rows)
    assert per_attack == {("s", "none"): "100.0", ("s", "r"): "–"}
    assert tables.speed(rows).rows == (("s", "30", "30", "20", "20", "60"),)


def test_html_is_self_contained(bench):
    _, out = bench
    text = (out / "report.html").read_text()
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in text and "http://" not in text and "https://" not in text and "@import" not in text
    assert text.count("<img") == 3 + 2 * (3 + 2)    # 3 plots; per scheme: original, marked, diff, 2 attacks
    for heading in ("Survival per attack family", "Detection at 0.1 % false positives",
                    "Robustness against attack strength", "Quality", "Speed",
                    "Unmarked images", "Examples", "Every attack"):
        assert heading in text


def test_difference_image_amplifies_and_clips():
    a = np.full((2, 2, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0] = 103
    b[1, 1] = 0
    diff = report.difference_image(a, b)
    assert diff[0, 0, 0] == 30 and diff[1, 1, 0] == 255 and diff[0, 1, 0] == 0


def test_quality_table_and_tradeoff_curve_carry_the_perceptual_metrics():
    from eval import plots

    rows = []
    for scheme, s2, ba, exact in (("lattice@0.5", 95.0, 0.6, False), ("lattice", 91.0, 1.1, True),
                                  ("lattice@2", 80.0, 2.5, True), ("peer:x", 85.0, 2.0, False)):
        rows.append(_row(scheme=scheme, ssimulacra2=s2, butteraugli=ba))
        rows.append(_row(scheme=scheme, attack="jpeg(quality=30)", family="codec", exact=exact,
                         ssimulacra2=float("nan"), butteraugli=float("nan")))
    table = tables.quality(rows)
    assert "SSIMULACRA2 (mean)" in table.columns and "Butteraugli (max)" in table.columns
    assert ("lattice", "1", "40.0", "40.0", "0.9900", "0.9900", "91.0", "91.0", "1.10", "1.10") in table.rows
    points = plots.tradeoff_points(rows)
    assert points["lattice"] == [(0.5, 95.0, 0.6, 0.0), (1.0, 91.0, 1.1, 1.0), (2.0, 80.0, 2.5, 1.0)]
    assert points["peer:x"] == [(1.0, 85.0, 2.0, 0.0)]
    assert plots.tradeoff(rows).startswith(b"\x89PNG")
    unmeasured = [{**row, "ssimulacra2": float("nan"), "butteraugli": float("nan")} for row in rows]
    assert plots.tradeoff(unmeasured) is None


def test_the_tables_say_when_payloads_differ_and_that_ssim_is_luma_s():
    """A probe's reviewer: invisible-watermark carries 32 bits, Filigrane 64 (a shorter payload is read
    whole more easily), and SSIM on luma does not see a mark put in the colours."""
    rows = [_row(), _row(scheme="peer", payload_bits=32)]
    assert "Payload bits, which differ: s 64, peer 32." in tables.survival(rows).note
    assert "Payload bits" not in tables.survival(rows[:1]).note
    assert "SSIM on the luma (BT.601), blind to a mark in the colours" in tables.quality(rows).note


def test_the_trade_off_caption_speaks_of_curves_only_when_there_are_embedding_strengths():
    """A probe: the caption counted the attacks' strengths (the strength column), NaN among them, so every
    run was said to draw curves over embedding strengths; those are in the scheme's name (lattice@0.5)."""
    nan = float("nan")
    one_each = [_row(strength=nan), _row(strength=nan), _row(attack="j", family="codec", strength=50.0),
                _row(scheme="t", attack="j", family="codec", strength=90.0)]
    assert report._tradeoff_caption(one_each).endswith("one point per scheme at its default (--strengths draws curves)")
    assert report._tradeoff_caption([_row(), _row(scheme="s@2")]).endswith(
        "over its embedding strengths (--strengths)")


def test_the_plots_count_a_failed_cell_as_lost_as_the_tables_do(monkeypatch):
    """A probe: the curves left failed cells out while the tables counted them as lost, so a scheme that
    could not mark the hard image was plotted on the easy ones."""
    from eval import plots

    drawn = []
    monkeypatch.setattr(plots, "_png", lambda figure: drawn.append(figure) or b"")
    rows = [_row()] + [_row(image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q))
                       for image in ("a", "b", "c") for q in (50, 90)]
    rows += [_row(image="hard", attack=f"jpeg(quality={q})", family="codec", strength=float(q), exact=False,
                  found=False, bit_accuracy=math.nan, error="ImageTooSmallError: 64x64 px") for q in (50, 90)]
    assert dict(tables.survival(rows).rows)["codec"] == "75 % (6/8; 41-93)"
    plots.strength_curves(rows, "exact")
    (line,) = drawn[0].axes[0].get_lines()
    assert list(line.get_ydata()) == [75.0, 75.0]
    assert drawn[0].get_suptitle() == "n = 4 images per point (a failed cell counts as lost)"
    plots.strength_curves(rows, "bit_accuracy")
    (line,) = drawn[1].axes[0].get_lines()
    assert list(line.get_ydata()) == [100.0, 100.0]        # as the per-attack table: over the bits read
    assert drawn[1].get_suptitle() == "n = 3 images with bits read, per point"
    assert plots.tradeoff_points(rows)["s"] == [(1.0, 92.0, 0.9, 0.75)]


def test_the_bit_accuracy_curves_show_every_value_and_where_a_scheme_read_no_bits(monkeypatch):
    """A probe: the axis began at 40 %, hiding a scheme's 30 %, and a scheme that read no bits had no line and
    no word."""
    from eval import plots

    drawn = []
    monkeypatch.setattr(plots, "_png", lambda figure: drawn.append(figure) or b"")
    rows = [_row(image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q),
                 bit_accuracy=0.3 if q == 50 else 0.9) for image in ("a", "b") for q in (50, 90)]
    rows += [_row(scheme="t", image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q),
                  bit_accuracy=math.nan, exact=False) for image in ("a", "b") for q in (50, 90)]
    plots.strength_curves(rows, "bit_accuracy")
    ax = drawn[0].axes[0]
    low, high = ax.get_ylim()
    assert low < 0 and high > 100
    (read, unread) = [line for line in ax.get_lines() if line.get_label() in ("s", "t: no bits read")]
    assert [round(y, 6) for y in read.get_ydata()] == [30.0, 90.0]
    assert list(unread.get_xdata()) == [50.0, 90.0] and unread.get_marker() == "x"
    assert low < unread.get_ydata()[0] < 0             # below the axis' 0, above its edge
    assert "t: no bits read" in [text.get_text() for text in drawn[0].legends[0].get_texts()]


def test_the_payload_note_takes_the_sizes_of_the_cells_that_ran_and_names_each():
    """A probe: the note kept each scheme's last row, and a row of an image that could not be read carries 0
    bits, so with that image last the schemes' 64 and 32 bits were 0 and 0, and the note vanished."""
    unread = {"image": "z", "payload_bits": 0, "exact": False, "error": "InvalidImageError: z: not an image file"}
    rows = [_row(), _row(scheme="peer", payload_bits=32), _row(**unread), _row(scheme="peer", **unread)]
    assert "Payload bits, which differ: s 64, peer 32." in tables.survival(rows).note
    assert "Payload bits, which differ: s 64, peer 32/48." in tables.survival(
        rows + [_row(scheme="peer", image="y", payload_bits=48)]).note
    assert "Payload bits" not in tables.survival([_row(), _row(**unread)]).note
