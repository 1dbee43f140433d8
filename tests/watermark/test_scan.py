"""``watermark scan`` end to end: a real registry, real files, real processes and signals.

The world (``scan_world`` in conftest.py): three masters issued to two recipients, and a crawl of
what a user would find (the issued file itself, attacked copies, a master, a mark pasted on an
unrelated photograph, an unrelated photograph, a broken file).
"""

from __future__ import annotations

import functools
import html
import json
import os
import pickle
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from chromium import probe
from photos import photo
from PIL import Image
from scan_setup import run as _run
from scenes import gradient, sky
from servers import http_server
from signals import interruptible
from terminal import run_on_terminal, screen

from watermark import Key, scan_findings, scan_informed, scan_masters, scan_verdict
from watermark import scan as scan_module
from watermark.cli import scan as scan_cli
from watermark.errors import RegistryError
from watermark.registry import Registry
from watermark.scan_rows import row_problem

MASTERS = ("astronaut", "coffee", "rocket")
COPIES = 8          # files of the interrupted scan: stopped at its second row, most are left to the resumed run


def _scan(world, *extra, check=None):
    result = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key", "--json",
                  *extra, check=check)
    return result, {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}


@pytest.fixture(scope="module")
def scanned(crawl_scan):
    return crawl_scan, {Path(row["path"]).name: row for row in map(json.loads, crawl_scan.stdout.splitlines())}


def test_prints_kept_between_files_are_bounded_the_latest_used_kept(monkeypatch):
    """A partial scan of a small crop compares it with every master of its size: each decoded print was kept
    for the rest of the scan (6 GB for a registry of 20,000)."""
    monkeypatch.setattr(scan_masters, "_PRINTS", 2)
    cache: OrderedDict = OrderedDict()
    made = []
    for master_id in (1, 2, 1, 3, 1, 2):
        assert scan_masters._kept(cache, master_id, lambda m=master_id: made.append(m) or m) == master_id
    assert list(cache) == [1, 2] and made == [1, 2, 3, 2]


def test_a_master_s_copies_share_its_record_of_it_print_and_all(scan_world):
    """`registry list` of 20,000 masters and 40,000 copies held every copy's own 40 KB print: 1.7 GB."""

    with Registry(scan_world / "r.db") as registry:
        records = registry.records()
    by_master: dict = {}
    for record in records:
        by_master.setdefault(record.master.sha256, set()).add(id(record.master))
    assert len(records) == 6 and len(by_master) == 3 and all(len(ids) == 1 for ids in by_master.values())


def test_every_file_has_one_row_with_the_stable_fields(scanned):
    result, rows = scanned
    assert set(rows) == {"exact.png", "master.png", "coffee-rotated.png", "astronaut-small.jpg", "forged.png",
                         "framed.png", "leaked-master.png", "unrelated.png", "broken.jpg"}
    assert all(tuple(row) == scan_module.ROW_FIELDS for row in rows.values())
    assert result.returncode == 2                      # the broken file; the others were scanned
    assert "broken.jpg" in rows["broken.jpg"]["error"] and rows["broken.jpg"]["status"] == "error"
    assert "1 error" in result.stderr and "recipient Studio Y" in result.stderr


def test_exact_copies_and_masters(scanned):
    _, rows = scanned
    assert rows["exact.png"]["status"] == "exact" and rows["exact.png"]["record"]["recipient"] == "Agence X"
    assert rows["master.png"]["status"] == "exact" and rows["master.png"]["record"] is None
    assert rows["master.png"]["match"]["master"]["path"].endswith("coffee.png")


def test_attacked_copies_are_attributed_to_their_recipient(scanned):
    _, rows = scanned
    for name, recipient, master in (("coffee-rotated.png", "Studio Y", "coffee.png"),
                                    ("astronaut-small.jpg", "Agence X", "astronaut.png")):
        row = rows[name]
        assert row["status"] == "attributed", row
        assert row["record"]["recipient"] == recipient and row["record"]["master"]["path"].endswith(master)
        assert row["p_value"] < 1e-9 and row["record"]["metadata"] == {"licence": "7"} and row["record"]["issued"]
    # the geometry is how the file lies over its master: 800 px wide of 1024, and turned 4 degrees
    assert np.allclose(rows["astronaut-small.jpg"]["geometry"]["scale"], 800 / 1024, rtol=0.005)
    assert abs(abs(rows["coffee-rotated.png"]["geometry"]["degrees"]) - 4.0) < 0.1


def test_each_mark_gives_its_per_copy_layer_s_own_p_value_and_an_exact_copy_claims_no_read(scanned):
    """The per-copy layer decides whose copy a file is, but its p-value was dropped (and merged into the
    mark's own p); an exact copy, never decoded, read p 0 and `verified` true."""
    _, rows = scanned
    for name in ("coffee-rotated.png", "astronaut-small.jpg"):
        mark = next(m for m in rows[name]["marks"] if m["payload"] == rows[name]["payload"])
        assert mark["verified"] and mark["layer_p_value"] <= 1e-9 and mark["p_value"] == rows[name]["p_value"]
        assert mark["layer_p_value"] != mark["p_value"]       # two reads, each with its own number
    for name in ("framed.png", "leaked-master.png"):          # the layer looked for in the master's frame: absent
        mark = next(m for m in rows[name]["marks"] if m["payload"] == rows[name]["payload"])
        assert not mark["verified"] and mark["layer_p_value"] > 1e-9
    [exact] = rows["exact.png"]["marks"]
    assert exact["method"] == "exact" and exact["p_value"] is None and exact["verified"] is None
    assert exact["layer_p_value"] is None and exact["attributed"] and rows["exact.png"]["p_value"] is None


def test_a_pasted_mark_is_never_an_attribution(scanned):
    _, rows = scanned
    forged = rows["forged.png"]
    assert forged["status"] == "mark-only" and "does not match" in forged["reason"]
    assert rows["unrelated.png"]["status"] == "not-found"


def test_a_mark_pasted_on_another_copy_of_its_master_is_never_an_attribution(scanned):
    """Y denoises their own copy and pastes the periodic mark of X's copy of the same master (or pastes
    it on the master itself): the content matches, the payload is X's, but X's per-copy layer is not there."""
    result, rows = scanned
    for name in ("framed.png", "leaked-master.png"):
        row = rows[name]
        assert row["status"] == "unverified" and row["record"]["recipient"] == "Agence X", row
        assert "per-copy layer" in row["reason"] and "not an attribution" in row["reason"]
        assert not any(mark["attributed"] for mark in row["marks"])
    assert "2 unverified" in result.stderr


