"""``watermark attack`` through its own argparse subparser (as ``watermark.cli`` mounts it)."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
from attack_images import grey8, rgb8
from PIL import Image

import attacks
from attacks import cli


def opened(path):
    """The file's pixels, mode and EXIF, the file closed again."""
    with Image.open(path) as image:
        return np.asarray(image), image.mode, dict(image.getexif())


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="watermark")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["attack", *argv])
    return args.run(args)


@pytest.fixture
def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(rgb8()).save(path)
    return path


def test_one_attack_chain_into_one_file(photo_file, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert run(str(photo_file), "-o", str(out), "--attack", "rotate:degrees=5,crop=true",
               "--attack", "jpeg:quality=50") == 0
    expected = attacks.parse("rotate:degrees=5,crop=true + jpeg:quality=50")(rgb8(), seed=0)
    assert np.array_equal(opened(out)[0], expected)
    assert "rotate(degrees=5, crop=True) + jpeg(quality=50)" in capsys.readouterr().out


def test_suite_writes_one_file_per_attack_named_by_its_parameters(photo_file, tmp_path, capsys):
    folder = tmp_path / "quick"
    assert run("--suite", "quick", str(photo_file), "-o", str(folder), "--json", "--seed", "3") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    suite = attacks.suite("quick")
    assert [line["attack"] for line in lines] == [str(a) for a in suite]
    assert all(line["error"] is None and line["input"] == str(photo_file) for line in lines)
    assert (folder / "rotate_degrees=10_crop=True.png").is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(a.filename + ".png" for a in suite)
    bending = opened(folder / "random_bending.png")[0]
    assert np.array_equal(bending, attacks.attack("random_bending")(rgb8(), seed=3))


def test_several_inputs_get_a_subfolder_each(photo_file, tmp_path):
    grey = tmp_path / "grey.jpg"
    Image.fromarray(grey8()).save(grey, quality=95)
    assert run(str(photo_file), str(grey), "-o", str(tmp_path / "out"), "-a", "median:size=5") == 0
    assert (tmp_path / "out" / "photo" / "median_size=5.png").is_file()
    assert opened(tmp_path / "out" / "grey" / "median_size=5.png")[1] == "L"


def test_inputs_with_the_same_stem_do_not_collide(photo_file, tmp_path):
    other = tmp_path / "photo.jpg"
    Image.fromarray(rgb8()).save(other, quality=90)
    assert run(str(photo_file), str(other), "-o", str(tmp_path / "out"), "-a", "flip") == 0
    assert (tmp_path / "out" / "photo_png" / "flip.png").is_file()
    assert (tmp_path / "out" / "photo_jpg" / "flip.png").is_file()


def test_an_output_without_extension_is_a_folder(photo_file, tmp_path):
    assert run(str(photo_file), "-o", str(tmp_path / "results"), "-a", "rotate:degrees=5,crop=true") == 0
    assert (tmp_path / "results" / "rotate_degrees=5_crop=True.png").is_file()


def test_bad_attack_spec_is_one_line_and_exit_2(photo_file, tmp_path, capsys):
    for spec, words in (("rotate:degree=5", "unknown parameter 'degree'"), ("jpg:quality=5", "did you mean 'jpeg'"),
                        ("jpeg:quality=500", "quality must be in [1, 100]")):
        assert run(str(photo_file), "-o", str(tmp_path / "x.png"), "--attack", spec) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith("watermark attack: ") and words in captured.err
    assert not (tmp_path / "x.png").exists()


def test_a_bad_combination_of_parameters_stops_before_any_work(photo_file, tmp_path, capsys):
    for spec in ("median:size=4", "rotate:expand=true,crop=true", "affine:matrix=(0,0,0,0)"):
        assert run(str(photo_file), str(photo_file), "-o", str(tmp_path / "out"), "-a", "flip", "-a", spec) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1      # once, not once per input
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("chain, name", [("jpeg:quality=50", "out.jpg"), ("jpeg:quality=50", "out.JPEG"),
                                         ("rotate:degrees=5,crop=true + webp:quality=30", "out.webp"),
                                         ("crop:percent=80,position=random + avif:quality=30", "out.avif")])
def test_an_output_in_the_format_of_the_last_codec_is_that_codecs_file(photo_file, tmp_path, capsys, chain, name):
    from PIL import features

    if name.endswith(".avif") and not features.check("avif"):
        pytest.skip("this Pillow cannot write AVIF")
    out = tmp_path / name
    assert run(str(photo_file), "-o", str(out), "-a", chain, "--seed", "4") == 0
    attack = attacks.parse(chain)
    assert np.array_equal(opened(out)[0], attack(rgb8(), seed=4))              # the pixels the bench measures
    last, before = attack.last_step(rgb8(), seed=4)
    assert out.read_bytes() == attacks.codec.encoded(before, last.name, last.kwargs)
    assert "warning" not in capsys.readouterr().err
    assert run(str(photo_file), "-o", str(out), "-a", chain) == 2 and "already exists" in capsys.readouterr().err


def _photo_with_a_make(tmp_path):
    """A JPEG whose EXIF names a camera maker."""
    source = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x010F] = "Filigrane camera"     # Make
    Image.fromarray(rgb8()).save(source, exif=exif, quality=95)
    return source


