"""Write the results: a tidy CSV, a Markdown summary, and one self-contained HTML report.

The HTML needs nothing but itself: styles inline, every figure and thumbnail a base64 PNG
``data:`` URI, no script, no font or stylesheet from elsewhere, so it opens offline and can be
mailed or archived as one file.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import platform
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from watermark.cli.registry import spreadsheet_cell
from watermark.sources import visible

from . import cache, contenders, plots, tables
from .cache import atomic_write_text
from .runner import COLUMNS, NO_ATTACK, attack_seed

__all__ = ["write_csv", "read_csv", "write_markdown", "write_html", "examples", "difference_image",
           "pictures_for", "write_plots", "PLOTS"]

PLOTS = ("exact_vs_strength.png", "bit_accuracy_vs_strength.png", "null_p_values.png", "tradeoff.png")

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1b1b1b;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:13px}caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
thead{background:#f2f2f2}.note,.meta{color:#555;font-size:12px}
figure{margin:1em 0}img.plot{max-width:100%;height:auto}
.thumbs{display:flex;flex-wrap:wrap;gap:.8em}.thumbs figure{margin:0;width:210px}
.thumbs img{width:100%;height:auto;image-rendering:auto;border:1px solid #ccc}
figcaption{font-size:12px;color:#333;word-break:break-word}code{background:#f5f5f5;padding:0 .2em}
"""


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return spreadsheet_cell(value) if isinstance(value, str) else str(value)


def _e(text: str) -> str:
    """``text`` for the page: escaped, and what would act rather than show (a bidirectional override, a
    newline) written ``\\xNN`` / ``\\uNNNN`` as on the terminal."""
    return html.escape(visible(text))


def write_csv(rows: Iterable[Any], path: str | os.PathLike) -> None:
    """Write the rows as CSV with the columns of :data:`eval.runner.COLUMNS` (atomically; RFC 4180's CRLF line
    ends, so that a CR in a cell is quoted, never a new row); a text cell that a spreadsheet would run as a
    formula gets a leading ' (as in the registry's export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in tables.as_dicts(rows):
        writer.writerow([_format(row[name]) for name in COLUMNS])
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`, typed as dicts (floats NaN where empty)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return tables.as_dicts(csv.DictReader(handle))


def _summary_tables(rows: list[dict]) -> list[tables.Table]:
    return [tables.survival(rows), tables.comparison(rows), tables.detection(rows), tables.quality(rows),
            tables.speed(rows), tables.null_calibration(rows)]


def _not_run_lines(not_run: dict[str, str] | None, unreadable: Sequence[str] = ()) -> list[str]:
    """"not run: <scheme> (<reason>)" for each contender that could not run, and a line naming the input files
    that could not be read (``unreadable``), if any."""
    lines = [f"not run: {name} ({reason})" for name, reason in (not_run or {}).items()]
    if unreadable:
        files = "file" if len(unreadable) == 1 else "files"
        lines.append(f"{len(unreadable)} input {files} could not be read: {visible(', '.join(unreadable))}; they are "
                     "left out of the tables and plots (their rows in results.csv carry the error)")
    return lines


def _tradeoff_caption(rows: list[dict]) -> str:
    """The trade-off plot's caption: curves when a scheme ran at several embedding strengths (``lattice@0.5``;
    the ``strength`` column is the attack's), else points."""
    if any(len(curve) > 1 for curve in plots.tradeoff_points(rows).values()):
        return "robustness against visibility, per scheme over its embedding strengths (--strengths)"
    return "robustness against visibility, one point per scheme at its default (--strengths draws curves)"


def environment(rows: list[dict]) -> str:
    """What made these rows: the commit, Python, every contender's version, the libraries and codecs."""
    schemes = sorted({contenders.get(s).version for s in {r["scheme"] for r in rows}})
    libraries = ", ".join(f"{name} {version}" for name, version in cache.libraries().items())
    return f"commit {cache.commit()}, Python {platform.python_version()}, {', '.join(schemes)}, {libraries}"


