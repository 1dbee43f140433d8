"""A scan's world, shared by the scan tests: a key, a registry, three masters issued to two
recipients, and a crawl of what a user would find; and the plain scan of that crawl."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
from photos import photo
from PIL import Image

import attacks
from watermark import Key
from watermark.cli import main
from watermark.registry import Registry

MASTERS = ("astronaut", "coffee", "rocket")


def run(*args, check=None, **options):
    result = subprocess.run([sys.executable, "-m", "watermark", *map(str, args)], capture_output=True, text=True,
                            **options)
    if check is not None:
        assert result.returncode == check, result.stderr
    return result


def _save(array, path):
    Image.fromarray(array).save(path)
    return path


def build(root):
    """Make the world under ``root``; returns ``root``."""
    (root / "masters").mkdir()
    for name in MASTERS:
        _save(cv2.resize(photo(name), (1024, 768), interpolation=cv2.INTER_AREA), root / "masters" / f"{name}.png")
    key = root / "studio.key"
    Key.generate().save(key)                    # as ``keygen`` and ``registry init`` do, in this process
    Registry(root / "r.db", create=True).close()
    for recipient, out in (("Agence X", "x"), ("Studio Y", "y")):   # the command, in this process
        assert main(["embed", *map(str, (root / "masters", "-o", root / out, "--key", key, "--registry",
                                          root / "r.db")), "--recipient", recipient, "--meta", "licence=7"]) == 0
    crawl = root / "crawl"
    crawl.mkdir()

    def issued(who, name):
        return np.asarray(Image.open(root / who / f"{name}.png"))

    (crawl / "exact.png").write_bytes((root / "x" / "rocket.png").read_bytes())
    (crawl / "master.png").write_bytes((root / "masters" / "coffee.png").read_bytes())
    attacked = attacks.chain(attacks.attack("rotate", degrees=4, crop=True), attacks.attack("jpeg", quality=75))
    _save(attacked(issued("y", "coffee")), crawl / "coffee-rotated.png")
    resized = cv2.resize(issued("x", "astronaut"), (800, 600), interpolation=cv2.INTER_AREA)
    Image.fromarray(resized).save(crawl / "astronaut-small.jpg", quality=85)
    unrelated = cv2.resize(photo("chelsea"), (1024, 768), interpolation=cv2.INTER_AREA)
    _save(attacks.copy_mark(unrelated, source=issued("x", "astronaut")), crawl / "forged.png")
    # a fellow recipient frames another: Y's copy, its own layers denoised away, with X's periodic mark
    # pasted; and the same mark pasted on the master, as if it had leaked
    denoised = attacks.denoise(issued("y", "rocket"), strength=10)
    _save(attacks.copy_mark(denoised, source=issued("x", "rocket")), crawl / "framed.png")
    master = np.asarray(Image.open(root / "masters" / "rocket.png"))
    _save(attacks.copy_mark(master, source=issued("x", "rocket")), crawl / "leaked-master.png")
    _save(cv2.resize(photo("motorcycle_left"), (900, 600)), crawl / "unrelated.png")
    (crawl / "broken.jpg").write_bytes((root / "x" / "coffee.png").read_bytes()[:2000])
    return root


def scan_crawl(world, folder):
    """Run ``watermark scan --json`` on ``world``'s crawl, as a user would; keep its exit status and
    output in ``folder`` for `crawl_scan`."""
    result = run("scan", world / "crawl", "--registry", world / "r.db", "--key", world / "studio.key", "--json")
    (folder / "scan.json").write_text(json.dumps({"args": result.args, "returncode": result.returncode,
                                                  "stdout": result.stdout, "stderr": result.stderr}))


def crawl_scan(folder):
    """The scan that `scan_crawl` kept in ``folder``, as a `subprocess.CompletedProcess`."""
    return subprocess.CompletedProcess(**json.loads((folder / "scan.json").read_text()))
