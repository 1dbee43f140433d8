"""The classical baselines (dwtdct, dwtdctsvd, spread): payload, JPEG 90, quality, honest p-values."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from skimage import data

import watermark as wm
from watermark import color, schemes
from watermark.schemes.dwtdct import DwtDctScheme
from watermark.schemes.dwtdctsvd import DwtDctSvdScheme
from watermark.schemes.spread import SpreadSpectrumScheme

BASELINES = {"dwtdct": DwtDctScheme, "dwtdctsvd": DwtDctSvdScheme, "spread": SpreadSpectrumScheme}
PAYLOAD = 0x0123_4567_89AB_CDEF
KEY = wm.Key(bytes(range(32)))
PHOTOS = {name: getattr(data, name)() for name in ("astronaut", "coffee", "chelsea")}
# Real photographs that ship with scikit-image, for the null: textures, text-free scenes, greys.
NULL_PHOTOS = ("camera", "moon", "brick", "grass", "gravel", "astronaut", "coffee", "rocket",
               "immunohistochemistry")


def _key(seed: int) -> wm.Key:
    return wm.Key(np.random.default_rng(seed).bytes(32))


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def _luma(image: np.ndarray) -> np.ndarray:
    pixels = image.astype(np.float32) / 255.0
    return color.luminance(pixels)


@pytest.fixture(scope="module", params=list(BASELINES))
def name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def marked(name) -> dict[str, np.ndarray]:
    return {photo: wm.embed(image, PAYLOAD, KEY, scheme=name) for photo, image in PHOTOS.items()}


def test_registry_returns_the_baseline(name):
    scheme = schemes.get(name)
    assert isinstance(scheme, BASELINES[name]) and scheme.name == name


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_payload_survives_no_attack_and_jpeg_90(name, marked, photo):
    image = marked[photo]
    assert image.shape == PHOTOS[photo].shape and image.dtype == np.uint8
    for suspect in (image, _jpeg(image, 90)):
        result = wm.detect(suspect, KEY, scheme=name)
        assert result.found and result.payload == PAYLOAD, result
        assert result.scheme == name and result.bits.shape == (80,)


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_psnr_at_strength_one(name, marked, photo):
    assert _psnr(PHOTOS[photo], marked[photo]) >= 38.0


def test_input_is_not_modified(name):
    photo = PHOTOS["coffee"].copy()
    wm.embed(photo, PAYLOAD, KEY, scheme=name)
    np.testing.assert_array_equal(photo, PHOTOS["coffee"])
    luma = _luma(photo)
    luma.setflags(write=False)
    residual = schemes.get(name).residual(luma, PAYLOAD, KEY)
    assert residual.shape == luma.shape and residual.dtype == np.float32


def test_strength_trades_quality_for_robustness(name):
    photo = PHOTOS["coffee"]
    psnrs, scores = [], []
    for strength in (0.5, 1.0, 2.0):
        image = wm.embed(photo, PAYLOAD, KEY, scheme=name, strength=strength)
        psnrs.append(_psnr(photo, image))
        scores.append(wm.detect(_jpeg(image, 50), KEY, scheme=name).score)
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert scores[0] < scores[1] < scores[2]


def test_min_size_holds_the_payload(name):
    side = schemes.get(name).min_size
    for photo in ("astronaut", "coffee"):
        crop = PHOTOS[photo][:side, :side]
        result = wm.detect(wm.embed(crop, PAYLOAD, KEY, scheme=name), KEY, scheme=name)
        assert result.payload == PAYLOAD, (photo, result)
    with pytest.raises(wm.ImageTooSmallError):
        wm.embed(PHOTOS["coffee"][:side - 1, :side - 1], PAYLOAD, KEY, scheme=name)
    assert not wm.detect(PHOTOS["coffee"][:side - 1], KEY, scheme=name).found


def test_odd_sizes_and_grey_images(name):
    side = schemes.get(name).min_size
    crop = PHOTOS["astronaut"][5:side + 48, 3:side + 61]     # odd height and width
    assert wm.detect(wm.embed(crop, PAYLOAD, KEY, scheme=name), KEY, scheme=name).payload == PAYLOAD
    grey = data.camera()
    assert wm.detect(wm.embed(grey, 7, KEY, scheme=name), KEY, scheme=name).payload == 7


def test_flat_and_noise_images_never_raise(name):
    side = schemes.get(name).min_size
    flat = np.full((side, side + 10), 128, dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (side + 7, side + 3, 3), dtype=np.uint8)
    for image in (flat, noise, np.zeros((side, side), dtype=np.uint8)):
        result = wm.detect(image, KEY, scheme=name)
        assert not result.found and 0.0 <= result.p_value <= 1.0 and result.payload is None


def test_wrong_key_is_not_found_and_calibrated(name, marked):
    p_values = [wm.detect(image, _key(100 + 20 * index + draw), scheme=name).p_value
                for index, image in enumerate(marked.values()) for draw in range(20)]
    assert min(p_values) > 1e-5
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3


def test_unmarked_photographs_are_calibrated(name):
    """Crops of unmarked photographs under several keys: p-values uniform, none found."""
    scheme = schemes.get(name)
    side = scheme.min_size
    lumas = []
    for photo in NULL_PHOTOS:
        luma = _luma(getattr(data, photo)())
        height, width = luma.shape
        for top in (0, height - side):
            for left in (0, width - side):
                lumas.append(luma[top:top + side, left:left + side])
    # a fresh key per sample: one key's dither or chips at a block index are shared by all crops
    p_values = np.array([scheme.detect(luma, _key(1000 + 7 * index + draw)).p_value
                         for index, luma in enumerate(lumas) for draw in range(7)])
    assert p_values.size >= 250
    assert p_values.min() > 1e-6
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3
    # a tail check the KS test is blind to: the 5 % tail holds about 5 % of the values
    assert 0.02 < np.mean(p_values < 0.05) < 0.09


@pytest.mark.parametrize("name", ["dwtdct", "spread"])
@pytest.mark.parametrize("short_side", [1023, 1024])
def test_a_file_is_read_at_the_schemes_own_analysis_size(tmp_path, name, short_side):
    """A baseline reads files at full size: the lattice scheme's 512 px working size would lose its mark."""
    import cv2

    big = cv2.resize(PHOTOS["astronaut"], (short_side * 3 // 2, short_side), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "marked.png"
    Image.fromarray(wm.embed(big, PAYLOAD, KEY, scheme=name)).save(path)
    assert wm.detect_file(path, KEY, scheme=name).payload == PAYLOAD


def test_the_lattice_scheme_states_its_working_size():
    assert schemes.get("dwtdct").analysis_short_side is None
    assert schemes.get("spread").analysis_shape((900, 900)) is None
    lattice = schemes.get("lattice")
    assert lattice.analysis_short_side == color.LARGEST_WORKING_SIDE
    assert lattice.analysis_shape((600, 900)) == (512, 768) and lattice.analysis_shape((400, 600)) is None
    assert lattice.analysis_shape((1024, 1536)) == (683, 1024) and lattice.analysis_shape((3000, 4000)) == (724, 965)
