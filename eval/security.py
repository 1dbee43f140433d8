"""The security bars, measured: removal, forgery, collusion and double marking by an attacker with the code.

``python -m eval.security`` marks real photographs (scikit-image's eight colour photographs resized to
1920x1080 by default, ``--size WxH``, or ``--images DIR``) under one key, issues several copies of each
master (distinct payloads, as a registry allocates them), runs the attacks of
``attacks.suite("security")`` and reads every result twice: blind (``watermark.detect``: found,
payload, per-copy layer verified) and informed (``watermark.read_in_frame`` in the frame of the
master the suspect is registered to, against the master's frame as the registry keeps it, or
without it with ``--without-frames``; every payload issued for that master a candidate). It prints
one table per threat and the bars of the security issue with the figures that decide them.
``watermark bench --suite security`` runs the same and writes ``security.md`` and ``security.csv``.

Words: *payload* = blind detect read the exact payload; *verified* = and its per-copy layer was
found; *named* = the informed read named that payload (p <= 1e-9 after the candidates' correction);
*innocent* = an issued payload that was not in the suspect and was named anyway; *false payload* =
a payload read on an image that never carried it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import attacks
import watermark as wm
from attacks.security import subtract_tile
from watermark.registry import frames

from . import images as images_mod
from . import metrics
from .contenders import bench_key
from .tables import Table

__all__ = ["Outcome", "Row", "default_specs", "fit_1080", "run", "write", "bars", "tables", "main", "ISSUED",
           "REMOVAL_GAINS"]

ISSUED = 8                     # copies issued per master (candidates of the informed read)
REMOVAL_GAINS = tuple(a.kwargs["gain"] for a in attacks.suite("security") if a.name == "remove_mark")
_SIZE = (1920, 1080)
_ATTACKER_IMAGES = 16          # images of the same key the multi-image removal folds together


@dataclass
class Outcome:
    """What the two reads said about one attacked image."""

    psnr: float                 # against the image the attacker started from (marked copy or target)
    status: str                 # blind: payload / presence / none
    payload_ok: bool            # blind read the payload the image carried (or a colluder's)
    verified: bool              # ... and verified it
    false_payload: bool         # blind read a payload the image never carried
    false_verified: bool        # ... and verified it
    named: int                  # informed: issued payloads in the image that were named
    innocents: int              # informed: issued payloads not in the image that were named
    carried: int                # issued payloads in the image (0 for a forgery)


@dataclass
class Row:
    """One line of a security table: an attack setting over several images."""

    threat: str
    attack: str
    images: int
    psnr: float
    payload: float              # share of images whose payload blind detect read
    verified: float
    presence: float             # share read as "mark present, payload unreadable"
    named: float                # share of images whose payload(s) the informed read named (all of them)
    some_named: float           # share with at least one of their payloads named
    false_payload: int          # images
    false_verified: int
    innocents: int              # innocent payloads named, over all images
    outcomes: list = field(default_factory=list, repr=False)


def _payloads(master: str, seed: int) -> list[int]:
    """The payloads issued for ``master``: distinct, from a hash (a registry draws them at random)."""
    out = []
    for index in range(ISSUED):
        digest = hashlib.blake2b(f"filigrane-security/{seed}/{master}/{index}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "big"))
    return out


def _informed(image: np.ndarray, key: wm.Key, master: _Master, candidates: list[int]) -> wm.InformedReading:
    """The informed read of ``image`` registered (here: resized) to ``master``'s frame, against the
    master's frame as the registry keeps it (if ``master.frame``)."""
    height, width = master.pixels.shape[:2]
    shape = frames.frame_shape(width, height) if master.frame is not None else (height, width)
    if image.shape[:2] != shape:
        image = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return wm.read_in_frame(image, key, candidates, original=master.frame, master_shape=(height, width))


