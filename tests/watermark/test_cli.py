"""The watermark command, in-process: keys, embed, detect, exit codes, batches, bad input."""

import contextlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from photos import photo
from PIL import Image
from terminal import run_on_terminal, screen

import watermark as wm
from watermark.cli import ERROR, FOUND, NOT_FOUND, main
from watermark.cli import batch as cli_batch


@pytest.fixture()
def keyfile(tmp_path):
    path = tmp_path / "k.key"
    assert main(["keygen", str(path)]) == FOUND
    return path


@pytest.fixture()
def coffee_png(tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(photo("coffee")).save(path)
    return path


def test_keygen_is_private_and_prints_no_secret(tmp_path, capsys):
    path = tmp_path / "new.key"
    assert main(["keygen", str(path)]) == FOUND
    out = capsys.readouterr().out
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = wm.Key.load(path)
    assert path.read_text().split()[2] not in out and key.fingerprint in out and key.public_id in out
    assert main(["keygen", str(path)]) == ERROR
    assert "refusing to overwrite" in capsys.readouterr().err


def test_embed_then_detect_json(tmp_path, keyfile, coffee_png, capsys):
    out = tmp_path / "marked.jpg"
    assert main(["embed", str(coffee_png), "-o", str(out), "--key", str(keyfile), "--payload", "0xc0ffee"]) == FOUND
    capsys.readouterr()
    assert main(["detect", str(out), str(coffee_png), "--key", str(keyfile), "--json"]) == FOUND
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert by_path[str(out)]["found"] and by_path[str(out)]["payload"] == "0x0000000000c0ffee"
    assert not by_path[str(coffee_png)]["found"] and by_path[str(coffee_png)]["error"] is None
    assert set(lines[0]) >= {"path", "found", "payload", "p_value", "error"}


def test_detect_reads_paths_from_stdin_and_names_a_file_with_impossible_pixels(tmp_path, keyfile, coffee_png,
                                                                             monkeypatch, capsys):
    import io

    import tifffile

    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((200, 200), np.nan, np.float32))
    listed = f"{coffee_png}\n\n{nan}\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(listed)))
    assert main(["detect", "-", "--key", str(keyfile), "--json"]) == ERROR
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["path"] for row in rows] == [str(coffee_png), str(nan)]
    assert rows[1]["error"] == f"{nan}: float image contains NaN or infinity"


def test_a_second_key_for_a_one_key_command_is_a_usage_error_not_a_silent_replacement(keyfile, coffee_png, capsys):
    """registry list and show too: a probe's 'list --key A --key B' listed B's records alone, saying nothing."""
    for command in (["detect", str(coffee_png)], ["embed", str(coffee_png)], ["registry", "list"],
                    ["registry", "show", "0x1"]):
        with pytest.raises(SystemExit) as stopped:
            main([*command, "--key", str(keyfile), "--key", str(keyfile)])
        assert stopped.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"watermark {' '.join(command[:2 if command[0] == 'registry' else 1])}: error: --key given twice: this "
            "command reads one key ('watermark scan' reads several)")


def test_detect_gives_a_listed_name_holding_a_nul_byte_its_error_row(keyfile, coffee_png, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"bad\0name.png\n{coffee_png}\n".encode())))
    assert main(["detect", "-", "--key", str(keyfile), "--json"]) == ERROR
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["status"] for row in rows] == ["error", "none"]
    assert rows[0]["error"].startswith("bad\x00name.png: no file name holds a NUL byte")


def test_a_file_name_cannot_forge_a_result_line_or_drive_the_terminal(tmp_path, keyfile, coffee_png, capsys):
    forged = tmp_path / "photo.jpg: payload 0x01 (p=1e-99, lattice)\n\x1b[2J\u202eevil.png"
    forged.write_bytes(coffee_png.read_bytes())
    assert main(["detect", str(forged), "--key", str(keyfile)]) == NOT_FOUND
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\u202e" not in out
    assert out.startswith(f"'{tmp_path}/photo.jpg: payload 0x01 (p=1e-99, lattice)\\n\\x1b[2J\\u202eevil.png': no mark")


