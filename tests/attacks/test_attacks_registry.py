"""Attack records: printing, parsing, checking, chaining, seeding."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import re

import numpy as np
import pytest
from attack_images import rgb8
from hypothesis import given, settings
from hypothesis import strategies as st

import attacks
from watermark.errors import AttackParameterError, UnknownNameError, WatermarkError


def test_attack_prints_its_explicit_parameters_in_a_stable_order():
    a = attacks.attack("rotate", crop=True, degrees=5)
    assert str(a) == "rotate(degrees=5, crop=True)"
    assert a.name == "rotate" and a.params == (("degrees", 5), ("crop", True))
    assert a.family == "geometry" and a.strength == 5.0 and not a.random
    assert str(attacks.attack("jpeg")) == "jpeg()" and attacks.attack("jpeg").strength == 75.0
    assert attacks.attack("grayscale").strength is None
    assert str(attacks.attack("text", text="hello world")) == "text(text='hello world')"


def test_attacks_are_frozen_hashable_values():
    a = attacks.attack("jpeg", quality=50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "webp"  # type: ignore[misc]
    assert a == attacks.parse("jpeg:quality=50") and len({a, attacks.attack("jpeg", quality=50)}) == 1
    assert isinstance(a.params, tuple)


@pytest.mark.parametrize("text, printed", [
    ("rotate:degrees=5,crop=true", "rotate(degrees=5, crop=True)"),
    ("rotate(degrees=-0.25, scale=True)", "rotate(degrees=-0.25, scale=True)"),
    ("rotate : degrees = +5", "rotate(degrees=5)"),
    ("affine:matrix=(1,0,0.01,1)", "affine(matrix=(1, 0, 0.01, 1))"),
    ("affine:matrix=[1;0;0.05;1],expand=false", "affine(matrix=(1, 0, 0.05, 1), expand=False)"),
    ("text:text='a, b',position=top-left", "text(text='a, b', position=top-left)"),
    ("jpeg:quality=50,subsampling=4:4:4", "jpeg(quality=50, subsampling=4:4:4)"),
    ("grayscale", "grayscale()"),
    ("rescale:factor=0.5 + jpeg:quality=50", "rescale(factor=0.5) + jpeg(quality=50)"),
    ("rescale(factor=0.5) + jpeg(quality=50) + strip_metadata()",
     "rescale(factor=0.5) + jpeg(quality=50) + strip_metadata()"),
])
def test_parse_reads_the_cli_syntax_and_the_printed_form(text, printed):
    assert str(attacks.parse(text)) == printed
    assert attacks.parse(printed) == attacks.parse(text)


@pytest.mark.parametrize("text", ["2024", "true", "False", "1e3", "-5", "0.5"])
def test_text_that_reads_as_a_number_or_a_truth_value_prints_quoted_and_reads_back(text):
    overlay = attacks.attack("text", text=text)
    assert str(overlay) == f"text(text={text!r})" and attacks.parse(str(overlay)) == overlay
    assert overlay.filename == f"text_text={text}"


AWKWARD = ["a\\b", "\\", "x\\", "\\'", "C:\\new", "it's", 'say "hi"', 'it\'s "x"', "a, b", "a)", "(c", "a + b",
           "a\nb", "\r\t", "caf\u00e9", "\u200b", "\u202e", "\x00", "\U0001f600", " x ", "", "x=1", "'", '"']


@pytest.mark.parametrize("text", AWKWARD)
def test_any_text_reads_back_from_the_printed_form(text):
    overlay = attacks.attack("text", text=text)
    assert attacks.parse(str(overlay)) == overlay
    assert attacks.parse(f"jpeg(quality=50) + {overlay}").parts[1] == overlay
    assert "\n" not in str(overlay) and str(overlay).isprintable()     # escaped, as repr does


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(), max_size=12))
def test_every_text_reads_back_from_the_printed_form(text):
    overlay = attacks.attack("text", text=text)
    assert attacks.parse(str(overlay)) == overlay


@pytest.mark.parametrize("typed, text", [
    ("text:text='C:\\photos'", "C:\\photos"),             # a backslash before another character stays
    ("text:text='it's'", "it's"),
    ("text:text=\"a 'b'\"", "a 'b'"),
    ("text:text='it\\'s \"x\"'", 'it\'s "x"'),
])
def test_quoted_text_reads_as_typed_with_python_escapes(typed, text):
    assert attacks.parse(typed).kwargs["text"] == text


@pytest.mark.parametrize("call, message", [
    (lambda: attacks.attack("rotat"), "did you mean 'rotate'"),
    (lambda: attacks.parse("nosuch:x=1"), "known attacks: add_noise, affine"),
])
def test_unknown_names_list_the_known_ones(call, message):
    with pytest.raises(UnknownNameError, match=message) as caught:
        call()
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, WatermarkError)


@pytest.mark.parametrize("call, message", [
    (lambda: attacks.attack("jpeg", quality=0), r"jpeg: quality must be in \[1, 100\], got 0"),
    (lambda: attacks.attack("jpeg", quality=50.5), "whole number"),
    (lambda: attacks.attack("rotate", angle=5), "unknown parameter 'angle'; rotate takes degrees, crop"),
    (lambda: attacks.attack("rotate", crop="maybe"), "crop must be true or false"),
    (lambda: attacks.attack("jpeg", subsampling="4:1:1"), "must be one of 4:4:4, 4:2:2, 4:2:0"),
    (lambda: attacks.attack("affine", matrix=(1, 0, 1)), "must have 4 or 6 numbers"),
    (lambda: attacks.attack("rotate", degrees=float("nan")), "finite"),
    (lambda: attacks.parse("rotate:degrees"), "write key=value"),
    (lambda: attacks.parse("  "), "empty attack"),
    (lambda: attacks.parse("rotate:degrees=five"), "degrees must be a number"),
    (lambda: attacks.jpeg(rgb8(), quality=101), "quality must be in"),
    (lambda: attacks.median(rgb8(), size=4), "size must be odd"),
    (lambda: attacks.rotate(rgb8(), degrees=3, expand=True, crop=True), "cannot be combined"),
    (lambda: attacks.affine(rgb8(), matrix=(1, 1, 1, 1)), "singular"),
    (lambda: attacks.delete_lines(rgb8()[:4, :6], count=4),
     r"count=4 would leave nothing of a 6x4 image; use count < 4"),
    (lambda: attacks.affine(rgb8(), matrix=(1, 0, 5, 0, 1, 0)), "needs expand=False"),
    (lambda: attacks.gaussian_noise(rgb8(), seed="abc"), "seed must be an integer"),
    (lambda: attacks.attack("gaussian_noise")(rgb8(), seed=-1), "seed must be an integer >= 0"),
    (lambda: attacks.parse("gaussian_noise + flip")(rgb8(), seed=1.5), "seed must be an integer >= 0"),
    (lambda: attacks.chain(), "at least one attack"),
    (lambda: attacks.parse("jpeg:quality=50,quality=60"), "jpeg: quality is given twice; give each parameter once"),
    (lambda: attacks.parse("jpeg(quality=50, quality=50)"), "quality is given twice"),
    (lambda: attacks.parse("jpeg:quality="), "jpeg: quality has an empty value; write quality=VALUE"),
    (lambda: attacks.parse("jpeg:quality=1_0"), "jpeg: quality must be a number, got '1_0'"),
    (lambda: attacks.parse("jpeg:quality=\u0665\u0660"), "jpeg: quality must be a number, got '\u0665\u0660'"),
    (lambda: attacks.attack("rotate", degrees="1_0"), "rotate: degrees must be a number, got '1_0'"),
    (lambda: attacks.attack("rotate", degrees="\u0665"), "rotate: degrees must be a number"),
])
def test_bad_parameters_say_what_and_how_to_fix(call, message):
    with pytest.raises(AttackParameterError, match=message) as caught:
        call()
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ("median:size=4", "median: size must be odd"),
    ("rotate:expand=true,crop=true", "rotate: expand=True cannot be combined with crop or scale"),
    ("rotate:expand=true,scale=true", "cannot be combined"),
    ("affine:matrix=(0,0,0,0)", "affine: the matrix is singular"),
    ("affine:matrix=(1,0,5,0,1,0)", "affine: a translation (tx, ty) needs expand=False"),
    ("shear:x=100,y=100", "shear: x=100 and y=100 fold the image onto a line"),
    ("flip + median:size=4", "median: size must be odd"),
])
def test_parameters_that_do_not_go_together_are_refused_without_an_image(text, message):
    with pytest.raises(AttackParameterError, match=re.escape(message)):
        attacks.parse(text)


def test_numbers_are_read_in_ascii_decimal_notation():
    assert attacks.parse("rotate:degrees=-.5").kwargs == {"degrees": -0.5}
    assert attacks.parse("rotate:degrees=1e1").kwargs == {"degrees": 10.0}
    assert attacks.attack("jpeg", quality=" 50 ").kwargs == {"quality": 50}
    assert attacks.parse("affine:matrix=(1,0,5,0,1,0),expand=false").kwargs["matrix"] == (1, 0, 5, 0, 1, 0)


def test_chain_prints_applies_in_order_and_seeds_reproducibly():
    c = attacks.chain(attacks.attack("rescale", factor=0.75), attacks.attack("jpeg", quality=75))
    assert str(c) == "rescale(factor=0.75) + jpeg(quality=75)"
    assert c.family == "chain" and c.strength is None and not c.random
    image = rgb8()
    assert np.array_equal(c(image, seed=1), attacks.jpeg(attacks.rescale(image, factor=0.75), quality=75))
    noisy = attacks.chain("gaussian_noise:sigma=0.05", "crop:percent=50,position=random")
    assert noisy.random and np.array_equal(noisy(image, seed=1), noisy(image, seed=1))
    assert not np.array_equal(noisy(image, seed=1), noisy(image, seed=2))
    assert str(attacks.chain(c, "grayscale")) == str(c) + " + grayscale()"      # flattened
    assert attacks.chain(attacks.attack("jpeg")) == attacks.attack("jpeg")


def test_a_float_parameter_reads_back_exactly():
    for value in (0.1234567, 1e-7, 2.0 / 3.0):
        rotation = attacks.attack("rotate", degrees=value)
        assert attacks.parse(str(rotation)).kwargs["degrees"] == value


def test_a_chain_is_random_and_takes_other_images_when_any_of_its_parts_does():
    assert attacks.chain("jpeg", "gaussian_noise").random and attacks.chain("gaussian_noise", "jpeg").random
    forged = attacks.chain("jpeg:quality=90", "copy_mark")
    assert forged.inputs == "source" and forged.needs_inputs and not attacks.chain("jpeg", "remove_mark").needs_inputs
    image, source = rgb8(), 255 - rgb8()
    expected = attacks.copy_mark(attacks.jpeg(image, quality=90), source=source)
    assert np.array_equal(forged(image, seed=0, source=source), expected)     # the jpeg part gets no source=


def test_the_parts_of_a_chain_draw_independently():
    grey = np.full((64, 64), 0.5)
    twice = attacks.parse("gaussian_noise:sigma=0.05 + gaussian_noise:sigma=0.05")(grey, seed=3)
    assert abs(float(np.std(twice - grey)) - 0.05 * np.sqrt(2)) < 0.008      # the same noise twice: 0.1


def test_last_step_gives_the_image_the_chains_last_attack_gets():
    noisy = attacks.parse("gaussian_noise:sigma=0.05 + crop:percent=50,position=random + jpeg:quality=80")
    last, before = noisy.last_step(rgb8(), seed=4)
    assert str(last) == "jpeg(quality=80)" and np.array_equal(last(before), noisy(rgb8(), seed=4))


def test_nested_chains_are_flattened_into_single_attacks():
    nested = attacks.chain(attacks.chain("rescale:factor=0.75", "jpeg:quality=75"), "grayscale")
    assert [part.name for part in nested.parts] == ["rescale", "jpeg", "grayscale"]
    assert nested == attacks.parse(str(nested))


def test_filenames_are_safe():
    assert attacks.attack("rotate", degrees=5, crop=True).filename == "rotate_degrees=5_crop=True"
    assert attacks.parse("text:text='a/b c'").filename == "text_text=a-b-c"
    assert attacks.parse("rescale:factor=0.5 + jpeg:quality=50").filename == "rescale_factor=0.5+jpeg_quality=50"


def test_describe_and_names():
    assert "rotate" in attacks.names() and attacks.names() == sorted(attacks.names())
    line = attacks.describe("rotate")
    assert line.startswith("rotate (geometry): degrees=5 [float in [-360, 360]; counter-clockwise], crop=False [bool; ")
    assert "random" in attacks.describe("random_bending")
    assert attacks.describe("gaussian_noise").startswith("gaussian_noise (noise random): ")
    assert attacks.describe("jpeg").startswith("jpeg (codec): ")
    assert set(attacks.__all__) >= set(attacks.names())


@pytest.mark.parametrize("module", ["attacks", "attacks.registry", "attacks.suites", "attacks.codec", "attacks.noise",
                                    "attacks.geometry", "attacks.resizing", "attacks.bending", "attacks._spec"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_recording_tells_what_random_attacks_drew():
    image = rgb8()
    with attacks.recording() as drawn:
        out = attacks.crop(image, percent=50, position="random", seed=9)
        attacks.random_bending(image, seed=9)
        attacks.jpeg(image)
    assert [name for name, _ in drawn] == ["crop", "corners", "random_bending"]
    x, y = drawn[0][1]["x"], drawn[0][1]["y"]
    assert np.array_equal(out, image[y:y + 48, x:x + 64])
    assert len(drawn[1][1]["inward_moves"]) == 8
    with attacks.recording() as again:
        attacks.random_bending(image, seed=9)
    assert again == drawn[1:]
