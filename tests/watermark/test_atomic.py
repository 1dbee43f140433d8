"""Files written whole or not at all."""

import os

import pytest

from watermark import atomic


def test_a_file_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"before")
    atomic.write_file(target, b"after")
    assert target.read_bytes() == b"after" and os.listdir(tmp_path) == ["out.txt"]


def test_without_replace_an_existing_file_or_link_is_left_as_it_is(tmp_path):
    (tmp_path / "victim").write_bytes(b"kept")
    (tmp_path / "link").symlink_to("victim")
    for name in ("victim", "link"):
        with pytest.raises(FileExistsError):
            atomic.write_file(tmp_path / name, b"new", replace=False, mode=0o600)
    assert (tmp_path / "victim").read_bytes() == b"kept" and sorted(os.listdir(tmp_path)) == ["link", "victim"]
    atomic.write_file(tmp_path / "new", b"new", replace=False, mode=0o600)
    assert (tmp_path / "new").read_bytes() == b"new" and (tmp_path / "new").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_neither_the_target_nor_a_temporary_file(tmp_path, monkeypatch):
    def full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_file(tmp_path / "out.txt", b"data")
    assert os.listdir(tmp_path) == []


def test_a_file_whose_name_is_near_the_longest_a_folder_holds_is_written(tmp_path):
    """A probe: names of 234 to 255 bytes could not be written, the temporary name beside them being longer."""
    for name in ("a" * 250 + ".jpg", "é" * 125 + ".png"):                 # 254 bytes each
        atomic.write_file(tmp_path / name, b"data")
        assert (tmp_path / name).read_bytes() == b"data"
        assert len(os.fsencode(atomic.temporary(tmp_path / name).name)) <= 255
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["a" * 250 + ".jpg", "é" * 125 + ".png"])
