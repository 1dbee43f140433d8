"""Benchmarks for Filigrane: schemes and peer libraries x images x attacks, into a CSV and an HTML report.

``from eval import runner`` (``import eval`` hides the built-in ``eval``); the names below load lazily,
so that the ``watermark`` command stays quick to start.

Examples
--------
>>> from eval import runner, report  # doctest: +SKIP
>>> rows = runner.run(["dwtdct", "spread"], jobs=2, cache_dir="bench-out/cache")  # doctest: +SKIP
>>> report.write_csv(rows, "bench-out/results.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["run", "Result", "COLUMNS", "cache", "cli", "contenders", "images", "metrics", "peers", "plots",
           "report", "runner", "tables"]

_FROM_RUNNER = {"run", "Result", "COLUMNS"}


def __getattr__(name: str) -> Any:
    if name in _FROM_RUNNER:
        return getattr(importlib.import_module(".runner", __name__), name)
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
