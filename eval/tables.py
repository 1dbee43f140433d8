"""Summary tables from result rows: survival per attack family, per attack, quality, speed, null calibration.

Every function takes the rows of :func:`eval.runner.run` (``Result`` objects or their dicts) and
returns a :class:`Table`, which prints as Markdown (for the README) and renders as HTML (report).
Rates show what they count and how sure they are ("67 % (2/3; 21-94)": the 95 % Wilson interval, in
%), and :func:`comparison` tests each scheme against the first on the same cells. A failed cell (a
row with an ``error``: the scheme could not mark or read that image) counts as lost in survival and
detection, so that every scheme is scored on the same cells (left out, a scheme that failed on the
hard images was scored on the easy ones); the failed cells are also counted in an ``errors`` column
or in the table's note. Quality and speed are means over the cells that ran.

"Survived" is StirMark's notion: the whole payload came back (``exact``).
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics
from .peers import PREFIX

__all__ = ["Table", "as_dicts", "survival", "comparison", "detection", "per_attack", "quality", "speed",
           "null_calibration", "FPR", "NOT_MEASURED"]

FPR = 1e-3   # WAVES reports the true-positive rate at 0.1 % false positives
NOT_MEASURED = "not measured (--unmarked 0)"    # the note of the tables that need unmarked images


@dataclass(frozen=True)
class Table:
    """A small table: a title, column names and rows of already-formatted cells."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (title as a bold line, note as a last line); without rows, no table."""
        if not self.rows:
            return f"**{self.title}**\n\n{self.note or 'no data'}"
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)

    def to_html(self) -> str:
        """An HTML ``<table>`` with a caption (cells escaped); without rows, the title and the note only."""
        if not self.rows:
            return (f"<p><strong>{html.escape(self.title)}</strong></p>"
                    f'<p class="note">{html.escape(self.note or "no data")}</p>')
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (f"<table><caption>{html.escape(self.title)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>{note}")

    def __str__(self) -> str:
        return self.to_markdown()


def as_dicts(rows: Iterable[Any]) -> list[dict]:
    """Rows as dicts (accepts ``Result`` objects, dicts, or CSV-read dicts of strings)."""
    out = []
    for row in rows:
        row = row.to_dict() if hasattr(row, "to_dict") else dict(row)
        for name in ("marked", "exact", "found"):
            if isinstance(row.get(name), str):
                row[name] = row[name] == "True"
        for name in ("strength", "bit_accuracy", "p_value", "score", "psnr", "ssim", "ssimulacra2", "butteraugli",
                     "embed_ms", "detect_ms"):
            value = row.get(name)
            row[name] = math.nan if value in (None, "") else float(value)
        for name in ("width", "height", "payload_bits", "seed"):
            if isinstance(row.get(name), str):
                row[name] = int(row[name]) if row[name] else 0
        row["error"] = row.get("error") or ""
        out.append(row)
    return out


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f} %"


def _share(hits: int, n: int) -> str:
    """``hits`` of ``n`` with its 95 % Wilson interval in %, as "67 % (2/3; 21-94)"; "–" for none."""
    if not n:
        return "–"
    low, high = metrics.wilson_interval(hits, n)
    return f"{_pct(hits / n)} ({hits}/{n}; {100 * low:.0f}-{100 * high:.0f})"


_BRACKETS = "/tests and the rate's 95 % interval (Wilson), in %"


def _failures(rows: list[dict]) -> str:
    """A sentence counting the failed cells of ``rows`` per scheme, with their kinds of error; "" if none."""
    failed = [r for r in rows if r["error"]]
    if not failed:
        return ""
    counts = Counter(r["scheme"] for r in failed)
    kinds = {scheme: sorted({r["error"].split(":")[0] for r in failed if r["scheme"] == scheme}) for scheme in counts}
    listed = ", ".join(f"{scheme} {count} ({', '.join(kinds[scheme])})" for scheme, count in counts.items())
    return f" Failed cells, counted as lost: {listed}; see the error column."