def test_a_codec_file_keeps_the_exif_unless_stripped(tmp_path):
    source = _photo_with_a_make(tmp_path)
    assert run(str(source), "-o", str(tmp_path / "kept.jpg"), "-a", "jpeg:quality=40") == 0
    assert run(str(source), "-o", str(tmp_path / "gone.jpg"), "-a", "strip_metadata + jpeg:quality=40") == 0
    assert opened(tmp_path / "kept.jpg")[2].get(0x010F) == "Filigrane camera"
    assert 0x010F not in opened(tmp_path / "gone.jpg")[2]
    assert np.array_equal(opened(tmp_path / "kept.jpg")[0], opened(tmp_path / "gone.jpg")[0])


def test_encoding_an_attacked_image_anew_lossily_is_said_once(photo_file, tmp_path, capsys):
    other = tmp_path / "other.png"
    Image.fromarray(rgb8()).save(other)
    assert run(str(photo_file), str(other), "-o", str(tmp_path / "out"), "-a", "flip", "--format", "jpg") == 0
    assert run(str(photo_file), "-o", str(tmp_path / "x.webp"), "-a", "jpeg:quality=50") == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["watermark attack: warning: JPEG and WebP outputs are encoded anew at quality 95, a lossy step "
                   "after the attacks; end the chain with that codec (jpeg, webp), or write .png"] * 2
    assert run(str(photo_file), "-o", str(tmp_path / "x.png"), "-a", "jpeg:quality=50") == 0
    assert "warning" not in capsys.readouterr().err


def test_inputs_are_never_overwritten_and_outputs_only_when_asked(photo_file, tmp_path, capsys):
    before = photo_file.read_bytes()
    assert run(str(photo_file), "-o", str(photo_file), "-a", "grayscale", "--overwrite") == 2
    assert photo_file.read_bytes() == before and "is the input image" in capsys.readouterr().err
    out = tmp_path / "out.png"
    assert run(str(photo_file), "-o", str(out), "-a", "grayscale") == 0
    assert run(str(photo_file), "-o", str(out), "-a", "flip") == 2
    assert "already exists" in capsys.readouterr().err
    assert run(str(photo_file), "-o", str(out), "-a", "flip", "--overwrite") == 0


