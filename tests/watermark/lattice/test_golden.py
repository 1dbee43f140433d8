"""Marks already published stay readable: golden files marked by an earlier version still decode.

The files and the script that made them are in tests/data/ (``make_golden.py`` says when, if ever,
they may be made again). If this test fails, a change has orphaned every mark made so far: make
the detector read the old marks too, never regenerate the files to make it pass.
"""

import json
from pathlib import Path

import pytest

import watermark as wm

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
RECORD = json.loads((GOLDEN / "golden.json").read_text())
COPY_LAYER = json.loads((GOLDEN / "copy-layer.json").read_text())


@pytest.mark.parametrize("name, most", [("coffee-marked.png", 1e-20), ("coffee-marked-q75.jpg", 1e-9)])
def test_golden_files_still_decode_to_their_payload(name, most):
    result = wm.detect_file(GOLDEN / name, wm.Key.from_passphrase(RECORD["passphrase"]), scheme=RECORD["scheme"])
    assert result.found and result.payload == int(RECORD["payload"], 16), result
    assert result.p_value < most, result


def test_golden_files_are_not_found_under_another_key():
    result = wm.detect_file(GOLDEN / "coffee-marked.png", wm.Key.from_passphrase("not the golden key"))
    assert not result.found and result.payload is None


def test_the_per_copy_layer_of_a_golden_copy_still_verifies():
    """The layer a scan's attribution needs (a probe found copies issued by earlier, unreleased
    revisions read `unverified` today: nothing pinned it)."""
    key = wm.Key.from_passphrase(COPY_LAYER["passphrase"])
    result = wm.detect_file(GOLDEN / "coffee-1080-marked-q75.jpg", key, scheme=COPY_LAYER["scheme"])
    assert result.payload == int(COPY_LAYER["payload"], 16) and result.p_value < 1e-40, result
    assert result.verified is True and result.verification_p_value < 1e-10, result
