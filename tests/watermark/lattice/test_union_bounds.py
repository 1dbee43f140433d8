"""Every p-value pays for every look it took: the search's lattices, two views, two layer looks, every
candidate payload."""

from types import SimpleNamespace

import cv2
import numpy as np

import watermark as wm
from tests.photos import photo
from watermark import coding, stats
from watermark.schemes.lattice import informed, scheme, sync
from watermark.schemes.lattice.layout import PILOT_WEIGHTINGS
from watermark.schemes.lattice.reading import _HYPOTHESES, _match
from watermark.schemes.lattice.scheme import LatticeScheme
from watermark.schemes.lattice.views import Reading, Suspect


def test_a_payload_matched_among_candidates_pays_for_every_candidate():
    rng = np.random.default_rng(3)
    soft = (2.0 * coding.encode(7) - 1.0) * 0.5 + rng.normal(0, 1, coding.encode(7).size)
    reading = Reading(p_value=1.0, z=0.0, soft=soft.astype(np.float32), payload=None, to_tile=np.eye(3), symmetry=0)
    candidates = [7] + [int(v) for v in rng.integers(0, 2**63, size=59)]
    matched = _match(reading, candidates, 1e-3, looks=2)
    z = coding.candidate_z(reading.soft, candidates)[0]
    assert matched.payload == 7 and matched.p_value == min(1.0, 2 * 60 * stats.normal_tail(float(z)))


def test_a_match_the_decoder_agrees_with_pays_for_both_looks():
    rng = np.random.default_rng(4)
    soft = (2.0 * coding.encode(7) - 1.0) * 0.8 + rng.normal(0, 1, coding.CODEWORD_BITS)
    for decoded in (1e-30, 1e-12):              # the decoder's p-value below or above the match's
        reading = Reading(p_value=decoded, z=0.0, soft=soft.astype(np.float32), payload=7, to_tile=np.eye(3),
                          symmetry=0)
        matched = _match(reading, [7, 8], 1e-3)
        z = float(coding.candidate_z(reading.soft, [7])[0])
        match = 2 * max(stats.normal_tail(z), coding.match_tail(reading.soft, z))
        assert matched.payload == 7 and matched.p_value == min(1.0, 2 * min(match, decoded)), (decoded, match)


def test_a_match_pays_the_null_s_own_tail_beside_another_payload_s_mark():
    """The match's p-value came from the normal tail, too thin where the reading holds another payload's
    mark the decoder did not read (the codewords' distances to it are not normal): a random candidate
    matched at a p 12 times too small at z 6 (python -m eval.match_null). Here: the best of 400,000
    random candidates, named at the normal tail's p and not at the null's own."""
    rng = np.random.default_rng(5)
    soft = 2.0 * (2.0 * coding.encode(0x5EED_0123_4567_89AB) - 1.0) + rng.normal(0, 1, coding.CODEWORD_BITS)
    reading = Reading(p_value=1.0, z=0.0, soft=soft.astype(np.float32), payload=None, to_tile=np.eye(3), symmetry=0)
    best, top = 0, -np.inf
    for _ in range(8):                               # 50,000 at a time: a few tens of MB
        bits = rng.integers(0, 2, (50_000, 64)).astype(np.float32)
        scores = coding.codewords(bits) @ reading.soft
        if scores.max() > top:
            top, best = float(scores.max()), int(coding.bits_to_int(bits[int(np.argmax(scores))].astype(np.uint8)))
    z = float(coding.candidate_z(reading.soft, [best])[0])
    normal, own = stats.normal_tail(z), coding.match_tail(reading.soft, z)
    assert own > 2 * normal, (z, own / normal)
    between = float(np.sqrt(normal * own))
    assert _match(reading, [best], between).payload is None       # the normal tail named it
    assert _match(reading, [best], 2 * own).payload == best


def test_the_per_copy_layer_p_pays_for_the_shifted_look_too(monkeypatch, key):
    """Where the pilot peaks off the identity the layer is read at both places: its p-value pays for two looks."""
    image = cv2.resize(photo("astronaut"), (768, 768), interpolation=cv2.INTER_AREA)
    marked = wm.embed(image, 0x1234, key)
    luma = np.asarray(cv2.cvtColor(np.asarray(marked), cv2.COLOR_RGB2GRAY), np.float32) / 255.0
    shifted = np.roll(luma, (2, 1), axis=(0, 1))       # a registration two pixels off: the pilot peaks away
    calls = []
    real = informed.candidate_scores
    monkeypatch.setattr(informed, "candidate_scores", lambda *a, **k: calls.append(1) or real(*a, **k))
    reading = wm.read_in_frame(shifted, key, [0x1234, 99, 100])
    assert len(calls) == 2, "the shifted look was not taken"
    for evidence in reading.candidates:
        assert evidence.p_value == min(1.0, 2 * 3 * stats.normal_tail(evidence.score))


def _marked_luma(key, side=(768, 512)):
    marked = wm.embed(cv2.resize(photo("coffee"), side, interpolation=cv2.INTER_AREA), 0x1234, key)
    return np.asarray(cv2.cvtColor(np.asarray(marked), cv2.COLOR_RGB2GRAY), np.float32) / 255.0


def test_the_blind_layer_p_pays_for_its_two_looks(monkeypatch, key):
    monkeypatch.setattr(informed, "verify", lambda *a, **k: SimpleNamespace(p_value=1e-13))
    detection = wm.detect(_marked_luma(key), key)
    assert detection.payload == 0x1234 and detection.verification_p_value == 2e-13


def test_a_read_inside_flat_borders_pays_for_its_two_views(key):
    luma = _marked_luma(key)
    framed = np.ones((luma.shape[0] * 2, luma.shape[1]), np.float32)          # a white 1:2 post around it
    top = luma.shape[0] // 2
    framed[top:top + luma.shape[0]] = luma
    lattice = LatticeScheme()
    whole = lattice.detect_keys(framed, [key])[0]
    inside = lattice._detect_in(Suspect(framed, framed.shape), key, 1e-9 / 2, None)
    assert whole.found and whole.p_value == min(1.0, 2.0 * inside.p_value)


def test_the_search_s_union_bound_counts_every_lattice_it_reads(monkeypatch, key):
    """An unmarked image: the blind read tries the identity, the search's candidates and the dewarped view;
    the p-value's union bound must count every one of them (with its symmetries, weightings and offsets)."""
    folds = []
    real = Suspect.folded
    monkeypatch.setattr(Suspect, "folded", lambda self, basis, *a: folds.append(1) or real(self, basis, *a))
    real_dewarped = scheme.read_dewarped
    monkeypatch.setattr(scheme, "read_dewarped", lambda *a: folds.append(1) or real_dewarped(*a))
    image = cv2.resize(photo("chelsea"), (768, 512), interpolation=cv2.INTER_AREA)
    assert not wm.detect(image, key).found
    per_lattice = len(sync.DIHEDRAL) * len(PILOT_WEIGHTINGS) * sync.TILE * sync.TILE
    assert len(folds) * per_lattice <= _HYPOTHESES, (len(folds), _HYPOTHESES // per_lattice)
