"""Reading one image with several keys: each key's detection is the one it gets alone, and the
geometric search, the dewarp and the folds of the plane they propose, which use no key, are made
once for all of them."""

import pytest
from photos import photo
from PIL import Image

import attacks
import watermark as wm
from watermark import api_files, imageio, schemes
from watermark.schemes.lattice import dewarp, search, sync

PAYLOAD = 0x0DD5_EED5_0F_C0FFEE


@pytest.fixture(scope="module")
def keys(key):
    return [wm.Key.from_passphrase("another studio"), key, wm.Key.from_passphrase("a third studio")]


def _summary(detection: wm.Detection) -> tuple:
    transform = None if detection.transform is None else detection.transform.tolist()
    return (detection.found, detection.payload, detection.p_value, detection.score, transform, detection.verified,
            detection.bits.tolist())


def _loaded(image, path):
    Image.fromarray(image).save(path)
    return imageio.load_image(path, reduce_to=schemes.get("lattice").analysis_short_side, luminance=True)


@pytest.mark.parametrize("attack", ["none", "rotation", "bending"])
def test_each_key_gets_the_detection_it_gets_alone(key, keys, attack, tmp_path):
    marked = wm.embed(photo("coffee"), PAYLOAD, key)
    suspect = {"none": lambda image: image,
               "rotation": lambda image: attacks.rotate(image, degrees=20, crop=True),
               "bending": lambda image: attacks.random_bending(image, seed=1)}[attack](marked)
    together = api_files.detect_loaded_keys(_loaded(suspect, tmp_path / "suspect.png"), keys)
    assert [_summary(d) for d in together] == [_summary(wm.detect_file(tmp_path / "suspect.png", k)) for k in keys]
    assert [d.payload for d in together] == [None, PAYLOAD, None]


def test_an_image_in_memory_is_read_with_several_keys_as_with_each(key, keys):
    rotated = attacks.rotate(wm.embed(photo("coffee"), PAYLOAD, key), degrees=20, crop=True)
    assert [_summary(d) for d in wm.detect_keys(rotated, keys)] == [_summary(wm.detect(rotated, k)) for k in keys]


def test_the_keyless_search_dewarp_and_folds_run_once_for_every_key(keys, monkeypatch, tmp_path):
    calls = {"search": 0, "dewarp": 0, "fold": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(search, "candidate_lattices", counted("search", search.candidate_lattices))
    monkeypatch.setattr(dewarp, "dewarped", counted("dewarp", dewarp.dewarped))
    monkeypatch.setattr(sync, "fold", counted("fold", sync.fold))
    assert not any(d.found for d in api_files.detect_loaded_keys(_loaded(photo("chelsea"), tmp_path / "cat.png"), keys))
    folds = calls["fold"]        # the identity, each lattice the search proposed, the dewarped view
    assert calls == {"search": 1, "dewarp": 1, "fold": folds} and folds >= 3
    for k in keys:
        wm.detect_file(tmp_path / "cat.png", k)
    assert calls == {"search": 1 + len(keys), "dewarp": 1 + len(keys), "fold": folds * (1 + len(keys))}


def test_no_key_reads_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(schemes.get("lattice"), "detect_keys", lambda *args, **kwargs: pytest.fail("read"))
    assert api_files.detect_loaded_keys(_loaded(photo("chelsea"), tmp_path / "cat.png"), []) == []