def test_a_bad_file_is_reported_and_the_others_go_on(photo_file, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert run(str(broken), str(photo_file), "-o", str(tmp_path / "out"), "-a", "flip", "--json") == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["input"] == str(broken) and lines[0]["error"] and lines[0]["output"] is None
    assert lines[1]["error"] is None and (tmp_path / "out" / "photo" / "flip.png").is_file()


def test_names_are_escaped_in_lines_and_valid_utf8_in_json_rows(photo_file, tmp_path, capsys):
    assert run(str(photo_file), "-o", str(tmp_path / "att\x1b[32mG.png"), "-a", "flip") == 0
    assert capsys.readouterr().out == f"{photo_file} -> {tmp_path}/att\\x1b[32mG.png  [flip()]\n"
    missing = str(tmp_path / os.fsdecode(b"nope\x1b[31m\x9b.jpg"))
    assert run(missing, "-o", str(tmp_path / "x.png"), "-a", "flip") == 2
    assert capsys.readouterr().err == f"watermark attack: {tmp_path}/nope\\x1b[31m\\x9b.jpg: no such file\n"
    assert run(missing, "-o", str(tmp_path / "x.png"), "-a", "flip", "--json") == 2
    row = json.loads(capsys.readouterr().out)
    assert row["input"] == f"{tmp_path}/nope\x1b[31m\\x9b.jpg" and row["error"].startswith(row["input"])
    assert run(str(photo_file), "-o", str(tmp_path / "all\x1b[2J.png"), "--suite", "quick") == 2
    assert capsys.readouterr().err.startswith(f"watermark attack: -o {tmp_path}/all\\x1b[2J.png: with --suite")


def test_usage_errors(photo_file, tmp_path, capsys):
    assert run(str(photo_file), "-o", str(tmp_path / "x.png")) == 2
    assert run(str(photo_file), "-o", str(tmp_path), "-a", "flip", "--suite", "quick") == 2
    assert run(str(photo_file), "-a", "flip") == 2
    assert run("-o", str(tmp_path), "-a", "flip") == 2
    assert run(str(photo_file), "-o", str(tmp_path / "d"), "--suite", "nope") == 2
    assert "known suites: stirmark" in capsys.readouterr().err
    assert run(str(photo_file), "-o", str(tmp_path / "all.png"), "--suite", "quick") == 2
    assert run(str(photo_file), str(photo_file), "-o", str(tmp_path / "both.jpg"), "-a", "flip") == 2
    assert capsys.readouterr().err.count("-o is a folder") == 2
    assert not (tmp_path / "all.png").exists() and not (tmp_path / "both.jpg").exists()


def test_attacks_that_need_other_images_are_refused_before_any_work(photo_file, tmp_path, capsys):
    assert run(str(photo_file), "-o", str(tmp_path / "s"), "--suite", "security") == 2
    assert run(str(photo_file), "-o", str(tmp_path / "x.png"), "-a", "jpeg", "-a", "collude_average") == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["watermark attack: collude_average, collude_mosaic, copy_mark: need other images besides the "
                     "input, which this command does not take; use the Python API, or 'watermark bench --suite "
                     "security'", lines[0].replace("collude_average, collude_mosaic, copy_mark", "collude_average")]
    assert not (tmp_path / "s").exists() and not (tmp_path / "x.png").exists()
    assert run(str(photo_file), "-o", str(tmp_path / "x.png"), "-a", "remove_mark") == 0   # its others are optional


def test_an_output_under_a_file_is_refused_once(photo_file, tmp_path, capsys):
    (tmp_path / "plain").write_bytes(b"")
    assert run(str(photo_file), "-o", str(tmp_path / "plain"), "--suite", "quick") == 2
    assert run(str(photo_file), "-o", str(tmp_path / "plain" / "x.png"), "-a", "flip") == 2
    assert capsys.readouterr().err.splitlines() == [f"watermark attack: -o {tmp_path / name}: {tmp_path / 'plain'} is "
                                                    "a file, not a folder" for name in ("plain", "plain/x.png")]


def test_list_shows_names_parameters_defaults_and_suites(capsys):
    assert run("--list") == 0
    out = capsys.readouterr().out
    assert "rotate (geometry): degrees=5 [float in [-360, 360]; counter-clockwise], crop=False" in out
    assert "suite stirmark: 113 attacks" in out
    assert run("--list", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["attack"] for row in rows if "attack" in row} == set(attacks.names())
    rotate = next(row for row in rows if row.get("attack") == "rotate")
    assert rotate["meanings"]["degrees"] == "counter-clockwise"
    assert {row["suite"]: row["size"] for row in rows if "suite" in row}["quick"] == 14


def test_help_and_list_name_every_suite_and_send_the_multi_image_one_to_bench(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")          # no wrapping inside "stirmark-as-shipped"
    parser = argparse.ArgumentParser(prog="watermark")
    cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["attack", "--help"])
    help_text = capsys.readouterr().out
    assert run("--list") == 0
    listed = capsys.readouterr().out
    assert run("--list", "--json") == 0
    rows = {row["suite"]: row for row in map(json.loads, capsys.readouterr().out.splitlines()) if "suite" in row}
    for name in attacks.suites():
        bench_only = any(attack.needs_inputs for attack in attacks.suite(name))
        assert name in help_text and rows[name]["bench_only"] is bench_only
        bench_note = f"'watermark bench --suite {name}' runs it"
        assert (bench_note in help_text) is bench_only
        assert (f"suite {name}: {len(attacks.suite(name))} attacks (needs other images: {bench_note})" in listed) \
            is bench_only
    assert rows["security"]["bench_only"] and not rows["quick"]["bench_only"]


def test_strip_metadata_drops_exif_and_other_attacks_keep_it(tmp_path):
    source = _photo_with_a_make(tmp_path)
    assert run(str(source), "-o", str(tmp_path / "kept.png"), "-a", "flip") == 0
    assert run(str(source), "-o", str(tmp_path / "gone.png"), "-a", "jpeg:quality=80 + strip_metadata") == 0
    assert opened(tmp_path / "kept.png")[2].get(0x010F) == "Filigrane camera"
    assert 0x010F not in opened(tmp_path / "gone.png")[2]


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    found = [e for e in entry_points(group="watermark.commands") if e.name == "attack"]
    assert found and found[0].value == "attacks.cli:register"


def test_an_image_with_alpha_to_a_format_only_a_codec_writes_says_so(tmp_path, capsys):
    source = tmp_path / "clear.png"
    rgba = np.dstack([rgb8(), np.full(rgb8().shape[:2], 200, np.uint8)])
    Image.fromarray(rgba).save(source)
    assert run(str(source), "-o", str(tmp_path / "out.avif"), "-a", "avif:quality=50") == 2
    assert capsys.readouterr().err == (f"watermark attack: {tmp_path}/out.avif: an image with alpha is written by "
                                       "Filigrane's own writer, which has no .avif (a codec's file would drop the "
                                       "alpha): write .png or .webp\n")
    assert not (tmp_path / "out.avif").exists()
