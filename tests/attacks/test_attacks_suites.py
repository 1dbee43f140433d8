"""The suites' sizes and parameter sets match the documented originals (SMB 4.0, StirMark 3.1)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from attack_images import rgb8

import attacks
from watermark.errors import UnknownNameError

# StirMark Benchmark 4.0, Profiles/SMBsettings.ini (as its report lists them), written out again
# here on purpose: the suite is checked against the documented lists, not against itself.
SMB_JPEG = {15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 90, 100}
SMB_NOISE = {0, 20, 40, 60, 80, 100}
SMB_MEDIAN = {3, 5, 7, 9}
SMB_REMOVE_LINES = set(range(10, 101, 10))
SMB_CROP = {1, 2, 5, 10, 15, 20, 25, 50, 75}
SMB_RESCALE = {0.5, 0.75, 0.9, 1.1, 1.5, 2.0}
SMB_SMALL_ANGLES = {-2, -1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1, 2}
SMB_ANGLES = SMB_SMALL_ANGLES | {5, 10, 15, 30, 45, 90}
SMB_DISTORTIONS = {0.95, 1, 1.05, 1.1}
# StirMark 3.1, bench.h: SHIFTS (as 1 % and 5 % shears) and LINEAR_TRANSFORMATIONS.
SHEARS = {(1, 0, 0.01, 1), (1, 0, 0.05, 1), (1, 0.01, 0, 1), (1, 0.05, 0, 1), (1, 0.01, 0.01, 1), (1, 0.05, 0.05, 1)}
LINEAR = {(1.010, 0.013, 0.009, 1.011), (1.007, 0.010, 0.010, 1.012), (1.013, 0.008, 0.011, 1.008)}


def _by_test(suite):
    """{(name, the distinguishing flags): [values of the primary parameter]}."""
    found = defaultdict(list)
    for attack in suite:
        params = attack.kwargs
        if attack.name == "rotate":
            key = ("rotate", "crop" if params.get("crop") else "scale" if params.get("scale") else "expand")
            found[key].append(params["degrees"])
        elif attack.name == "affine":
            found[("affine",)].append(params["matrix"])
        elif attack.name in ("convolution", "self_similarities", "random_bending"):
            found[(attack.name,)].append(params.get("kernel", params.get("mode", params.get("as_shipped"))))
        else:
            found[(attack.name,)].append(attack.strength)
    return found


def test_suite_names_and_sizes():
    assert attacks.suites() == ["stirmark", "stirmark-as-shipped", "social", "modern", "quick", "training", "security"]
    sizes = {name: len(attacks.suite(name)) for name in attacks.suites()}
    assert sizes == {"stirmark": 113, "stirmark-as-shipped": 112, "social": 12, "modern": 19, "quick": 14,
                     "training": 8, "security": 16}


def test_the_security_suite_is_the_security_family_with_its_other_images_named():
    suite = attacks.suite("security")
    assert {a.family for a in suite} == {"security"}
    assert {a.name: a.inputs for a in suite} == {
        "remove_mark": "others", "copy_mark": "source", "collude_average": "copies", "collude_mosaic": "copies",
        "remark": None, "remove_and_remark": None}


@pytest.mark.parametrize("name", ["stirmark", "stirmark-as-shipped"])
def test_stirmark_parameter_sets_match_the_profile(name):
    tests = _by_test(attacks.suite(name))
    assert sorted(tests[("jpeg",)]) == sorted(SMB_JPEG)
    assert sorted(tests[("add_noise",)]) == sorted(SMB_NOISE)
    assert sorted(tests[("median",)]) == sorted(SMB_MEDIAN)
    assert sorted(tests[("remove_lines",)]) == sorted(SMB_REMOVE_LINES)
    assert sorted(tests[("crop",)]) == sorted(SMB_CROP)
    assert sorted(tests[("rescale",)]) == pytest.approx(sorted(SMB_RESCALE))
    assert sorted(tests[("rotate", "expand")]) == sorted(SMB_ANGLES)
    assert sorted(tests[("rotate", "crop")]) == sorted(SMB_SMALL_ANGLES)
    assert sorted(tests[("rotate", "scale")]) == sorted(SMB_SMALL_ANGLES)
    assert sorted(tests[("small_random_distortions",)]) == sorted(SMB_DISTORTIONS)
    assert sorted(tests[("latest_small_random_distortions",)]) == sorted(SMB_DISTORTIONS)
    assert sorted(tests[("convolution",)]) == ["gaussian", "sharpen"]
    assert sorted(tests[("self_similarities",)]) == [1, 2, 3]
    assert len(tests[("random_bending",)]) == 1
    assert sorted(tests[("psnr",)]) == [20, 25, 30, 35, 40, 45, 50]
    matrices = set(tests[("affine",)])
    if name == "stirmark":
        assert matrices == SHEARS | LINEAR                 # the nine the profile meant
    else:
        assert len(matrices) == 8 and matrices == (SHEARS | LINEAR) - {(1, 0.05, 0.05, 1)}


@pytest.mark.parametrize("name", ["stirmark", "stirmark-as-shipped"])
def test_stirmark_rotation_keeps_the_whole_rotated_picture(name):
    plain = [a for a in attacks.suite(name) if a.name == "rotate" and not {"crop", "scale"} & set(a.kwargs)]
    assert len(plain) == len(SMB_ANGLES) and all(a.kwargs.get("expand") is True for a in plain)


def test_as_shipped_differs_only_where_the_profile_has_quirks():
    intended, shipped = attacks.suite("stirmark"), attacks.suite("stirmark-as-shipped")
    changed = {a.name for a in shipped if a not in set(intended)}
    assert changed == {"add_noise", "convolution", "random_bending"}
    assert all(a.kwargs.get("as_shipped") for a in shipped if a.name in ("convolution",))
    assert all(a.kwargs.get("as_shipped") for a in shipped if a.name == "add_noise")


def test_random_bending_defaults_are_stirmark_31():
    defaults = attacks.registry.spec("random_bending").defaults
    assert defaults == {"inwards": 2.0, "outwards": 0.7, "bending": 2.0, "randomisation": 0.1, "deviation": 1.5,
                        "quality": 70, "as_shipped": False}


def test_social_suite_does_what_platforms_do():
    social = attacks.suite("social")
    uploads = [a for a in social if a.family == "chain" and a.parts[0].name == "downscale"]
    framed = [a for a in social if a.family == "chain" and a.parts[0].name == "canvas"]
    assert {(a.parts[0].kwargs["ratio"], a.parts[0].kwargs["fill"]) for a in framed} == {(0.8, "white"), (1.0, "blur")}
    assert {a.parts[0].kwargs["max_side"] for a in uploads} == {1080, 2048}
    jpegs = [a.parts[1] for a in uploads if a.parts[1].name == "jpeg"]
    assert {j.kwargs["quality"] for j in jpegs} <= set(range(70, 86)) and len(jpegs) >= 4
    assert all(j.kwargs["subsampling"] == "4:2:0" for j in jpegs)
    assert all(a.parts[-1].name == "strip_metadata" for a in uploads)
    assert any(a.parts[1].name == "webp" for a in uploads) and any(a.name == "screenshot" for a in social)
    assert {a.parts[1].kwargs["quality"] for a in uploads} <= set(range(70, 86))      # WebP too
    for post in framed:                 # a framed post is uploaded as a photograph is
        codec = post.parts[1]
        assert (codec.name, codec.kwargs["subsampling"], post.parts[-1].name) == ("jpeg", "4:2:0", "strip_metadata")
    scales = [a.kwargs["scale"] for a in social if a.name == "screenshot"]
    assert min(scales) < 1 < max(scales)    # a screen that shows the picture smaller, one that shows it larger


def test_modern_and_quick_cover_their_families():
    assert {a.name for a in attacks.suite("modern")} >= {"colour_jitter", "hue", "saturation", "grayscale", "palette",
                                                         "text", "logo", "perspective", "print_scan", "avif",
                                                         "denoise"}
    palettes = {a.kwargs["dither"] for a in attacks.suite("modern") if a.name == "palette"}
    assert palettes == {True, False}        # dithering's noise and plain posterisation
    quick = attacks.suite("quick")
    assert 10 <= len(quick) <= 14
    assert {a.family for a in quick} >= {"codec", "noise", "filter", "geometry", "bending", "colour", "chain"}


@pytest.mark.parametrize("name", attacks.suites())
def test_every_suite_entry_prints_uniquely_reads_back_and_runs(name):
    suite = attacks.suite(name)
    printed = [str(a) for a in suite]
    assert len(set(printed)) == len(printed)
    assert len({a.filename for a in suite}) == len(suite)
    image = rgb8()[:64, :80]
    for attack in suite:
        assert attacks.parse(str(attack)) == attack
        if attack.needs_inputs:         # a multi-image attack: eval.security brings its other images
            continue
        out = attack(image, seed=0)
        assert out.dtype == np.uint8 and out.ndim == 3, attack


def test_unknown_suite_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="stirmark, stirmark-as-shipped"):
        attacks.suite("stirmark4")
