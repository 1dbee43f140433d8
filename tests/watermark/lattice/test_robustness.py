"""The exact payload survives each class of signal processing and resizing (the bars of the core issue).

``python -m eval.acceptance`` measures the rates over 24 images; these tests pin the behaviour on a
few real photographs, so that a change that breaks a class fails here first.
"""

import cv2
import pytest
from photos import photo

import attacks
import watermark as wm

PAYLOAD = 0x0123_4567_89AB_CDEF

# The classes the core issue asks >= 95 % of photographs to survive, at their hardest setting.
EVERYDAY = [
    attacks.attack("jpeg", quality=50), attacks.attack("webp", quality=50),
    attacks.attack("gaussian_noise", sigma=5 / 255), attacks.attack("median", size=3),
    attacks.attack("gaussian_blur", sigma=1.0), attacks.attack("sharpen"),
    attacks.attack("exposure", factor=0.7), attacks.attack("exposure", factor=1.3),
    attacks.attack("contrast", factor=0.7), attacks.attack("contrast", factor=1.5),
    attacks.attack("gamma", gamma=0.7), attacks.attack("gamma", gamma=1.4), attacks.attack("grayscale"),
    attacks.attack("rescale", factor=0.5), attacks.attack("rescale", factor=2.0),
    attacks.chain(attacks.attack("downscale", max_side=1080), attacks.attack("jpeg", quality=80)),
]
# The classes asked of >= 80 %.
HARD = [attacks.attack("jpeg", quality=30), attacks.attack("gaussian_noise", sigma=10 / 255),
        attacks.attack("median", size=5), attacks.attack("gaussian_blur", sigma=2.0)]


def _marked(name, key, size=None):
    image = photo(name)
    if size is not None:
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    return wm.embed(image, PAYLOAD, key)


@pytest.fixture(scope="module")
def marked(key):
    return {"coffee": _marked("coffee", key), "motorcycle_left": _marked("motorcycle_left", key),
            "retina": _marked("retina", key), "rocket@1920x1080": _marked("rocket", key, (1920, 1080))}


# rocket's flat sky, upscaled to 1080p, kept its payload through WebP 50 because the round trip
# raised its mark (calibration.round_trip_scale; test_calibration); the visibility budget now lowers
# that mark to about half (SSIMULACRA2 74 -> 88 against its JPEG q90's 87.5), and WebP 50 takes it.
# The class's bar is over 24 images (eval.acceptance: 23 of 24).
_LOST_FOR_VISIBILITY = pytest.mark.xfail(strict=True, reason="rocket's sky at 1080p, lowered for visibility")
_LOST = {("rocket@1920x1080", "webp")}
_EVERYDAY_CASES = [pytest.param(name, attack, id=f"{name}-{attack}",
                                marks=_LOST_FOR_VISIBILITY if (name, attack.name) in _LOST else ())
                   for name in ("coffee", "rocket@1920x1080") for attack in EVERYDAY]


@pytest.mark.parametrize(("name", "attack"), _EVERYDAY_CASES)
def test_everyday_processing_keeps_the_exact_payload(marked, key, name, attack):
    result = wm.detect(attack(marked[name], seed=3), key)
    assert result.found and result.payload == PAYLOAD, result


@pytest.mark.parametrize("attack", HARD, ids=str)
@pytest.mark.parametrize("name", ["motorcycle_left", "retina"])
def test_hard_processing_keeps_the_exact_payload(marked, key, name, attack):
    result = wm.detect(attack(marked[name], seed=3), key)
    assert result.found and result.payload == PAYLOAD, result