def write_markdown(rows: Iterable[Any], path: str | os.PathLike, *, command: str = "",
                   not_run: dict[str, str] | None = None, unreadable: Sequence[str] = ()) -> None:
    """A Markdown summary (survival, detection at 0.1 % FPR, quality, speed, null) ready to paste into a README;
    ``not_run`` maps the schemes that could not run to the reason, each said on a line, and ``unreadable``
    names the input files left out of ``rows`` because nothing could decode them."""
    rows = tables.as_dicts(rows)
    parts = [f"Reproduce with {_code_span(visible(command))}." if command else "", f"Made with {environment(rows)}.",
             "\n\n".join(_not_run_lines(not_run, unreadable))]
    parts += [table.to_markdown() for table in _summary_tables(rows)]
    atomic_write_text(path, "\n\n".join(p for p in parts if p) + "\n")


def _code_span(text: str) -> str:
    """``text`` as Markdown code, fenced by one backtick more than its longest run (a folder named with one
    would end the span early)."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def write_plots(rows: Iterable[Any], directory: str | os.PathLike) -> list[str]:
    """Write the report's plots as PNG files (:data:`PLOTS`) into ``directory``; returns the names written.
    A plot these rows have no data for is removed, so that none of an earlier run's stays beside them."""
    from pathlib import Path

    from .cache import atomic_write_bytes

    rows = tables.as_dicts(rows)
    figures = (plots.strength_curves(rows, "exact"), plots.strength_curves(rows, "bit_accuracy"),
               plots.pvalue_histogram(rows), plots.tradeoff(rows))
    written = []
    for name, png in zip(PLOTS, figures):
        if png is None:
            (Path(directory) / name).unlink(missing_ok=True)
        else:
            atomic_write_bytes(Path(directory) / name, png)
            written.append(name)
    return written


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _thumbnail(image: np.ndarray, size: int = 210) -> bytes:
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def difference_image(original: np.ndarray, marked: np.ndarray, *, gain: float = 10.0) -> np.ndarray:
    """``|marked - original| * gain`` clipped to uint8, for seeing where a mark lives."""
    if original.shape != marked.shape:
        raise ValueError(f"shapes differ: {original.shape} and {marked.shape}")
    diff = np.abs(marked.astype(np.float64) - original.astype(np.float64)) * gain
    return np.clip(np.round(diff), 0, 255).astype(np.uint8)


def examples(scheme: str, image: np.ndarray, attacks: Sequence[Any], *, seed: int = 0,
             name: str = "example") -> list[tuple[str, np.ndarray]]:
    """Captioned pictures for one scheme: original, marked, amplified difference, attacked versions (each
    attack with its cell's seed in a run seeded ``seed``, so that a picture shows its row of results.csv)."""
    contender = contenders.get(scheme)
    payload = contenders.payload_for(name, seed, contender.payload_bits)
    marked = contender.embed(image, payload, contenders.bench_key(seed))
    out = [("original", image), (f"marked by {scheme}", marked),
           ("|marked − original| × 10", difference_image(image, marked))]
    for attack in attacks:
        attacked = np.asarray(attack(marked, seed=attack_seed(seed, name, str(attack))))
        reading = contender.read(attacked, contenders.bench_key(seed), payload)
        verdict = "payload read" if reading.payload == payload and reading.found else (
            "found" if reading.found else "not found")
        out.append((f"{attack} — {verdict}", attacked))
    return out


