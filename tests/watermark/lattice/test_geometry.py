"""Blind synchronisation: the exact payload after geometric attacks, and the transform that was undone.

``python -m eval.acceptance`` measures the rates over 24 images; these tests pin the behaviour on
real photographs and check ``Detection.geometry`` against the attacks' known parameters.
"""

import tracemalloc

import cv2
import numpy as np
import pytest
from photos import photo

import attacks
import watermark as wm

PAYLOAD = 0xFEED_FACE_0BAD_CAFE

GEOMETRIC = [
    attacks.attack("rotate", degrees=-30), attacks.attack("rotate", degrees=45),
    attacks.attack("rotate", degrees=170), attacks.attack("rotate", degrees=15, crop=True),
    attacks.attack("rotate", degrees=-2, scale=True), attacks.attack("rot90", k=1), attacks.attack("rot90", k=2),
    attacks.attack("flip", axis="horizontal"), attacks.attack("flip", axis="vertical"),
    attacks.attack("crop", percent=50, position="top-left"),
    attacks.attack("crop", percent=50, position="bottom-right"),
    attacks.attack("crop", percent=70, position="random"),
    attacks.chain(attacks.attack("rescale", factor=1.5), attacks.attack("crop", percent=70)),
    attacks.chain(attacks.attack("rescale", factor=0.6), attacks.attack("crop", percent=80)),
    attacks.attack("aspect", x=1.0, y=0.75), attacks.attack("aspect", x=1.33, y=1.0),
    attacks.attack("shear", x=10.0, y=0.0), attacks.attack("shear", x=0.0, y=5.0),
    attacks.attack("affine", matrix=(1.013, 0.008, 0.011, 1.008)), attacks.attack("affine", matrix=(1, 0.05, 0, 1)),
    attacks.attack("translate", dx=37, dy=-21), attacks.attack("remove_lines", every=100),
    attacks.chain(attacks.attack("rotate", degrees=5, crop=True), attacks.attack("crop", percent=87),
                  attacks.attack("jpeg", quality=50)),
    attacks.chain(attacks.attack("rescale", factor=0.75), attacks.attack("crop", percent=71),
                  attacks.attack("jpeg", quality=75)),
]


@pytest.fixture(scope="module")
def marked(key):
    return {name: wm.embed(photo(name), PAYLOAD, key) for name in ("rocket", "retina")}


@pytest.mark.parametrize("attack", GEOMETRIC, ids=str)
@pytest.mark.parametrize("name", ["rocket", "retina"])
def test_geometric_attacks_keep_the_exact_payload(marked, key, name, attack):
    result = wm.detect(attack(marked[name], seed=4), key)
    assert result.found and result.payload == PAYLOAD, result


@pytest.mark.parametrize("degrees", [-150.0, -30.0, 1.0, 10.0, 90.0, 135.0])
def test_geometry_reports_the_rotation(marked, key, degrees):
    image = marked["rocket"]
    rotated = attacks.rotate(image, degrees=degrees)
    geometry = wm.detect(rotated, key, marked_shape=image.shape[:2]).geometry
    assert abs((geometry.degrees - degrees + 180) % 360 - 180) < 0.3
    assert not geometry.flipped and abs(geometry.shear) < 0.01
    if rotated.shape == image.shape:       # the canvas kept its size: the suspect's own size is the marked one
        assert wm.detect(rotated, key).geometry.scale == pytest.approx((1.0, 1.0), rel=0.01)


@pytest.mark.parametrize("axis, degrees", [("horizontal", 0.0), ("vertical", 180.0)])
def test_geometry_reports_a_flip(marked, key, axis, degrees):
    geometry = wm.detect(attacks.flip(marked["rocket"], axis=axis), key).geometry
    assert geometry.flipped and abs((geometry.degrees - degrees + 180) % 360 - 180) < 0.3