def test_the_summary_counts_every_copy_a_collage_names_under_its_own_status(capsys):
    record = {"id": "c1", "recipient": "Agence X", "master": {"path": "coffee.png"}}
    marks = [{"attributed": True, "record": record},
             {"attributed": True, "record": {**record, "id": "c2", "recipient": "Y"}},
             {"attributed": False, "content_match": True, "record": {**record, "id": "c3", "recipient": "Z"}},
             {"attributed": False, "content_match": True, "doubt": "pasted", "record": {**record, "recipient": "W"}},
             {"attributed": False, "content_match": False, "record": {**record, "recipient": "V"}}]
    summary = scan_cli._Summary()
    summary.add({"status": "attributed", "record": record, "marks": marks})
    summary.print(0)
    err = capsys.readouterr().err
    assert "recipient Agence X: 1 attributed file naming 1 copy of 1 master" in err
    assert "recipient Y: 1 attributed file" in err
    assert "recipient Z: 1 unverified file" in err and "recipient W" not in err and "recipient V" not in err
    assert "masters: coffee.png x1" in err              # one file, whatever copies of the master it names
    summary.add({"status": "exact", "record": record})           # "1 attributed, 1 exact copies" read as one kind
    summary.print(0)
    # two files of one copy: a lawyer counted "2 copies" where one copy was found twice
    assert "recipient Agence X: 2 files (1 attributed, 1 exact) naming 1 copy of 1 master" in capsys.readouterr().err
    line = scan_cli._verdict({"path": "c.jpg", "status": "attributed", "record": record, "payload": "0x1",
                              "p_value": 1e-30, "method": "blind", "marks": marks})
    assert line.startswith("c.jpg: attributed to Agence X") and "Agence X's copy" not in line
    assert "also attributed: Y's copy" in line and "also unverified: Z's copy" in line and "W's" not in line


def test_a_blind_mark_that_its_masters_frame_reads_better_says_so_and_keeps_that_evidence():
    found = scan_findings.Findings("leak.jpg", None)  # type: ignore[arg-type]
    found.marks.append(scan_findings.Mark("k1", 5, 1e-20, "blind", content={"inliers": 40}, verified=False,
                                          layer_p_value=1e-3))
    key = SimpleNamespace(public_id="k1")
    add = functools.partial(scan_informed.add_informed, copies_tested=3)
    add(found, key, 5, 1e-10, None, {"inliers": 40, "read_against": "the master file"}, verified=False,
        layer_p_value=1e-2)
    assert found.marks[0].method == "blind" and found.marks[0].p_value == 1e-20      # nothing added
    assert found.marks[0].content == {"inliers": 40, "read_against": "the master file"}
    assert found.marks[0].layer_p_value == 1e-3
    add(found, key, 5, None, None, {"inliers": 40}, verified=True, layer_p_value=1e-30)
    mark = found.marks[0]
    assert (mark.method, mark.verified) == ("blind+informed", True) and len(found.marks) == 1
    assert (mark.p_value, mark.layer_p_value) == (1e-20, 1e-30)      # each read's number kept apart
    add(found, key, 6, None, None, {"inliers": 40}, verified=True, layer_p_value=1e-12)
    assert (found.marks[1].method, found.marks[1].p_value) == ("informed", 1e-12)     # only its layer was read
    add(found, key, 6, 1e-15, None, {"inliers": 40}, verified=False, layer_p_value=1e-12)
    assert (found.marks[1].p_value, found.marks[1].layer_p_value) == (1e-15, 1e-12)


def test_a_remote_worker_gets_the_registry_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scanner = scan_module.Scanner("r.db", [])
    assert scanner.registry_path == "r.db"                   # what messages name, as the user typed it
    assert pickle.loads(pickle.dumps(scanner)).registry_path == str(tmp_path / "r.db")


def test_the_report_opens_in_headless_chromium(scan_world, tmp_path):
    world = scan_world
    result, _ = _scan(world, "--report", tmp_path / "report")
    page = tmp_path / "report" / "report.html"
    text = page.read_text()
    assert "Agence X" in text and "Studio Y" in text and "does not match" in text
    seen = probe(page, tmp_path)
    assert seen["images"] >= 6 and seen["broken"] == [] and seen["problems"] == [] and seen["console"] == []


@pytest.mark.xdist_group("heavy-and-signals")   # never beside the null test
def test_ctrl_c_then_resume_scans_every_file_once(scan_world, tmp_path):
    world = scan_world
    out = tmp_path / "scan.jsonl"
    many = tmp_path / "many"
    many.mkdir()
    for index in range(COPIES):
        os.link(world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    command = [sys.executable, "-m", "watermark", "scan", many, "--registry", world / "r.db", "--key",
               world / "studio.key", "-o", out, "--jobs", "2"]
    process = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=interruptible)
    while not out.exists() or out.read_text().count("\n") < 2:
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)                 # not a busy loop: it took a core from the scan it waits for
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    done = out.read_text()
    assert done.endswith("\n") and 2 <= done.count("\n") < COPIES
    resumed = _run(*command[3:], "--resume", check=0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(row["path"]).name for row in rows) == sorted(f"{i:02d}.png" for i in range(COPIES))
    assert all(row["status"] == "attributed" for row in rows)
    assert f"watermark: {COPIES} scanned ({done.count(chr(10))} of them by an earlier run): {COPIES} attributed" \
        in resumed.stderr


def test_a_hundred_thousand_listed_paths_stream_through(scan_world, tmp_path):
    world = scan_world
    listing = "".join(f"{tmp_path}/missing/{index}.jpg\n" for index in range(100_000))
    result = _run("scan", "-", "--registry", world / "r.db", "--key", world / "studio.key", "-o", tmp_path / "o.jsonl",
                  input=listing)
    assert result.returncode == 2
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert len(lines) == 100_000 and all('"status": "error"' in line for line in lines[:10])
    assert "100000 scanned" in result.stderr