def _pick_attacks(attacks: Sequence[Any], n: int = 3) -> list[Any]:
    """Up to ``n`` attacks from different families, mid-strength where a family has several."""
    by_family: dict[str, list[Any]] = {}
    for attack in attacks:
        by_family.setdefault(str(getattr(attack, "family", "")), []).append(attack)
    return [members[len(members) // 2] for members in list(by_family.values())[:n]]


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


def _figure_html(png: bytes | None, caption: str) -> str:
    if png is None:
        return f'<p class="note">No data for: {_e(caption)}.</p>'
    return (f'<figure><img class="plot" src="{_png_uri(png)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def write_html(rows: Iterable[Any], path: str | os.PathLike, *, command: str = "",
               pictures: dict[str, list[tuple[str, np.ndarray]]] | None = None,
               not_run: dict[str, str] | None = None, unreadable: Sequence[str] = (),
               title: str = "Filigrane benchmark") -> None:
    """Write the self-contained HTML report (atomically).

    Parameters
    ----------
    rows : iterable of Result or dict
        The results of :func:`eval.runner.run` (or :func:`read_csv`).
    command : str
        The command line that reproduces the run, shown at the top.
    pictures : dict, optional
        Scheme -> captioned uint8 RGB images (see :func:`examples`) shown as thumbnails.
    not_run : dict, optional
        Scheme -> why it could not run (a peer's library missing), said at the top.
    unreadable : sequence of str
        The input files left out of ``rows`` because nothing could decode them, named at the top.
    """
    rows = tables.as_dicts(rows)
    marked = [r for r in rows if r["marked"]]
    meta = (f"{len({r['image'] for r in marked})} images × {len({r['attack'] for r in marked})} attacks "
            f"(with “{NO_ATTACK}”) × {len({r['scheme'] for r in rows})} schemes; "
            f"{sum(not r['marked'] for r in rows)} unmarked reads; {sum(bool(r['error']) for r in rows)} errors. "
            f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_e(environment(rows))}.")
    head = f"<h1>{_e(title)}</h1>"
    if command:
        head += f"<p>Reproduce with <code>{_e(command)}</code></p>"
    head += f'<p class="meta">{meta}</p>'
    head += "".join(f'<p class="note">{_e(line)}</p>' for line in _not_run_lines(not_run, unreadable))
    parts = [head, _section("Survival per attack family", tables.survival(rows).to_html()
                            + tables.comparison(rows).to_html()),
             _section(f"Detection at {100 * tables.FPR:g} % false positives", tables.detection(rows).to_html())]
    parts.append(_section("Robustness against attack strength",
                          _figure_html(plots.strength_curves(rows, "exact"), "exact-payload rate vs strength")
                          + _figure_html(plots.strength_curves(rows, "bit_accuracy"), "bit accuracy vs strength")))
    parts.append(_section("Quality", tables.quality(rows).to_html()
                          + _figure_html(plots.tradeoff(rows), _tradeoff_caption(rows))))
    parts.append(_section("Speed", tables.speed(rows).to_html()))
    parts.append(_section("Unmarked images: false alarms and p-values",
                          tables.null_calibration(rows).to_html()
                          + _figure_html(plots.pvalue_histogram(rows), "p-values of unmarked images")))
    if pictures:
        blocks = []
        for scheme, captioned in pictures.items():
            figures = "".join(f'<figure><img src="{_png_uri(_thumbnail(picture))}" alt="{_e(caption)}">'
                              f"<figcaption>{_e(caption)}</figcaption></figure>"
                              for caption, picture in captioned)
            blocks.append(f"<h3>{_e(scheme)}</h3><div class=\"thumbs\">{figures}</div>")
        parts.append(_section("Examples", "".join(blocks)))
    parts.append(_section("Every attack", f"<details><summary>table</summary>{tables.per_attack(rows).to_html()}"
                                          "</details>"))
    errors = [r for r in rows if r["error"]]
    if errors:
        items = "".join(f"<li>{_e(r['scheme'])} / {_e(r['image'])} / {_e(r['attack'])}: "
                        f"{_e(r['error'])}</li>" for r in errors[:200])
        parts.append(_section(f"Errors ({len(errors)})", f"<ul>{items}</ul>"))
    document = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
                + "".join(parts) + "</body></html>\n")
    atomic_write_text(path, document)


def pictures_for(schemes: Sequence[str], image: np.ndarray, attacks: Sequence[Any], *, seed: int = 0,
                 name: str = "example") -> dict[str, list[tuple[str, np.ndarray]]]:
    """:func:`examples` for each scheme on one image and a few attacks of different families."""
    chosen = _pick_attacks(attacks)
    out = {}
    for scheme in schemes:
        try:
            out[scheme] = examples(scheme, image, chosen, seed=seed, name=name)
        except Exception as exc:   # e.g. image too small for this scheme: the report says so, no crash
            out[scheme] = [(f"no example: {type(exc).__name__}: {exc}", image)]
    return out

