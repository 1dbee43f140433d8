"""``watermark scan`` end to end: a real registry, real files, real processes and signals.

The world (``scan_world`` in conftest.py): three masters issued to two recipients, and a crawl of
what a user would find (the issued file itself, attacked copies, a master, a mark pasted on an
unrelated photograph, an unrelated photograph, a broken file).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromium import probe
from PIL import Image
from scan_setup import run as _run
from signals import interruptible

from watermark import Key
from watermark import scan as scan_module

MASTERS = ("astronaut", "coffee", "rocket")
COPIES = 8          # files of the interrupted scan: stopped at its second row, most are left to the resumed run


def _scan(world, *extra, check=None):
    result = _run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key", "--json",
                  *extra, check=check)
    return result, {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}


@pytest.fixture(scope="module")
def scanned(crawl_scan):
    return crawl_scan, {Path(row["path"]).name: row for row in map(json.loads, crawl_scan.stdout.splitlines())}


def test_every_file_has_one_row_with_the_stable_fields(scanned):
    result, rows = scanned
    assert set(rows) == {"exact.png", "master.png", "coffee-rotated.png", "astronaut-small.jpg", "forged.png",
                         "unrelated.png", "broken.jpg"}
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


def test_a_pasted_mark_is_never_an_attribution(scanned):
    _, rows = scanned
    forged = rows["forged.png"]
    assert forged["status"] == "mark-only" and "does not match" in forged["reason"]
    assert rows["unrelated.png"]["status"] == "not-found"


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
    assert all(row["status"] == "attributed" for row in rows) and "after" in resumed.stderr


def test_a_hundred_thousand_listed_paths_stream_through(scan_world, tmp_path):
    world = scan_world
    listing = "".join(f"{tmp_path}/missing/{index}.jpg\n" for index in range(100_000))
    result = _run("scan", "-", "--registry", world / "r.db", "--key", world / "studio.key", "-o", tmp_path / "o.jsonl",
                  input=listing)
    assert result.returncode == 2
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert len(lines) == 100_000 and all('"status": "error"' in line for line in lines[:10])
    assert "100000 scanned" in result.stderr


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
         "--recipient", "Later Licensee", check=0)
    Image.open(tmp_path / "again.png").save(tmp_path / "again.jpg", quality=95)     # not byte-exact: read blind
    result = _run("scan", tmp_path / "again.jpg", "--registry", registry, "--key", world / "studio.key", "--key", later,
                  "--json", check=0)
    row = json.loads(result.stdout)
    recipients = [mark["record"]["recipient"] for mark in row["marks"] if mark["record"]]
    issued = [mark["record"]["issued"] for mark in row["marks"] if mark["record"]]
    assert set(recipients) == {"Studio Y", "Later Licensee"} and recipients[0] == "Studio Y", row["marks"]
    assert issued == sorted(issued) and row["status"] == "attributed"
