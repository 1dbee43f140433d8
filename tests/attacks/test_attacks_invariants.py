"""One registry drives the invariants every attack keeps, for every image layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from attack_images import layouts, rgb8
from PIL import Image

import attacks

# Families whose output keeps the input's height and width (geometry may change them).
_SAME_SIZE_FAMILIES = {"noise", "filter", "colour", "overlay", "bending", "print-scan", "security"}
# Parameters that make an attack random when its defaults are not (crop keeps the centre by default).
_RANDOM_PARAMS = {"crop": {"position": "random", "percent": 50}}
# Attacks that embed a mark of their own (an image below the scheme's minimum comes back unchanged).
_MARKING = {"remark", "remove_and_remark"}


def _flipped(image):
    """Another image of the same kind, shape and mode (upside down)."""
    if isinstance(image, Image.Image):
        return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return np.ascontiguousarray(np.asarray(image)[::-1])


def _inputs(name, image):
    """The other images a multi-image attack takes (``Attack.inputs``), built from ``image``."""
    keyword = attacks.attack(name).inputs
    if keyword is None:
        return {}
    return {"others": [_flipped(image)], "source": _flipped(image), "copies": [_flipped(image)]}[keyword]


def _snapshot(image):
    return image.copy() if isinstance(image, Image.Image) else np.array(image, copy=True)


def _same(a, b) -> bool:
    if isinstance(a, Image.Image):
        return a.mode == b.mode and a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("layout", list(layouts()))
@pytest.mark.parametrize("name", attacks.names())
def test_every_attack_keeps_kind_dtype_and_input(name, layout):
    image = layouts()[layout]
    before = _snapshot(image)
    if isinstance(image, np.ndarray):
        image.setflags(write=False)          # writing into the caller's array would raise
    attack = attacks.attack(name)
    extra = _inputs(name, image)
    keyword = attack.inputs
    out = attack(image, seed=7, **({keyword: extra} if keyword else {}))
    assert _same(image, before), "the input changed"
    if isinstance(image, Image.Image):
        assert isinstance(out, Image.Image) and out.mode == image.mode
        pixels, reference = np.asarray(out), np.asarray(image)
    else:
        assert isinstance(out, np.ndarray) and out.dtype == image.dtype
        pixels, reference = out, image
    assert pixels.ndim == reference.ndim and pixels.shape[2:] == reference.shape[2:]
    assert pixels.size > 0
    if attack.family in _SAME_SIZE_FAMILIES or attack.family == "codec" and name != "screenshot":
        assert pixels.shape == reference.shape
    if pixels.dtype.kind == "f":
        assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 1.0
    again = attack(_snapshot(image), seed=7, **({keyword: extra} if keyword else {}))
    assert _same(out, again), "the same seed gave a different output"


@pytest.mark.parametrize("name", attacks.names())
def test_every_function_matches_its_registered_attack(name):
    image = rgb8()
    function = getattr(attacks, name)
    extra = {attacks.attack(name).inputs: _inputs(name, image)} if attacks.attack(name).inputs else {}
    assert np.array_equal(function(image, seed=3, **extra), attacks.attack(name)(image, seed=3, **extra))


@pytest.mark.parametrize("name", [n for n in attacks.names() if attacks.attack(n).random])
def test_random_attacks_differ_across_seeds_and_accept_generators(name):
    attack = attacks.attack(name, **_RANDOM_PARAMS.get(name, {}))
    image = rgb8()
    if name in _MARKING:          # an image big enough to hold a mark (a smaller one is returned as it is)
        image = cv2.resize(image, (160, 128), interpolation=cv2.INTER_CUBIC)
    extra = {attack.inputs: _inputs(name, image)} if attack.inputs else {}
    first, second = attack(image, seed=1, **extra), attack(image, seed=2, **extra)
    assert first.shape != second.shape or not np.array_equal(first, second)
    from_generator = attack(image, seed=np.random.default_rng(5), **extra)
    again = attack(image, seed=np.random.default_rng(5), **extra)
    assert np.array_equal(from_generator, again)


@pytest.mark.parametrize("name", [n for n in attacks.names() if not attacks.attack(n).random])
def test_deterministic_attacks_ignore_the_seed(name):
    image = rgb8()
    extra = {attacks.attack(name).inputs: _inputs(name, image)} if attacks.attack(name).inputs else {}
    assert np.array_equal(attacks.attack(name)(image, seed=1, **extra), attacks.attack(name)(image, seed=2, **extra))


@pytest.mark.parametrize("name", attacks.names())
def test_alpha_survives_colour_attacks_untouched(name):
    image = layouts()["rgba8"]
    extra = {attacks.attack(name).inputs: _inputs(name, image)} if attacks.attack(name).inputs else {}
    out = attacks.attack(name)(image, seed=0, **extra)
    assert out.shape[2] == 4
    if attacks.attack(name).family not in ("geometry", "bending", "print-scan") and name != "screenshot":
        assert np.array_equal(out[:, :, 3], image[:, :, 3])


def test_a_tiny_image_survives_every_attack():
    tiny = rgb8()[:20, :24]
    for name in attacks.names():
        extra = {attacks.attack(name).inputs: _inputs(name, tiny)} if attacks.attack(name).inputs else {}
        out = attacks.attack(name)(tiny, seed=0, **extra)
        assert out.dtype == np.uint8 and out.size > 0, name
