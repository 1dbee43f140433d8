"""``watermark bench`` through eval.cli.register, as the watermark command wires it."""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image
from signals import interruptible

import attacks
from eval import cli, images, report, runner, security, security_reads
from watermark.errors import UnknownNameError


@pytest.fixture
def bench(monkeypatch, tiny_suite):
    """``bench(*argv)`` -> exit status, running eval.cli as the watermark command would (tiny suite)."""
    def suite(name):
        if name != "tiny":
            raise UnknownNameError(f"unknown suite {name!r}; known suites: tiny")     # as attacks.suite
        return tiny_suite

    monkeypatch.setattr(attacks, "suite", suite, raising=False)
    parser = argparse.ArgumentParser(prog="watermark")
    cli.register(parser.add_subparsers(dest="command", required=True))

    def call(*argv: str) -> int:
        args = parser.parse_args(["bench", *argv])
        return args.run(args)
    return call


def test_bench_writes_csv_report_and_summary(bench, photo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
                   "--unmarked", "3", "--limit-images", "1")
    assert status == 0
    assert {p.name for p in out.iterdir()} >= {"results.csv", "report.html", "summary.md", "cache",
                                               "exact_vs_strength.png", "null_p_values.png"}
    captured = capsys.readouterr()
    assert "| family | dwtdct |" in captured.out
    assert "--suite tiny" in (out / "summary.md").read_text()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 4 + 3
    # what made the numbers, which a probe found missing: the commit, the libraries, the codecs
    made = re.search(r"Made with commit (\S+), Python [0-9.]+, filigrane-\S+, numpy .*, libjpeg [0-9.]+, "
                     r"libwebp [0-9.]+, libavif [0-9.]+, ssimulacra2 \S+\.", (out / "summary.md").read_text())
    assert made and made.group(1) in (out / "report.html").read_text()


def test_a_codec_library_s_version_is_part_of_a_cached_cell_s_key(monkeypatch):
    """After a Pillow upgrade (another libjpeg), cached JPEG cells were reused: the key hashed code only."""
    from eval import cache

    before = cache.code_fingerprint()
    cache.code_fingerprint.cache_clear()
    upgraded = {**cache.libraries(), "libjpeg": "9.9.9"}
    monkeypatch.setattr(cache, "libraries", lambda: upgraded)
    try:
        assert cache.code_fingerprint() != before
    finally:
        cache.code_fingerprint.cache_clear()


def test_an_unreadable_image_is_an_error_row_the_report_is_written_and_exit_2(bench, photo_dir, tmp_path, capsys):
    (photo_dir / "0-broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    status = bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
                   "--unmarked", "0", "--limit-images", "2")
    assert status == 2 and (out / "report.html").exists()
    rows = report.read_csv(out / "results.csv")
    assert [r["error"].split(":")[0] for r in rows] == ["InvalidImageError"] * 4 + [""] * 4
    err = capsys.readouterr().err
    assert "0-broken.png: not an image file" in err and "4 of 8 cells had errors" in err
    assert "marked by dwtdct" in (out / "report.html").read_text()


def test_input_files_nobody_can_read_are_left_out_of_the_tables_and_named(bench, photo_dir, tmp_path, capsys):
    """A probe: a truncated JPEG and a text file among the images were scored as every scheme's losses (and
    their unmarked reads as its failed ones): no scheme can read what nothing decodes."""
    (photo_dir / "astronaut.png").unlink()
    (photo_dir / "notes.jpg").write_text("a text file\n")
    jpeg = io.BytesIO()
    Image.open(photo_dir / "coffee.png").save(jpeg, format="JPEG")
    (photo_dir / "truncated.jpg").write_bytes(jpeg.getvalue()[:2000])
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
                 "--unmarked", "14", "--no-perceptual") == 2
    captured = capsys.readouterr()
    assert "notes.jpg: not an image file" in captured.err and "truncated.jpg: truncated file" in captured.err
    assert "| no attack | 100 % (1/1; 21-100) |" in captured.out
    rows = report.read_csv(out / "results.csv")        # the record keeps their rows, with the error
    assert {r["image"] for r in rows if r["error"]} == {"notes.jpg", "truncated.jpg"}
    assert not any(r["error"] for r in rows if not r["marked"])     # the unmarked images: readable ones only
    line = ("2 input files could not be read: notes.jpg, truncated.jpg; they are left out of the tables and plots "
            "(their rows in results.csv carry the error)")
    summary, page = (out / "summary.md").read_text(), (out / "report.html").read_text()
    assert line in summary and html.escape(line) in page
    assert "| no attack | 100 % (1/1; 21-100) |" in summary and "Failed cells" not in summary
    assert "1 images × 4 attacks" in page and "0 errors" in page and "Errors (" not in page