def test_keygen_names_its_file_escaped(tmp_path, capsys):
    assert main(["keygen", str(tmp_path / "k\x1b[31m\x1b]0;pwn\x07.key")]) == FOUND
    assert capsys.readouterr().out.startswith(f"{tmp_path}/k\\x1b[31m\\x1b]0;pwn\\x07.key: new key, fingerprint ")


def test_an_unrecognised_argument_is_shown_escaped(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["keygen", str(tmp_path / "k.key"), "\x1b[2J" + os.fsdecode(b"\x9b\xff")])
    err = capsys.readouterr().err
    assert caught.value.code == ERROR and err.endswith("unrecognized arguments: \\x1b[2J\\x9b\\xff\n")


def test_a_mistyped_option_is_named_by_its_command_with_the_option_it_resembles(tmp_path, coffee_png, capsys):
    """A newcomer's probe: `embed ... --strenght 2` printed the top-level usage and suggested nothing."""
    with pytest.raises(SystemExit) as caught:
        main(["embed", str(coffee_png), "-o", str(tmp_path / "out.png"), "--key", "k.key", "--strenght", "2"])
    err = capsys.readouterr().err
    assert caught.value.code == ERROR and err.startswith("usage: watermark embed ")
    assert err.endswith("watermark embed: error: unrecognized arguments: --strenght 2 (did you mean --strength?)\n")
    with pytest.raises(SystemExit):
        main(["registry", "list", "--registry", "r.db", "--jsno"])
    err = capsys.readouterr().err
    assert err.startswith("usage: watermark registry list ") and err.endswith("(did you mean --json?)\n")
    assert not (tmp_path / "out.png").exists()


SHOWN = "csi\\x9b31mX\\xff.png"       # the name of `undecodable`'s file, as watermark.sources.printable writes it


@pytest.fixture()
def undecodable(tmp_path, coffee_png):
    """A folder holding a copy of coffee.png whose name has bytes that are not UTF-8: 0x9B, an 8-bit CSI."""
    folder = tmp_path / "nu"
    folder.mkdir()
    (folder / os.fsdecode(b"csi\x9b31mX\xff.png")).write_bytes(coffee_png.read_bytes())
    return folder


def test_names_that_are_not_utf8_show_their_bytes_as_scan_does(tmp_path, keyfile, undecodable, capsys):
    marked = tmp_path / "marked"
    assert main(["embed", str(undecodable), "-o", str(marked), "--key", str(keyfile), "--payload", "7"]) == FOUND
    assert capsys.readouterr().out == f"{marked}/{SHOWN}: marked\n"
    assert main(["embed", str(undecodable), "-o", str(marked), "--key", str(keyfile), "--payload", "7",
                 "--json"]) == FOUND
    captured = capsys.readouterr()
    skipped = json.loads(captured.out)
    assert (skipped["path"], skipped["output"]) == (f"{undecodable}/{SHOWN}", f"{marked}/{SHOWN}")
    assert skipped["warning"].startswith(f"{marked}/{SHOWN}: already exists")
    assert captured.err.startswith(f"watermark: warning: {marked}/{SHOWN}: already exists")
    assert main(["detect", str(marked), "--key", str(keyfile)]) == FOUND
    assert capsys.readouterr().out.startswith(f"{marked}/{SHOWN}: payload 0x0000000000000007 (p=")
    assert main(["detect", str(marked), "--key", str(keyfile), "--json"]) == FOUND
    assert json.loads(capsys.readouterr().out)["path"] == f"{marked}/{SHOWN}"


