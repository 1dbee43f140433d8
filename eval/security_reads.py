"""What the two reads of a security run (`eval.security`) say about an attacked image, and a setting's
images tallied: blind (``watermark.detect``: found, payload, per-copy layer verified) and informed
(``watermark.read_in_frame`` in the frame of the master the suspect is registered to, against the
master's frame as the registry keeps it when it does; every payload issued for that master a candidate).

Words: *payload* = blind detect read the exact payload; *verified* = and its per-copy layer was
found; *named* = the informed read named that payload (p <= 1e-9 after the candidates' correction);
*innocent* = an issued payload that was not in the suspect and was named anyway; *false payload* =
a payload read on an image that never carried it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

import watermark as wm
from watermark.registry import frames

from . import metrics
from .security_copies import Master

__all__ = ["Outcome", "Row", "outcome_of", "row_of"]


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


def _informed(image: np.ndarray, key: wm.Key, master: Master, candidates: list[int]) -> wm.InformedReading:
    """The informed read of ``image`` registered (here: resized) to ``master``'s frame, against the
    master's frame as the registry keeps it (if ``master.frame``)."""
    height, width = master.pixels.shape[:2]
    shape = frames.frame_shape(width, height) if master.frame is not None else (height, width)
    if image.shape[:2] != shape:
        image = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return wm.read_in_frame(image, key, candidates, original=master.frame, master_shape=(height, width))


def outcome_of(attacked: np.ndarray, reference: np.ndarray, key: wm.Key, master: Master,
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


def row_of(threat: str, attack: str, outcomes: list[Outcome]) -> Row:
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