def test_a_folder_of_no_readable_image_is_named(bench, tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.png").write_bytes(b"not a png")
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(tmp_path / "photos"), "--unmarked", "0",
                 "--out", str(tmp_path / "out")) == 2
    assert f"watermark bench: no readable image in {tmp_path / 'photos'}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    ((), "the default images come with scikit-image: pip install 'filigrane[bench]', or pass --images DIR"),
    (("--images", "PHOTOS"), "the unmarked images come with scikit-image: pip install 'filigrane[bench]', "
                             "or pass --unmarked 0"),
    (("--images", "PHOTOS", "--unmarked", "0", "--suite", "security"),
     "the security suite's unrelated photographs come with scikit-image: pip install 'filigrane[bench]'"),
])
def test_without_scikit_image_a_run_that_needs_it_is_one_line_before_any_work(bench, photo_dir, tmp_path, capsys,
                                                                              monkeypatch, tiny_suite, argv, message):
    monkeypatch.setitem(sys.modules, "skimage", None)          # as on an install without the bench extra
    monkeypatch.setattr(attacks, "suite", lambda name: tiny_suite)   # "security" too, so the check is reached
    argv = [str(photo_dir) if word == "PHOTOS" else word for word in argv]
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--out", str(tmp_path / "out"), *argv) == 2
    assert capsys.readouterr().err == f"watermark bench: {message}\n"
    assert not (tmp_path / "out").exists()


def test_without_scikit_image_own_images_and_no_unmarked_ones_run(bench, photo_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(tmp_path),
                 "--unmarked", "0", "--limit-images", "1", "--no-report") == 0
    assert not any(row["error"] for row in report.read_csv(tmp_path / "results.csv"))


def test_a_run_whose_every_marked_or_every_unmarked_cell_failed_exits_2(bench, photo_dir, tmp_path, capsys,
                                                                        monkeypatch):
    from PIL import Image

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.new("RGB", (64, 64), "grey").save(tiny / "small.png")        # below dwtdct's 288 px
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(tiny), "--out", str(tmp_path / "a"),
                 "--unmarked", "0", "--no-report") == 2
    assert "watermark bench: 4 of 4 cells had errors (see the error column), the first: ImageTooSmallError" in \
        capsys.readouterr().err
    gone = str(tmp_path / "gone.png")
    monkeypatch.setattr(images, "null_images", lambda n, **_: [images.ImageSpec(f"gone{i}", gone) for i in range(n)])
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(tmp_path / "b"),
                 "--unmarked", "3", "--limit-images", "1", "--no-report") == 2
    assert "3 of 7 cells had errors" in capsys.readouterr().err


def test_strengths_without_perceptual_metrics_say_there_is_no_tradeoff_plot(bench, photo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
                 "--unmarked", "0", "--limit-images", "1", "--strengths", "0.5", "--no-perceptual") == 0
    assert ("watermark bench: no tradeoff.png: the trade-off plot of --strengths needs the perceptual metrics "
            "(drop --no-perceptual)\n") in capsys.readouterr().err
    assert (out / "exact_vs_strength.png").exists() and not (out / "tradeoff.png").exists()


def test_without_matplotlib_bench_says_there_is_no_report(bench, photo_dir, tmp_path, capsys, monkeypatch):
    for module in ["matplotlib", *(name for name in sys.modules if name.startswith("matplotlib."))]:
        monkeypatch.setitem(sys.modules, module, None)         # as on an install without the bench extra
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
                 "--unmarked", "0", "--limit-images", "1") == 0
    err = capsys.readouterr().err
    assert "no report" in err and f"rows; results.csv in {out}/" in err and not (out / "report.html").exists()


def test_bench_json_prints_one_object_per_row(bench, photo_dir, tmp_path, capsys):
    status = bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(tmp_path),
                   "--unmarked", "0", "--json", "--no-report")
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2 * 4 and tuple(rows[0]) == runner.COLUMNS and rows[0]["strength"] is None
    assert all(row["error"] is None for row in rows)          # no error is null, as every command writes it