def test_a_strict_stdout_gets_names_that_are_not_utf8_escaped_not_a_traceback(tmp_path, keyfile, undecodable):
    marked = tmp_path / "marked"
    strict = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for arguments, out, count in [
            (["embed", undecodable, "-o", marked, "--payload", "7"], f"{marked}/{SHOWN}: marked\n", "1 marked"),
            (["detect", marked], f"{marked}/{SHOWN}: payload 0x0000000000000007", "1 found"),
            (["detect", marked, "--json"], '{"path": ' + json.dumps(f"{marked}/{SHOWN}"), "1 found")]:
        result = subprocess.run([sys.executable, "-m", "watermark", *map(str, arguments), "--key", str(keyfile)],
                                capture_output=True, text=True, env=strict, timeout=300)
        assert result.returncode == FOUND and result.stdout.startswith(out), result
        assert result.stderr.startswith(f"watermark: {count}, 0 ") and result.stderr.count("\n") == 1, result


def test_a_wrong_pixel_limit_variable_stops_the_command_in_one_error_unless_a_limit_is_given(keyfile, coffee_png):
    wrong = {**os.environ, "FILIGRANE_MAX_PIXELS": "lots"}
    command = [sys.executable, "-m", "watermark", "detect", str(coffee_png), "--key", str(keyfile)]
    result = subprocess.run(command, capture_output=True, text=True, env=wrong, timeout=300)
    assert result.returncode == ERROR and "Warning" not in result.stderr, result
    assert result.stderr.endswith("watermark detect: error: argument --max-pixels: pixel limit must be a positive "
                                  "integer or 'none', got 'lots' (from --max-pixels, or else FILIGRANE_MAX_PIXELS)\n")
    result = subprocess.run([*command, "--max-pixels", "none"], capture_output=True, text=True, env=wrong, timeout=300)
    assert result.returncode == NOT_FOUND and result.stderr == "watermark: 0 found, 1 not found, 0 failed\n", result


def test_nothing_found_exits_1(keyfile, coffee_png):
    assert main(["detect", str(coffee_png), "--key", str(keyfile)]) == NOT_FOUND


def test_batch_goes_on_past_bad_files(tmp_path, keyfile, coffee_png, capsys):
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    assert main(["embed", str(coffee_png), "-o", str(folder / "sub" / "good.png"), "--key", str(keyfile),
                 "--payload", "7"]) == FOUND
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    capsys.readouterr()
    assert main(["detect", str(folder), "--key", str(keyfile), "--json", "--jobs", "2"]) == ERROR
    captured = capsys.readouterr()
    lines = {Path_name(line["path"]): line for line in map(json.loads, captured.out.splitlines())}
    assert lines["good.png"]["payload"] == "0x0000000000000007"
    assert "empty file" in lines["empty.png"]["error"] and lines["notes.png"]["error"]
    assert all(len(line.split("\n")) == 1 for line in captured.err.strip().splitlines())
    assert "Traceback" not in captured.err


def Path_name(path):
    return os.path.basename(path)


def test_passphrase_from_environment_and_payload_text(tmp_path, coffee_png, monkeypatch, capsys):
    monkeypatch.setenv("FILIGRANE_TEST_PASS", "correct horse")
    out = tmp_path / "m.png"
    assert main(["embed", str(coffee_png), "-o", str(out), "--passphrase-env", "FILIGRANE_TEST_PASS",
                 "--payload-text", "lic-42"]) == FOUND
    assert wm.detect_file(out, wm.Key.from_passphrase("correct horse")).payload == int.from_bytes(b"lic-42", "big")
    capsys.readouterr()
    assert main(["detect", str(out), "--passphrase-env", "FILIGRANE_TEST_PASS", "--json"]) == FOUND
    assert json.loads(capsys.readouterr().out)["payload_text"] == "lic-42"
    assert main(["detect", str(out), "--passphrase-env", "FILIGRANE_TEST_PASS"]) == FOUND
    assert capsys.readouterr().out.startswith(f"{out}: payload 0x00006c69632d3432 'lic-42' (p=")
    monkeypatch.delenv("FILIGRANE_TEST_PASS")
    assert main(["detect", str(out), "--passphrase-env", "FILIGRANE_TEST_PASS"]) == ERROR
    capsys.readouterr()
    assert main(["detect", str(out), "--passphrase-env", "correct horse"]) == ERROR     # the passphrase itself
    err = capsys.readouterr().err
    assert "takes the NAME of an environment variable" in err and "horse" not in err