@pytest.mark.parametrize("size", [(300, 450), (427, 640), (1200, 1800)])
def test_an_untouched_copy_reads_as_the_identity_at_any_size(key, size):
    image = wm.embed(cv2.resize(photo("rocket"), size[::-1], interpolation=cv2.INTER_AREA), PAYLOAD, key)
    result = wm.detect(image, key)
    geometry = result.geometry
    assert geometry.scale == pytest.approx((1.0, 1.0), abs=2e-3) and abs(geometry.degrees) < 0.05
    assert not geometry.flipped and abs(geometry.shear) < 1e-3 and geometry.offset == pytest.approx((0, 0), abs=0.5)
    np.testing.assert_allclose(result.transform, [[1, 0, 0], [0, 1, 0]], atol=2e-3)
    assert str(geometry) == "rotated 0.00 deg, scaled 1 x 1, shear 0, offset (0.0, 0.0)"


def test_geometry_text_has_no_negative_zero():
    geometry = wm.Geometry(degrees=-0.001, scale=(0.99999, 1.0), shear=-1e-7, flipped=False, offset=(-0.01, 3.0))
    assert "-0" not in str(geometry) and str(geometry).startswith("rotated 0.00 deg, scaled 1 x 1, shear 0,")


@pytest.mark.parametrize("factor", [0.5, 1.7])
def test_a_resized_copy_reads_its_scale_against_the_marked_size(marked, key, factor):
    image = marked["rocket"]
    resized = attacks.rescale(image, factor=factor)
    assert wm.detect(resized, key, marked_shape=image.shape[:2]).geometry.scale == pytest.approx((factor, factor),
                                                                                                  rel=0.01)
    assert wm.detect(resized, key).geometry.scale == pytest.approx((1.0, 1.0), rel=0.01)   # blind: its own size


@pytest.mark.parametrize("factor", [0.6, 1.7])
def test_geometry_reports_the_scale_after_a_crop(marked, key, factor):
    image = marked["rocket"]
    scaled = wm.detect(attacks.chain(attacks.attack("rescale", factor=factor),
                                     attacks.attack("crop", percent=80))(image), key, marked_shape=image.shape[:2])
    assert scaled.geometry.scale == pytest.approx((factor, factor), rel=0.01)


def test_geometry_reports_aspect_and_shear(marked, key):
    image = marked["rocket"]
    squeezed = wm.detect(attacks.aspect(image, x=1.0, y=0.8), key).geometry
    assert squeezed.scale[1] / squeezed.scale[0] == pytest.approx(0.8, rel=0.01)
    height, width = image.shape[:2]
    sheared = wm.detect(attacks.shear(image, x=10.0, y=0.0), key).geometry
    assert sheared.shear == pytest.approx(0.10 * width / height, abs=0.01)


@pytest.mark.parametrize("dx, dy", [(37, -21), (-5, 60)])
def test_geometry_reports_the_offset(marked, key, dx, dy):
    image = marked["retina"]                      # 1411 px: the tile's period is 128 * 1411 / 724 px
    period = 128 * image.shape[0] / 724
    geometry = wm.detect(attacks.translate(image, dx=dx, dy=dy), key).geometry
    expected = np.mod([-dx, -dy], period)
    assert np.abs((np.array(geometry.offset) - expected + period / 2) % period - period / 2).max() < 2.0


def test_transform_maps_the_suspect_onto_the_marked_image(marked, key):
    image = marked["rocket"]
    half = attacks.rescale(image, factor=0.5)
    transform = wm.detect(half, key, marked_shape=image.shape[:2]).transform
    np.testing.assert_allclose(transform[:, :2], np.eye(2) * 2, atol=0.02)   # a pixel of the half is two
    assert wm.detect(attacks.jpeg(image, quality=95), key).geometry.degrees == pytest.approx(0, abs=0.05)