def test_bench_json_of_the_security_suite_prints_one_object_per_row(bench, photo_dir, tmp_path, capsys, monkeypatch,
                                                                    tiny_suite):
    """A probe: 'bench --suite security --json' printed the Markdown tables."""
    monkeypatch.setattr(attacks, "suite", lambda name: tiny_suite)
    row = security_reads.Row("collusion", "average of 2", 8, 52.4, 0.75, 0.5, 0.0, 1.0, 1.0, 0, 0, 0)
    monkeypatch.setattr(security, "run", lambda specs, **options: [row])
    assert bench("--suite", "security", "--images", str(photo_dir), "--out", str(tmp_path), "--unmarked", "0",
                 "--json") == 0
    (printed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == {"threat": "collusion", "attack": "average of 2", "images": 8, "psnr": 52.4, "payload": 0.75,
                       "verified": 0.5, "presence": 0.0, "named": 1.0, "some_named": 1.0, "false_payload": 0,
                       "false_verified": 0, "innocents": 0}


@pytest.mark.parametrize("argv, message", [
    (("--schemes", "nope", "--suite", "tiny"), "unknown scheme 'nope'"),
    (("--schemes", "dwtdct", "--suite", "nope"), "unknown suite 'nope'"),
    (("--schemes", "", "--suite", "tiny"), "no scheme to run"),
])
def test_bench_errors_exit_2_with_one_line(bench, photo_dir, tmp_path, capsys, argv, message):
    assert bench(*argv, "--images", str(photo_dir), "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bench_output_and_image_errors_exit_2_with_one_line(bench, photo_dir, tmp_path, capsys):
    (tmp_path / "plain").write_bytes(b"")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    for argv, message in ((("--images", str(photo_dir), "--out", str(tmp_path / "plain")),
                           "plain: is a file, not a folder"),
                          (("--images", str(tmp_path / "bad.png"), "--out", str(tmp_path / "o")),
                           "bad.png: not an image file")):
        assert bench("--schemes", "dwtdct", "--suite", "tiny", "--unmarked", "0", *argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == (2 if "bad.png" in message else 1)
    assert not (tmp_path / "o").exists()


@pytest.fixture
def no_peers(monkeypatch):
    """Every peer's library missing."""
    from eval import contenders, peers

    def missing(name):
        raise peers.PeerUnavailableError(f"{name} needs its library: pip install 'filigrane[peers]'")

    monkeypatch.setattr(peers, "get", missing)
    contenders.get.cache_clear()
    yield
    contenders.get.cache_clear()


def test_a_peer_named_that_cannot_run_is_said_in_the_report_and_exits_2(bench, photo_dir, tmp_path, capsys, no_peers):
    status = bench("--schemes", "dwtdct,peer:blind-watermark", "--suite", "tiny", "--images", str(photo_dir),
                   "--out", str(tmp_path), "--unmarked", "0", "--limit-images", "1")
    assert status == 2
    captured = capsys.readouterr()
    assert "skipping peer:blind-watermark" in captured.err and "filigrane[peers]" in captured.err
    assert "| family | dwtdct |" in captured.out and "blind" not in captured.out
    line = "not run: peer:blind-watermark (peer:blind-watermark needs its library: pip install 'filigrane[peers]')"
    assert line in (tmp_path / "summary.md").read_text()
    assert html.escape(line) in (tmp_path / "report.html").read_text()


def test_peers_of_the_group_that_cannot_run_are_noted_and_the_run_succeeds(bench, photo_dir, tmp_path, no_peers):
    assert bench("--schemes", "dwtdct,peers", "--suite", "tiny", "--images", str(photo_dir), "--out", str(tmp_path),
                 "--unmarked", "0", "--limit-images", "1") == 0
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"not run: {name} (" in summary for name in ("peer:imwatermark-dwtDct", "peer:blind-watermark"))


def test_a_rerun_removes_the_outputs_of_an_earlier_run_it_does_not_write(bench, photo_dir, tmp_path):
    out = tmp_path / "out"
    common = ("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(out),
              "--limit-images", "1", "--no-perceptual")
    assert bench(*common, "--unmarked", "3") == 0
    plots = {"exact_vs_strength.png", "bit_accuracy_vs_strength.png", "null_p_values.png"}
    assert {p.name for p in out.iterdir()} == {"cache", "results.csv", "summary.md", "report.html", *plots}
    for mine in ("notes.txt", "security.md"):
        (out / mine).write_text("an earlier run's, or the user's")
    assert bench(*common, "--unmarked", "0") == 0
    assert {p.name for p in out.iterdir()} == {"cache", "results.csv", "summary.md", "report.html", "notes.txt",
                                               *plots - {"null_p_values.png"}}
    assert bench(*common, "--unmarked", "0", "--no-report") == 0
    assert {p.name for p in out.iterdir()} == {"cache", "results.csv", "notes.txt"}


def test_strengths_add_a_variant_of_each_filigrane_scheme_only():
    from eval import cli

    assert cli._with_strengths(["lattice", "peer:blind-watermark"], (0.5, 1.0, 2.0)) == [
        "lattice", "lattice@0.5", "lattice@2", "peer:blind-watermark"]
    assert cli._with_strengths(["lattice@0.5", "dwtdct"], (0.5, 0.5, 2.0)) == [
        "lattice@0.5", "lattice@2", "dwtdct", "dwtdct@0.5", "dwtdct@2"]
    # two strengths alike to six digits are two contenders (their names were both lattice@0.123457)
    assert cli._with_strengths(["lattice"], (0.1234567, 0.1234568)) == [
        "lattice", "lattice@0.1234567", "lattice@0.1234568"]


def test_a_scheme_named_twice_is_run_and_counted_once(bench, photo_dir, tmp_path):
    """A probe: 'dwtdct,dwtdct@1' (dwtdct@1 is dwtdct) and '--strengths 0.5,0.5' ran each twice, doubling
    the tests counted and narrowing the intervals."""
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct,dwtdct@1,dwtdct@1.0", "--strengths", "0.5,0.5", "--suite", "tiny",
                 "--images", str(photo_dir), "--out", str(out), "--unmarked", "0", "--limit-images", "1",
                 "--no-perceptual") == 0
    schemes = [row["scheme"] for row in report.read_csv(out / "results.csv")]
    assert schemes == ["dwtdct"] * 4 + ["dwtdct@0.5"] * 4
    summary = (out / "summary.md").read_text()
    assert "| family | dwtdct | dwtdct@0.5 |" in summary and "| no attack | 100 % (1/1; 21-100) |" in summary
    assert "| dwtdct@0.5 | 4 |" in summary           # the paired table: the 4 cells the two share, once


def test_a_run_measures_each_contender_once_whatever_its_names(photo_dir, tiny_suite):
    rows = runner.run(["dwtdct", "dwtdct@1"], images.images_from(photo_dir)[:1], tiny_suite[:1], progress=False)
    assert [row.scheme for row in rows] == ["dwtdct", "dwtdct"]


@pytest.mark.parametrize("argv, message", [
    (("--strengths", "0.5,20"), "argument --strengths: must be a number in (0, 10], got '20'"),
    (("--strengths", "0"), "argument --strengths: must be a number in (0, 10], got '0'"),
    (("--strengths", "abc"), "argument --strengths: must be a number in (0, 10], got 'abc'"),
    (("--jobs", "-3"), "argument --jobs: must be a whole number of processes from 0 (one per core)"),
    (("--jobs", "999"), "argument --jobs: must be a whole number of processes from 0 (one per core)"),
])
def test_strengths_and_jobs_out_of_range_are_refused_before_any_work(bench, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        bench("--out", str(tmp_path / "out"), *argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_jobs_0_is_one_per_core_as_for_embed_and_detect(bench, photo_dir, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(runner, "run", lambda *args, **kwargs: asked.append(kwargs["jobs"]) or [])
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", str(photo_dir), "--out", str(tmp_path),
                 "--unmarked", "0", "--no-report", "--jobs", "0") == 0
    assert asked == [os.cpu_count()]


def _folder(tmp_path, name, images, small_photo):
    """A folder ``name`` holding, for each ``(file name, broken)`` of ``images``, a real photograph or,
    if broken, "not an image" (names as bytes: not every file name is UTF-8)."""
    from PIL import Image

    folder = os.fsdecode(os.fsencode(tmp_path) + b"/" + name)
    os.mkdir(folder)
    for image, broken in images:
        path = os.fsdecode(os.fsencode(folder) + b"/" + image)
        if broken:
            with open(path, "wb") as handle:
                handle.write(b"not an image")
        else:
            Image.fromarray(small_photo("coffee")).save(path, format="PNG")
    return folder


def test_text_cells_a_spreadsheet_would_run_get_a_leading_quote(bench, tmp_path, small_photo):
    folder = _folder(tmp_path, b"photos", [(b'=HYPERLINK("http:\\evil","x").png', False), (b"-2+3.png", False),
                                           (b"@bad.png", True)], small_photo)
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", folder, "--out", str(out),
                 "--unmarked", "0", "--no-report") == 2                     # @bad.png is not an image
    with open(out / "results.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert {row["image"] for row in read} == {"'-2+3.png", "'=HYPERLINK(\"http:\\evil\",\"x\").png", "'@bad.png"}


def test_names_on_stderr_are_escaped_like_the_terminal_output_elsewhere(bench, tmp_path, small_photo, capsys):
    folder = _folder(tmp_path, b"photos", [(b"@bad\x1b[2J.png", True), (b"good.png", False)], small_photo)
    out = tmp_path / "out\x1b[31mRED"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", folder, "--out", str(out),
                 "--unmarked", "0", "--no-report") == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert f"watermark bench: {folder}/@bad\\x1b[2J.png: not an image file" in err
    assert f"the first: InvalidImageError: {folder}/@bad\\x1b[2J.png: not an image file" in err
    assert f"rows; results.csv in {tmp_path}/out\\x1b[31mRED/" in err


def test_names_in_the_report_show_their_bidirectional_overrides_and_newlines(bench, tmp_path, small_photo):
    folder = _folder(tmp_path, "photos\u2066".encode(), [("-2+3\u202eevil.png".encode(), True),
                                                         (b"line1\nFAKE LINE.png", True), (b"good.png", False)],
                     small_photo)
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", folder, "--out", str(out),
                 "--unmarked", "0") == 2
    page, summary = (out / "report.html").read_text(), (out / "summary.md").read_text()
    assert not any(character in page for character in "\u202e\u2066")
    assert "could not be read: -2+3\\u202eevil.png, line1\\nFAKE LINE.png; they are" in page
    assert "could not be read: -2+3\\u202eevil.png, line1\\nFAKE LINE.png; they are" in summary
    assert html.escape("--images '" + folder.replace("\u2066", "\\u2066") + "'") in page
    assert not any(character in summary for character in "\u202e\u2066")        # the command line's folder too


def test_a_folder_with_a_backtick_keeps_the_summary_s_command_one_code_span():
    from eval.report import _code_span

    assert _code_span("watermark bench") == "`watermark bench`"
    assert _code_span("watermark bench --images 'a`b'") == "`` watermark bench --images 'a`b' ``"


def test_an_image_whose_name_is_not_utf8_is_benchmarked_under_its_name_escaped(bench, tmp_path, small_photo, capsys):
    folder = _folder(tmp_path, b"photos\xff", [(b"bad\xff\x9bname.png", False), (b"broken\xfe.png", True)],
                     small_photo)
    out = tmp_path / "out"
    assert bench("--schemes", "dwtdct", "--suite", "tiny", "--images", folder, "--out", str(out),
                 "--unmarked", "0") == 2                                    # broken\xfe.png is not an image
    assert "Traceback" not in capsys.readouterr().err
    errors = {(row["image"], row["error"].split(": ")[0]) for row in report.read_csv(out / "results.csv")}
    assert errors == {("bad\\xff\\x9bname.png", ""), ("broken\\xfe.png", "InvalidImageError")}
    assert "photos\\xff" in (out / "report.html").read_text() and "photos\\xff" in (out / "summary.md").read_text()


def test_ctrl_c_stops_a_bench_at_once_and_says_the_reports_there_are_an_earlier_run_s(photo_dir, tmp_path):
    """A probe's Ctrl-C waited for the whole run (its pool finished every task first) and then kept none
    of it, the folder's report an earlier run's without a word. Real SIGINT to the process group."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("an earlier run's\n")
    process = subprocess.Popen([sys.executable, "-m", "watermark", "bench", "--suite", "stirmark", "--schemes",
                                "lattice,dwtdct", "--images", str(photo_dir), "--jobs", "2", "--unmarked", "0",
                                "--no-perceptual", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, preexec_fn=interruptible)
    cells = out / "cache" / "cells.jsonl"
    try:
        while not cells.exists() or not cells.read_text():
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-2:] == [
        f"watermark bench: stopped: the cells finished are kept in {out}/cache, and the same command continues "
        "from them; results.csv there are an earlier run's, not this one's", "watermark: interrupted"]
    assert (out / "results.csv").read_text() == "an earlier run's\n"
    assert 0 < len(cells.read_text().splitlines()) < 2 * 2 * len(attacks.suite("stirmark"))    # not run to the end