def _outcome(attacked: np.ndarray, reference: np.ndarray, key: wm.Key, master: _Master,
             candidates: list[int], carried: set[int]) -> Outcome:
    detection = wm.detect(attacked, key)
    reading = _informed(attacked, key, master, candidates)
    named = set(reading.named)
    own = detection.payload is not None and detection.payload in carried
    wrong = detection.payload is not None and detection.payload not in carried
    return Outcome(psnr=metrics.psnr(reference, attacked) if reference.shape == attacked.shape else float("nan"),
                   status=detection.status, payload_ok=own, verified=own and bool(detection.verified),
                   false_payload=wrong, false_verified=wrong and bool(detection.verified),
                   named=len(named & carried), innocents=len(named - carried), carried=len(carried))


def _row(threat: str, attack: str, outcomes: list[Outcome]) -> Row:
    def share(values: list[bool]) -> float:
        return float(np.mean(values)) if values else float("nan")

    carrying = [o for o in outcomes if o.carried]
    psnrs = [o.psnr for o in outcomes if o.psnr == o.psnr]
    return Row(threat=threat, attack=attack, images=len(outcomes),
               psnr=float(np.mean(psnrs)) if psnrs else float("nan"),
               payload=share([o.payload_ok for o in outcomes]), verified=share([o.verified for o in outcomes]),
               presence=share([o.status == "presence" for o in outcomes]),
               named=share([o.named == o.carried for o in carrying]),
               some_named=share([o.named > 0 for o in carrying]),
               false_payload=sum(o.false_payload for o in outcomes),
               false_verified=sum(o.false_verified for o in outcomes),
               innocents=sum(o.innocents for o in outcomes), outcomes=outcomes)


@dataclass
class _Master:
    name: str
    pixels: np.ndarray
    payloads: list[int]
    copies: list[np.ndarray]          # one marked copy per issued payload (made on demand)
    frame: np.ndarray | None          # the master's frame as a registry keeps it (None: a registry without)


def _masters(specs: list[images_mod.ImageSpec], key: wm.Key, seed: int, copies: int,
             with_frames: bool) -> list[_Master]:
    out = []
    for spec in specs:
        pixels = spec.load()
        payloads = _payloads(spec.name, seed)
        frame = frames.decode(frames.encode(pixels), pixels.shape[1], pixels.shape[0]) if with_frames else None
        out.append(_Master(spec.name, pixels, payloads, [wm.embed(pixels, p, key) for p in payloads[:copies]], frame))
    return out


