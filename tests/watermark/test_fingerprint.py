"""Whole-image perceptual hash and its index; master prints and the partial-copy index."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import watermark as wm
from eval import suspects
from tests.photos import PHOTO_NAMES, photo, rgb8_photo
from watermark.color import luminance
from watermark.featureindex import FeatureIndex
from watermark.features import PRINT_LIMIT, MasterPrint, master_print, suspect_features
from watermark.fingerprint import MAX_DISTANCE, hamming, perceptual_hash
from watermark.hashindex import HashIndex

OTHER_PHOTOS = ("camera", "moon", "coins", "brick", "grass", "gravel", "page", "text", "cell", "clock")


def _golden_image() -> np.ndarray:
    y, x = np.mgrid[0:240, 0:320] / 40.0
    return (127 + 60 * np.sin(x) * np.cos(y / 2) + 40 * np.cos(x * y / 5)).astype(np.uint8)


def test_the_hash_never_changes():
    # Registries store this hash: if it changes, their near-duplicate lookups miss. Version it instead.
    assert hamming(perceptual_hash(_golden_image()), 0x_8935_CE7D_E1E6_B7DE) <= 1


@pytest.mark.parametrize("name", PHOTO_NAMES[:4])
def test_flips_and_quarter_turns_give_the_same_hash(name):
    image = photo(name)
    reference = perceptual_hash(image)
    for turned in (image[:, ::-1], image[::-1], np.rot90(image), np.rot90(image, 2), np.rot90(image, 3),
                   image.transpose(1, 0, 2)):
        assert hamming(perceptual_hash(np.ascontiguousarray(turned)), reference) <= 1


@pytest.mark.parametrize("change", ["jpeg 30", "resize 0.25", "resize 2", "blur 1.5", "brightness -30",
                                    "contrast 1.3", "rotate 90 + jpeg 50 + half"])
def test_copies_stay_within_the_threshold(change):
    for name in PHOTO_NAMES:
        image = photo(name)
        assert hamming(perceptual_hash(suspects.WHOLE_IMAGE[change](image)), perceptual_hash(image)) <= MAX_DISTANCE


def test_unrelated_pictures_stay_beyond_the_threshold():
    photos = [photo(name) for name in PHOTO_NAMES] + [rgb8_photo(name) for name in OTHER_PHOTOS]
    tiles = suspects.unrelated_tiles(photos, sizes=(128, 192, 256))
    owners = np.array([owner for owner, _ in tiles])
    hashes = np.array([perceptual_hash(tile) for _, tile in tiles], dtype=np.uint64)
    distances = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    different = owners[:, None] != owners[None, :]
    assert different.sum() // 2 >= 1000
    assert distances[different].min() > MAX_DISTANCE


def test_the_hash_takes_any_layout():
    image = photo("coffee")
    grey16 = (luminance(image.astype(np.float32) / 255) * 65535).astype(np.uint16)
    assert hamming(perceptual_hash(grey16), perceptual_hash(image)) <= 2


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), distance=st.integers(0, 12))
def test_hash_index_finds_exactly_what_brute_force_finds(seed, distance):
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    query = int(hashes[0]) ^ int(sum(1 << int(b) for b in rng.choice(64, distance, replace=False)))
    hashes[1:40] = [query ^ int(sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 14)), replace=False)))
                    for _ in range(39)]
    index = HashIndex(np.arange(3000) * 7, hashes)
    brute = np.bitwise_count(hashes ^ np.uint64(query))
    expected = sorted(((int(i) * 7, int(brute[i])) for i in np.flatnonzero(brute <= MAX_DISTANCE)),
                      key=lambda pair: (pair[1], pair[0]))
    assert index.query(query, max_distance=MAX_DISTANCE) == expected


def test_print_round_trips_within_its_budget():
    for name in ("astronaut", "immunohistochemistry", "hubble_deep_field"):
        made = master_print(photo(name))
        blob = made.to_bytes()
        assert len(blob) <= PRINT_LIMIT
        back = MasterPrint.from_bytes(blob)
        assert (back.width, back.height) == (photo(name).shape[1], photo(name).shape[0])
        assert np.abs(back.features.points - made.features.points).max() <= 1 / 16
        assert np.abs(back.features.descriptors - made.features.descriptors).max() < 0.01
        assert back.thumbnail_image().shape[2] == 3 and max(back.thumbnail_image().shape) == 192


def test_print_refuses_garbage():
    with pytest.raises(wm.InvalidImageError, match="not a Filigrane master print"):
        MasterPrint.from_bytes(b"garbage")


def test_partial_copy_index_puts_the_master_first():
    index = FeatureIndex.from_prints((i, master_print(photo(name))) for i, name in enumerate(PHOTO_NAMES))
    fillers = [rgb8_photo(name) for name in OTHER_PHOTOS]
    for i, name in enumerate(PHOTO_NAMES[:4]):
        crop = suspect_features(suspects.crop_area(photo(name), fraction=0.15, seed=i))
        assert index.candidates(crop)[0][0] == i
        board = suspect_features(suspects.collage(photo(name), fillers, grid=2, seed=i))
        assert index.candidates(board)[0][0] == i


def test_every_registered_photograph_of_a_3x3_collage_is_a_candidate():
    # nine masters in one suspect: all must be among the candidates, ahead of the others' chance votes
    others = [rgb8_photo(name) for name in OTHER_PHOTOS]
    masters = [photo(name) for name in PHOTO_NAMES] + others
    index = FeatureIndex.from_prints((i, master_print(image)) for i, image in enumerate(masters))
    board = suspect_features(suspects.collage(masters[0], masters[1:9], grid=3, scale=0.5, seed=3))
    assert set(range(9)) <= {master for master, _ in index.candidates(board)}


def test_masters_added_by_codes_vote_as_those_added_by_descriptors():
    from watermark.features import Features

    rng = np.random.default_rng(4)
    masters = [np.abs(rng.normal(size=(400, 128))).astype(np.float32) for _ in range(300)]
    masters = [m / np.linalg.norm(m, axis=1, keepdims=True) for m in masters]
    direct, coded = FeatureIndex(), FeatureIndex()
    for i, descriptors in enumerate(masters[:260]):              # 104,000 descriptors: the whitening is fitted
        direct.add(i, Features(np.zeros((400, 2), np.float32), descriptors, 1, 1))
        coded.add(i, Features(np.zeros((400, 2), np.float32), descriptors, 1, 1))
    for i, descriptors in enumerate(masters[260:], start=260):
        direct.add(i, Features(np.zeros((400, 2), np.float32), descriptors, 1, 1))
        coded.add_codes(i, coded.codes(descriptors))
    query = Features(np.zeros((100, 2), np.float32), masters[280][:100], 1, 1)
    direct_votes, coded_votes = direct.build().votes(query), coded.build().votes(query)
    assert np.array_equal(direct_votes.near, coded_votes.near)
    assert np.array_equal(direct_votes.shared, coded_votes.shared)
    assert direct.candidates(query)[0][0] == 280


def test_threads_computing_prints_at_once_get_what_one_alone_gets():
    """A service's probe: every thread shared one OpenCV CLAHE object, which keeps scratch state between
    calls; prints computed at once by several threads differed from the serial ones (or raised), and a
    registry shared by threads stored a wrong print for good."""
    from concurrent.futures import ThreadPoolExecutor

    from watermark.threads import one_thread

    pictures = [np.asarray(photo(name))[::step, ::step] for name in PHOTO_NAMES[:4] for step in (1, 2)]

    def features(picture):
        found = suspect_features(picture)
        return found.points.tobytes() + found.descriptors.tobytes()

    with one_thread():                           # one thread per call, as the README asks: the serial run is fixed
        alone = [features(picture) for picture in pictures]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(features, pictures * 4))
    assert [index for index, found in enumerate(together) if found != alone[index % len(pictures)]] == []
