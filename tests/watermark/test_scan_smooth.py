"""``watermark scan`` on crops of a smooth, dark photograph: local features find few keypoints there, all
in one strip, and a homography fitted on them tilts the rest of the crop; the scan must still place the
crop where it was cut and attribute it (a real registry file, real JPEG files)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scenes import dark_band

from watermark import Key, scan_informed
from watermark.registry import Registry, issue_file
from watermark.scan import Scanner, ScanOptions
from watermark.sources import Source

X, Y = "Agence X", "Studio Y"
SIZE = (1280, 800)
CROPS = ((470, 294, 810, 506), (0, 0, 990, 620))     # x, y, width, height: 40 % and 60 % of the area


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(registry path, key, {recipient: (payload, issued pixels)}): two copies of a dark stormy sky."""
    root = tmp_path_factory.mktemp("smooth")
    key = Key.from_passphrase("smooth scan test key")
    Image.fromarray(dark_band(np.random.default_rng(0), SIZE)).save(root / "storm.png")
    copies = {}
    with Registry(root / "r.db", create=True) as registry:
        registry.add_key(key)
        for index, recipient in enumerate((X, Y)):
            output = root / f"{recipient.split()[-1]}.png"
            record = issue_file(registry, root / "storm.png", output, key, payload=0x5700_0000 + index,
                                recipient=recipient).record
            copies[recipient] = (record.payload, np.asarray(Image.open(output).convert("RGB")))
    return root / "r.db", key, copies


def _corner_error(geometry, box):
    """The largest distance, in the master's pixels, between where the row's geometry and the truth put
    the crop's corners."""
    x, y, width, height = box
    c, s = np.cos(np.radians(geometry["degrees"])), np.sin(np.radians(geometry["degrees"]))
    sx, sy = geometry["scale"]
    forward = np.array([[c, -s], [s, c]]) @ np.array([[sx, sx * geometry["shear"]], [0.0, sy]])
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], float)
    placed = corners @ np.linalg.inv(forward).T + geometry["offset"]
    return float(np.hypot(*(placed - corners - [x, y]).T).max())


@pytest.mark.parametrize("box", CROPS)
def test_a_crop_of_a_smooth_dark_photograph_is_attributed_where_it_was_cut(world, box, tmp_path, monkeypatch):
    registry, key, copies = world
    payload, pixels = copies[X]
    x, y, width, height = box
    path = tmp_path / "crop.jpg"
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels[y:y + height, x:x + width])).save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    reads = []
    read_in_frame = scan_informed.api.read_in_frame
    monkeypatch.setattr(scan_informed.api, "read_in_frame", lambda *a, **k: reads.append(1) or read_in_frame(*a, **k))
    scanner = Scanner(str(registry), [key], ScanOptions(partial=True))
    try:
        row = scanner(Source(str(path), str(path)))
    finally:
        scanner.close()
    assert row["status"] == "attributed" and row["record"]["recipient"] == X, row
    assert row["payload"] == f"{payload:#018x}"
    assert len(reads) == 1           # one informed read, at one place: its p-value pays for no other
    assert _corner_error(row["geometry"], box) < 1.5, row["geometry"]
