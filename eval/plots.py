"""Figures for the report, as PNG bytes (matplotlib's object API: no pyplot, no global state).

* :func:`strength_curves`: exact-payload rate or bit accuracy against attack strength, one panel per
  attack (its primary parameter on the x axis), one line per scheme, each with its own marker and
  line style; the title gives the images per point. A failed cell is a payload lost, as in the
  survival table; bit accuracy is the mean over the bits read, as in the per-attack table, on 0-100 %,
  with a cross below 0 where a scheme read no bits at all.
* :func:`pvalue_histogram`: p-values of unmarked images per scheme, against the uniform law.
* :func:`tradeoff`: robustness (exact payloads over every attack) against visibility (SSIMULACRA2,
  Butteraugli) of the marked images, one curve per scheme over its embedding strengths.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from .tables import as_dicts

__all__ = ["strength_curves", "pvalue_histogram", "tradeoff", "tradeoff_points", "attack_series"]

_PARAM = re.compile(r"(\w+)=([^,()]+)")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")      # hollow, so that a curve under another shows through
_LINES = ("-", "--", ":", "-.")
_NO_BITS = -6.0         # where a bit-accuracy panel marks a strength at which a scheme read no bits (below 0 %)


def _figure(n_panels: int, *, width: float = 3.4, height: float = 2.6, columns: int = 4):
    from matplotlib.figure import Figure

    columns = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / columns)
    figure = Figure(figsize=(width * columns, height * rows + 0.5), dpi=90, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for extra in axes[n_panels:]:
        extra.set_visible(False)
    return figure, axes[:n_panels]


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def attack_series(attack: str, strength: float) -> tuple[str, str]:
    """Split an attack string into a series label and the name of its strength parameter.

    ``"rotate(degrees=5, crop=True)"`` with strength 5 gives ``("rotate(crop=True)", "degrees")``.
    """
    name = attack.split("(", 1)[0]
    others, parameter = [], "strength"
    for key, value in _PARAM.findall(attack):
        try:
            matches = math.isclose(float(value), strength, rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            matches = False
        if matches and parameter == "strength":
            parameter = key
        else:
            others.append(f"{key}={value.strip()}")
    return (f"{name}({', '.join(others)})" if others else name), parameter


def _series(rows: list[dict], metric: str) -> dict[str, dict[str, dict[float, list[float]]]]:
    """``series[label][scheme][strength]`` -> values, for attacks with at least two strengths; a failed cell
    is a payload lost (as in the survival table) and bits not read (NaN)."""
    found: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        if not r["marked"] or r["attack"] == "none" or math.isnan(r["strength"]):
            continue
        label, parameter = attack_series(r["attack"], r["strength"])
        value = float(r["exact"] and not r["error"]) if metric == "exact" else r["bit_accuracy"]
        found[f"{label}|{parameter}"][r["scheme"]][r["strength"]].append(value)
    return {label: schemes for label, schemes in found.items()
            if len({s for values in schemes.values() for s in values}) >= 2}


def strength_curves(rows: Iterable[Any], metric: str = "exact") -> bytes | None:
    """``metric`` ("exact" or "bit_accuracy") against attack strength; None when no attack varies."""
    figure = _strength_figure(rows, metric)
    return None if figure is None else _png(figure)


def _strength_figure(rows: Iterable[Any], metric: str):
    """The figure of :func:`strength_curves`: each scheme its own colour, marker and line style (curves that
    coincide stay visible), and the images per point in the title."""
    if metric not in ("exact", "bit_accuracy"):
        raise ValueError(f"metric must be 'exact' or 'bit_accuracy', got {metric!r}")
    rows = as_dicts(rows)
    series = _series(rows, metric)
    if not series:
        return None
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    figure, axes = _figure(len(series))
    for ax, (label, by_scheme) in zip(axes, series.items()):
        title, parameter = label.split("|")
        for i, scheme in enumerate(schemes):
            if scheme not in by_scheme:
                continue
            points = sorted(by_scheme[scheme].items())
            x = [p for p, _ in points]
            y = [100 * float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for _, v in points]
            ax.plot(x, y, label=scheme, **_style(i, len(schemes)))
            unread = [p for p, value in zip(x, y) if math.isnan(value)]
            if unread:      # said, not a silent gap in the line
                ax.plot(unread, [_NO_BITS] * len(unread), linestyle="none", marker="x", color=f"C{i % 10}",
                        label=f"{scheme}: no bits read")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(parameter, fontsize=8)
        ax.set_ylim((-3, 103) if metric == "exact" else (2 * _NO_BITS, 103))
        ax.set_yticks(range(0, 101, 20))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("exact payload %" if metric == "exact" else "bit accuracy %", fontsize=8)
    lines = {line.get_label(): line for ax in axes for line in ax.get_lines()}    # below the panels, off the curves
    figure.legend(lines.values(), lines.keys(), loc="outside lower center", ncols=min(len(lines), 4), fontsize=7)
    if metric == "exact":
        figure.suptitle(f"n = {_images_per_point(series)} images per point (a failed cell counts as lost)", fontsize=9)
    else:       # as the per-attack table's bit accuracy
        figure.suptitle(f"n = {_images_per_point(series)} images with bits read, per point", fontsize=9)
    return figure


def _style(index: int, count: int) -> dict[str, Any]:
    """The line of the ``index``-th of ``count`` schemes: its own colour, hollow marker and dash pattern, the
    earlier ones wider, so that a curve drawn over another leaves it showing around its edges."""
    under = (count - 1 - index) / max(count - 1, 1)       # 1 for the first drawn, 0 for the last
    return {"color": f"C{index % 10}", "marker": _MARKERS[index % len(_MARKERS)], "fillstyle": "none",
            "markersize": 3 + 6 * under, "linestyle": _LINES[index % len(_LINES)], "linewidth": 1 + 1.5 * under}


def _images_per_point(series: dict[str, dict[str, dict[float, list[float]]]]) -> str:
    """How many images each point of ``series`` averages (its values that are not NaN): "8", or "6-8" where
    bits not read make it vary."""
    counts = [int(np.isfinite(values).sum()) for schemes in series.values() for points in schemes.values()
              for values in points.values()]
    return f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"


def pvalue_histogram(rows: Iterable[Any], *, bins: int = 20) -> bytes | None:
    """Histogram of unmarked images' p-values per scheme with the uniform expectation; None without null rows."""
    rows = [r for r in as_dicts(rows) if not r["marked"] and not r["error"] and np.isfinite(r["p_value"])]
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    if not schemes:
        return None
    figure, axes = _figure(len(schemes), width=3.0, height=2.3)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, scheme in zip(axes, schemes):
        values = np.array([r["p_value"] for r in rows if r["scheme"] == scheme])
        ax.hist(values, bins=edges, color="C0", alpha=0.8)
        ax.axhline(values.size / bins, color="k", linestyle="--", linewidth=1, label="uniform")
        ax.set_title(f"{scheme} (n={values.size})", fontsize=9)
        ax.set_xlabel("p-value", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("unmarked images", fontsize=8)
    axes[0].legend(fontsize=7)
    return _png(figure)


def tradeoff_points(rows: Iterable[Any]) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per scheme (``lattice@0.5`` counts as ``lattice`` at strength 0.5): ``(strength, mean SSIMULACRA2,
    mean Butteraugli, exact-payload rate over every attack)`` of each strength, by strength; a failed cell
    is a payload lost, as in the survival table."""
    rows = [r for r in as_dicts(rows) if r["marked"]]
    cells: dict[str, dict[float, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        scheme, _, strength = r["scheme"].partition("@")
        cell = cells[scheme][float(strength) if strength else 1.0]
        if r["attack"] == "none":
            cell["ssimulacra2"].append(r["ssimulacra2"])
            cell["butteraugli"].append(r["butteraugli"])
        else:
            cell["exact"].append(float(r["exact"] and not r["error"]))

    def mean(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    return {scheme: [(strength, mean(c["ssimulacra2"]), mean(c["butteraugli"]), mean(c["exact"]))
                     for strength, c in sorted(by_strength.items())]
            for scheme, by_strength in cells.items()}


def tradeoff(rows: Iterable[Any]) -> bytes | None:
    """Exact-payload rate against SSIMULACRA2 and against Butteraugli, a curve per scheme through its
    strengths (labelled); None when no perceptual metric was measured."""
    points = tradeoff_points(rows)
    if not any(np.isfinite(p[1]) or np.isfinite(p[2]) for curve in points.values() for p in curve):
        return None
    figure, axes = _figure(2, width=4.6, height=3.4, columns=2)
    for ax, column, label in ((axes[0], 1, "SSIMULACRA2 of the marked image (higher: less visible)"),
                              (axes[1], 2, "Butteraugli max distance (lower: less visible)")):
        for i, (scheme, curve) in enumerate(points.items()):
            x = [p[column] for p in curve]
            y = [100 * p[3] for p in curve]
            ax.plot(x, y, marker="o", markersize=4, color=f"C{i % 10}", label=scheme)
            for strength, xi, yi in zip((p[0] for p in curve), x, y):
                if len(curve) > 1 and np.isfinite(xi):
                    ax.annotate(f"{strength:g}", (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylim(-3, 103)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[1].invert_xaxis()          # both panels: less visible to the right
    axes[0].set_ylabel("exact payload % (every attack; failed: lost)", fontsize=8)
    axes[0].legend(fontsize=7)
    return _png(figure)
