"""The sizes the evaluation scripts mark photographs at: ``--sizes`` of eval.acceptance and eval.visibility."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from eval import acceptance, images, scan, security, visibility


def test_sizes_are_own_or_width_by_height_in_the_order_given():
    assert images.parse_sizes("4000x3000, own,640X480") == [(4000, 3000), None, (640, 480)]


@pytest.mark.parametrize("text", ["4000x", "x3000", "big", "0x480", "-640x480", "1.5x2", " , "])
def test_a_size_that_is_neither_is_refused(text):
    with pytest.raises(ValueError, match="WIDTHxHEIGHT|no size"):
        images.parse_sizes(text)


def test_acceptance_marks_only_the_sizes_asked_for(photo_dir, tmp_path, capsys):
    status = acceptance.main(["--images", str(photo_dir), "--sizes", "320x240", "--classes", "grayscale",
                              "--unmarked", "0", "--jobs", "1", "--out", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("2 images;")            # both photographs, at the one size
    assert "| grayscale | 95% | grayscale() |" in out
    cells = [json.loads(line)["row"] for line in (tmp_path / "cache" / "cells.jsonl").read_text().splitlines()]
    assert {(cell["image"], cell["width"], cell["height"]) for cell in cells} == {
        ("astronaut.png@320x240", 320, 240), ("coffee.png@320x240", 320, 240)}


@pytest.mark.parametrize("main", [acceptance.main, visibility.main])
def test_a_bad_size_is_one_line_and_exit_2(main, capsys):
    assert main(["--sizes", "4000x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--sizes" in err and "'4000x'" in err


@pytest.mark.parametrize("main", [acceptance.main, visibility.main])
def test_without_scikit_image_the_default_images_are_one_line_and_exit_2(main, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)          # as on an install without the bench extra
    assert main(["--sizes", "own"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the default images come with scikit-image: pip install 'filigrane[bench]'" in err


def test_one_size_takes_a_single_width_by_height():
    assert images.one_size("4000x3000") == (4000, 3000)
    for text in ("own", "640x480,800x600", "4000x"):
        with pytest.raises(argparse.ArgumentTypeError):
            images.one_size(text)


@pytest.mark.parametrize("main", [scan.main, security.main])
def test_size_of_scan_and_security_is_checked_before_any_work(main, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--size", "own"])
    assert exit_.value.code == 2
    assert "--size" in capsys.readouterr().err