def test_a_passphrase_given_for_a_variables_name_or_an_abbreviated_option_is_never_shown(coffee_png, capsys):
    """A probe: a passphrase of letters and digits where the name goes (or after `--passphrase`, which
    argparse took for `--passphrase-env`) was shown back as the name of a variable not set."""
    for arguments in (["--passphrase-env", "Summer2024"], ["--passphrase", "Summer2024"], ["--pass=Summer2024"],
                      ["--key", str(coffee_png), "--passphrase", "Summer2024"]):
        with contextlib.suppress(SystemExit):
            assert main(["detect", str(coffee_png), *arguments]) == ERROR
        assert "Summer2024" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["scan", str(coffee_png), "--registry", "r.db", "--passphrase", "Summer2024"])
    assert "unrecognized arguments: --passphrase ***" in capsys.readouterr().err


def test_a_short_passphrase_is_used_with_a_warning(tmp_path, coffee_png, monkeypatch, capsys):
    monkeypatch.setenv("FILIGRANE_TEST_PASS", "tr0ub4dor&3")
    assert main(["detect", str(coffee_png), "--passphrase-env", "FILIGRANE_TEST_PASS"]) == NOT_FOUND
    assert capsys.readouterr().err.startswith("watermark: warning: --passphrase-env: a passphrase of 11 characters "
                                              "can be guessed from the key id that copies' records show; use a key "
                                              "file (watermark keygen), or 20 characters or more")
    monkeypatch.setenv("FILIGRANE_TEST_PASS", "correct horse battery staple")
    assert main(["detect", str(coffee_png), "--passphrase-env", "FILIGRANE_TEST_PASS"]) == NOT_FOUND
    assert "warning" not in capsys.readouterr().err


def test_embed_diff_warns_that_its_pictures_erase_the_mark(tmp_path, keyfile, coffee_png, capsys):
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "m.png"), "--key", str(keyfile), "--payload", "5",
                 "--diff"]) == FOUND
    assert ("watermark: warning: the .diff.png files show each copy's mark exactly: whoever has one can erase that "
            "copy's mark") in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [
    (os.fsdecode(b"lic\xff"), "--payload-text 'lic\\xff': not valid UTF-8 text; give it in UTF-8"),
    ("", "--payload-text '' is empty: give 1 to 8 bytes of UTF-8 text")])
def test_a_payload_text_not_utf8_or_empty_is_one_line(tmp_path, coffee_png, keyfile, text, message, capsys):
    """A probe: bytes that are not UTF-8 gave a traceback, and an empty text marked payload 0."""
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "m.png"), "--key", str(keyfile),
                 "--payload-text", text]) == ERROR
    assert capsys.readouterr().err == f"watermark: {message}\n" and not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"filigrane-key v1\n1234\n"])
def test_bad_key_file_is_one_line(tmp_path, coffee_png, content, capsys):
    bad = tmp_path / "bad.key"
    bad.write_bytes(content)
    assert main(["detect", str(coffee_png), "--key", str(bad)]) == ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


def test_payload_too_large(tmp_path, keyfile, coffee_png, capsys):
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "x.png"), "--key", str(keyfile),
                 "--payload", hex(2**64)]) == ERROR
    assert "capacity is 64 bits" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("text", ["twelve", "0b101", "0o7", "1_000", "-5"])
def test_payload_that_is_not_a_number_is_one_line(tmp_path, keyfile, coffee_png, text, capsys):
    """A probe: embed took Python's 0b101, 0o7 and 1_000, which registry show refused, and said '-0x5' for -5."""
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "x.png"), "--key", str(keyfile),
                 "--payload", text]) == ERROR
    assert capsys.readouterr().err == f"watermark: payload '{text}' is not a number (use 0x... hex or decimal)\n"


