"""What the geometric attacks promise, beyond the checks against other libraries in test_attacks_checks.py."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from attack_images import grey8, rgb8

import attacks


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.mark.parametrize("degrees", [2, 30, -45])
def test_rotation_with_expand_holds_the_whole_turned_picture(degrees):
    image = rgb8()
    height, width = image.shape[:2]
    t = math.radians(abs(degrees))
    out = attacks.rotate(image, degrees=degrees, expand=True)
    assert out.shape[:2] == (math.ceil(width * math.sin(t) + height * math.cos(t)),
                             math.ceil(width * math.cos(t) + height * math.sin(t)))
    white = attacks.rotate(np.full_like(image, 255), degrees=degrees, expand=True)
    assert white.astype(float).sum() / 255 == pytest.approx(image.size, rel=0.03)   # nothing cut off


@pytest.mark.parametrize("degrees", [2, -5])
def test_rotation_with_scale_is_the_inner_crop_brought_back_to_the_original_size(degrees):
    image = rgb8()
    height, width = image.shape[:2]
    scaled = attacks.rotate(image, degrees=degrees, scale=True)
    cropped = attacks.rotate(image, degrees=degrees, crop=True)
    assert scaled.shape == image.shape
    assert _psnr(scaled, cv2.resize(cropped, (width, height), interpolation=cv2.INTER_CUBIC)) > 25
    white = attacks.rotate(np.full_like(image, 255), degrees=degrees, scale=True)
    assert white[[0, -1]][:, [0, -1]].min() > 100                    # no black corner, as with crop=True


def test_rotation_turns_about_the_centre_of_the_image():
    image = grey8()
    middle = (slice(24, 72), slice(32, 96))
    for degrees in (179.99, -89.99):                                 # the general path, near an exact turn
        turned = attacks.rotate(image, degrees=degrees)
        exact = attacks.rotate(image, degrees=round(degrees))
        assert _psnr(turned[middle], exact[middle]) > 40


def test_random_crop_can_land_anywhere_the_kept_part_fits():
    image = rgb8()                                                   # 98 % of 128 x 96 keeps 125 x 94
    with attacks.recording() as drawn:
        outs = [attacks.crop(image, percent=98, position="random", seed=seed) for seed in range(200)]
    where = [(values["x"], values["y"]) for _, values in drawn]
    assert set(where) == {(x, y) for x in range(4) for y in range(3)}
    for out, (x, y) in zip(outs, where):
        assert np.array_equal(out, image[y:y + 94, x:x + 125])


@pytest.mark.parametrize("x, y", [(1.0, 0.8), (1.2, 1.0), (0.9, 1.1), (1.0, 0.5)])
def test_aspect_scales_the_width_by_x_and_the_height_by_y(x, y):
    image = grey8()
    out = attacks.aspect(image, x=x, y=y)
    assert out.shape == (math.ceil(96 * y - 1e-9), math.ceil(128 * x - 1e-9))
    if (x, y) == (1.0, 0.5):                                         # shrinking averages pairs of rows
        rows = image.astype(np.float64).reshape(48, 2, 128).mean(axis=1)
        assert np.abs(out.astype(np.float64) - rows).max() <= 1.0


@pytest.mark.parametrize("fill, level", [("white", 255), ("black", 0)])
def test_canvas_frame_is_opaque_around_a_picture_with_alpha(fill, level):
    image = np.dstack([rgb8(), np.full(rgb8().shape[:2], 128, np.uint8)])   # a half-transparent picture
    out = attacks.canvas(image, ratio=0.8, fill=fill, side=100)
    assert out.shape == (100, 80, 4)                                 # 128 x 96 fitted: 80 x 60, rows 20 to 79
    for frame in (out[:20], out[80:]):
        assert (frame[:, :, :3] == level).all() and (frame[:, :, 3] == 255).all()
    assert np.abs(out[22:78, :, 3].astype(int) - 128).max() <= 1     # the picture keeps its own alpha


def test_shear_shifts_the_last_row_by_x_and_the_last_column_by_y_percent():
    lines = np.zeros((100, 200), np.uint8)
    lines[:, 100] = 255                                              # a vertical line: x shears it
    out = attacks.shear(lines, x=10)
    assert abs(int(np.argmax(out[-1])) - int(np.argmax(out[0])) - 0.10 * 200 * 99 / 100) <= 1
    lines = np.zeros((100, 200), np.uint8)
    lines[50] = 255                                                  # a horizontal line: y shears it
    out = attacks.shear(lines, x=0, y=10)
    assert abs(int(np.argmax(out[:, -1])) - int(np.argmax(out[:, 0])) - 0.10 * 100 * 199 / 200) <= 1


def test_perspective_moves_each_corner_at_most_strength_of_its_side():
    image = rgb8()
    assert np.abs(attacks.perspective(image, strength=0.0, seed=1).astype(int) - image).max() <= 1
    side = np.array([[128, 96]])
    black = {}
    for strength in (0.01, 0.2):
        with attacks.recording() as drawn:
            out = attacks.perspective(np.full_like(image, 255), strength=strength, seed=5)
        moves = np.abs(np.array(drawn[0][1]["corner_moves"]))
        assert (moves <= strength * side).all() and (moves > strength * side / 2).any()
        black[strength] = float(np.mean(out == 0))
    assert black[0.2] > 5 * black[0.01]


def test_flip_both_turns_the_picture_half_round():
    image = rgb8()
    assert np.array_equal(attacks.flip(image, axis="both"), image[::-1, ::-1])
