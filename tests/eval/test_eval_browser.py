"""The HTML report renders in headless Chromium: images load, no console errors, not a blank page."""

from __future__ import annotations

import numpy as np
from chromium import probe, screenshot

from eval import images, report, runner


def test_report_renders_in_headless_chromium(photo_dir, tiny_suite, tmp_path):
    specs = images.images_from(photo_dir)
    rows = runner.run(["dwtdct"], specs, tiny_suite, unmarked=4, progress=False)
    pictures = report.pictures_for(["dwtdct"], specs[0].load(), tiny_suite, name=specs[0].name)
    page = tmp_path / "report.html"
    report.write_html(rows, page, command="watermark bench", pictures=pictures)

    seen = probe(page, tmp_path)
    assert seen["images"] == page.read_text().count("<img") > 0
    assert seen["broken"] == [] and seen["problems"] == [] and seen["console"] == []
    pixels = screenshot(page, tmp_path)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 10 and np.mean(pixels < 200) > 0.01     # text, tables and plots, not a blank page