def test_a_stdin_name_that_is_not_utf8_is_one_error_row_and_the_scan_goes_on(scan_world, tmp_path):
    world = scan_world
    bad = os.fsencode(tmp_path) + b"/bad\xffname.png"
    for path in (bad, os.fsencode(tmp_path / "ok.png")):
        with open(path, "wb") as copy:
            copy.write((world / "crawl" / "exact.png").read_bytes())
    command = [sys.executable, "-m", "watermark", "scan", "-", "--registry", str(world / "r.db"), "--key",
               str(world / "studio.key"), "--json"]
    result = subprocess.run(command, input=bad + b"\n" + os.fsencode(tmp_path / "ok.png") + b"\n",
                            capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 2 and b"Traceback" not in result.stderr, result.stderr
    assert [row["status"] for row in rows] == ["error", "exact"]
    assert rows[0]["path"].endswith("bad\\xffname.png") and "not valid UTF-8" in rows[0]["error"]


def test_a_plain_crop_too_small_for_features_is_placed_by_its_mark(tmp_path):
    """A dataset owner's 300 px crop of a plain 384 px copy: its payload read, its features too few to
    register it, so 'mark-only ... the content does not match'; the record's master is now sought by
    the mark's tile phase and its thumbnail (as --partial places crops), for that one master. Whether
    its per-copy layer then verifies (attributed) or not (unverified) depends on the key: with a key
    drawn anew each run, this test failed 2 and 3 runs in 10 when it asked for 'attributed'."""
    masters, key, registry = tmp_path / "masters", tmp_path / "k.key", tmp_path / "r.db"
    masters.mkdir()
    Image.fromarray(sky(np.random.default_rng(3), (384, 384))).save(masters / "sky.png")
    Key.from_passphrase("a plain crop placed by its mark").save(key)
    _run("registry", "init", registry, check=0)
    _run("embed", masters, "-o", tmp_path / "x", "--key", key, "--registry", registry, "--recipient", "X", check=0)
    Image.open(tmp_path / "x" / "sky.png").crop((84, 0, 384, 300)).save(tmp_path / "crop.png")
    row = json.loads(_run("scan", tmp_path / "crop.png", "--registry", registry, "--key", key, "--json",
                          check=0).stdout)
    assert row["status"] in ("attributed", "unverified") and row["record"]["recipient"] == "X", row
    assert row["match"]["placed"] == "tile phase and thumbnail"


def test_a_large_copy_s_geometry_is_given_in_the_file_s_pixels(tmp_path):
    """Registration reads a file of 2048 px or more at half size: an untouched copy was reported at
    'scale 0.5', a 0.75 resize at 0.375 (a probe's)."""
    masters, key, registry = tmp_path / "masters", tmp_path / "k.key", tmp_path / "r.db"
    masters.mkdir()
    Image.fromarray(photo("coffee")).resize((3000, 2100), Image.LANCZOS).save(masters / "big.png")
    _run("keygen", key, check=0)
    _run("registry", "init", registry, check=0)
    _run("embed", masters, "-o", tmp_path / "x", "--key", key, "--registry", registry, "--recipient", "X", check=0)
    Image.open(tmp_path / "x" / "big.png").save(tmp_path / "copy.jpg", quality=95)
    row = json.loads(_run("scan", tmp_path / "copy.jpg", "--registry", registry, "--key", key, "--json",
                          check=0).stdout)
    assert row["status"] == "attributed"
    assert row["geometry"]["scale"] == pytest.approx([1, 1], abs=1e-3)
    assert row["geometry"]["offset"] == pytest.approx([0, 0], abs=0.5)


def _moved_fine_band(alice, bob, shift, box):
    """Bob's copy without its own fine band (his marks and per-copy layer), with alice's moved by ``shift``
    whole tiles (128 working px) in its place, cropped to ``box`` (top, left, side): no pixel of it is
    alice's copy at that place."""
    from watermark import color
    from watermark.image import to_float
    from watermark.schemes.lattice import masking

    def fine_band(image):           # of the luminance at the working resolution, as attacks.security takes it
        luma = color.luminance(to_float(image)[0])
        return masking.highpass(color.resize(luma, color.working_shape(luma.shape)), 8.0)

    def add_in_luminance(pixels, change):       # a working-resolution change, at full size, to R, G and B
        return pixels + color.resize(change.astype(np.float32), pixels.shape[:2])[:, :, None]

    fine = fine_band(alice)
    (dy, dx), tile, (height, width) = shift, 128, fine.shape
    moved = np.zeros_like(fine)
    moved[max(dy * tile, 0):height + min(dy * tile, 0), max(dx * tile, 0):width + min(dx * tile, 0)] = \
        fine[max(-dy * tile, 0):height + min(-dy * tile, 0), max(-dx * tile, 0):width + min(-dx * tile, 0)]
    own = np.asarray(bob, np.float32) / 255
    scrubbed = add_in_luminance(own, -fine_band(bob))
    top, left, side = box
    forged = add_in_luminance(scrubbed, moved)[top:top + side, left:left + side]
    return Image.fromarray(np.clip(np.round(forged * 255), 0, 255).astype(np.uint8))


def test_a_copy_s_fine_band_moved_by_whole_tiles_onto_a_plain_master_is_never_attributed(tmp_path):
    """A security probe: bob scrubbed his copy of a plain gradient master and put alice's fine band there,
    moved by a tile, then cropped; the scan placed the crop by its tile phase and thumbnail (a gradient
    shows it alike at several of those places), kept the blind check of alice's per-copy layer (which
    tries every tile position) and said "attributed: alice" for 6 of 12 such crops. A placement a second
    place matches as well is no placement, and a placed file's layer counts only where it was placed."""
    masters, key, registry = tmp_path / "masters", tmp_path / "k.key", tmp_path / "r.db"
    masters.mkdir()
    Image.fromarray(np.ascontiguousarray(gradient((512, 512))[:, ::-1])).save(masters / "grad.png")
    _run("keygen", key, check=0)
    _run("registry", "init", registry, check=0)
    for who in ("alice", "bob"):
        _run("embed", masters, "-o", tmp_path / who, "--key", key, "--registry", registry, "--recipient", who,
             check=0)
    alice, bob = (np.asarray(Image.open(tmp_path / who / "grad.png").convert("RGB")) for who in ("alice", "bob"))
    forged = tmp_path / "forged"
    forged.mkdir()
    for shift, box in (((1, 0), (212, 212, 300)), ((-1, -1), (0, 0, 300)), ((1, 0), (106, 106, 300)),
                       ((0, 1), (212, 212, 300)), ((-1, 0), (0, 0, 300))):
        _moved_fine_band(alice, bob, shift, box).save(forged / f"{shift[0]}{shift[1]}-{box[0]}.png")
    rows = [json.loads(line) for line in _run("scan", forged, "--registry", registry, "--key", key, "--json").stdout
            .splitlines()]
    assert len(rows) == 5 and not [row["path"] for row in rows if row["status"] == "attributed"], rows


def test_a_listed_name_holding_a_nul_byte_is_one_error_row_and_resume_goes_past_it(scan_world, tmp_path):
    """A list from `find -print0` crashed the scan (ValueError from the file system), and --resume with it."""
    listed = b"\n".join([b"bad\0name.png", os.fsencode(scan_world / "crawl" / "exact.png")]) + b"\n"
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "watermark", "scan", "-", "--registry", str(scan_world / "r.db"), "--key",
               str(scan_world / "studio.key"), "-o", str(out)]
    for extra in ([], ["--resume"]):
        result = subprocess.run(command + extra, input=listed, capture_output=True)
        assert result.returncode == 2 and b"Traceback" not in result.stderr, result.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(row["status"] for row in rows) == ["error", "exact"]     # the error row rescanned, not added
        assert [row["error"] for row in rows if row["error"]][0].endswith(
            "name.png: no file name holds a NUL byte: a list of paths gives one a line (find -print0 | tr '\\0' '\\n')")