def _num(value: float, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _mean(values: Iterable[float]) -> float:
    """Mean of the finite ``values``; NaN when there is none."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _schemes(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["scheme"] for r in rows))


def _families(rows: list[dict]) -> list[str]:
    """Attack families in order of appearance, "none" (the unattacked image) last."""
    families = list(dict.fromkeys(r["family"] for r in rows))
    return [f for f in families if f != "none"] + (["none"] if "none" in families else [])


def _by_family(rows: list[dict], column: str) -> dict[tuple[str, str], list]:
    """``column``'s values per (family, scheme), and per ("all attacks", scheme) over every attacked row."""
    values: dict[tuple[str, str], list] = defaultdict(list)
    for r in rows:
        values[(r["family"], r["scheme"])].append(r[column])
        if r["family"] != "none":
            values[("all attacks", r["scheme"])].append(r[column])
    return values


def _null_scores(rows: list[dict]) -> dict[str, np.ndarray]:
    scores: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if not r["marked"] and not r["error"]:
            scores[r["scheme"]].append(r["score"])
    return {scheme: np.array(values) for scheme, values in scores.items()}


_VARIANT = re.compile(r"~\d+$")     # how images.null_images names a photograph's crop or rescale


def _variants_note(rows: list[dict]) -> str:
    """What a threshold set on the run's unmarked images rests on, when they are crops and rescales of fewer
    photographs (`images.null_images` names a variant ``photo~N``): its variants' scores are not independent."""
    names = {r["image"] for r in rows if not r["marked"] and not r["error"]}
    photographs = {_VARIANT.sub("", name) for name in names}
    if len(photographs) == len(names):
        return ""
    what = "one photograph" if len(photographs) == 1 else f"{len(photographs)} photographs"
    return (f" The {len(names)} unmarked images are {what} and their crops and rescales, whose scores are not"
            " independent: the threshold is less sure than as many photographs would make it.")


def survival(rows: Iterable[Any]) -> Table:
    """Share of attacked images whose payload survived, per attack family (rows) and scheme (columns),
    with the cells counted: "67 % (2/3)"."""
    marked = [r for r in as_dicts(rows) if r["marked"]]
    schemes = _schemes(marked)
    cells = _by_family([{**r, "exact": False} if r["error"] else r for r in marked], "exact")
    table_rows = []
    for family in _families(marked) + ["all attacks"]:
        label = "no attack" if family == "none" else family
        table_rows.append((label, *(_share(sum(cells[(family, s)]), len(cells[(family, s)])) for s in schemes)))
    return Table("Share of tests survived (exact payload) per attack family", ("family", *schemes),
                 tuple(table_rows), note="StirMark-style score: a test survives when the whole payload is read "
                                         f"back (in brackets: survived{_BRACKETS})." + _payloads(marked)
                                         + _failures(marked))


def comparison(rows: Iterable[Any]) -> Table:
    """Each scheme against the first on the marked cells both ran (same image and attack): the cells
    whose payload only one of the two read back, and the sign test of that split, since a few points
    between two rates on a few dozen cells may be chance; with several schemes, the p-values are Holm's
    (each comparison's chance of a split so uneven among them all). No rows for fewer than two schemes."""
    marked = [r for r in as_dicts(rows) if r["marked"]]
    schemes = _schemes(marked)
    exact = {(r["scheme"], r["image"], r["attack"]): bool(r["exact"]) and not r["error"] for r in marked}
    counts, p_values = [], []
    for scheme in schemes[1:]:
        shared = [(image, attack) for (name, image, attack) in exact
                  if name == schemes[0] and (scheme, image, attack) in exact]
        wins = sum(exact[(schemes[0], *cell)] and not exact[(scheme, *cell)] for cell in shared)
        losses = sum(exact[(scheme, *cell)] and not exact[(schemes[0], *cell)] for cell in shared)
        counts.append((scheme, str(len(shared)), str(wins), str(losses)))
        p_values.append(metrics.sign_test(wins, losses))
    table_rows = tuple((*row, f"{p:.2g}") for row, p in zip(counts, metrics.holm(p_values)))
    first = schemes[0] if schemes else "the first scheme"
    several = (f" With {len(table_rows)} comparisons, each p-value is Holm's adjusted one: calling every one below "
               "a level a difference keeps the chance of any wrong call among them all below it.") \
        if len(table_rows) > 1 else ""
    return Table(f"Paired comparison with {first} (exact payload on the same cells)",
                 ("scheme", "cells", f"only {first}", "only this scheme", "sign test p"), table_rows,
                 note="A cell counts where one of the two read the whole payload back and the other did not; "
                      "the p-value is the chance of a split this uneven if neither scheme were better "
                      f"(two-sided exact sign test). Small p: the difference is not luck of the draw.{several}"
                      if table_rows else "One scheme: nothing to compare.")


def _payloads(rows: list[dict]) -> str:
    """A sentence naming each scheme's payload lengths, in the cells that ran (a failed one may carry 0), when
    they differ (a shorter one is read whole more easily); "" when every scheme carries the same."""
    bits: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        if not r["error"]:
            bits[r["scheme"]].add(r["payload_bits"])
    if len(set().union(*bits.values())) <= 1:
        return ""
    return " Payload bits, which differ: " + ", ".join(
        f"{scheme} {'/'.join(map(str, sorted(sizes)))}" for scheme, sizes in bits.items()) + "."


def detection(rows: Iterable[Any], *, fpr: float = FPR) -> Table:
    """Detection rate at ``fpr`` false positives (WAVES style), per attack family (rows) and scheme (columns).

    A marked image counts as detected when its score exceeds the scheme's threshold at ``fpr``, the
    ``1 - fpr`` quantile of its scores on the unmarked images of the same run; "–" without them, and
    no table at all (:data:`NOT_MEASURED`) when the run read no unmarked image.
    """
    rows = as_dicts(rows)
    marked = [r for r in rows if r["marked"]]
    schemes = _schemes(marked)
    title = f"Detection rate at {100 * fpr:g} % false positives per attack family"
    if all(r["marked"] for r in rows):
        return Table(title, ("family", *schemes), (), note=NOT_MEASURED)
    nulls = _null_scores(rows)
    scores = _by_family([{**r, "score": -math.inf} if r["error"] else r for r in marked], "score")
    table_rows = []
    for family in _families(marked) + ["all attacks"]:
        cells = []
        for scheme in schemes:
            null = nulls.get(scheme, np.array([]))
            found = scores[(family, scheme)]
            rate = metrics.detection_rate_at_fpr(found, null, fpr) if found and null.size else math.nan
            cells.append("–" if math.isnan(rate) else _share(round(rate * len(found)), len(found)))
        table_rows.append(("no attack" if family == "none" else family, *cells))
    unmarked = min((nulls[s].size if s in nulls else 0 for s in schemes), default=0)
    unresolved = "" if unmarked >= 1 / fpr else (f" With fewer than {1 / fpr:g}, the threshold is the largest "
                                                 "unmarked score: the rate is not resolved.")
    known = [s for s in schemes if s.startswith(PREFIX)]
    blind = (f" Peers ({', '.join(known)}) have no detector: their score is a known-message test, told the "
             "payload it looks for, which a blind detector is not." if known else "")
    note = (f"Detected: score above the {1 - fpr:g} quantile of the scheme's scores on its unmarked images "
            f"({unmarked} or more); in brackets: detected{_BRACKETS}.{unresolved}{_variants_note(rows)}{blind}"
            f"{_failures(rows)}")
    return Table(title, ("family", *schemes), tuple(table_rows), note=note)


def per_attack(rows: Iterable[Any], *, fpr: float = FPR) -> Table:
    """Per scheme and attack: exact-payload rate, mean bit accuracy, detection rate at ``fpr`` and at p <= 1e-9."""
    rows = as_dicts(rows)
    nulls = _null_scores(rows)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["marked"]:
            groups[(r["scheme"], r["attack"])].append(r)
    table_rows = []
    for (scheme, attack), members in groups.items():
        ok = [r for r in members if not r["error"]]
        null = nulls.get(scheme, np.array([]))
        at_fpr = metrics.detection_rate_at_fpr([r["score"] for r in ok], null, fpr) if null.size else math.nan
        table_rows.append((scheme, attack, members[0]["family"], str(len(ok)),
                           _pct(metrics.exact_payload_rate([r["exact"] for r in ok])),
                           _num(100 * _mean(r["bit_accuracy"] for r in ok), 1),
                           _pct(metrics.detection_rate_at_p([r["p_value"] for r in ok], 1e-9)),
                           _pct(at_fpr), str(len(members) - len(ok))))
    return Table("Per attack", ("scheme", "attack", "family", "images", "exact payload", "bit accuracy %",
                                "found (p ≤ 1e-9)", f"TPR @ {fpr:g} FPR", "errors"), tuple(table_rows),
                 note=f"TPR @ FPR: score above the {1 - fpr:g} quantile of the scheme's scores on unmarked images.")


def quality(rows: Iterable[Any]) -> Table:
    """Per scheme: PSNR, SSIM, SSIMULACRA2 and Butteraugli of the marked images (mean and worst)."""
    rows = [r for r in as_dicts(rows) if r["marked"] and r["attack"] == "none" and not r["error"]]
    table_rows = []
    for scheme in _schemes(rows):
        mine = [r for r in rows if r["scheme"] == scheme]
        cells = [scheme, str(len(mine))]
        for column, worst, digits in (("psnr", np.min, 1), ("ssim", np.min, 4), ("ssimulacra2", np.min, 1),
                                      ("butteraugli", np.max, 2)):
            values = np.array([r[column] for r in mine], dtype=np.float64)
            values = values[np.isfinite(values)]
            cells += [_num(float(np.mean(values)), digits), _num(float(worst(values)), digits)] if values.size \
                else ["–", "–"]
        table_rows.append(tuple(cells))
    return Table("Image quality of the marked images",
                 ("scheme", "images", "PSNR dB (mean)", "PSNR dB (min)", "SSIM (mean)", "SSIM (min)",
                  "SSIMULACRA2 (mean)", "SSIMULACRA2 (min)", "Butteraugli (mean)", "Butteraugli (max)"),
                 tuple(table_rows),
                 note="PSNR over every channel; SSIM on the luma (BT.601), blind to a mark in the colours. "
                      "SSIMULACRA2: 90 is visually lossless, 70 high quality (JPEG q90 of a photograph scores "
                      "about 85-91). Butteraugli: maximum distance, below 1 no visible difference (JPEG q90: "
                      "about 1.5-2).")


def speed(rows: Iterable[Any]) -> Table:
    """Per scheme: median embedding and detection time, in ms and ms per megapixel.

    Detection is timed on the unattacked marked images, and apart on the unmarked ones (where a
    detector with a geometric search runs all of it); attacked images, resized or refused as too
    small, would blur the comparison.
    """
    rows = [r for r in as_dicts(rows) if not r["error"] and r["attack"] == "none"]
    table_rows = []
    for scheme in _schemes(rows):
        marked = [r for r in rows if r["scheme"] == scheme and r["marked"]]
        unmarked = [r for r in rows if r["scheme"] == scheme and not r["marked"]]
        table_rows.append((scheme, _median_ms(marked, "embed_ms"), _median_ms(marked, "embed_ms", per_mp=True),
                           _median_ms(marked, "detect_ms"), _median_ms(marked, "detect_ms", per_mp=True),
                           _median_ms(unmarked, "detect_ms")))
    return Table("Speed (median wall time, one core)", ("scheme", "embed ms", "embed ms/MP", "detect ms",
                                                        "detect ms/MP", "detect ms, unmarked"), tuple(table_rows),
                 note="Detection on the unattacked marked images, and on the unmarked images.")


def _median_ms(rows: list[dict], column: str, *, per_mp: bool = False) -> str:
    """The median of ``column`` over ``rows``, per megapixel of the image if ``per_mp``, formatted."""
    values = [r[column] / (max(r["width"] * r["height"], 1) / 1e6 if per_mp else 1.0) for r in rows]
    return _num(float(np.median(values)) if values else math.nan, 0)


def null_calibration(rows: Iterable[Any], *, fpr: float = FPR) -> Table:
    """Per scheme, on unmarked images: false alarms, p-value calibration and the score threshold at ``fpr``;
    no table (:data:`NOT_MEASURED`) when the run read no unmarked image."""
    rows = [r for r in as_dicts(rows) if not r["marked"]]
    title = "Unmarked images (null): false alarms and p-value calibration"
    columns = ("scheme", "images", "found (false alarms)", "KS distance", "KS p", "p < 0.01", "min p",
               f"score threshold @ {fpr:g}")
    if not rows:
        return Table(title, columns, (), note=NOT_MEASURED)
    failures = _failures(rows)
    rows = [r for r in rows if not r["error"]]
    table_rows = []
    for scheme in _schemes(rows):
        mine = [r for r in rows if r["scheme"] == scheme]
        cal = metrics.calibration([r["p_value"] for r in mine])
        threshold = metrics.threshold_at_fpr([r["score"] for r in mine], fpr)
        table_rows.append((scheme, str(cal.n), str(sum(r["found"] for r in mine)), _num(cal.ks, 3),
                           f"{cal.ks_p_value:.2g}", _pct(cal.below_001), f"{cal.min_p:.2g}", _num(threshold, 2)))
    resolved = min((int(row[1]) for row in table_rows), default=0) >= 1 / fpr
    note = "" if resolved else (f"Fewer than {1 / fpr:g} unmarked images: the threshold at {fpr:g} FPR is the "
                                "largest unmarked score, and the true false-positive rate is not resolved.")
    return Table(title, columns, tuple(table_rows), note=(note + _variants_note(rows) + failures).strip())
