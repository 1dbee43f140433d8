"""eval.filesize: a marked JPEG at its source's own quality weighs about what the original did."""

from pathlib import Path

from eval import filesize


def test_a_sample_marked_at_its_own_quality_is_lighter_than_at_95():
    sample = Path(filesize.__file__).resolve().parents[1] / "samples" / "coffee.jpg"
    [(name, quality, original, kept, fixed)] = filesize.sizes([sample])
    assert name == "coffee.jpg" and quality == 92
    assert original < kept < 1.15 * original < fixed
