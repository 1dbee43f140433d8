"""eval.filesize: a marked JPEG at its source's own quality weighs about what the original did; where those
tables would keep too little of the mark, it is written finer."""

from pathlib import Path

from eval import filesize

_SAMPLES = Path(filesize.__file__).resolve().parents[1] / "samples"


def test_a_sample_is_written_at_its_own_quality_when_that_keeps_the_mark_else_finer():
    rows = {row[0]: row[1:] for row in filesize.sizes([_SAMPLES / "astronaut.jpg", _SAMPLES / "coffee.jpg"])}
    quality, written, original, kept, fixed = rows["astronaut.jpg"]
    assert quality == written == 92 and original < kept < 1.15 * original < fixed
    quality, written, original, kept, fixed = rows["coffee.jpg"]
    assert quality == 92 and written == 95 and kept == fixed


def test_without_the_bundled_samples_it_asks_for_files_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(filesize, "_SAMPLES", tmp_path)        # as in an installed wheel: no samples/
    assert filesize.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bundled samples are not installed" in err and "pass JPEG files" in err
