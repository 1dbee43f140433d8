"""A copy posted whole in a frame of another shape (a 16:9 picture in a 4:5 frame, a letterbox): read
inside its flat borders, by `watermark detect` and by the scan, which attributes it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from photos import photo
from PIL import Image
from scan_setup import run

import attacks
import watermark as wm
from watermark import Key
from watermark.borders import inside
from watermark.cli import main
from watermark.registry import Registry

PAYLOAD = 0x5EED_CAFE


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    """A 16:9 master issued to Agence X, and its copy posted in a 4:5 white frame and as a letterbox."""
    root = tmp_path_factory.mktemp("framed")
    coffee = photo("coffee")
    master = cv2.resize(coffee[31:369], (1280, 720), interpolation=cv2.INTER_CUBIC)      # 600x338: 16:9
    Image.fromarray(master).save(root / "master.png")
    Key.generate().save(root / "studio.key")
    Registry(root / "r.db", create=True).close()
    assert main(["embed", str(root / "master.png"), "-o", str(root / "copy.png"), "--key", str(root / "studio.key"),
                 "--registry", str(root / "r.db"), "--recipient", "Agence X"]) == 0
    copy = np.asarray(Image.open(root / "copy.png"))
    for name, ratio, fill in (("frame.jpg", 0.8, "white"), ("letterbox.jpg", 0.5625, "black")):
        Image.fromarray(attacks.canvas(copy, ratio=ratio, fill=fill, side=1080)).save(root / name, quality=85)
    return root


def test_the_picture_inside_flat_borders_is_found_and_an_image_without_them_has_none(posted):
    framed = np.asarray(Image.open(posted / "frame.jpg").convert("L"), dtype=np.float32) / 255
    top, bottom, left, right = inside(framed)
    assert framed.shape == (1080, 864) and abs(top - 297) <= 2 and abs(bottom - 783) <= 2 and (left, right) == (0, 864)
    assert inside(np.asarray(Image.open(posted / "master.png").convert("L"), dtype=np.float32) / 255) is None
    assert inside(np.ones((1, 800), np.float32)) is None and inside(np.zeros((800, 3), np.float32)) is None


@pytest.mark.parametrize("name", ["frame.jpg", "letterbox.jpg"])
def test_a_framed_copy_is_read_blind_and_attributed_by_the_scan(posted, name):
    key = Key.load(posted / "studio.key")
    issued = wm.detect_file(posted / "copy.png", key).payload
    detected = wm.detect_file(posted / name, key)
    assert detected.payload == issued and detected.p_value < 1e-6
    result = run("scan", posted / name, "--registry", posted / "r.db", "--key", posted / "studio.key", "--json",
                 check=0)
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["status"] == "attributed", row
    assert row["record"]["recipient"] == "Agence X" and row["payload"] == f"{issued:#018x}"
