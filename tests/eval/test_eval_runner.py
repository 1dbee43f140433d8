"""eval.runner end to end: rows with the documented columns, resumability, parallel = serial."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
from PIL import Image

import watermark
from eval import images, runner


def _count_detections(monkeypatch):
    calls = []
    real = watermark.detect

    def counting(*args, **kwargs):
        calls.append(kwargs.get("scheme"))
        return real(*args, **kwargs)

    monkeypatch.setattr(watermark, "detect", counting)
    return calls


def _strip_timing(row, *, timing=False):
    """The row as a tuple, NaN as None (so that rows compare), timings zeroed unless ``timing``."""
    if not timing:
        row = dataclasses.replace(row, embed_ms=0.0, detect_ms=0.0)
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in dataclasses.astuple(row))


def test_run_measures_every_cell_with_the_documented_columns(photo_dir, tiny_suite, tmp_path):
    specs = images.images_from(photo_dir)
    rows = runner.run(["dwtdct"], specs, tiny_suite, unmarked=3, cache_dir=tmp_path / "cache", progress=False)
    assert runner.COLUMNS == ("scheme", "image", "attack", "family", "strength", "marked", "seed", "payload_bits",
                              "bit_accuracy", "exact", "found", "p_value", "score", "psnr", "ssim", "ssimulacra2",
                              "butteraugli", "embed_ms",
                              "detect_ms", "width", "height", "error")
    marked = [r for r in rows if r.marked]
    assert [(r.image, r.attack) for r in marked] == [
        (image, attack) for image in ("astronaut.png", "coffee.png")
        for attack in ("none", "jpeg(quality=75)", "jpeg(quality=40)", "gaussian_noise(sigma=0.02)")]
    assert all(not r.error for r in rows)
    for r in marked:
        assert r.scheme == "dwtdct" and r.payload_bits == 64 and (r.width, r.height) == (320, 320)
        assert 0.0 <= r.bit_accuracy <= 1.0 and 0.0 <= r.p_value <= 1.0
        assert r.psnr > 30 and 0.8 < r.ssim <= 1.0 and r.embed_ms > 0 and r.detect_ms > 0
    unattacked = [r for r in marked if r.attack == "none"]
    assert all(r.exact and r.found and r.bit_accuracy == 1.0 and math.isnan(r.strength) for r in unattacked)
    assert {r.family for r in marked} == {"none", "codec", "noise"}
    assert [r.strength for r in marked[1:4]] == [75.0, 40.0, 0.02]
    null = [r for r in rows if not r.marked]
    assert len(null) == 3 and all(r.attack == "none" and not r.exact and math.isnan(r.psnr) for r in null)
    assert len({r.image for r in null}) == 3


def test_the_unmarked_images_do_not_change_with_the_schemes_compared(photo_dir):
    # skimage's "page" is 191 px high: brought up to what every contender reads, whichever are run,
    # so that lattice alone and lattice beside the baselines are scored on the same null images
    specs = images.images_from(photo_dir)
    sizes = {}
    for chosen in (["lattice"], ["dwtdct"]):
        rows = runner.run(chosen, specs, [], unmarked=7, progress=False)
        sizes[chosen[0]] = [(r.image, r.width, r.height) for r in rows if not r.marked]
    assert ("page", 579, 288) in sizes["lattice"] and sizes["lattice"] == sizes["dwtdct"]


def test_a_rerun_computes_nothing_and_returns_the_same_rows(photo_dir, tiny_suite, tmp_path, monkeypatch):
    specs = images.images_from(photo_dir)
    first = runner.run(["dwtdct"], specs, tiny_suite, unmarked=2, cache_dir=tmp_path, progress=False)
    calls = _count_detections(monkeypatch)
    second = runner.run(["dwtdct"], specs, tiny_suite, unmarked=2, cache_dir=tmp_path, progress=False)
    assert calls == []
    assert [_strip_timing(r, timing=True) for r in second] == [_strip_timing(r, timing=True) for r in first]


def test_an_interrupted_run_recomputes_only_the_missing_cells(photo_dir, tiny_suite, tmp_path, monkeypatch):
    specs = images.images_from(photo_dir)
    first = runner.run(["dwtdct"], specs, tiny_suite, cache_dir=tmp_path, progress=False)
    cache = tmp_path / "cells.jsonl"
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:40])    # one lost, one torn mid-line
    calls = _count_detections(monkeypatch)
    second = runner.run(["dwtdct"], specs, tiny_suite, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2
    assert [_strip_timing(r) for r in second] == [_strip_timing(r) for r in first]
    entries = [json.loads(line) for line in cache.read_text().splitlines()[-2:]]
    assert {e["row"]["attack"] for e in entries} == {r.attack for r in first[-2:]}


def test_more_attacks_later_compute_only_the_new_cells(photo_dir, tiny_suite, tmp_path, monkeypatch):
    specs = images.images_from(photo_dir)
    runner.run(["dwtdct"], specs, tiny_suite[:1], cache_dir=tmp_path, progress=False)
    calls = _count_detections(monkeypatch)
    rows = runner.run(["dwtdct"], specs, tiny_suite, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2 * 2 and len(rows) == 2 * 4


def test_parallel_workers_give_the_serial_results(photo_dir, tiny_suite):
    specs = images.images_from(photo_dir)
    serial = runner.run(["dwtdct", "spread"], specs, tiny_suite, progress=False)
    parallel = runner.run(["dwtdct", "spread"], specs, tiny_suite, jobs=2, progress=False)
    assert [_strip_timing(r) for r in parallel] == [_strip_timing(r) for r in serial]


def test_a_run_in_this_process_reads_what_its_workers_read(tmp_path):
    """A probe: --jobs 1 ran OpenCV on every core, whose MAGSAC++ draws its samples per thread, while each
    worker runs on one: lattice's score of coffee rotated 10 degrees was 21.342681304 with one, 21.342683010
    with the other. Run in this process on four threads, as on a machine with cores to spare."""
    import shutil

    import cv2

    import attacks

    shutil.copy(Path(__file__).parents[2] / "samples" / "coffee.jpg", tmp_path)
    specs, suite = images.images_from(tmp_path), [attacks.attack("rotate", degrees=10, crop=True)]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(4)
    try:
        inline = runner.run(["lattice", "dwtdct"], specs, suite, progress=False)
        assert cv2.getNumThreads() == 4         # the caller's setting, back
    finally:
        cv2.setNumThreads(threads)
    workers = runner.run(["lattice", "dwtdct"], specs, suite, jobs=2, progress=False)
    assert [_strip_timing(r) for r in inline] == [_strip_timing(r) for r in workers]


def test_a_failing_cell_is_recorded_and_the_run_goes_on(photo_dir, tiny_suite, tmp_path):
    class Broken:
        name, family, strength = "broken", "filter", None

        def __str__(self):
            return "broken()"

        def __call__(self, image, seed=0):
            raise RuntimeError("attack exploded")

    specs = images.images_from(photo_dir)[:1]
    rows = runner.run(["dwtdct"], specs, (Broken(), *tiny_suite[:1]), cache_dir=tmp_path, progress=False)
    broken = [r for r in rows if r.attack == "broken()"]
    assert broken[0].error == "RuntimeError: attack exploded" and math.isnan(broken[0].bit_accuracy)
    assert [r.error for r in rows if r.attack != "broken()"] == ["", ""]
    assert "broken()" not in (tmp_path / "cells.jsonl").read_text()     # a crash is not cached


class _KillsItsWorker:
    """An attack that ends the process it runs in, as a worker killed for lack of memory would end."""

    name, family, strength = "kill", "filter", None

    def __str__(self):
        return "kill()"

    def __call__(self, image, seed=0):
        os._exit(1)


def test_a_dying_worker_gives_error_rows_and_the_run_goes_on(photo_dir, tiny_suite, tmp_path):
    specs = images.images_from(photo_dir)[:1]
    runner.run(["dwtdct", "spread"], specs, tiny_suite[:1], cache_dir=tmp_path, progress=False)
    rows = runner.run(["dwtdct", "spread"], specs, (*tiny_suite[:1], _KillsItsWorker()), jobs=2,
                      cache_dir=tmp_path, progress=False)
    assert [(r.scheme, r.attack) for r in rows] == [(scheme, attack) for scheme in ("dwtdct", "spread")
                                                    for attack in ("none", "jpeg(quality=75)", "kill()")]
    assert [r.error for r in rows if r.attack != "kill()"] == [""] * 4
    assert all(r.error.startswith("WorkerDiedError") for r in rows if r.attack == "kill()")   # twice: given up
    assert "kill()" not in (tmp_path / "cells.jsonl").read_text()     # computed again by the next run


def test_a_changed_image_file_is_computed_again(tmp_path, small_photo, tiny_suite, monkeypatch):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(small_photo("astronaut")).save(folder / "photo.png")
    first = runner.run(["dwtdct"], images.images_from(folder), tiny_suite[:1], cache_dir=tmp_path, progress=False)
    Image.fromarray(small_photo("coffee")[:300, :290]).save(folder / "photo.png")
    calls = _count_detections(monkeypatch)
    second = runner.run(["dwtdct"], images.images_from(folder), tiny_suite[:1], cache_dir=tmp_path, progress=False)
    assert len(calls) == 2
    assert [(r.width, r.height) for r in first] == [(320, 320)] * 2
    assert [(r.width, r.height) for r in second] == [(290, 300)] * 2


def test_an_image_too_small_for_a_scheme_is_an_error_row(tmp_path, small_photo, tiny_suite):
    from PIL import Image

    Image.fromarray(small_photo("astronaut")[:200, :200]).save(tmp_path / "tiny.png")
    rows = runner.run(["dwtdct"], images.images_from(tmp_path), tiny_suite[:1], progress=False)
    assert all(r.error.startswith("ImageTooSmallError") for r in rows) and len(rows) == 2


def test_unknown_scheme_fails_before_any_work(photo_dir, tiny_suite):
    with pytest.raises(watermark.UnknownNameError, match="known"):
        runner.run(["nope"], images.images_from(photo_dir), tiny_suite)


def _two_roots_holding(tmp_path, small_photo, name):
    """Folders ``a`` and ``b`` each holding a different photograph as ``name`` (320 x 320 and 290 x 300)."""
    from PIL import Image

    for folder, picture in (("a", small_photo("astronaut")), ("b", small_photo("coffee")[:300, :290])):
        (tmp_path / folder).mkdir()
        Image.fromarray(picture).save(tmp_path / folder / name)
    return tmp_path / "a", tmp_path / "b"


def test_files_of_the_same_name_in_two_folders_are_two_images_each_measured(tmp_path, small_photo, tiny_suite):
    """A probe: two --images folders holding x.jpg gave two rows named x.jpg, both the second file's, under
    one cache key (the first file's results gone, its payload and seeds the other's)."""
    first, second = _two_roots_holding(tmp_path, small_photo, "x.png")
    specs = images.images_from([first, second])
    assert [spec.name for spec in specs] == [f"{first}/x.png", f"{second}/x.png"]
    rows = runner.run(["dwtdct"], specs, tiny_suite[:1], cache_dir=tmp_path / "cache", progress=False)
    assert [(r.image, r.width, r.height) for r in rows] == [(f"{first}/x.png", 320, 320)] * 2 + [
        (f"{second}/x.png", 290, 300)] * 2
    assert all(r.exact and not r.error for r in rows)
    keys = [json.loads(line)["key"] for line in (tmp_path / "cache" / "cells.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 4
    again = runner.run(["dwtdct"], specs, tiny_suite[:1], cache_dir=tmp_path / "cache", progress=False)
    assert [_strip_timing(r, timing=True) for r in again] == [_strip_timing(r, timing=True) for r in rows]


def test_a_file_named_twice_is_one_image_and_names_elsewhere_stay_short(photo_dir):
    specs = images.images_from([photo_dir, photo_dir / "coffee.png", photo_dir / ".." / "photos"])
    assert [(spec.name, spec.source) for spec in specs] == [("astronaut.png", str(photo_dir / "astronaut.png")),
                                                            ("coffee.png", str(photo_dir / "coffee.png"))]


def test_a_run_refuses_two_images_of_one_name(photo_dir, tiny_suite):
    specs = images.images_from(photo_dir)
    twins = [specs[0], images.ImageSpec(specs[0].name, specs[1].source)]
    with pytest.raises(ValueError, match="two images named astronaut.png: .*astronaut.png and .*coffee.png"):
        runner.run(["dwtdct"], twins, tiny_suite[:1], progress=False)


def test_sixteen_bit_photographs_are_benchmarked_as_eight_bit_rgb(tmp_path):
    """A reviewer's probe: 16-bit colour TIFFs load as arrays, which the bench's reader took for PIL images
    (AttributeError: every scheme failed on them); 16-bit grey was clipped at 255 by a conversion."""
    import numpy as np
    import tifffile
    from PIL import Image

    levels = np.linspace(0, 65535, 64 * 80, dtype=np.uint16).reshape(64, 80)
    tifffile.imwrite(tmp_path / "colour.tif", np.stack([levels, levels[::-1], levels], axis=2))
    Image.fromarray(levels).save(tmp_path / "grey.png")
    for name in ("colour.tif", "grey.png"):
        pixels = images._from_file(str(tmp_path / name))
        assert pixels.shape == (64, 80, 3) and pixels.dtype == np.uint8, name
        assert pixels[0, 0, 0] == 0 and pixels[-1, -1, 0] == 255, name          # the whole range, scaled


def test_each_image_draws_its_own_randomness_for_an_attack():
    seeds = {runner.attack_seed(0, name, "noise(sigma=5)") for name in ("coffee", "chelsea", "coffee~1")}
    assert len(seeds) == 3 and runner.attack_seed(0, "coffee", "noise(sigma=5)") != runner.attack_seed(
        1, "coffee", "noise(sigma=5)")


def test_a_cell_s_key_does_not_depend_on_the_order_its_fields_are_given_in():
    from eval.cache import cell_key

    assert cell_key(scheme="lattice", image="coffee", seed=3) == cell_key(seed=3, image="coffee", scheme="lattice")
    assert cell_key(scheme="lattice", image="coffee", seed=3) != cell_key(scheme="lattice", image="coffee", seed=4)


def test_an_image_s_variant_is_part_of_its_cells_key(tmp_path, small_photo, tiny_suite):
    """Two runs sharing a cache: the same name and file, another variant (crop and rescale), other cells."""
    Image.fromarray(small_photo("astronaut")).save(tmp_path / "photo.png")
    rows = [runner.run(["dwtdct"], [images.ImageSpec("p", str(tmp_path / "photo.png"), variant)], tiny_suite[:1],
                       cache_dir=tmp_path / "cache", progress=False)[0] for variant in (0, 1)]
    assert (rows[0].width, rows[0].height) != (rows[1].width, rows[1].height)
