"""Peer adapters (optional extra ``peers``): they run whenever the libraries are installed.

Run them alone with ``pytest -m peers``. Without the libraries each test skips with the install
command; the clean "skipped" path of the command line is tested in test_eval_cli.py.
"""

from __future__ import annotations

import math
import multiprocessing

import numpy as np
import pytest

from eval import contenders, images, metrics, peers, runner
from watermark import coding

pytestmark = pytest.mark.peers

_NEEDS = {"peer:imwatermark-dwtDct": "imwatermark", "peer:imwatermark-dwtDctSvd": "imwatermark",
          "peer:blind-watermark": "blind_watermark"}


def _peer(name):
    try:
        return contenders.get(name)
    except peers.PeerUnavailableError as exc:
        pytest.skip(f"{exc}")


@pytest.mark.parametrize("name", peers.names())
def test_peer_round_trip_and_null(name, small_photo):
    peer = _peer(name)
    image = np.ascontiguousarray(small_photo("astronaut"))   # imwatermark's dwtDct misreads coffee's chroma
    key = contenders.bench_key(0)
    payload = contenders.payload_for("astronaut", 0, peer.payload_bits)
    marked = peer.embed(image, payload, key)
    assert marked.shape == image.shape and marked.dtype == np.uint8 and metrics.psnr(image, marked) > 30
    reading = peer.read(marked, key, payload)
    truth = coding.int_to_bits(payload, peer.payload_bits)
    assert metrics.bit_accuracy(reading.bits, truth) >= 0.9
    unmarked = peer.read(image, key, payload)
    assert not unmarked.found and 0.0 < unmarked.p_value <= 1.0 and math.isfinite(unmarked.score)


def test_blind_watermark_leaves_the_start_method_and_stdout_alone(capsys):
    before = multiprocessing.get_start_method(allow_none=True)
    _peer("peer:blind-watermark")
    assert multiprocessing.get_start_method(allow_none=True) == before
    assert capsys.readouterr().out == ""


def test_peers_run_beside_filigrane_in_worker_processes(photo_dir, tiny_suite):
    installed = peers.available()
    if not installed:
        pytest.skip("no peer library installed: pip install '.[peers]'")
    rows = runner.run(["dwtdct", *installed], images.images_from(photo_dir)[:1], tiny_suite[:1], unmarked=1,
                      jobs=2, progress=False)
    assert [r.error for r in rows] == [""] * len(rows)
    assert {r.scheme: r.payload_bits for r in rows} == {"dwtdct": 64, **{
        name: contenders.get(name).payload_bits for name in installed}}


def test_known_message_p_value_is_the_binomial_tail():
    assert peers.known_message_reading(coding.int_to_bits(0xABCD, 32), 0xABCD, 32).found   # p = 2**-32
    bits = coding.int_to_bits(0xABCD, 16)
    reading = peers.known_message_reading(bits, 0xABCD, 16)
    assert reading.p_value == pytest.approx(2.0 ** -16) and reading.payload == 0xABCD
    assert not reading.found                 # 16 bits can never reach p <= 1e-9
    flipped = bits.copy()
    flipped[:2] ^= 1
    reading = peers.known_message_reading(flipped, 0xABCD, 16)
    assert reading.p_value == pytest.approx((1 + 16 + 120) / 2 ** 16) and not reading.found
    assert reading.score == pytest.approx((2 * 14 - 16) / 4)
    assert peers.known_message_reading(None, 1, 16).p_value == 1.0
