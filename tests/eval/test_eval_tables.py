"""eval.tables: what each table counts, in which order, and how it prints (test_eval_report.py has the rest)."""

from __future__ import annotations

import math

from benchrows import result_row as _row

from eval import tables


def _null(count, **fields):
    return [_row(image=f"n{i}", marked=False, exact=False, found=False, score=float(i), p_value=(i + 0.5) / count,
                 **fields) for i in range(count)]


def test_families_come_in_the_order_the_run_met_them_then_no_attack_then_all_attacks():
    rows = [_row(), _row(attack="r", family="geometry"), _row(attack="j", family="codec"),
            _row(attack="r2", family="geometry")]
    expected = ["geometry", "codec", "no attack", "all attacks"]
    assert [row[0] for row in tables.survival(rows).rows] == expected
    assert [row[0] for row in tables.detection(rows + _null(10)).rows] == expected


def test_a_thousand_unmarked_images_resolve_a_threshold_at_one_in_a_thousand():
    rows = [_row(score=2000.0)]
    for count, resolved in ((1000, True), (999, False)):
        detection, null = tables.detection(rows + _null(count)), tables.null_calibration(rows + _null(count))
        assert ("not resolved" not in detection.note) == resolved
        assert ("not resolved" not in null.note) == resolved


def test_quality_gives_the_mean_and_the_worst_of_each_metric():
    rows = [_row(psnr=40.0, ssim=0.99, ssimulacra2=92.0, butteraugli=0.9),
            _row(image="j", psnr=30.0, ssim=0.95, ssimulacra2=80.0, butteraugli=1.5)]
    assert tables.quality(rows).rows == (
        ("s", "2", "35.0", "30.0", "0.9700", "0.9500", "86.0", "80.0", "1.20", "1.50"),)


def test_speed_per_megapixel_divides_by_the_image_s_size():
    rows = [_row(embed_ms=30.0, detect_ms=20.0, width=2000, height=1000)]
    assert tables.speed(rows).rows[0][:5] == ("s", "30", "15", "20", "10")


def test_per_attack_counts_the_images_that_ran_and_the_errors_apart_and_finds_at_1e_9():
    rows = [_row(attack="j", family="codec", p_value=1e-10), _row(attack="j", family="codec", p_value=1e-7),
            _row(attack="j", family="codec", exact=False, bit_accuracy=math.nan, p_value=math.nan,
                 error="ImageTooSmallError: 64x64 px")]
    (row,) = tables.per_attack(rows).rows
    assert (row[3], row[6], row[8]) == ("2", "50 %", "1")


def test_html_cells_are_escaped():
    table = tables.Table("t <b>", ("a&b",), (("<script>x</script>",),), note="<i>")
    text = table.to_html()
    assert "<script>" not in text and "&lt;script&gt;x&lt;/script&gt;" in text
    assert "a&amp;b" in text and "t &lt;b&gt;" in text and "&lt;i&gt;" in text


def test_null_calibration_counts_false_alarms_over_the_cells_that_ran():
    rows = _null(8) + [_row(image="n8", marked=False, exact=False, found=True, p_value=1e-12, score=99.0),
                       _row(image="bad", marked=False, exact=False, found=False, p_value=math.nan, score=math.nan,
                            error="InvalidImageError: bad")]
    (row,) = tables.null_calibration(rows).rows
    assert (row[1], row[2], row[6]) == ("9", "1", "1e-12")
    assert "Failed cells, counted as lost: s 1 (InvalidImageError)" in tables.null_calibration(rows).note