@pytest.mark.parametrize("percent", [5, 20])
def test_a_crop_too_small_for_the_mark_is_not_found_and_not_an_error(marked, key, percent):
    result = wm.detect(attacks.crop(marked["rocket"], percent=percent), key)      # 21 and 85 px high
    assert not result.found and result.p_value > 1e-3 and result.geometry is None


def test_a_crop_of_a_few_tiles_is_still_read(marked, key):
    result = wm.detect(attacks.crop(marked["rocket"], percent=30), key)          # 128 x 192 px: 1.5 tiles
    assert result.found and result.payload == PAYLOAD


def test_a_panorama_is_searched_on_its_central_part(key):
    panorama = wm.embed(np.ascontiguousarray(np.tile(photo("rocket"), (1, 3, 1))), PAYLOAD, key)   # 427 x 1920 px
    result = wm.detect(attacks.rotate(panorama, degrees=5, crop=True), key)
    assert result.found and result.payload == PAYLOAD
    assert abs(result.geometry.degrees - 5.0) < 0.3


def test_a_thin_strip_is_searched_and_dewarped_on_its_central_part_and_not_found(key, monkeypatch):
    from watermark.schemes.lattice import dewarp, search, sync

    seen = {"search": [], "dewarp": []}
    lag_map, estimate_field = search.LagMap, dewarp.estimate_field
    monkeypatch.setattr(search, "LagMap",
                        lambda plane, *args: seen["search"].append(plane.shape) or lag_map(plane, *args))
    monkeypatch.setattr(dewarp, "estimate_field", lambda residual, **options: seen["dewarp"].append(residual.shape)
                        or estimate_field(residual, **options))
    strip = np.ascontiguousarray(np.tile(photo("rocket"), (1, 10, 1))[:128])          # 128 x 6400 px
    assert not wm.detect(strip, key).found
    assert seen["search"] == seen["dewarp"] == [(512, 3 * 512)]                        # not 512 x 25600
    assert sync.MAX_ASPECT == 3.0


def test_a_banner_costs_a_blind_read_no_more_than_a_photograph(key):
    """A 130 x 20000 px banner's working view, its short side scaled up to the working side, was a
    512 x 79000 px plane: 5 GB and tens of seconds for one unmarked file of a crawl (a probe's denial
    of service). Its leading part of at most 8:1 is read (a 512 x 4096 px plane, twice a 1080p
    photograph's): memory within three times the photograph's."""
    banner = np.ascontiguousarray(np.tile(photo("rocket"), (1, 40, 1))[:130, :20000])
    photograph = cv2.resize(photo("coffee"), (1920, 1080))
    peaks = []
    for image in (photograph, banner):
        tracemalloc.start()
        try:
            assert not wm.detect(image, key).found
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < 3 * peaks[0], peaks


def test_a_marked_strip_is_read_on_its_leading_part_per_copy_layer_too(key):
    strip = wm.embed(np.ascontiguousarray(np.tile(photo("coffee"), (1, 6, 1))[:300, :3000]), PAYLOAD, key)
    result = wm.detect(attacks.jpeg(strip, quality=85), key)
    assert result.payload == PAYLOAD and result.verified


@pytest.mark.parametrize("size", [(1200, 900), (4000, 3000)])
def test_an_untouched_large_file_is_read_where_the_mark_was_put(key, monkeypatch, tmp_path, size):
    # The working side grows with the image (600 px at 900 px, 724 px at 3000): the detector, which
    # decodes a 4000x3000 JPEG at 1000x750, must take it from the file's own size, or it needs the search.
    from watermark.schemes.lattice import search

    path = tmp_path / "marked.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(wm.embed(cv2.resize(photo("coffee"), size), PAYLOAD, key), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 95])
    monkeypatch.setattr(search, "candidate_lattices", lambda *args, **kwargs: pytest.fail("searched"))
    result = wm.detect_file(path, key)
    assert result.payload == PAYLOAD and result.geometry.scale == pytest.approx((1.0, 1.0), abs=2e-3)   # px rounding
