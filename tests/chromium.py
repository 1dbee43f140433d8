"""Headless Chromium for the report tests: render a page, report broken images, errors and a screenshot.

Skipped only when Chromium is absent and the CI variable is not set; under CI it must run
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
          "--disable-extensions", "--mute-audio"]

# Injected into a copy of the report (the report itself has no script): records errors from the
# first moment, then after "load" writes what it saw into the DOM, which --dump-dom prints.
_PROBE = """<script>
window.__problems = [];
window.addEventListener("error", e => window.__problems.push(
  "error: " + (e.message || (e.target && (e.target.alt || e.target.tagName)) || e.type)), true);
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => { window.__problems.push(level + ": " + args.join(" ")); original(...args); };
}
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const result = {images: images.length,
                  broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
                  problems: window.__problems,
                  height: document.documentElement.scrollHeight};
  const pre = document.createElement("pre");
  pre.id = "filigrane-probe";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


def find_chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.path.exists("/usr/bin/chromium"):
        found = "/usr/bin/chromium"
    if found is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("CI is set but chromium is missing: .ci/run must `apt-get install -y chromium`")
        pytest.skip("headless Chromium not installed (apt-get install chromium); runs under CI")
    return found


def _browse(chromium: str, profile, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def probe(page: Path, workdir: Path) -> dict:
    """Open ``page`` (a copy with a probe script) and return what loaded: image count, broken images,
    console errors and warnings, page height, and the console lines Chromium logged."""
    chromium = find_chromium()
    probed = workdir / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + _PROBE, 1))
    dump = _browse(chromium, workdir / "profile-probe", "--enable-logging=stderr", "--v=0",
                   "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="filigrane-probe">(.*?)</pre>', dump.stdout, re.S)
    assert found, f"no probe output; chromium exit {dump.returncode}, stderr:\n{dump.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = [line for line in dump.stderr.splitlines() if "CONSOLE" in line]
    return result


def screenshot(page: Path, workdir: Path, size: tuple[int, int] = (1200, 1600)) -> np.ndarray:
    """A screenshot of ``page`` as greyscale pixels (height, width)."""
    shot = workdir / "shot.png"
    capture = _browse(find_chromium(), workdir / "profile-shot", f"--window-size={size[0]},{size[1]}",
                      f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), f"no screenshot; chromium exit {capture.returncode}, stderr:\n{capture.stderr[-2000:]}"
    return np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
