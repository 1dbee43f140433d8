"""eval.filesize: a marked JPEG at its source's own quality weighs about what the original did."""

from pathlib import Path

from eval import filesize


def test_a_sample_marked_at_its_own_quality_is_lighter_than_at_95():
    sample = Path(filesize.__file__).resolve().parents[1] / "samples" / "coffee.jpg"
    [(name, quality, original, kept, fixed)] = filesize.sizes([sample])
    assert name == "coffee.jpg" and quality == 92
    assert original < kept < 1.15 * original < fixed


def test_without_the_bundled_samples_it_asks_for_files_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(filesize, "_SAMPLES", tmp_path)        # as in an installed wheel: no samples/
    assert filesize.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bundled samples are not installed" in err and "pass JPEG files" in err
