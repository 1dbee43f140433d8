"""Make the golden marked images in tests/data/golden/ (run once; see below before running it again).

A mark that has been published must stay readable for good: a change of tile layout, band
weighting, coding or key derivation that the detector does not also read the old way would
silently orphan every copy already out there. ``tests/watermark/lattice/test_golden.py`` asserts
that today's detector still finds the exact payload, with a tiny p-value, in files marked by the
code as it stood when this script was run:

- ``coffee-marked.png``      a 256 x 256 crop of scikit-image's ``coffee`` (CC0, Rachel Michetti),
                             RGB, marked by the lattice scheme at default strength
- ``coffee-marked-q75.jpg``  the same pixels saved as a JPEG of quality 75 (Pillow, 4:2:0)
- ``golden.json``            the key's passphrase, the payload, the scheme and the version

Those files were made before the mark had a per-copy layer (the one ``watermark scan`` needs to
attribute a copy), so they pin the periodic layer only. A second set, made with ``--set
copy-layer`` when the layer's layout was pinned, holds it:

- ``coffee-1080-marked-q75.jpg``  scikit-image's ``coffee`` resized to 1920 x 1080 (Lanczos),
                                  marked at the default strength, saved as a JPEG of quality 75
- ``copy-layer.json``             its passphrase, payload, scheme and version

The key is a passphrase key made public here on purpose: a test key, never one to mark with.

When to regenerate: never. A detector that fails the golden test has broken compatibility with
published marks; fix the detector, not the files. The one exception is a new scheme version that
changes the mark *and still reads this one* (for instance a new key-stream purpose or layout
version next to the old): then keep these files and their test, and add the new version's golden
files and test beside them, so that both stay pinned.

Usage: ``python tests/data/make_golden.py --set periodic|copy-layer [--into DIRECTORY]`` (writes
``tests/data/golden/``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image

import watermark as wm

HERE = Path(__file__).resolve().parent / "golden"
PASSPHRASE = "filigrane golden test key (public, test only)"
PAYLOAD = 0x601D_F11E_0000_0001
COPY_LAYER_PAYLOAD = 0x601D_F11E_0000_0002
SCHEME = "lattice"
JPEG_QUALITY = 75


def photograph() -> np.ndarray:
    """The host: a 256 x 256 crop of scikit-image's ``coffee`` (uint8 RGB)."""
    from skimage import data

    return np.ascontiguousarray(data.coffee()[72:328, 172:428])


def periodic(folder: Path) -> None:
    """The first set: a 256 px crop, lossless and JPEG 75, and ``golden.json``."""
    marked = wm.embed(Image.fromarray(photograph()), PAYLOAD, wm.Key.from_passphrase(PASSPHRASE), scheme=SCHEME)
    marked.save(folder / "coffee-marked.png", optimize=True)
    marked.save(folder / "coffee-marked-q75.jpg", quality=JPEG_QUALITY)
    record = {"passphrase": PASSPHRASE, "payload": f"{PAYLOAD:#018x}", "scheme": SCHEME,
              "made_with": f"filigrane {version('filigrane')}",
              "files": {"coffee-marked.png": "lossless", "coffee-marked-q75.jpg": f"JPEG quality {JPEG_QUALITY}"}}
    (folder / "golden.json").write_text(json.dumps(record, indent=2) + "\n")


def copy_layer(folder: Path) -> None:
    """The second set: ``coffee`` at 1920 x 1080, JPEG 75, whose per-copy layer a blind read verifies."""
    from skimage import data

    host = Image.fromarray(data.coffee()).resize((1920, 1080), Image.Resampling.LANCZOS)
    marked = wm.embed(host, COPY_LAYER_PAYLOAD, wm.Key.from_passphrase(PASSPHRASE), scheme=SCHEME)
    marked.save(folder / "coffee-1080-marked-q75.jpg", quality=JPEG_QUALITY)
    record = {"passphrase": PASSPHRASE, "payload": f"{COPY_LAYER_PAYLOAD:#018x}", "scheme": SCHEME,
              "made_with": f"filigrane {version('filigrane')} at commit {_commit()}",
              "files": {"coffee-1080-marked-q75.jpg": f"JPEG quality {JPEG_QUALITY}"}}
    (folder / "copy-layer.json").write_text(json.dumps(record, indent=2) + "\n")


def _commit() -> str:
    """The repository's commit (every unreleased revision is version 0.1.0)."""
    here = Path(__file__).resolve().parent
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                          check=True).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, choices=["periodic", "copy-layer"], help="which golden set to make")
    parser.add_argument("--into", type=Path, default=HERE, help="directory to write (default: %(default)s)")
    args = parser.parse_args(argv)
    args.into.mkdir(parents=True, exist_ok=True)
    (periodic if args.set == "periodic" else copy_layer)(args.into)


if __name__ == "__main__":
    main()
