"""``python -m eval.scan``: each part says on stderr what it scans, and the forgeries can be left out."""

import io
import sys

import pytest

from eval import images
from eval import scan as eval_scan

# one master (two copies), one forgery target: part 3 is 3 forgeries x 2 scans + 2 framings + 2 band swaps
_SMALL = ["--size", "256x256", "--classes", "NONE", "--partial", "NONE", "--unrelated", "0", "--seed", "8"]


@pytest.fixture
def one_photo(monkeypatch):
    monkeypatch.setattr(images, "DEFAULT_IMAGES", ("astronaut",))
    monkeypatch.setattr(images, "NULL_PHOTOS", ("camera",))


def test_the_forgery_part_says_what_it_scans_and_draws_its_bar_on_a_terminal(one_photo, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert eval_scan.main(_SMALL) == 0
    said = terminal.getvalue()
    assert ("eval.scan: false attributions: 10 scans (3 forgeries and 2 framings and band swaps, with the master "
            "files and without (--no-forgeries leaves them out))") in said
    assert "false attributions: 100%" in said and "10/10" in said           # the bar, drawn to its end
    assert "eval.scan: acceptance attacks: 0 scans" in said and "eval.scan: partial changes: 0 scans" in said
    out = capsys.readouterr().out
    assert "eval.scan" not in out and "False attributions, scanned with --partial: 0 of 0 unrelated" in out


def test_no_forgeries_leaves_the_forgery_part_out(one_photo, capsys):
    assert eval_scan.main([*_SMALL, "--no-forgeries"]) == 0
    captured = capsys.readouterr()
    assert "false attributions" not in captured.err and "False attributions" not in captured.out
    assert "eval.scan: partial changes: 0 scans" in captured.err            # the other parts still say theirs
    with pytest.raises(SystemExit) as stopped:
        eval_scan.main([*_SMALL, "--no-forgeries", "--figure", "composites.png"])
    assert stopped.value.code == 2 and "drop --no-forgeries" in capsys.readouterr().err


def test_the_placed_crops_have_their_rows_in_the_partial_table(one_photo, capsys):
    assert eval_scan.main([*_SMALL[:4], "--partial", "corner or centre", *_SMALL[6:], "--seeds", "1",
                           "--no-forgeries"]) == 0
    captured = capsys.readouterr()
    assert "eval.scan: partial changes: 4 scans (2 changes x 1 draws of 1 copies" in captured.err
    rows = [line for line in captured.out.splitlines() if line.startswith("| crop ")]
    assert [row.split(" | ")[0] for row in rows] == ["| crop 60% at a corner or centre",
                                                      "| crop 40% at a corner or centre"]
    assert all(row.endswith((" | yes |", " | NO |")) and row.count("%") == 6 for row in rows)