def test_a_report_location_that_is_a_file_stops_before_any_file(scan_world, tmp_path):
    world = scan_world
    (tmp_path / "report").touch()
    refused = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key",
                   "--report", tmp_path / "report", check=2)
    assert refused.stdout == "" and refused.stderr.splitlines() == [
        f"watermark: {tmp_path / 'report'}: not a directory; the report is written into one (as DIR/report.html)"]


def test_a_command_line_that_is_not_utf8_is_shown_in_the_report(scan_world, tmp_path):
    world = scan_world
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/bad\xffname.png")
    with open(bad, "wb") as copy:
        copy.write((world / "crawl" / "exact.png").read_bytes())
    result = _run("scan", bad, "--registry", world / "r.db", "--key", world / "studio.key", "--report",
                  tmp_path / "report", check=2)                  # the name is one error row
    assert "Traceback" not in result.stderr and "report written" in result.stderr
    page = html.unescape((tmp_path / "report" / "report.html").read_text())
    assert "bad\\xffname.png' --registry" in page           # shell-quoted: the command can be run again
    assert os.listdir(tmp_path / "report") == ["report.html"]


def test_every_error_row_names_its_file(scan_world, tmp_path):
    world = scan_world
    folder = tmp_path / "odd"
    folder.mkdir()
    tifffile.imwrite(folder / "nan.tif", np.full((200, 300), np.nan, np.float32))
    tifffile.imwrite(folder / "negative.tif", np.full((200, 300), -1.0, np.float32))
    tifffile.imwrite(folder / "int32.tif", np.full((200, 300), 100_000, np.int32))
    (folder / "empty.png").touch()
    result = _run("scan", folder, "--registry", world / "r.db", "--key", world / "studio.key", "--json", check=2)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4 and all(row["status"] == "error" for row in rows)
    assert all(row["error"].startswith(f"{row['path']}: ") and "image:" not in row["error"] for row in rows), rows
    named = [f"file://{folder}/empty.png", f"{folder}/./nan.tif"]     # names that a Path would respell
    result = _run("scan", *named, "--registry", world / "r.db", "--key", world / "studio.key", "--json", check=2)
    assert [row["error"].split(": ")[0] for row in map(json.loads, result.stdout.splitlines())] == named


def test_a_url_whose_server_stalls_is_one_error_row_and_the_scan_goes_on(scan_world):
    world = scan_world
    pytest.importorskip("aiohttp")
    exact = world / "crawl" / "exact.png"
    with http_server(exact.read_bytes(), stall="mid-body") as stalled, http_server(exact.read_bytes()) as served:
        result = _run("scan", stalled, served, "--registry", world / "r.db", "--key", world / "studio.key", "--json",
                      "--url-timeout", "1", check=2)
    rows = {row["path"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows[stalled]["status"] == "error"
    assert rows[stalled]["error"] == f"{stalled}: no answer from the server within 1 s"
    assert rows[served]["status"] == "exact", rows[served]


def test_a_scan_into_a_file_counts_its_files_on_the_terminal_then_leaves_only_its_lines(scan_world, tmp_path):
    world = scan_world
    hits = tmp_path / "hits.jsonl"
    status, out, shown = run_on_terminal([sys.executable, "-m", "watermark", "scan", str(world / "crawl"),
                                          "--registry", str(world / "r.db"), "--key", str(world / "studio.key"),
                                          "-o", str(hits)])
    rows = [json.loads(line) for line in hits.read_text().splitlines()]
    assert status == 2 and out == "" and "file/s" in shown          # a bar counted the files, with their rate
    lines = screen(shown)
    errors = [f"watermark: {row['error']}" for row in rows if row["error"]]
    assert errors and lines[:len(errors)] == errors                                    # not broken by the bar
    assert lines[len(errors)].startswith(f"watermark: {len(rows)} scanned: ")          # then the summary
    assert all(line.startswith("watermark: ") for line in lines)                        # and no bar left


def test_a_dask_address_that_is_none_stops_before_the_output_is_touched(scan_world, tmp_path):
    world = scan_world
    (tmp_path / "earlier.jsonl").write_text('{"path": "x"}\n')
    for address in ("garbage", str(world / "crawl" / "exact.png")):     # --dask ADDRESS took a file's name
        refused = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key",
                       "-o", tmp_path / "earlier.jsonl", "--overwrite", "--dask", address, check=2)
        assert refused.stderr.splitlines() == [f"watermark: --dask {address!r} is not a scheduler's address "
                                               f"(missing port number in address {address!r}); give "
                                               "tcp://HOST:PORT, or --dask alone for a local cluster"]
    with socket.socket() as probe:          # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        down = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    refused = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key",
                   "-o", tmp_path / "earlier.jsonl", "--overwrite", "--dask", down, check=2)
    assert refused.stderr.splitlines() == [f"watermark: cannot reach the Dask scheduler at {down} (Connection refused)"]
    assert (tmp_path / "earlier.jsonl").read_text() == '{"path": "x"}\n'


def test_resume_keeps_good_rows_and_scans_failed_and_torn_ones_again(scan_world, tmp_path):
    world = scan_world
    folder, out = tmp_path / "found", tmp_path / "scan.jsonl"
    folder.mkdir()
    for index in range(4):
        os.link(world / "crawl" / "exact.png", folder / f"{index}.png")
    (folder / "2-late.png").touch()                          # still empty: an error row, tried again on resume
    command = ("scan", folder, "--registry", world / "r.db", "--key", world / "studio.key", "-o", out)
    _run(*command, check=2)
    lines = out.read_text().splitlines(keepends=True)
    assert "2-late.png" in lines[2] and "3.png" in lines[4]
    out.write_text("".join(lines[:4]) + lines[4][:40])         # the last line torn, as a crash leaves it
    (folder / "2-late.png").write_bytes((world / "crawl" / "exact.png").read_bytes())
    resumed = _run(*command, "--resume", check=0)
    assert "watermark: 5 scanned (3 of them by an earlier run): 0 attributed, 0 unverified, 0 mark-only, " \
           "0 near-duplicate, 5 exact, 0 not-found, 0 error" in resumed.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["path"] for row in rows) == sorted(str(folder / f"{name}.png") for name in (0, 1, 2, 3, "2-late"))
    assert out.read_text().startswith(lines[0] + lines[1] + lines[3]) and all(row["status"] == "exact" for row in rows)
    again = _run(*command, "--resume", check=0)               # nothing new: the output's rows say found
    assert "watermark: 5 scanned (5 of them by an earlier run): 0 attributed" in again.stderr


