"""A security run's rows (`eval.security`) as a reader sees them: one table per threat, the bars of the
security issue with the figures that decide them, and ``security.md`` and ``security.csv`` (the words of
the columns: `eval.security_reads`).
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .security_reads import Row
from .tables import Table

__all__ = ["tables", "bars", "write"]


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"


def tables(rows: list[Row]) -> list[Table]:
    """One table per threat, in the order they were run."""
    out = []
    for threat in dict.fromkeys(row.threat for row in rows):
        chosen = [row for row in rows if row.threat == threat]
        columns = ("attack", "images", "PSNR dB", "payload (blind)", "verified", "presence only",
                   "all named (informed)", "one named", "false payload", "false verified", "innocents named")
        cells = tuple((row.attack, str(row.images), "-" if row.psnr != row.psnr else f"{row.psnr:.1f}",
                       _pct(row.payload), _pct(row.verified), _pct(row.presence), _pct(row.named),
                       _pct(row.some_named), str(row.false_payload), str(row.false_verified), str(row.innocents))
                      for row in chosen)
        out.append(Table(title=f"security: {threat}", columns=columns, rows=cells))
    return out


def bars(rows: list[Row]) -> list[str]:
    """The security issue's bars, one line each, with the figure that decides it."""
    lines = []
    for label in dict.fromkeys(r.threat for r in rows if r.threat.startswith("removal")):
        sweep = [r for r in rows if r.threat == label]
        broken = [r for r in sweep if r.payload < 0.5]
        efficient = max(broken, key=lambda r: r.psnr) if broken else None
        scrubbed = [o for r in sweep for o in r.outcomes if o.psnr >= 40.0]
        attributed = np.mean([o.named == o.carried for o in scrubbed]) if scrubbed else float("nan")
        where = (f"exact payload below 50 % from {efficient.attack} at {efficient.psnr:.1f} dB" if efficient
                 else "exact payload never below 50 %")
        lines.append(f"removal ({label.split(', ', 1)[1]}): {where}; informed read names the copy in "
                     f"{_pct(attributed)} of {len(scrubbed)} scrubbed copies at PSNR >= 40 dB (bar: >= 90 %)")
    forged = [o for r in rows if r.threat == "forgery" for o in r.outcomes]
    if forged:
        lines.append(f"forgery: {len(forged)} copy forgeries; blind detect read the source's payload on "
                     f"{sum(o.false_payload for o in forged)}, verified {sum(o.false_verified for o in forged)}; "
                     f"informed read against the source's master named {sum(o.innocents for o in forged)} "
                     "(bar: 0 attributions)")
    colluded = [o for r in rows if r.threat == "collusion" for o in r.outcomes]
    if colluded:
        lines.append(f"collusion: {len(colluded)} trials; innocents named {sum(o.innocents for o in colluded)} "
                     f"(bar: 0); at least one colluder named in {_pct(np.mean([o.named > 0 for o in colluded]))}, "
                     f"none named (said so) in {sum(o.named == 0 for o in colluded)}; blind detect named a "
                     f"non-colluder {sum(o.false_payload for o in colluded)} times")
    double = [r for r in rows if r.threat == "double marking"]
    for row in double:
        lines.append(f"double marking, {row.attack}: our payload read in {_pct(row.payload)}, named by the "
                     f"informed read in {_pct(row.named)}")
    return lines


def write(rows: list[Row], out: Path, command: str) -> None:
    """``security.md`` (tables and bars) and ``security.csv`` (one line per row) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    text = [f"`{command}`", ""] + [table.to_markdown() + "\n" for table in tables(rows)] + bars(rows)
    (out / "security.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    with open(out / "security.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        names = [name for name in asdict(rows[0]) if name != "outcomes"] if rows else []
        writer.writerow(names)
        for row in rows:
            values = asdict(row)
            writer.writerow([values[name] for name in names])
