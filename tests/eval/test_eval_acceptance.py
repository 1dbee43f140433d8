"""``python -m eval.acceptance``: failed cells are counted apart, and a run with any is incomplete."""

from __future__ import annotations

import pytest
from PIL import Image

from eval import acceptance, images


def test_failed_cells_are_counted_apart_and_the_run_is_incomplete(photo_dir, tmp_path, capsys, monkeypatch):
    Image.new("RGB", (64, 64), "grey").save(photo_dir / "tiny.png")          # below lattice's minimum
    good, gone = images.images_from(photo_dir)[0], str(tmp_path / "gone.png")
    monkeypatch.setattr(images, "null_images", lambda n, **_: [good, images.ImageSpec("gone", gone)][:n])
    status = acceptance.main(["--images", str(photo_dir), "--sizes", "own", "--classes", "grayscale",
                              "--unmarked", "2", "--jobs", "1", "--out", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert status == 2
    assert out.startswith("2 images; mean PSNR ") and "nan" not in out
    assert "payload without attack 100% (2/2)" in out
    assert "| grayscale | 95% | grayscale() | 100% (2/2) | 1 | yes |" in out
    assert "unmarked: 1 images, 0 found;" in out and out.count("1 failed") == 1
    assert "incomplete: 3 of 8 cells failed and are left out of the rates" in out


def test_a_run_whose_every_cell_failed_says_so(tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.new("RGB", (64, 64), "grey").save(folder / "tiny.png")
    status = acceptance.main(["--images", str(folder), "--sizes", "own", "--classes", "grayscale",
                              "--unmarked", "0", "--jobs", "1", "--out", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert status == 2
    assert out.startswith("no image marked (every unattacked cell failed)")
    assert "| grayscale | 95% | grayscale() | – | 1 | – |" in out and "incomplete: 2 of 2 cells" in out


@pytest.mark.parametrize("argv", [("--unmarked", "-5"), ("--jobs", "-3")])
def test_negative_counts_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        acceptance.main([*argv, "--classes", "no such class"])         # refused before the classes are read
    assert exit_.value.code == 2 and f"argument {argv[0]}: must be" in capsys.readouterr().err
