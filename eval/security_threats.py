"""The threats of a security run (`eval.security`), each run on the issued copies with the attacks of
``attacks.suite("security")``: estimate-and-remove (from the copy alone, or from 16 images of the key),
copy forgeries, collusion by averaging and mosaic, double marking; and genuine copies after ordinary
processing, for the cost of a 'not verified' on an honest copy. Each gives its rows of `Row`.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

import attacks
import watermark as wm
from attacks.security import subtract_tile

from .security_copies import Master, issued_payloads
from .security_reads import Outcome, Row, outcome_of, row_of

__all__ = ["removal", "forgery", "collusion", "double_marking", "genuine", "REMOVAL_GAINS", "ATTACKER_IMAGES"]

REMOVAL_GAINS = tuple(a.kwargs["gain"] for a in attacks.suite("security") if a.name == "remove_mark")
ATTACKER_IMAGES = 16          # images of the same key the multi-image removal folds together


def _jpeg(image: np.ndarray, quality: int, short_side: int | None = None) -> np.ndarray:
    if short_side is not None and min(image.shape[:2]) > short_side:
        scale = short_side / min(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def removal(masters: list[Master], helpers: list[np.ndarray], key: wm.Key, gains=REMOVAL_GAINS) -> list[Row]:
    """Estimate-and-remove from the copy itself, and from 16 images of the key (distinct payloads, or one)."""
    distinct = [wm.embed(image, issued_payloads("helper", index)[0], key) for index, image in enumerate(helpers)]
    shared = masters[0].payloads[0]
    same_masters = [wm.embed(m.pixels, shared, key) for m in masters]
    same_helpers = [wm.embed(image, shared, key) for image in helpers]
    setups: dict[str, list[tuple[np.ndarray, int, list[np.ndarray], list[int]]]] = {}
    setups["1 image"] = [(m.copies[0], m.payloads[0], [], m.payloads) for m in masters]
    setups[f"{ATTACKER_IMAGES} images, distinct payloads"] = [
        (m.copies[0], m.payloads[0], ([o.copies[1] for o in masters if o is not m] + distinct)[:ATTACKER_IMAGES - 1],
         m.payloads) for m in masters]
    setups[f"{ATTACKER_IMAGES} images, one payload"] = [
        (same_masters[i], shared,
         ([c for j, c in enumerate(same_masters) if j != i] + same_helpers)[:ATTACKER_IMAGES - 1],
         [shared] + m.payloads[1:]) for i, m in enumerate(masters)]
    rows = []
    for label, setup in setups.items():
        tiles = [attacks.estimate_tile([copy, *others]) for copy, _, others, _ in setup]   # remove_mark's, once
        for gain in gains:
            outcomes = []
            for (copy, payload, _, candidates), tile, master in zip(setup, tiles, masters):
                attacked = subtract_tile(copy, tile, gain=gain)
                outcomes.append(outcome_of(attacked, copy, key, master, candidates, {payload}))
            rows.append(row_of(f"removal, {label}", f"remove_mark(gain={gain})", outcomes))
    return rows


def forgery(masters: list[Master], targets: list[np.ndarray], key: wm.Key) -> list[Row]:
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
                outcomes.append(outcome_of(forged, target, key, master, master.payloads, set()))
        rows.append(row_of("forgery", f"copy_mark({', '.join(f'{k}={v}' for k, v in extra.items())}): {label}",
                           outcomes))
    return rows


def collusion(masters: list[Master], key: wm.Key, trials: int, seed: int) -> list[Row]:
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
                outcomes.append(outcome_of(attacked, copies[0], key, master, master.payloads, carried))
            rows.append(row_of("collusion", f"collude_{mode}, K={k}", outcomes))
    return rows


def double_marking(masters: list[Master], key: wm.Key) -> list[Row]:
    """A second mark under another key, on the copy or after removing its mark; both keys read."""
    rows = []
    for label, function in (("remark()", attacks.remark), ("remove_and_remark()", attacks.remove_and_remark)):
        outcomes, second = [], []
        for index, master in enumerate(masters):
            attacked = function(master.copies[0], seed=index)
            rng = np.random.Generator(np.random.PCG64(index))       # the attacker's key, as the attack drew it
            other = wm.Key(rng.bytes(32))
            second.append(wm.detect(attacked, other).found)
            outcomes.append(outcome_of(attacked, master.copies[0], key, master, master.payloads, {master.payloads[0]}))
        row = row_of("double marking", label, outcomes)
        row.attack += f" (the attacker's own mark found in {sum(second)}/{len(second)})"
        rows.append(row)
    return rows


def genuine(masters: list[Master], key: wm.Key) -> list[Row]:
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
        rows.append(row_of("genuine copies", "none" if attack is None else str(attack), outcomes))
    return rows