def test_a_decimal_payload_with_leading_zeros_is_the_number_it_writes(tmp_path, keyfile, coffee_png):
    """A probe: embed refused 010, which registry show read as ten."""
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "x.png"), "--key", str(keyfile),
                 "--payload", "010"]) == FOUND
    assert wm.detect_file(tmp_path / "x.png", wm.Key.load(keyfile)).payload == 10


def test_inputs_are_never_overwritten_unless_in_place(tmp_path, keyfile, coffee_png, capsys):
    before = coffee_png.read_bytes()
    assert main(["embed", str(coffee_png), "-o", str(coffee_png), "--key", str(keyfile), "--payload", "1"]) == ERROR
    assert coffee_png.read_bytes() == before
    assert main(["embed", str(coffee_png), "--in-place", "--key", str(keyfile), "--payload", "1"]) == FOUND
    assert wm.detect_file(coffee_png, wm.Key.load(keyfile)).payload == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coffee.png", "k.key"]     # no temp files left


def test_an_output_that_is_the_input_is_refused_naming_in_place(tmp_path, keyfile, coffee_png, capsys):
    assert main(["embed", str(coffee_png), "-o", str(coffee_png), "--key", str(keyfile), "--payload", "1"]) == ERROR
    assert capsys.readouterr().err.splitlines()[0] == (f"watermark: {coffee_png}: is the input; write elsewhere, or "
                                                       "use --in-place to mark it where it is")


def test_diff_image_next_to_output(tmp_path, keyfile, coffee_png):
    out = tmp_path / "out" / "coffee.png"
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "out"), "--key", str(keyfile),
                 "--payload", "1", "--diff"]) == FOUND
    diff = np.asarray(Image.open(out.with_name("coffee.diff.png")))
    assert diff.shape == photo("coffee").shape[:2] and diff.std() > 5


