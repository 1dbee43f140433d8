"""watermark/listing.py: files and folders named expanded into image files, each once; linked folders."""

import pytest

from watermark import listing
from watermark.errors import WatermarkError


def test_iter_image_files_expands_nested_directories(tmp_path):
    for name in ["b.PNG", "a.jpg", "notes.txt", ".hidden.png", "._a.jpg", "sub/z.webp", "sub/deeper/c.tif",
                 ".git/x.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in listing.iter_image_files(tmp_path)]
    assert found == ["a.jpg", "b.PNG", "sub/z.webp", "sub/deeper/c.tif"]
    flat = [p.name for p in listing.iter_image_files([tmp_path], recursive=False)]
    assert flat == ["a.jpg", "b.PNG"]
    named = list(listing.iter_image_files([tmp_path / "notes.txt", tmp_path / "missing.png", tmp_path / "a.jpg",
                                           tmp_path]))
    assert [p.name for p in named] == ["notes.txt", "missing.png", "a.jpg", "b.PNG", "z.webp", "c.tif"]


def test_iter_image_files_follows_a_linked_directory_once_for_a_reader_and_never_for_a_writer(tmp_path):
    """A probe: the same folder gave detect 1 file and scan 6, a linked directory of pictures left out; a link
    back up (a loop) is entered by none. Embed, which writes, follows none: following them, --in-place
    rewrote pictures outside the folder named."""
    for name in ["shoot/a.jpg", "elsewhere/b.jpg"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "shoot" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "shoot" / "loop").symlink_to(tmp_path / "shoot")
    unlisted: list[listing.Unlisted] = []
    walked = listing.iter_image_files(tmp_path / "shoot", follow_links=True, unlisted=unlisted)
    found = [p.relative_to(tmp_path).as_posix() for p in walked]
    assert found == ["shoot/a.jpg", "shoot/linked/b.jpg"]
    assert [(path, "listed already" in problem) for path, problem in unlisted] == [(tmp_path / "shoot" / "loop", True)]
    with pytest.raises(WatermarkError, match=r"shoot/loop: a symbolic link to a directory listed already"):
        list(listing.iter_image_files(tmp_path / "shoot", follow_links=True))      # without a list: said at once
    assert list(listing.iter_image_files(tmp_path / "shoot")) == [tmp_path / "shoot" / "a.jpg"]