def test_resume_refuses_an_output_that_is_not_a_scans_and_leaves_it_as_it_is(scan_world, tmp_path):
    world = scan_world
    notes, link = tmp_path / "notes.jsonl", tmp_path / "link.jsonl"
    notes.write_text("line one\nline two\nimportant data\n")
    link.symlink_to(notes.name)
    for output in (notes, link):
        refused = _run("scan", world / "crawl" / "exact.png", "--registry", world / "r.db", "--key",
                       world / "studio.key", "-o", output, "--resume", check=2)
        assert refused.stdout == "" and refused.stderr.splitlines() == [
            f"watermark: {output}: line 1 is not a row of a scan's output (a JSON object with 'path'); "
            "not resumed, the file is left as it is"]
    assert notes.read_text() == "line one\nline two\nimportant data\n" and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link.jsonl", "notes.jsonl"]


def test_every_row_of_a_scan_has_the_shape_a_resumed_scan_requires(scanned):
    _, rows = scanned
    assert {row["status"] for row in rows.values()} >= {"attributed", "unverified", "exact", "mark-only", "not-found"}
    assert {name: row_problem(row) for name, row in rows.items()} == dict.fromkeys(rows)


@pytest.mark.parametrize(("edit", "said"), [
    (lambda row: row.update(p_value="1e-30"), "line 1 is not a row of a scan's output (the row's 'p_value' is not a "
                                              "number)"),
    (lambda row: row["marks"][0]["record"].pop("master"), "line 1 is not a row of a scan's output (the row's "
                                                          "'marks'[0]'s 'record' has no 'master')"),
    (lambda row: row["record"].update(recipient="Dave"), "its row for {path} names copy {id} for 'Dave', which {db} "
                                                         "records for 'Agence X' of master {master}"),
    (lambda row: row["record"]["master"].update(sha256="0" * 64),       # the copy's master edited
     "its row for {path} names copy {id} for 'Agence X', which {db} records for 'Agence X' of master {master}"),
    (lambda row: row["record"].update(id="00000000-0000-4000-8000-000000000000"),
     "its row for {path} names copy 00000000-0000-4000-8000-000000000000 for 'Agence X', which {db} does not hold"),
])
def test_resume_refuses_a_row_of_another_shape_or_naming_a_copy_the_registry_does_not_record(scan_world, scanned,
                                                                                           tmp_path, edit, said):
    """An attacker's probe: a row of the -o file with a string p-value made the report fail with a traceback once
    the scan was done, and a row naming a copy and recipient the registry never had was reported as attributed."""
    _, rows = scanned
    row = json.loads(json.dumps(rows["astronaut-small.jpg"]))
    edit(row)
    output = tmp_path / "earlier.jsonl"
    output.write_text(json.dumps(row) + "\n")
    refused = _run("scan", scan_world / "crawl" / "exact.png", "--registry", scan_world / "r.db", "--key",
                   scan_world / "studio.key", "-o", output, "--resume", "--report", tmp_path / "report", check=2)
    held = rows["astronaut-small.jpg"]["record"]
    message = said.format(path=row["path"], id=held["id"], db=scan_world / "r.db", master=held["master"]["path"])
    assert refused.stderr.startswith(f"watermark: {output}: {message}"), refused.stderr
    assert refused.stderr.endswith("not resumed, the file is left as it is\n") and len(refused.stderr.splitlines()) == 1
    assert output.read_text() == json.dumps(row) + "\n" and not list((tmp_path / "report").rglob("*.html"))


def _address_space() -> None:
    """``preexec_fn``: 4 GiB of address space, as ``ulimit -v`` gives, so that a file read whole fails fast."""
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


def _huge_and_exact(world, folder):
    """``folder`` holding a sparse 16 GiB ``a-huge.png`` (no disk, never read) and then an exact copy."""
    folder.mkdir()
    with open(folder / "a-huge.png", "wb") as huge:
        huge.truncate(16 * 2**30)
    (folder / "b-exact.png").write_bytes((world / "crawl" / "exact.png").read_bytes())
    return folder


def test_a_file_larger_than_the_pixel_limit_allows_is_one_error_row_and_the_scan_goes_on(scan_world, tmp_path):
    world = scan_world
    folder = _huge_and_exact(world, tmp_path / "crawl")
    result = _run("scan", folder, "--registry", world / "r.db", "--key", world / "studio.key", "--json",
                  "--max-pixels", "1000", preexec_fn=_address_space, check=2)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    limit = 1000 * 8 + 64 * 2**20                         # 16-bit RGBA pixels, and room for metadata
    assert [row["status"] for row in rows] == ["error", "exact"] and "Traceback" not in result.stderr
    assert rows[0]["error"] == f"{folder / 'a-huge.png'}: 17,179,869,184 bytes exceeds the limit of {limit:,}"
    assert "2 scanned" in result.stderr


def test_a_file_too_large_for_memory_is_one_error_row_and_the_scan_goes_on(scan_world, tmp_path):
    world = scan_world
    folder = _huge_and_exact(world, tmp_path / "crawl")
    result = _run("scan", folder, "--registry", world / "r.db", "--key", world / "studio.key", "--json",
                  "--max-pixels", "none", preexec_fn=_address_space, check=2)     # no limit: read, and fail
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["status"] for row in rows] == ["error", "exact"] and "Traceback" not in result.stderr
    assert rows[0]["error"] == f"{folder / 'a-huge.png'}: not enough memory to scan it"
    assert "2 scanned" in result.stderr