def test_python_dash_m_and_plugins():
    result = subprocess.run([sys.executable, "-m", "watermark", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("keygen", "embed", "detect", "attack", "bench"):
        assert command in result.stdout


def test_a_built_in_command_does_not_load_the_plugins(tmp_path):
    # The plugged-in commands (attack, bench) import the attacks and the benchmark: more than half a
    # second that keygen, embed, detect, scan and registry do not need.
    probe = ("import sys; from watermark.cli import main; code = main(['keygen', sys.argv[1]]); "
             "print(code, 'attacks' in sys.modules, 'eval' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "k.key")], capture_output=True, text=True)
    assert result.stdout.split()[-3:] == ["0", "False", "False"], result
    assert (tmp_path / "k.key").exists()


def test_one_version_everywhere(capsys):
    from importlib import metadata

    assert wm.__version__ == metadata.version("filigrane")
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out == f"watermark {wm.__version__}\n"


def test_json_rows_have_the_same_keys_for_results_and_errors(tmp_path, keyfile, coffee_png, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    marked = tmp_path / "out" / "coffee.png"
    assert main(["embed", str(coffee_png), str(tmp_path / "notes.png"), str(tmp_path / "missing.png"), "-o",
                 str(tmp_path / "out"), "--key", str(keyfile), "--payload", "1", "--json"]) == ERROR
    embedded = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["status"] for row in embedded] == ["marked", "failed", "failed"]
    assert len({tuple(row) for row in embedded}) == 1 and embedded[0]["error"] is None and embedded[1]["error"]
    assert main(["embed", str(coffee_png), "-o", str(tmp_path / "out"), "--key", str(keyfile), "--payload", "1",
                 "--json"]) == FOUND
    skipped = json.loads(capsys.readouterr().out)
    assert skipped["status"] == "skipped" and tuple(skipped) == tuple(embedded[0])
    assert main(["detect", str(marked), str(tmp_path / "notes.png"), str(coffee_png), "--key", str(keyfile),
                 "--json"]) == ERROR
    detected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["found"] for row in detected] == [True, False, False]
    assert [row["status"] for row in detected] == ["payload", "error", "none"]
    assert len({tuple(row) for row in detected}) == 1 and "geometry" in detected[1] and detected[1]["error"]


def test_detect_given_a_url_says_scan_reads_them(keyfile, capsys):
    assert main(["detect", "https://example.com/a.jpg", "--key", str(keyfile)]) == ERROR
    assert "https://example.com/a.jpg: detect reads local files; 'watermark scan' reads URLs" in capsys.readouterr().err


def test_every_batch_ends_with_a_count(tmp_path, keyfile, coffee_png, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    out = tmp_path / "out"
    assert main(["embed", str(coffee_png), str(tmp_path / "notes.png"), "-o", str(out), "--key", str(keyfile),
                 "--payload", "1"]) == ERROR
    assert capsys.readouterr().err.splitlines()[-1] == "watermark: 1 marked, 0 skipped, 1 failed"
    assert main(["embed", str(coffee_png), "-o", str(out), "--key", str(keyfile), "--payload", "1"]) == FOUND
    err = capsys.readouterr().err.splitlines()
    assert err == [f"watermark: warning: {out / 'coffee.png'}: already exists, skipped (--overwrite replaces it)",
                   "watermark: 0 marked, 1 skipped, 0 failed"]
    assert main(["detect", str(out), str(coffee_png), "--key", str(keyfile), "--jobs", "2"]) == FOUND
    assert capsys.readouterr().err == "watermark: 1 found, 1 not found, 0 failed\n"


def test_the_progress_bar_is_not_broken_by_error_lines_and_ends_with_the_count(tmp_path, keyfile):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a_bad.png").write_text("not an image")
    for name in ("b.png", "c.png"):
        Image.fromarray(photo("coffee")[:200, :300]).save(folder / name)
    status, out, shown = run_on_terminal([sys.executable, "-m", "watermark", "detect", str(folder), "--key",
                                          str(keyfile)], timeout=60)
    assert status == ERROR and out.count("\n") == 2
    assert "scanning" in shown                                            # a bar was drawn
    assert screen(shown) == [f"watermark: {folder / 'a_bad.png'}: not an image file, or not a format Filigrane reads "
                             "(JPEG, PNG, WebP, TIFF, GIF, BMP, AVIF)", "watermark: 0 found, 2 not found, 1 failed"]


def test_one_file_shows_the_time_it_takes_on_a_terminal_and_leaves_only_its_count(tmp_path, keyfile, coffee_png):
    status, out, shown = run_on_terminal([sys.executable, "-m", "watermark", "embed", str(coffee_png), "-o",
                                          str(tmp_path / "marked.png"), "--key", str(keyfile), "--payload", "7"],
                                         timeout=60)
    assert status == 0 and (tmp_path / "marked.png").is_file()
    assert re.search(r"embedding: 00:\d\d", shown)                          # a bar of elapsed time was drawn
    assert screen(shown) == ["watermark: 1 marked, 0 skipped, 0 failed"]


def test_the_bar_is_redrawn_while_a_file_takes_its_time(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(cli_batch, "_TICK", 0.01)
    with cli_batch.Lines(1, "embedding") as lines:
        drawn = terminal.getvalue().count("embedding:")
        for _ in range(500):                       # no file finishes: only the ticker draws
            if terminal.getvalue().count("embedding:") > drawn:
                break
            time.sleep(0.01)
        redrawn = terminal.getvalue().count("embedding:") > drawn
        ticker = lines._ticker
    assert redrawn and ticker is not None and not ticker.is_alive()      # and it stops with the block


def test_quality_out_of_range_is_refused_naming_the_option(tmp_path, keyfile, coffee_png, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["embed", str(coffee_png), "-o", str(tmp_path / "x.jpg"), "--key", str(keyfile), "--payload", "1",
              "--quality", "0"])
    assert caught.value.code == ERROR
    assert "argument --quality: must be an integer from 1 to 100, got '0'" in capsys.readouterr().err


def test_a_shared_key_file_warns_in_one_line(keyfile, coffee_png, capsys):
    keyfile.chmod(0o620)
    assert main(["detect", str(coffee_png), "--key", str(keyfile)]) == NOT_FOUND
    assert capsys.readouterr().err.startswith(f"watermark: warning: {keyfile}: permissions 0620 let other users "
                                              "change this key;")
    keyfile.chmod(0o644)
    assert main(["detect", str(coffee_png), "--key", str(keyfile)]) == NOT_FOUND
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"watermark: warning: {keyfile}: permissions 0644 let other users read this key; make it "
                      f"private (chmod 600 {keyfile})")


def test_marking_an_image_that_carries_this_keys_mark_warns(tmp_path, keyfile, coffee_png, capsys):
    once, twice = tmp_path / "once.png", tmp_path / "twice.png"
    assert main(["embed", str(coffee_png), "-o", str(once), "--key", str(keyfile), "--payload", "0x11"]) == FOUND
    assert "warning" not in capsys.readouterr().err
    assert main(["embed", str(once), "-o", str(twice), "--key", str(keyfile), "--payload", "0x22", "--json"]) == FOUND
    captured = capsys.readouterr()
    message = f"{once}: already carries this key's mark (payload 0x0000000000000011); marking it again stacks"
    assert captured.err.startswith(f"watermark: warning: {message}") and captured.err.count("\n") == 2
    assert json.loads(captured.out)["warning"].startswith(message)
    assert wm.detect_file(twice, wm.Key.load(keyfile)).payload == 0x22
    with pytest.warns(wm.AlreadyMarkedWarning, match="already carries this key's mark"):
        wm.embed_file(once, tmp_path / "api.png", 0x33, wm.Key.load(keyfile))


@pytest.mark.parametrize("arguments, message", [
    (["detect", "x.png", "--key", "k", "--false-alarm", "1"], "argument --false-alarm: must be a probability strictly "
                                                               "between 0 and 1 (such as 1e-9), got '1'"),
    (["detect", "x.png", "--key", "k", "--false-alarm=-1e-9"], "argument --false-alarm: must be a probability"),
    (["detect", "x.png", "--key", "k", "--max-pixels", "lots"], "argument --max-pixels: pixel limit must be a "
                                                                 "positive integer or 'none', got 'lots'"),
    (["detect", "x.png", "--key", "k", "--jobs", "-1"], "argument --jobs: must be a whole number of processes"),
    (["embed", "x.png", "-o", "y.png", "--key", "k", "--payload", "1", "--strength", "0"],
     "argument --strength: must be a number in (0, 10], got '0'"),
    (["embed", "x.png", "-o", "y.png", "--key", "k", "--payload", "1", "--strength", "1e9"],
     "argument --strength: must be a number in (0, 10], got '1e9'"),
    (["detect", "x.png", "--key", "k", "--jobs", "100000"], "argument --jobs: must be a whole number of processes"),
    (["bench", "--jobs", "x"], "argument --jobs: must be a whole number of processes from 0 (one per core)"),
])
def test_bad_option_values_are_refused_naming_the_option(capsys, arguments, message):
    with pytest.raises(SystemExit) as caught:
        main(arguments)
    err = capsys.readouterr().err
    assert caught.value.code == ERROR and message in err and "invalid" not in err


@pytest.mark.parametrize("command", [[], ["keygen"], ["embed"], ["detect"], ["scan"], ["attack"], ["bench"]])
def test_help_has_no_restructuredtext_markup(capsys, command):
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert caught.value.code == 0 and out.startswith("usage: watermark") and "`" not in out


def test_the_closing_count_counts_a_file_marked_whose_row_a_closed_stdout_did_not_take(tmp_path, keyfile, coffee_png):
    """A probe: 'embed ... --json | head -1' wrote 2 files and said '1 marked' (a row was counted once shown,
    and so was a Ctrl-C that came just after a row was shown)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        (folder / f"{index}.png").write_bytes(coffee_png.read_bytes())
    embed = subprocess.Popen([sys.executable, "-m", "watermark", "embed", str(folder), "-o", str(tmp_path / "out"),
                              "--key", str(keyfile), "--payload", "1", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    with embed.stdout, embed.stderr:
        assert json.loads(embed.stdout.readline())["status"] == "marked"
        embed.stdout.close()                           # as head -1 does, while the second file is being marked
        assert embed.wait(timeout=300) == 141
        counted = embed.stderr.read().decode()
    written = len(list((tmp_path / "out").iterdir()))
    assert written >= 2 and counted == f"watermark: {written} marked, 0 skipped, 0 failed\n"


@pytest.mark.parametrize(("argv", "said"), [
    (["keygen", "-"], "watermark: - is no file: a key is written to a file (KEYFILE, mode 0600), never to standard "
                      "output"),
    (["registry", "init", "-"], "watermark: - is no file: a registry is a file; give its name"),
    (["attack", "IN", "-a", "jpeg:quality=50", "-o", "-"], "watermark attack: -o - is no file or folder: the "
                                                           "attacked images are written to files (-o OUT)"),
    (["embed", "-", "-o", "out", "--key", "KEY", "--payload", "1"], "watermark: - is no list here: embed marks the "
     "files and folders named on its command line (detect and scan read a list of paths on stdin)"),
])
def test_a_dash_that_is_no_file_here_is_one_line_and_makes_no_file_named_dash(tmp_path, keyfile, coffee_png, argv,
                                                                               said, monkeypatch, capsys):
    """A probe: 'keygen -' wrote the secret key to a file named '-', 'registry init -' a registry named '-', and
    'attack -o -' a folder named '-', where embed refused '-o -'; 'embed -' looked for a file named '-'."""
    monkeypatch.chdir(tmp_path)
    argv = [str(keyfile) if word == "KEY" else str(coffee_png) if word == "IN" else word for word in argv]
    assert main(argv) == ERROR
    assert capsys.readouterr().err == said + "\n" and not (tmp_path / "-").exists()


def test_a_detect_line_quotes_a_file_name_that_holds_a_verdict(tmp_path, keyfile, coffee_png, capsys):
    """An audit: scan quoted such a name, detect did not: 'a.png: payload 0x... (p=1e-50)' could be a file name."""
    named = tmp_path / "a.png: payload 0x0000000000000007 (p=1e-50).png"
    named.write_bytes(coffee_png.read_bytes())
    assert main(["detect", str(named), "--key", str(keyfile)]) == NOT_FOUND
    assert capsys.readouterr().out.startswith(f"'{named}': ")


def test_messages_that_cannot_be_written_stop_nothing_and_exit_2(tmp_path, keyfile, coffee_png):
    """A probe: with stderr on a full disk (`2>>job.log`), the first message raised, the batch stopped and the
    command exited 1, 'nothing found' (a scan that had attributed copies too)."""
    import resource

    marked = tmp_path / "marked"
    assert main(["embed", str(coffee_png), "-o", str(marked / "a.png"), "--key", str(keyfile), "--payload", "7"]) == 0
    os.link(marked / "a.png", marked / "b.png")
    (marked / "bad.png").write_bytes(b"not an image")

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))    # not a byte more in any file: stderr's here

    with open(tmp_path / "errors.log", "w") as log:
        result = subprocess.run([sys.executable, "-m", "watermark", "detect", str(marked), "--key", str(keyfile)],
                                stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=limited, timeout=300)
    assert result.returncode == ERROR
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [str(marked / "a.png"), str(marked / "b.png")]


def test_keygen_names_the_key_copy_a_killed_keygen_left(tmp_path, capsys):
    """A probe killed keygen between its write and its link: a hidden copy of the key stayed, and nothing said so."""
    leftover = tmp_path / ".studio.key.0123456789abcdef.tmp"
    leftover.write_text("filigrane-key v1\n" + "ab" * 32 + "\n")
    assert main(["keygen", str(tmp_path / "studio.key")]) == FOUND
    assert f"watermark: warning: {leftover}: a temporary file that a run killed" in capsys.readouterr().err
