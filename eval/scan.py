"""The attribution bars of ``watermark scan``, measured on photographs with a real registry.

``python -m eval.scan`` issues two copies (two recipients) of each photograph at 1920x1080 into a
temporary registry, then scans, in this process, what a crawl would hold, and prints:

1. per attack class of `eval.acceptance`: the share of copies whose exact payload a blind read
   gives, beside the share that ``scan`` attributes to the right recipient (bar: the same or better);
2. per partial or perspective change (perspective warp 6 %, camera tilt 20 degrees, bending 5 px,
   a crop to 5 % of the area, crops to 60 % and 40 % at a corner or the centre, the copy at 0.25
   scale in a collage): blind exact payload vs scan
   attributions of the right copy (bar: >= 95 %), scanned with ``--partial``, with the master files
   at hand (the default: read against them) and as if they had moved away (``--no-originals``); and
   the masters whose copy the first scan did not name;
3. false attributions: unrelated photographs and their crops, marks copied onto unrelated
   photographs, and composites of unrelated photographs with a copy's whole fine residual, scanned
   against the registry (bar: 0 attributions; the forgeries also with the master files moved away,
   read against the registry's frames); a fellow recipient's framing (their copy denoised, the other
   recipient's periodic mark pasted on it: never attributed to the other); a fellow recipient's band
   swap (`attacks.swap_band`: their full copy with the band of the other's 1280 px web copy, a known
   weakness: measured, no bar); and the CPU time each unrelated file took.

A copy is *attributed* when its per-copy layer is verified, and *named* when the scan gives it,
attributed or ``unverified`` (its periodic mark in its master's content, the layer not found).

``--images DIR`` adds your photographs as masters (the unrelated ones stay scikit-image's);
``--size WxH`` issues the masters at another size and resizes the forgeries' targets to it too;
``--figure PATH`` saves the 64 px composites, each labelled with the scan's status and likeness;
``--strength S`` issues the copies at another strength (what a collage of smooth photographs needs:
see the README), ``--partial TEXT`` keeps the partial changes whose name contains it, ``--no-forgeries``
leaves the forgeries, framings and band swaps out of part 3 (``--unrelated 0`` its unrelated images).
Each part says on stderr what it scans and how many files, and counts them on a progress bar there
when stderr is a terminal; stdout gets the tables and counts. Each run draws
a fresh key and payloads unless ``--seed N`` fixes them: a revision's ``watermark/`` put first on
``PYTHONPATH`` then reads the same copies, for a side-by-side comparison (the embedder unchanged).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import attacks
import watermark as wm
from watermark.cli.batch import Lines
from watermark.registry import Registry, issue_file
from watermark.scan import Scanner, ScanOptions
from watermark.sources import Source

from . import acceptance, images, suspects
from .cache import atomic_write_bytes

__all__ = ["main"]

_SIZE = (1920, 1080)
_RECIPIENTS = ("Agence X", "Studio Y")
# marks copied onto unrelated photographs (attacks.copy_mark): the periodic estimate alone, and with
# the copy's whole fine residual (its per-copy layer and detail, enough for features to register the
# master) to the detector's band and to 64 px
_DENOISE = attacks.attack("denoise", strength=5)    # what wears a copy's per-copy layer away (README)
_WEB = attacks.chain(attacks.attack("downscale", max_side=1280), attacks.attack("jpeg", quality=85))  # published
_COLUMNS = ("scan attributes the copy", "names it, unverified too")
_FORGERIES = {"periodic marks pasted": {}, "composites with a copy's residual (8 px)": {"residual": 1.0},
              "composites with a copy's residual (64 px)": {"residual": 1.0, "band": 64.0}}


def _masters(folder: Path, extra: str | None, size: tuple[int, int]) -> list[Path]:
    specs = images.default_images() + (images.images_from(extra) if extra else [])
    paths = []
    for spec in specs:
        pixels = cv2.resize(np.ascontiguousarray(spec.load()[:, :, :3]), size, interpolation=cv2.INTER_AREA)
        path = folder / f"{Path(spec.name).stem}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _issue(root: Path, masters: list[Path], key: wm.Key, strength: float,
           payloads: np.random.Generator | None) -> dict[tuple[str, str], tuple[np.ndarray, int]]:
    """(master stem, recipient) -> (the issued copy's pixels, its payload), marked at ``strength``; the
    payloads drawn from ``payloads`` when given, else by the registry."""
    copies = {}
    with Registry(root / "r.db", create=True) as registry:
        registry.add_key(key)
        for recipient in _RECIPIENTS:
            for master in masters:
                output = root / recipient.split()[-1] / master.name
                output.parent.mkdir(exist_ok=True)
                payload = None if payloads is None else int(payloads.integers(0, 2**63, dtype=np.int64))
                issued = issue_file(registry, master, output, key, payload=payload, recipient=recipient,
                                    strength=strength)
                copies[(master.stem, recipient)] = (np.asarray(Image.open(output).convert("RGB")),
                                                    issued.record.payload)
    return copies


def _stage(title: str, scans: int, what: str) -> Lines:
    """Say on stderr which part runs, what it scans and how many scans that is; the `Lines` returned
    count them on a progress bar there when stderr is a terminal (each `_scan` advances it)."""
    print(f"eval.scan: {title}: {scans} scans ({what})", file=sys.stderr, flush=True)
    return Lines(scans, title)


def _scan(scanner: Scanner, pixels: np.ndarray, folder: Path, name: str, progress: Lines,
          cpu: list[float] | None = None) -> dict:
    """The scanner's row for ``pixels`` saved as a PNG file, counted on ``progress``; the CPU seconds the
    scan took (writing the file left out) appended to ``cpu``."""
    path = folder / f"{name}.png"
    Image.fromarray(pixels).save(path)
    start = time.process_time()
    row = scanner(Source(str(path), str(path)))
    if cpu is not None:
        cpu.append(time.process_time() - start)
    path.unlink()
    progress.advance()
    return row


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels[:, :, :3])


def _found(row: dict, payload: int) -> tuple[bool, bool]:
    """Whether the row attributes the copy of ``payload`` (its per-copy layer verified), and whether it
    names it at all (attributed, or unverified: its periodic mark in its master's content). A collage of
    issued copies names each."""
    marks = [mark for mark in row["marks"] or [] if mark["payload"] == f"{payload:#018x}" and mark["content_match"]
             and mark["record"] and not mark["doubt"]]
    return any(mark["attributed"] for mark in marks), bool(marks)


def _attributed(rows: list[dict]) -> str:
    """How many ``rows`` are attributed, with the likeness to their master's picture of those that are
    (a composite that shows the master's picture is that copy edited, not a forgery of it)."""
    matches = [row["match"] for row in rows if row["status"] == "attributed"]
    shown = sorted(f"{m['likeness']:.2f}" if "likeness" in m else "hash match" for m in matches)
    return f"{len(matches)}" + (f" (likeness {', '.join(shown)})" if shown else "")


def _figure(forged: list[np.ndarray], rows: list[dict], path: Path, width: int = 256, columns: int = 4) -> None:
    """The composites side by side, ``width`` px wide each, labelled with the scan's status and, where it
    registered one, the likeness to the master's picture."""
    cells = []
    for pixels, row in zip(forged, rows):
        size = (width, round(pixels.shape[0] * width / pixels.shape[1]))
        cell = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        likeness = (row["match"] or {}).get("likeness")
        label = row["status"] + ("" if likeness is None else f", likeness {likeness:.2f}")
        cv2.rectangle(cell, (0, 0), (width, 22), (0, 0, 0), -1)
        cv2.putText(cell, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        cells.append(cell)
    height = max(cell.shape[0] for cell in cells)
    cells = [cv2.copyMakeBorder(c, 0, height - c.shape[0], 0, 0, cv2.BORDER_CONSTANT) for c in cells]
    cells += [np.zeros_like(cells[0])] * (-len(cells) % columns)
    grid = np.vstack([np.hstack(cells[i:i + columns]) for i in range(0, len(cells), columns)])
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"),
                               quality=85)
    atomic_write_bytes(path, buffer.getvalue())
    print(f"composites saved to {path}")


def _framed(copies: dict, *scanners: Scanner, folder: Path, progress: Lines) -> str:
    """A fellow recipient framing another: each second recipient's copy, denoised (its own layers worn
    away), with the periodic mark of the first recipient's copy of the same master pasted on it. How
    many the scanners attribute to the first (the bar: none), to the second, or name unverified."""
    counts = []
    for scanner in scanners:
        framed = attributed_to_own = unverified = 0
        for (stem, recipient), (pixels, own) in copies.items():
            if recipient != _RECIPIENTS[1]:
                continue
            source, pasted = copies[(stem, _RECIPIENTS[0])]
            forged = attacks.copy_mark(_DENOISE(pixels), source=source)
            row = _scan(scanner, forged, folder, f"framed-{stem}", progress)
            framed += _found(row, pasted)[0]
            attributed_to_own += _found(row, own)[0]
            unverified += row["status"] == "unverified"
        counts.append(f"{framed} attributed to the framed recipient, {attributed_to_own} to the forger, "
                      f"{unverified} unverified")
    return (f"{len(copies) // 2} copies denoised with another's periodic mark pasted: {counts[0]} "
            f"(master files moved away: {counts[1]})")


def _swapped(copies: dict, *scanners: Scanner, folder: Path, progress: Lines) -> str:
    """A fellow recipient's band swap (`attacks.swap_band`): each second recipient's full copy with the
    band that the first recipient's web copy (1280 px, JPEG 85) holds taken from it. How many the
    scanners attribute to the first recipient and not the forger (a framing), and to the forger."""
    counts = []
    for scanner in scanners:
        framed = attributed_to_own = 0
        for (stem, recipient), (pixels, own) in copies.items():
            if recipient != _RECIPIENTS[1]:
                continue
            source, pasted = copies[(stem, _RECIPIENTS[0])]
            forged = attacks.swap_band(pixels, source=_WEB(source), quality=85)
            row = _scan(scanner, forged, folder, f"swapped-{stem}", progress)
            own_attributed = _found(row, own)[0]
            framed += _found(row, pasted)[0] and not own_attributed
            attributed_to_own += own_attributed
        counts.append(f"{framed} attributed to the framed recipient and not the forger, {attributed_to_own} to the "
                      "forger")
    return (f"{len(copies) // 2} copies whose web band was swapped for another's web copy: {counts[0]} "
            f"(master files moved away: {counts[1]})")


def _false(args: argparse.Namespace, unrelated: list[images.ImageSpec], bases: list[images.ImageSpec],
           copies: dict, masters: list[Path], scanners: tuple[Scanner, Scanner], folder: Path, progress: Lines,
           cpu: list[float]) -> list[str]:
    """Part 3's counts: the ``unrelated`` images scanned with the first of ``scanners`` (``--partial``, the
    master files at hand), the CPU each took appended to ``cpu``; then, each with both scanners (the
    master files at hand and moved away), the forgeries made on ``bases`` (none: left out), the framings
    and the band swaps."""
    partial_scan, moved_scan = scanners
    attributed = sum(_scan(partial_scan, _rgb(spec.load()), folder, f"u{index}", progress, cpu)["status"]
                     == "attributed" for index, spec in enumerate(unrelated))
    counts = [f"{attributed} of {len(unrelated)} unrelated images and crops"]
    if not bases:
        return counts
    targets = [np.ascontiguousarray(replace(spec, size=args.size).load()) for spec in bases]
    sources = [copies[(masters[i % len(masters)].stem, _RECIPIENTS[0])][0] for i in range(len(targets))]
    for label, extra in _FORGERIES.items():       # with the master files, and with the registry's frames
        forged = [attacks.copy_mark(_rgb(target), source=source, **extra) for target, source in zip(targets, sources)]
        with_files, frames_only = ([_scan(scanner, pixels, folder, f"f{index}", progress)
                                    for index, pixels in enumerate(forged)] for scanner in scanners)
        if args.figure and extra.get("band"):
            _figure(forged, with_files, Path(args.figure))
        counts.append(f"{_attributed(with_files)} of {len(forged)} {label} ({_attributed(frames_only)} with the "
                      "master files moved away)")
    counts.append(_framed(copies, *scanners, folder=folder, progress=progress))
    counts.append(_swapped(copies, *scanners, folder=folder, progress=progress))
    return counts


def _blind(pixels: np.ndarray, key: wm.Key, payload: int) -> bool:
    return wm.detect(pixels, key).payload == payload


def _table(title: str, results: dict[str, list[tuple[bool, ...]]], bar: str,
           columns: tuple[str, ...] = ("scan attributes the copy",)) -> None:
    """One row per attack: the blind rate, then each scan's (``columns``); the bar is the first scan's."""
    header = " | ".join(("attack", "blind exact payload", *columns, bar))
    print(f"\n{title}\n\n| {header} |\n|{'---|' * (len(columns) + 3)}")
    for name, outcomes in results.items():
        blind, *scanned = np.mean(np.array(outcomes, dtype=bool), axis=0)
        met = scanned[0] >= 0.95 if bar.startswith(">=") else scanned[0] >= blind
        print(f"| {name} | {blind:.0%} | {' | '.join(f'{rate:.0%}' for rate in scanned)} | {'yes' if met else 'NO'} |",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.scan", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=images.existing, help="more photographs to issue (a directory or files)")
    parser.add_argument("--per-class", type=int, default=1, help="attacks per acceptance class (default 1)")
    parser.add_argument("--classes", default="", help="only the acceptance classes whose name contains this")
    parser.add_argument("--unrelated", type=int, default=1000, help="unrelated images to scan (default 1000)")
    parser.add_argument("--seeds", type=int, default=2, help="random draws per partial change (default 2)")
    parser.add_argument("--partial", default="", help="only the partial changes whose name contains this")
    parser.add_argument("--forgeries", action=argparse.BooleanOptionalAction, default=True,
                        help="scan the forgeries, framings and band swaps for false attributions (default; "
                             "--no-forgeries leaves them out, --unrelated 0 the unrelated images)")
    parser.add_argument("--size", type=images.one_size, metavar="WxH",
                        help="the masters' size and the forgeries' targets' (default: masters at 1920x1080, "
                             "targets at their own sizes)")
    parser.add_argument("--figure", metavar="PATH",
                        help="save the 64 px composites, each labelled with what the scan made of it, as one image")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="embedding strength of the issued copies (default 1: the default mark)")
    parser.add_argument("--seed", type=int,
                        help="draw the key and the payloads from this seed (default: fresh ones each run): "
                             "two revisions then read the same copies")
    args = parser.parse_args(argv)
    if args.figure and not args.forgeries:
        parser.error("--figure saves the forgeries' composites: drop --no-forgeries")

    key = wm.Key.generate() if args.seed is None else wm.Key.from_passphrase(f"eval.scan seed {args.seed}")
    payloads = None if args.seed is None else np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "masters").mkdir()
        (root / "suspects").mkdir()
        size = args.size or _SIZE
        masters = _masters(root / "masters", args.images, size)
        copies = _issue(root, masters, key, args.strength, payloads)
        blind_scan = Scanner(str(root / "r.db"), [key], ScanOptions())
        partial_scan = Scanner(str(root / "r.db"), [key], ScanOptions(partial=True))
        moved_scan = Scanner(str(root / "r.db"), [key], ScanOptions(partial=True, originals=False))
        print(f"{len(masters)} masters at {size[0]}x{size[1]}, {len(copies)} copies issued at strength "
              f"{args.strength:g}", flush=True)

        firsts = [(stem, pixels, payload) for (stem, recipient), (pixels, payload) in copies.items()
                  if recipient == _RECIPIENTS[0]]
        by_class: dict[str, list[tuple[bool, ...]]] = defaultdict(list)
        chosen = [(name, attack) for name, _, group in acceptance.CLASSES if args.classes.lower() in name.lower()
                  for attack in group[:args.per_class]]
        with _stage("acceptance attacks", len(chosen) * len(firsts),
                    f"{len(chosen)} attacks on {len(firsts)} copies, scanned blind") as progress:
            for name, attack in chosen:
                for stem, pixels, payload in firsts:
                    suspect = attack(pixels, seed=0)
                    row = _scan(blind_scan, suspect, root / "suspects", stem, progress)
                    by_class[f"{name}: {attack}"].append((_blind(suspect, key, payload), *_found(row, payload)))
        _table(f"Attribution after the acceptance attacks ({size[0]}x{size[1]}, one recipient's copies)", by_class,
               "scan >= blind", _COLUMNS)

        others = [pixels for (stem, recipient), (pixels, _) in copies.items() if recipient == _RECIPIENTS[1]]
        partial: dict[str, list[tuple[bool, ...]]] = defaultdict(list)
        lost: dict[str, list[str]] = defaultdict(list)      # the masters whose copy scan --partial missed
        changes = {change: make for change, make in suspects.PARTIAL.items() if args.partial.lower() in change.lower()}
        with _stage("partial changes", 2 * len(changes) * args.seeds * len(firsts),
                    f"{len(changes)} changes x {args.seeds} draws of {len(firsts)} copies, each scanned with "
                    "--partial, with the master files and without") as progress:
            for change, make in changes.items():
                for seed in range(args.seeds):
                    for index, (stem, pixels, payload) in enumerate(firsts):
                        suspect = make(pixels, others[index + 1:] + others[:index], seed)
                        found, moved = (_found(_scan(scanner, suspect, root / "suspects", stem, progress), payload)
                                        for scanner in (partial_scan, moved_scan))
                        partial[change].append((_blind(suspect, key, payload), *found, *moved))
                        if not found[1]:
                            lost[change].append(f"{stem} (seed {seed})" if args.seeds > 1 else stem)
        _table("Informed detection: partial and perspective changes (scan --partial)", partial, ">= 95 %",
               _COLUMNS + tuple(f"{column}, master files moved away" for column in _COLUMNS))
        for change, stems in lost.items():
            print(f"  not named, {change}: {', '.join(stems)}")

        cpu: list[float] = []
        unrelated = images.null_images(args.unrelated, min_side=256)
        bases = images.null_images(len(images.NULL_PHOTOS)) if args.forgeries else []
        forgeries = 2 * (len(_FORGERIES) * len(bases) + 2 * len(others)) if args.forgeries else 0
        if unrelated or forgeries:
            what = [f"{len(unrelated)} unrelated images (--unrelated)"] if unrelated else []
            what += [f"{len(_FORGERIES) * len(bases)} forgeries and {2 * len(others)} framings and band swaps, "
                     "with the master files and without (--no-forgeries leaves them out)"] if forgeries else []
            with _stage("false attributions", len(unrelated) + forgeries, "; ".join(what)) as progress:
                counts = _false(args, unrelated, bases, copies, masters, (partial_scan, moved_scan),
                                root / "suspects", progress, cpu)
            print(f"\nFalse attributions, scanned with --partial: {'; '.join(counts)}")
        if cpu:
            print(f"CPU per unrelated file, scanned with --partial (the scan alone): "
                  f"mean {1000 * np.mean(cpu):.0f} ms, median {1000 * np.median(cpu):.0f} ms")
        for scanner in (blind_scan, partial_scan, moved_scan):
            scanner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