def test_a_bad_registry_or_key_stops_before_any_file(scan_world, tmp_path):
    world = scan_world
    other = tmp_path / "other.key"
    Key.generate().save(other)
    refused = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", other, check=2)
    assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
    missing = _run("scan", world / "crawl", "--registry", tmp_path / "none.db", "--key", world / "studio.key", check=2)
    assert "none.db" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_two_marks_are_both_reported_with_their_issue_dates_oldest_first(scan_world, tmp_path):
    # Priority (security issue): Studio Y's copy marked again, later, under a second key.
    world = scan_world
    registry = tmp_path / "r.db"
    with sqlite3.connect(world / "r.db") as source, sqlite3.connect(registry) as copy:
        source.backup(copy)
    later = tmp_path / "later.key"
    Key.generate().save(later)
    _run("embed", world / "y" / "coffee.png", "-o", tmp_path / "again.png", "--key", later, "--registry", registry,
         "--recipient", "Later Licensee", "--new-key", check=0)
    Image.open(tmp_path / "again.png").save(tmp_path / "again.jpg", quality=95)     # not byte-exact: read blind
    result = _run("scan", tmp_path / "again.jpg", "--registry", registry, "--key", world / "studio.key", "--key", later,
                  "--json", check=0)
    row = json.loads(result.stdout)
    recipients = [mark["record"]["recipient"] for mark in row["marks"] if mark["record"]]
    issued = [mark["record"]["issued"] for mark in row["marks"] if mark["record"]]
    assert set(recipients) == {"Studio Y", "Later Licensee"} and recipients[0] == "Studio Y", row["marks"]
    assert issued == sorted(issued) and row["status"] == "attributed"
    alone = _run("scan", tmp_path / "again.jpg", "--registry", registry, "--key", later, check=0)
    fingerprint = Key.load(later).fingerprint
    assert not any(fingerprint in line for line in alone.stderr.splitlines() if "warning" in line)
    other = _run("scan", tmp_path / "again.jpg", "--registry", registry, "--key", world / "studio.key", check=0)
    assert (f"watermark: warning: {registry}: issued copies under key {fingerprint} (1 copy) not given (--key): "
            "their marks cannot be read, and a copy of theirs reads as a near-duplicate of its master at most "
            "(unless it is the issued file itself)") in other.stderr.splitlines()     # one office's key alone