def _jpeg(image: np.ndarray, quality: int, short_side: int | None = None) -> np.ndarray:
    if short_side is not None and min(image.shape[:2]) > short_side:
        scale = short_side / min(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def removal(masters: list[_Master], helpers: list[np.ndarray], key: wm.Key, gains=REMOVAL_GAINS) -> list[Row]:
    """Estimate-and-remove from the copy itself, and from 16 images of the key (distinct payloads, or one)."""
    distinct = [wm.embed(image, _payloads("helper", index)[0], key) for index, image in enumerate(helpers)]
    shared = masters[0].payloads[0]
    same_masters = [wm.embed(m.pixels, shared, key) for m in masters]
    same_helpers = [wm.embed(image, shared, key) for image in helpers]
    setups: dict[str, list[tuple[np.ndarray, int, list[np.ndarray], list[int]]]] = {}
    setups["1 image"] = [(m.copies[0], m.payloads[0], [], m.payloads) for m in masters]
    setups[f"{_ATTACKER_IMAGES} images, distinct payloads"] = [
        (m.copies[0], m.payloads[0], ([o.copies[1] for o in masters if o is not m] + distinct)[:_ATTACKER_IMAGES - 1],
         m.payloads) for m in masters]
    setups[f"{_ATTACKER_IMAGES} images, one payload"] = [
        (same_masters[i], shared,
         ([c for j, c in enumerate(same_masters) if j != i] + same_helpers)[:_ATTACKER_IMAGES - 1],
         [shared] + m.payloads[1:]) for i, m in enumerate(masters)]
    rows = []
    for label, setup in setups.items():
        tiles = [attacks.estimate_tile([copy, *others]) for copy, _, others, _ in setup]   # remove_mark's, once
        for gain in gains:
            outcomes = []
            for (copy, payload, _, candidates), tile, master in zip(setup, tiles, masters):
                attacked = subtract_tile(copy, tile, gain=gain)
                outcomes.append(_outcome(attacked, copy, key, master, candidates, {payload}))
            rows.append(_row(f"removal, {label}", f"remove_mark(gain={gain})", outcomes))
    return rows


def forgery(masters: list[_Master], targets: list[np.ndarray], key: wm.Key) -> list[Row]:
    """The periodic estimate of each master's copy (as published: PNG, JPEG 85, 720p JPEG 80) pasted on
    unrelated photographs; and the whole fine residual pasted too (PNG source), finer than the
    detector's band (8 px) and finer than 64 px (the content the per-copy layer is bound to)."""
    variants: list[tuple[str, Callable[[np.ndarray], np.ndarray], dict]] = [
        ("PNG source", lambda image: image, {}),
        ("JPEG 85 source", lambda image: _jpeg(image, 85), {}),
        ("720p JPEG 80 source", lambda image: _jpeg(image, 80, 720), {}),
        ("PNG source, whole residual", lambda image: image, {"residual": 1.0}),
        ("PNG source, residual to 64 px", lambda image: image, {"residual": 1.0, "band": 64.0}),
    ]
    rows = []
    for label, publish, extra in variants:
        outcomes = []
        for master in masters:
            source = publish(master.copies[0])
            for target in targets:
                if target is master.pixels:
                    continue
                forged = attacks.copy_mark(target, source=source, **extra)
                outcomes.append(_outcome(forged, target, key, master, master.payloads, set()))
        rows.append(_row("forgery", f"copy_mark({', '.join(f'{k}={v}' for k, v in extra.items())}): {label}",
                         outcomes))
    return rows


def collusion(masters: list[_Master], key: wm.Key, trials: int, seed: int) -> list[Row]:
    """Averages and mosaics of K = 2, 3, 4 issued copies of one master, colluders drawn at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for mode in ("average", "mosaic"):
        for k in (2, 3, 4):
            outcomes = []
            for trial in range(trials):
                master = masters[trial % len(masters)]
                chosen = rng.choice(len(master.copies), size=k, replace=False)
                copies = [master.copies[i] for i in chosen]
                if mode == "average":
                    attacked = attacks.collude_average(copies[0], copies=copies[1:])
                else:
                    attacked = attacks.collude_mosaic(copies[0], copies=copies[1:], block=128,
                                                      seed=int(rng.integers(2**31)))
                carried = {master.payloads[i] for i in chosen}
                outcomes.append(_outcome(attacked, copies[0], key, master, master.payloads, carried))
            rows.append(_row("collusion", f"collude_{mode}, K={k}", outcomes))
    return rows


def double_marking(masters: list[_Master], key: wm.Key) -> list[Row]:
    """A second mark under another key, on the copy or after removing its mark; both keys read."""
    rows = []
    for label, function in (("remark()", attacks.remark), ("remove_and_remark()", attacks.remove_and_remark)):
        outcomes, second = [], []
        for index, master in enumerate(masters):
            attacked = function(master.copies[0], seed=index)
            rng = np.random.Generator(np.random.PCG64(index))       # the attacker's key, as the attack drew it
            other = wm.Key(rng.bytes(32))
            second.append(wm.detect(attacked, other).found)
            outcomes.append(_outcome(attacked, master.copies[0], key, master, master.payloads, {master.payloads[0]}))
        row = _row("double marking", label, outcomes)
        row.attack += f" (the attacker's own mark found in {sum(second)}/{len(second)})"
        rows.append(row)
    return rows


def genuine(masters: list[_Master], key: wm.Key) -> list[Row]:
    """Genuine copies after ordinary processing: how often the per-copy layer verifies (not a bar; the cost
    of a 'not verified' on an honest copy)."""
    chosen = [None, attacks.attack("jpeg", quality=50), attacks.attack("rescale", factor=0.5),
              attacks.chain(attacks.attack("downscale", max_side=1080), attacks.attack("jpeg", quality=80)),
              attacks.attack("crop", percent=50, position="bottom-right"),
              attacks.attack("rotate", degrees=5, crop=True), attacks.attack("gaussian_blur", sigma=1.0)]
    rows = []
    for attack in chosen:
        outcomes = []
        for master in masters:
            copy = master.copies[0]
            attacked = copy if attack is None else np.asarray(attack(copy, seed=0))
            detection = wm.detect(attacked, key)
            own = detection.payload == master.payloads[0]
            outcomes.append(Outcome(psnr=float("nan"), status=detection.status, payload_ok=own,
                                    verified=own and bool(detection.verified), false_payload=False,
                                    false_verified=False, named=0, innocents=0, carried=0))
        rows.append(_row("genuine copies", "none" if attack is None else str(attack), outcomes))
    return rows


def default_specs(size: tuple[int, int] = _SIZE) -> list[images_mod.ImageSpec]:
    """scikit-image's eight colour photographs at ``size`` (width, height)."""
    return [images_mod.ImageSpec(f"{s.name}@{size[0]}x{size[1]}", s.source, size=size)
            for s in images_mod.default_images()]


def run(specs: list[images_mod.ImageSpec] | None = None, *, helpers: list[images_mod.ImageSpec] | None = None,
        seed: int = 0, trials: int = 240, with_frames: bool = True,
        progress: Callable[[str], None] | None = None) -> list[Row]:
    """Every threat on ``specs`` (default: the eight photographs at 1920x1080); ``helpers`` are unrelated
    photographs (targets of forgeries, extra images of the key for the 16-image removal), at the first
    spec's size. ``with_frames``: the informed read is against each master's frame, as a registry keeps
    it (`watermark.registry.frames`); without, it reads as a registry that has none."""
    if specs is None:
        specs = default_specs()
    if helpers is None:
        height, width = specs[0].load().shape[:2]
        helpers = [images_mod.ImageSpec(f"{name}@{width}x{height}", f"skimage:{name}", size=(width, height))
                   for name in images_mod.NULL_PHOTOS[:_ATTACKER_IMAGES - len(specs) + 1] if name != "page"]
    key = bench_key(seed)
    say = progress or (lambda message: None)
    say("marking")
    masters = _masters(specs, key, seed, ISSUED, with_frames)
    others = [spec.load() for spec in helpers]
    rows = []
    for name, step in (("genuine copies", lambda: genuine(masters, key)),
                       ("removal", lambda: removal(masters, others, key)),
                       ("forgery", lambda: forgery(masters, [m.pixels for m in masters] + others, key)),
                       ("collusion", lambda: collusion(masters, key, max(1, trials // 6), seed)),
                       ("double marking", lambda: double_marking(masters, key))):
        start = time.perf_counter()
        rows += step()
        say(f"{name}: {time.perf_counter() - start:.0f} s")
    return rows


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.security", description=__doc__.splitlines()[0])
    parser.add_argument("--images", metavar="DIR", type=images_mod.existing,
                        help="photographs to mark (default: scikit-image's, at 1920x1080)")
    parser.add_argument("--size", type=images_mod.one_size, default=_SIZE, metavar="WxH",
                        help="the size of scikit-image's photographs (default: 1920x1080)")
    parser.add_argument("--without-frames", dest="frames", action="store_false",
                        help="read informed as a registry without the masters' frames (before they were kept)")
    parser.add_argument("--limit-images", type=int, metavar="N", help="use only the first N photographs")
    parser.add_argument("--trials", type=int, default=240, help="collusion trials in all (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", metavar="DIR", help="also write security.md and security.csv there")
    args = parser.parse_args(argv)
    specs = default_specs(args.size)
    if args.images:
        specs = [images_mod.ImageSpec(s.name, s.source, size=fit_1080(s)) for s in images_mod.images_from(args.images)]
    if args.limit_images:
        specs = specs[:args.limit_images]
    rows = run(specs, seed=args.seed, trials=args.trials, with_frames=args.frames,
               progress=lambda m: print(m, file=sys.stderr, flush=True))
    for table in tables(rows):
        print(table.to_markdown())
        print()
    for line in bars(rows):
        print(line)
    if args.out:
        write(rows, Path(args.out), "python -m eval.security " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


def fit_1080(spec: images_mod.ImageSpec) -> tuple[int, int]:
    """1080 px on the short side, as a publication would have it."""
    height, width = spec.load().shape[:2]
    scale = 1080 / min(height, width)
    return round(width * scale), round(height * scale)


if __name__ == "__main__":
    sys.exit(main())
