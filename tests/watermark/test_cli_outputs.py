"""Where ``watermark embed`` writes: file or directory, mirrored directories, and what it refuses
before writing anything (clashing names, a file name for several inputs, unknown extensions, the
input directory as output); an existing output skipped, unless its input is missing or no image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photos import photo
from PIL import Image

import watermark as wm
from watermark.cli import ERROR, FOUND, NOT_FOUND, main, outputs


@pytest.fixture()
def keyfile(tmp_path):
    path = tmp_path / "k.key"
    wm.Key.from_passphrase("outputs").save(path)
    return path


def _image(path, flip=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = photo("coffee")[:256, :320]
    Image.fromarray(pixels[:, ::-1] if flip else pixels).save(path)
    return path


def _embed(*arguments, keyfile):
    return main(["embed", *map(str, arguments), "--key", str(keyfile), "--payload", "7"])


def _tree(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def test_an_output_directory_inside_the_input_one_is_not_marked_again(tmp_path, keyfile, capsys):
    _image(tmp_path / "in" / "a.png")
    for _ in range(2):
        assert _embed(tmp_path / "in", "-o", tmp_path / "in" / "marked", "--overwrite", keyfile=keyfile) == FOUND
    assert _tree(tmp_path / "in") == ["a.png", "marked", "marked/a.png"]
    assert "1 marked, 0 skipped" in capsys.readouterr().err


def test_in_place_marks_what_a_link_points_to_and_keeps_the_link(tmp_path, keyfile):
    real = _image(tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to("real.png")
    assert _embed(tmp_path / "link.png", "--in-place", keyfile=keyfile) == FOUND
    assert os.readlink(tmp_path / "link.png") == "real.png"
    assert wm.detect_file(real, wm.Key.load(keyfile)).payload == 7


@pytest.mark.parametrize("extra", [[], ["--overwrite", "--jobs", "2"]])
def test_two_inputs_with_the_same_name_are_refused_before_anything_is_written(tmp_path, keyfile, capsys, extra):
    first, second = _image(tmp_path / "a" / "x.png"), _image(tmp_path / "b" / "x.png", flip=True)
    assert _embed(first, second, "-o", tmp_path / "out", *extra, keyfile=keyfile) == ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(first) in err and str(second) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_file_name_for_several_inputs_is_refused(tmp_path, keyfile, capsys):
    first, second = _image(tmp_path / "a.png"), _image(tmp_path / "b.png")
    assert _embed(first, second, "-o", tmp_path / "name.jpg", keyfile=keyfile) == ERROR
    assert "name.jpg: names one image file; several inputs" in capsys.readouterr().err
    assert not (tmp_path / "name.jpg").exists()
    assert _embed(tmp_path / "a.png", "-o", tmp_path / "dir.jpg", keyfile=keyfile) == FOUND   # one input: a file
    assert (tmp_path / "dir.jpg").is_file()


def test_an_unknown_extension_for_one_input_is_refused(tmp_path, keyfile, capsys):
    source = _image(tmp_path / "a.png")
    assert _embed(source, "-o", tmp_path / "out.xyz", keyfile=keyfile) == ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out.xyz: '.xyz' is not an image format Filigrane writes" in err
    assert not (tmp_path / "out.xyz").exists()
    assert _embed(source, "-o", f"{tmp_path / 'out.xyz'}/", keyfile=keyfile) == FOUND     # a directory, said so
    assert (tmp_path / "out.xyz" / "a.png").is_file()


def test_an_output_directory_that_cannot_be_created_is_one_line(tmp_path, keyfile, capsys):
    source = _image(tmp_path / "a.png")
    (tmp_path / "file.txt").write_text("a file, not a directory")
    assert _embed(source, "-o", tmp_path / "file.txt" / "out", keyfile=keyfile) == ERROR
    err = capsys.readouterr().err
    assert err == f"watermark: {tmp_path / 'file.txt' / 'out'}: cannot create the output directory (Not a directory)\n"


def test_an_output_directory_this_user_may_not_write_in_is_one_line_before_any_work(tmp_path, keyfile, capsys,
                                                                                    monkeypatch):
    """A probe: a read-only output directory was found only once every picture was marked, each row failing
    with a warning that the file was 'written at JPEG quality 95'."""
    for name in ("a", "b"):
        _image(tmp_path / "in" / f"{name}.png")
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    if os.geteuid() == 0:           # root writes anywhere: the kernel's answer for another user, or a read-only mount
        access = os.access
        monkeypatch.setattr(outputs.os, "access", lambda path, mode: access(path, mode) and Path(path) != readonly)
    marked = []
    monkeypatch.setattr(wm.api_files, "_marked", lambda *args: marked.append(args))
    assert _embed(tmp_path / "in", "-o", readonly, keyfile=keyfile) == ERROR
    assert capsys.readouterr().err == (f"watermark: {readonly}: cannot write in the output directory (permission "
                                       "denied, or a read-only file system); check its permissions\n")
    assert marked == []


def test_a_directory_is_marked_recursively_into_a_mirror(tmp_path, keyfile, capsys):
    _image(tmp_path / "in" / "a.png")
    _image(tmp_path / "in" / "sub" / "deeper" / "b.png", flip=True)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    single = _image(tmp_path / "c.png")
    assert _embed(tmp_path / "in", single, "-o", tmp_path / "out", "--jobs", "2", keyfile=keyfile) == FOUND
    assert _tree(tmp_path / "out") == ["a.png", "c.png", "sub", "sub/deeper", "sub/deeper/b.png"]
    key = wm.Key.load(keyfile)
    assert wm.detect_file(tmp_path / "out" / "sub" / "deeper" / "b.png", key).payload == 7
    os.remove(tmp_path / "out" / "a.png")
    capsys.readouterr()
    assert _embed(tmp_path / "in", "--in-place", keyfile=keyfile) == FOUND
    assert wm.detect_file(tmp_path / "in" / "a.png", key).payload == 7 and (tmp_path / "in" / "notes.txt").exists()


@pytest.mark.parametrize("name, message", [("gone.png", "no such file"), ("notes.png", "not an image file")])
def test_an_existing_output_does_not_hide_a_missing_or_non_image_input(tmp_path, keyfile, capsys, name, message):
    (tmp_path / "notes.png").write_text("not an image")
    existing = _image(tmp_path / "out" / "a.png")
    before = existing.read_bytes()
    assert _embed(tmp_path / name, "-o", existing, keyfile=keyfile) == ERROR
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"watermark: {tmp_path / name}: {message}")
    assert lines[1:] == ["watermark: 0 marked, 0 skipped, 1 failed"] and existing.read_bytes() == before


def test_an_existing_output_is_skipped_without_decoding_its_input(tmp_path, keyfile, capsys, monkeypatch):
    source, existing = _image(tmp_path / "a.png"), _image(tmp_path / "out" / "a.png", flip=True)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded an input only to skip it")
    monkeypatch.setattr(wm.imageio, "load_image", refuse)
    assert _embed(source, "-o", existing, keyfile=keyfile) == FOUND
    assert "0 marked, 1 skipped, 0 failed" in capsys.readouterr().err


def test_the_input_directory_as_output_directory_is_refused_naming_in_place(tmp_path, keyfile, capsys):
    _image(tmp_path / "in" / "a.png")
    before = _tree(tmp_path / "in")
    assert _embed(tmp_path / "in", "-o", f"{tmp_path / 'in'}/", "--overwrite", keyfile=keyfile) == ERROR
    assert capsys.readouterr().err == (f"watermark: {tmp_path / 'in'}/: is the input directory; give another output "
                                       "directory, or --in-place to mark its files where they are\n")
    assert _tree(tmp_path / "in") == before


def test_an_input_directory_inside_the_output_one_is_still_read(tmp_path, keyfile):
    _image(tmp_path / "pub" / "masters" / "a.png")
    assert _embed(tmp_path / "pub" / "masters", "-o", tmp_path / "pub", keyfile=keyfile) == FOUND
    assert wm.detect_file(tmp_path / "pub" / "a.png", wm.Key.load(keyfile)).payload == 7


def test_pictures_of_a_format_not_read_are_said_to_be_left_out_not_dropped_silently(tmp_path, keyfile, capsys):
    """A probe's shoot held a phone's .HEIC and camera raw files beside the JPEGs: a folder's walk left them
    out without a word, from the rows and from the count."""
    _image(tmp_path / "shoot" / "a.png")
    for name in ("IMG_0001.HEIC", "DSC_0001.NEF", "DSC_0002.nef", "notes.txt", ".hidden.heic"):
        (tmp_path / "shoot" / name).write_bytes(b"not read")
    (tmp_path / "phone").mkdir()
    (tmp_path / "phone" / "IMG_0002.heic").write_bytes(b"not read")
    said = ("watermark: left out 3 files of a format Filigrane does not read (.heic 1, .nef 2): convert them to "
            "JPEG, PNG or TIFF first")
    assert _embed(tmp_path / "shoot", "-o", tmp_path / "out", keyfile=keyfile) == FOUND
    assert capsys.readouterr().err.splitlines() == [said, "watermark: 1 marked, 0 skipped, 0 failed"]
    assert main(["detect", str(tmp_path / "shoot"), "--key", str(keyfile)]) == NOT_FOUND     # a.png: unmarked
    assert said in capsys.readouterr().err.splitlines()
    assert _embed(tmp_path / "phone", "-o", tmp_path / "out2", keyfile=keyfile) == ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"watermark: no image files in {tmp_path}/phone; left out 1 file of a format Filigrane does not read "
        "(.heic 1): convert them to JPEG, PNG or TIFF first"]


def test_a_temporary_file_a_killed_run_left_is_named(tmp_path, keyfile, capsys):
    """A SIGKILL or a power cut between writing and renaming leaves ``.NAME.<hex>.tmp`` in the delivery
    folder, which a rerun finished around without a word (a probe found one, to be synced to a client)."""
    _image(tmp_path / "in" / "a.png")
    _image(tmp_path / "in" / "b.png", flip=True)
    (tmp_path / "out").mkdir()
    left = tmp_path / "out" / ".a.png.4e0713f5c13c.tmp"
    left.write_bytes(b"half a PNG")
    (tmp_path / "out" / ".notes.txt.4e0713f5c13c.tmp").write_bytes(b"not one of ours")
    assert _embed(tmp_path / "in", "-o", tmp_path / "out", keyfile=keyfile) == FOUND
    assert capsys.readouterr().err.splitlines() == [
        f"watermark: warning: {left}: a temporary file that a run killed before it finished (or a power cut) left, "
        "unless another run is writing there now; remove it", "watermark: 2 marked, 0 skipped, 0 failed"]


def test_a_temporary_file_another_run_is_writing_is_not_called_a_leftover(tmp_path, keyfile, capsys):
    """Two runs at once into one folder: one's file in the writing was named as a killed run's leftover."""
    _image(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    writing = tmp_path / "out" / ".a.png.07465c334169.tmp"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'ab'); "
                               "print('open', flush=True); time.sleep(120)", str(writing)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert _embed(tmp_path / "in", "-o", tmp_path / "out", keyfile=keyfile) == FOUND
    finally:
        holder.kill()
        holder.communicate()
    assert capsys.readouterr().err.splitlines() == ["watermark: 1 marked, 0 skipped, 0 failed"]


def test_embed_in_place_never_follows_a_link_out_of_the_folder_named(tmp_path, keyfile, capsys):
    """An audit: once the walk followed directory links, 'embed --in-place in/' rewrote a picture that a link in
    in/ reached outside it."""
    _image(tmp_path / "in" / "a.png")
    outside = _image(tmp_path / "outside" / "b.png", flip=True)
    before = outside.read_bytes()
    (tmp_path / "in" / "ext").symlink_to(tmp_path / "outside")
    assert main(["embed", str(tmp_path / "in"), "--in-place", "--key", str(keyfile), "--payload", "7"]) == FOUND
    assert outside.read_bytes() == before and "1 marked" in capsys.readouterr().err


def test_detect_gives_a_link_back_up_its_error_row_as_scan_does(tmp_path, keyfile, capsys):
    """An audit: detect's walk passed over a link back up (a loop) in silence, where scan's gives it an error."""
    _image(tmp_path / "shoot" / "a.png")
    (tmp_path / "shoot" / "up").symlink_to(tmp_path / "shoot")
    assert main(["detect", str(tmp_path / "shoot"), "--key", str(keyfile), "--json"]) == ERROR
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(row["path"], row["status"]) for row in rows] == [(str(tmp_path / "shoot" / "a.png"), "none"),
                                                             (str(tmp_path / "shoot" / "up"), "error")]
    assert "a symbolic link to a directory listed already" in rows[1]["error"] and "1 failed" in err


@pytest.mark.parametrize("suffix, limit", [(".jpg", 16), (".bmp", 160), (".tif", 160)])
def test_a_file_size_limit_leaves_no_truncated_image_under_the_final_name(tmp_path, keyfile, suffix, limit):
    """A probe: at a full disk's last block, or under a file-size limit, Pillow wrote the encoded image to
    the file's descriptor in C, took the short write for a whole one, and the copy was 'marked', truncated;
    with --in-place the master was replaced by it. The limit (KiB) falls inside the copy's last 64 KiB
    block, which Pillow writes at once: a 300 x 200 JPEG of about 30 KB, a BMP or TIFF of 180 KB."""
    import resource

    source = tmp_path / f"master{suffix}"
    Image.fromarray(photo("coffee")).resize((300, 200)).save(source, **({"quality": 90} if suffix == ".jpg" else {}))
    before = source.read_bytes()

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit * 1024, limit * 1024))

    for where in (["-o", str(tmp_path / f"copy{suffix}")], ["--in-place"]):
        result = subprocess.run([sys.executable, "-m", "watermark", "embed", str(source), *where, "--key", str(keyfile),
                                 "--payload", "1"], capture_output=True, text=True, preexec_fn=limited, timeout=300)
        assert result.returncode == ERROR and "cannot write (File too large)" in result.stderr, result
    assert not (tmp_path / f"copy{suffix}").exists() and source.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []


def test_outputs_whose_names_differ_only_in_case_are_a_clash(tmp_path, keyfile, capsys):
    """A probe on macOS's and FAT disks: `A.png` and `a.png` went to one file, the second copy replacing the
    first (--overwrite) or skipped as existing; a folder copied there later would do the same."""
    first, second = _image(tmp_path / "one" / "A.png"), _image(tmp_path / "two" / "a.png", flip=True)
    assert _embed(first, second, "-o", tmp_path / "out", keyfile=keyfile) == ERROR
    assert "would be written to this one file (or, their names differing only in case" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="a bind mount needs root")
def test_the_input_folder_by_another_name_is_no_output_folder(tmp_path, keyfile, capsys):
    """A probe on a case-insensitive disk: `-o photos` for the input `Photos` passed the check, which compared
    names, and --overwrite replaced the masters (here the other name is a bind mount of the input)."""
    photos, other = tmp_path / "Photos", tmp_path / "photos"
    master = _image(photos / "a.png")
    before = master.read_bytes()
    other.mkdir()
    subprocess.run(["mount", "--bind", str(photos), str(other)], check=True)
    try:
        assert _embed(photos, "-o", other, "--overwrite", keyfile=keyfile) == ERROR
        assert "is the input directory" in capsys.readouterr().err and master.read_bytes() == before
        assert _embed(photos, "-o", other / "out", keyfile=keyfile) == FOUND      # inside the input: not read again
        capsys.readouterr()
        assert _embed(photos, "-o", other / "out", "--overwrite", keyfile=keyfile) == FOUND
        assert "1 marked" in capsys.readouterr().err and _tree(photos) == ["a.png", "out", "out/a.png"]
    finally:
        subprocess.run(["umount", str(other)], check=True)


def test_an_output_folder_reached_through_a_link_into_the_input_is_not_read_again(tmp_path, keyfile, capsys):
    """A reviewer's probe: -o given through a symbolic link into the input (work -> photos/2024) was compared
    by its own names, and the last run's copies there were marked again as masters."""
    _image(tmp_path / "photos" / "2024" / "a.png")
    os.symlink(tmp_path / "photos" / "2024", tmp_path / "work")
    for _ in range(2):
        assert _embed(tmp_path / "photos", "-o", tmp_path / "work" / "out", "--overwrite", keyfile=keyfile) == FOUND
        assert "1 marked" in capsys.readouterr().err
    assert _tree(tmp_path / "photos") == ["2024", "2024/a.png", "2024/out", "2024/out/2024", "2024/out/2024/a.png"]


def test_names_that_differ_only_in_how_an_accent_is_encoded_clash(tmp_path, keyfile, capsys):
    first = _image(tmp_path / "one" / "caf\u00e9.png")                 # NFC
    second = _image(tmp_path / "two" / "cafe\u0301.png", flip=True)    # NFD: one file on macOS
    assert _embed(first, second, "-o", tmp_path / "out", keyfile=keyfile) == ERROR
    assert "accents' encoding" in capsys.readouterr().err