def test_a_scan_says_which_pictures_its_walk_left_out(scan_world, tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "exact.png").write_bytes((scan_world / "crawl" / "exact.png").read_bytes())
    (crawl / "IMG_0001.HEIC").write_bytes(b"not read")
    result = _run("scan", crawl, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key", check=0)
    assert ("watermark: left out 1 file of a format Filigrane does not read (.heic 1): convert them to JPEG, PNG or "
            "TIFF first") in result.stderr.splitlines()
    assert "1 scanned" in result.stderr


def test_a_worker_that_cannot_see_the_registry_says_so(scan_world, tmp_path):
    """On a Dask worker without the registry at the scan's path, every file said "registry not found; ...
    `watermark registry init` creates a new, empty one": advice that, followed, makes an empty registry."""
    copy = tmp_path / "r.db"
    copy.write_bytes((scan_world / "r.db").read_bytes())
    sent = pickle.dumps(scan_module.Scanner(str(copy), [Key.load(scan_world / "studio.key")]))
    copy.unlink()
    with pytest.raises(RegistryError, match=f"^{copy}: no registry at this path on the worker at .*: a scan's "
                                               "workers open the registry at the path the scan names"):
        pickle.loads(sent).check()


def test_the_scan_never_writes_its_rows_over_the_registry_or_its_wal(scan_world, tmp_path):
    """`scan -o r.db --overwrite` replaced a registry of 16 copies with one JSON line (and `-o r.db-wal`
    wrote over a WAL holding committed records): `registry export -o` refused both."""
    registry = tmp_path / "r.db"
    with sqlite3.connect(scan_world / "r.db") as source, sqlite3.connect(registry) as copy:
        source.backup(copy)
    (tmp_path / "alias.db").symlink_to(registry)
    holder = sqlite3.connect(registry)                    # a writer whose committed rows are still in the WAL
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("UPDATE copies SET note = 'kept' WHERE state = 'issued'")
    holder.commit()
    wal = Path(f"{registry}-wal")
    before = registry.read_bytes(), wal.read_bytes()
    for target, said in ((registry, "is the registry itself;"), (tmp_path / "alias.db", "is the registry itself;"),
                         (wal, "is the registry itself (its wal file);")):
        result = _run("scan", scan_world / "crawl" / "exact.png", "--registry", registry, "--key",
                      scan_world / "studio.key", "-o", target, "--overwrite", check=2)
        assert result.stderr.splitlines() == [f"watermark: {target}: {said} write the scan's rows to another file"]
    assert (registry.read_bytes(), wal.read_bytes()) == before
    holder.close()                                        # no writer at work: no -wal, no -shm, until one opens
    for part in ("-wal", "-shm"):                         # it: refused by name (rows written into the WAL, lost;
        assert not Path(f"{registry}{part}").exists()     # a Bus error on the -shm)
        result = _run("scan", scan_world / "crawl" / "exact.png", "--registry", registry, "--key",
                      scan_world / "studio.key", "-o", f"{registry}{part}", "--overwrite", check=2)
        assert f"is the registry itself (its {part[1:]} file)" in result.stderr
    assert sqlite3.connect(registry).execute("SELECT count(*) FROM copies WHERE note = 'kept'").fetchone()[0] == 6


def test_a_copy_written_but_never_recorded_as_issued_says_to_finish_its_embed(tmp_path):
    """An embed stopped between writing its output and recording it keeps the reservation for a rerun; a
    scan of that file said the payload 'was never issued under this key in this registry: a copy issued
    with another registry', pointing the operator at the wrong registry."""
    from watermark import embed_file
    from watermark.registry import register_master

    key = Key.from_passphrase("unfinished copy")
    key_path = tmp_path / "studio.key"
    key.save(key_path)
    master = tmp_path / "master.png"
    Image.fromarray(photo("coffee")).save(master)
    with Registry(tmp_path / "r.db", create=True) as registry:
        registry.add_key(key)
        record = registry.reserve(key, register_master(registry, master), output_path=tmp_path / "out.png",
                                  recipient="Agence X", scheme="lattice")
    embed_file(master, tmp_path / "out.png", record.payload, key)       # written; its issue never recorded
    result = _run("scan", tmp_path / "out.png", "--registry", tmp_path / "r.db", "--key", key_path, "--json",
                  check=0)
    row = json.loads(result.stdout)
    assert row["status"] == "mark-only" and "never issued" not in row["reason"]
    assert f"was reserved for copy {record.id} of {master} for Agence X" in row["reason"]
    assert "run it again to finish it" in row["reason"]
    assert "or it was merged from another registry's export taken while that copy was being issued" in row["reason"]


def test_a_scan_gives_the_same_rows_whatever_the_number_of_processes_and_cores(scan_world):
    """OpenCV's parallel MAGSAC++ draws its samples per thread: a scan in this process (OpenCV on every core)
    read other registrations, p-values and geometry than its worker processes (one thread each); a probe saw
    one file's per-copy layer at p 1e-31 against 1e-15, and the README claimed the seventh digit at most."""
    def rows(result):
        return sorted(({k: v for k, v in json.loads(line).items() if k != "ms"} for line in result.stdout.splitlines()),
                      key=lambda row: row["path"])

    single, _ = _scan(scan_world, "--jobs", "1")
    workers, _ = _scan(scan_world, "--jobs", "2")
    assert rows(single) == rows(workers)


def test_a_picture_made_from_two_copies_of_one_master_says_so_and_how_many_copies_each_p_paid_for(scan_world,
                                                                                                  tmp_path):
    """An opposing expert: a picture carrying two recipients' per-copy layers of one master (colluders, or a
    band swap) was 'attributed to Carol ... also attributed: Alice's copy', as if each alone; and a layer's
    p-value paid for the master's issued copies without saying how many (more issued later: a larger p)."""
    import attacks

    x, y = (np.asarray(Image.open(scan_world / who / "coffee.png")) for who in ("x", "y"))
    Image.fromarray(attacks.collude_average(x, copies=[y])).save(tmp_path / "averaged.png")
    result = _run("scan", tmp_path / "averaged.png", "--registry", scan_world / "r.db", "--key",
                  scan_world / "studio.key", "--json", check=0)
    row = json.loads(result.stdout)
    named = sorted(mark["record"]["recipient"] for mark in row["marks"] if mark["attributed"])
    assert row["status"] == "attributed" and named == ["Agence X", "Studio Y"]
    assert row["reason"].startswith("the per-copy layers of 2 copies of this master are all in this picture")
    assert "no one of these recipients alone is shown to have made it" in row["reason"]
    assert all(mark["copies_tested"] == 2 for mark in row["marks"] if mark["attributed"])   # X's and Y's
    text = _run("scan", tmp_path / "averaged.png", "--registry", scan_world / "r.db", "--key",
                scan_world / "studio.key", check=0).stdout
    assert "; the per-copy layers of 2 copies of this master" in text


def test_a_picture_from_which_a_copy_was_subtracted_is_no_attribution_and_names_that_copy(scan_world, tmp_path):
    """An attacker's probe: Agence X, holding their copy and Studio Y's, made 2 x Y - X (Y's layers doubled, X's
    reversed), which was 'attributed to Studio Y', X's reversed layer (z -22) read and dropped. Y could make
    2 x X - Y as well: the row names both, and neither as its maker."""
    x, y = (np.asarray(Image.open(scan_world / who / "coffee.png")).astype(np.int16) for who in ("x", "y"))
    Image.fromarray(np.clip(2 * y - x, 0, 255).astype(np.uint8)).save(tmp_path / "difference.png")
    result = _run("scan", tmp_path / "difference.png", "--registry", scan_world / "r.db", "--key",
                  scan_world / "studio.key", "--json", check=0)
    row = json.loads(result.stdout)
    with Registry(scan_world / "r.db") as registry:
        (x_copy,) = [r for r in registry.records() if r.recipient == "Agence X" and "coffee" in r.master.path]
    assert row["status"] == "mark-only" and not any(mark["attributed"] for mark in row["marks"]), row
    assert row["reason"].startswith(f"the per-copy layer of Agence X's copy {x_copy.id} is in this picture with its "
                                    "sign reversed, beside that of Studio Y's copy"), row["reason"]
    assert "whoever made it held both" in row["reason"] and "no one of them is shown to have made it" in row["reason"]


def test_a_file_name_holding_a_verdict_is_quoted_in_the_text_line(scan_world, tmp_path):
    """An attacker's probe: a crawled file named 'innocent.jpg: attributed to Agence X (...).jpg' gave a line a grep
    for 'attributed to' took for a finding."""
    named = tmp_path / "innocent.jpg: attributed to Agence X (copy 1).png"
    named.write_bytes((scan_world / "masters" / "coffee.png").read_bytes())
    line = _run("scan", named, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key", check=0).stdout
    assert line.startswith(f"'{named}': exact copy of the registered master {scan_world / 'masters' / 'coffee.png'}")


def test_a_registry_changed_during_the_scan_is_said_in_the_report_and_on_stderr(scan_world, tmp_path):
    """An attacker's probe renamed a recipient with SQL 12 s into a scan: one copy stood under two names in one
    report, whose header gave the digest of the records as they were at the start."""
    registry = tmp_path / "r.db"
    with sqlite3.connect(scan_world / "r.db") as source, sqlite3.connect(registry) as copy:
        source.backup(copy)
    scan = subprocess.Popen([sys.executable, "-m", "watermark", "scan", "-", "--registry", str(registry), "--key",
                             str(scan_world / "studio.key"), "--report", str(tmp_path / "report")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with scan.stdin, scan.stdout, scan.stderr:
        scan.stdin.write(f"{scan_world / 'crawl' / 'exact.png'}\n")
        scan.stdin.flush()
        assert "exact copy" in scan.stdout.readline()
        with sqlite3.connect(registry) as db:
            db.execute("UPDATE copies SET recipient = 'Mallory' WHERE recipient = 'Agence X'")
        scan.stdin.close()
        assert scan.wait(timeout=300) == 0
        err = scan.stderr.read()
    assert f"watermark: warning: {registry}: its records changed during the scan (SHA-256 " in err
    page = " ".join(html.unescape(re.sub("<[^>]+>", " ", (tmp_path / "report" / "report.html").read_text())).split())
    assert "its records changed during the scan (SHA-256" in page


def test_overwrite_replaces_an_earlier_run_s_rows_but_not_another_file_a_link_points_to(scan_world, tmp_path):
    """An attacker's probe: 'scan -o hits.jsonl --overwrite', hits.jsonl a link planted to another registry,
    replaced that registry with rows."""
    other, link = tmp_path / "other.db", tmp_path / "hits.jsonl"
    other.write_bytes(b"SQLite format 3\0" + bytes(4080))            # a registry's first bytes
    link.symlink_to(other.name)
    command = ("scan", scan_world / "crawl" / "exact.png", "--registry", scan_world / "r.db", "--key",
               scan_world / "studio.key", "-o", link, "--overwrite")
    refused = _run(*command, check=2)
    assert refused.stderr == (f"watermark: {link}: holds something else than an earlier run's rows; not replaced: "
                              "remove it, or give another output\n")
    assert other.read_bytes() == b"SQLite format 3\0" + bytes(4080)
    other.write_text('{"log_level": "debug"}\n')                      # JSON, and not a scan's: a config
    _run(*command, check=2)
    assert other.read_text() == '{"log_level": "debug"}\n'
    other.write_text(_run(*command[:-3], "--json", check=0).stdout)     # an earlier run's rows: replaced
    _run(*command, check=0)
    assert json.loads(other.read_text())["path"] == str(scan_world / "crawl" / "exact.png")


def test_resume_keeps_the_rows_of_an_earlier_version_without_the_fields_added_since(scan_world, scanned, tmp_path):
    """An audit: rows written hours before by the same version 0.1.0, without the marks' copies_tested (added
    since), were refused as 'not a row of a scan's output'; and a row's partial credentials made the report fail."""
    _, rows = scanned
    row = json.loads(json.dumps(rows["astronaut-small.jpg"]))
    for mark in row["marks"]:
        del mark["copies_tested"], mark["layer_p_value"]
    row["credentials"] = {"present": True}
    output = tmp_path / "earlier.jsonl"
    output.write_text(json.dumps(row) + "\n")
    resumed = _run("scan", scan_world / "crawl" / "exact.png", "--registry", scan_world / "r.db", "--key",
                   scan_world / "studio.key", "-o", output, "--resume", "--report", tmp_path / "report", check=0)
    assert "2 scanned (1 of them by an earlier run)" in resumed.stderr, resumed.stderr
    assert "Content Credentials: INVALID" in (tmp_path / "report" / "report.html").read_text()


def test_a_copy_whose_own_layer_reads_reversed_is_named_once(scan_world):
    """An audit: 2 x master - copy read that copy's own layer reversed, and the reason named it twice ('X's copy
    ... beside that of X's copy')."""
    with Registry(scan_world / "r.db") as registry:
        copy, other = [r for r in registry.records() if "coffee" in r.master.path]
    alone = scan_verdict.subtraction_doubt([copy], copy)
    assert alone.count(copy.id) == 1 and "the copy was subtracted from another picture" in alone
    both = scan_verdict.subtraction_doubt([copy, other], copy)
    assert both.count(copy.id) == 1 and both.count(other.id) == 1 and "made from both copies" in both


def test_a_report_named_dash_is_one_line_and_no_folder(scan_world, tmp_path):
    refused = _run("scan", scan_world / "crawl" / "exact.png", "--registry", scan_world / "r.db", "--key",
                   scan_world / "studio.key", "--report", "-", check=2, cwd=tmp_path)
    assert refused.stderr == "watermark: --report - is no folder: the report is written into one (--report DIR)\n"
    assert not (tmp_path / "-").exists()


def test_a_url_s_password_is_masked_in_the_lines_and_the_rows(scan_world, tmp_path):
    """An attacker's probe: the report masked a URL's password, but the scan's lines and stderr printed it; and
    the rows, which people pass on, kept it."""
    url = "http://user:secret@127.0.0.1:9/x.jpg"                 # nothing listens there: an error row
    command = ("scan", url, "--registry", scan_world / "r.db", "--key", scan_world / "studio.key")
    shown = _run(*command, check=2)
    assert "secret" not in shown.stdout + shown.stderr and "http://***@127.0.0.1:9/x.jpg" in shown.stdout
    row = json.loads(_run(*command, "--json", check=2).stdout)
    assert row["path"] == "http://***@127.0.0.1:9/x.jpg"
    assert "secret" not in row["error"] and row["error"].startswith("http://***@127.0.0.1:9/x.jpg: ")


def test_a_scan_that_finds_only_a_near_duplicate_exits_0(scan_world, tmp_path):
    """The documented exit status: 0 when something of the registry was found, near-duplicates included."""
    Image.open(scan_world / "masters" / "coffee.png").convert("RGB").save(tmp_path / "coffee.jpg", quality=80)
    result = _run("scan", tmp_path / "coffee.jpg", "--registry", scan_world / "r.db", "--key",
                  scan_world / "studio.key", "--json")
    assert json.loads(result.stdout)["status"] == "near-duplicate" and result.returncode == 0, result.stderr


def test_a_report_that_cannot_be_written_either_does_not_hide_why_the_scan_stopped(scan_world, tmp_path):
    """A probe: on a disk that filled, the scan stopped because its rows could not be written, and the only
    line said that the report could not be written."""
    limit = 2500                                       # a row or two, and less than any report

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out, registry = tmp_path / "hits.jsonl", tmp_path / "r.db"
    registry.write_bytes((scan_world / "r.db").read_bytes())
    with Registry(registry):            # its -wal and -shm made now, not by the limited scan (a full disk's read)
        result = _run("scan", scan_world / "crawl", "--registry", registry, "--key", scan_world / "studio.key",
                      "-o", out, "--report", tmp_path / "report", check=2, preexec_fn=limited)
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"watermark: {out}: cannot write (File too large)") for line in lines), lines
    assert any("report.html: cannot write" in line for line in lines), lines


def test_a_full_disk_under_stdout_counts_only_the_rows_written_whole(scan_world, tmp_path):
    """A probe: Python's buffered stdout took a row's short write at a full disk without a word, and the closing
    count named one more row than the file held whole."""
    limit = 4000                                       # two or three rows

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    registry = tmp_path / "r.db"
    registry.write_bytes((scan_world / "r.db").read_bytes())
    with Registry(registry), open(tmp_path / "rows.jsonl", "w") as rows:
        result = subprocess.run([sys.executable, "-m", "watermark", "scan", str(scan_world / "crawl"), "--registry",
                                 str(registry), "--key", str(scan_world / "studio.key"), "--json"], stdout=rows,
                                stderr=subprocess.PIPE, text=True, preexec_fn=limited, timeout=600)
    assert result.returncode == 2 and "stdout: cannot write (File too large)" in result.stderr, result.stderr
    whole = 0
    for line in (tmp_path / "rows.jsonl").read_bytes().splitlines(keepends=True):
        whole += line.endswith(b"\n")
    counted = re.search(r"watermark: (\d+) scanned", result.stderr)
    assert counted is not None and int(counted.group(1)) == whole > 0, result.stderr


def test_a_worker_that_may_not_enter_the_registry_s_folder_is_told_so_not_that_it_is_missing(tmp_path, monkeypatch):
    """A platform engineer's probe: a worker denied the registry's folder said there was 'no registry at this
    path', which os.path.exists reads from a permission error (as root nothing is denied: the stat is made to)."""
    with pytest.raises(RegistryError, match=r"r.db: no registry at this path on the worker at "):
        scan_masters._check_seen(str(tmp_path / "r.db"))

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(scan_masters.os, "stat", denied)
    with pytest.raises(RegistryError, match=r"r.db: the worker at .* may not reach it \(Permission denied\): give"):
        scan_masters._check_seen(str(tmp_path / "r.db"))
