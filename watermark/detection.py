"""The answer of a detector: one small, self-describing value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Detection", "Geometry", "STATUSES", "CandidateEvidence", "InformedReading"]

STATUSES = ("payload", "presence", "none")   # what a Detection says, see Detection.status
_SOME_EVIDENCE = 1e-3     # a p-value under which "no mark" says it is the threshold that was not reached


@dataclass(frozen=True)
class Geometry:
    """The distortion a detection undid, read from its ``transform``.

    The suspect is the marked image after, in this order: a horizontal ``flipped`` mirror, a
    ``shear`` (x += shear * y), a scaling by ``scale`` (x, y), and a counter-clockwise rotation by
    ``degrees`` as displayed. The marked image is taken at the size given to `watermark.detect` as
    ``marked_shape``, else at the suspect's own size: an untouched copy then reads ``scaled 1 x 1``
    whatever its size, and so does a copy resized as a whole (a mark made at a fixed working
    resolution cannot tell it from an original of that size); a copy cropped after resizing reads
    the scale relative to its own size.

    Attributes
    ----------
    degrees : float
        Counter-clockwise rotation, in (-180, 180]; a vertical flip reads as ``flipped`` and 180.
    scale : tuple of float
        Suspect pixels per pixel of the marked image, along x and y.
    shear : float
        Horizontal shear of the marked image before scaling.
    flipped : bool
        The suspect is mirrored.
    offset : tuple of float
        Where the suspect's top-left pixel lies in the marked image, in its pixels, modulo the
        tile's period there (128 px of its working resolution, `color.working_side`: ``128 * short side
        / 512`` up to a 768 px short side, 192 px up to 1086 px, ``128 * short side / 724`` beyond).
    """

    degrees: float
    scale: tuple[float, float]
    shear: float
    flipped: bool
    offset: tuple[float, float]

    def __str__(self) -> str:
        mirror = "mirrored, " if self.flipped else ""
        return (f"{mirror}rotated {_plain(self.degrees, 2):.2f} deg, "
                f"scaled {_plain(self.scale[0], 4):.4g} x {_plain(self.scale[1], 4):.4g}, "
                f"shear {_plain(self.shear, 4):.3g}, "
                f"offset ({_plain(self.offset[0], 1):.1f}, {_plain(self.offset[1], 1):.1f})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields, rounded."""
        return _rounded(self)

    @classmethod
    def from_transform(cls, transform: np.ndarray) -> Geometry:
        """Decompose a 2x3 suspect (x, y) -> mark-frame affine map (``Detection.transform``)."""
        forward = np.linalg.inv(np.asarray(transform, dtype=np.float64)[:, :2])   # frame -> suspect
        flipped = bool(np.linalg.det(forward) < 0)
        if flipped:
            forward = forward @ np.diag([-1.0, 1.0])
        # forward = R(degrees) @ [[sx, sx * shear], [0, sy]], R counter-clockwise with y pointing down
        radians = np.arctan2(-forward[1, 0], forward[0, 0])
        c, s = np.cos(radians), np.sin(radians)
        upper = np.array([[c, -s], [s, c]]) @ forward
        degrees = float(np.degrees(radians))
        return cls(degrees=degrees + 360.0 if degrees <= -180.0 else degrees,
                   scale=(float(upper[0, 0]), float(upper[1, 1])),
                   shear=float(upper[0, 1] / upper[0, 0]), flipped=flipped,
                   offset=(float(transform[0][2]), float(transform[1][2])))


@dataclass(frozen=True, eq=False)  # eq=False: == on array fields is ambiguous
class Detection:
    """What `detect` found in one image; "no mark" is an answer, never an exception.

    Attributes
    ----------
    found : bool
        ``p_value`` is at or below the false-alarm rate the caller asked for.
    payload : int or None
        The CRC-checked payload; None when no mark is found or the mark is unreadable.
    p_value : float
        Probability that an image without this key's mark scores at least ``score``,
        accounting for every hypothesis the detector tried.
    score : float
        The statistic behind ``p_value`` (a normalised correlation peak, in standard deviations).
    bits : numpy.ndarray
        Soft score per coded bit (read-only); > 0 reads as 1.
    scheme : str
        Name of the scheme that answered.
    transform : numpy.ndarray or None
        The 2x3 affine map from the suspect's pixel coordinates (x, y) to the marked image's, its
        translation modulo the tile's period in the marked image's pixels; None when nothing was
        found. The marked image is taken at ``marked_shape`` when `watermark.detect` was given it,
        else at the suspect's own size, so an untouched copy maps by the identity.
        :attr:`geometry` reads it as rotation, scale, shear, flip and offset.
    verified : bool or None
        Whether the payload's *per-copy layer* (a second, non-periodic layer bound to the image's
        content, which a mark lifted from another image does not carry) was found too. True: it is
        present (``verification_p_value`` <= the false-alarm rate). False: it is absent or too weak to
        confirm: the payload was read, but the mark may have been copied from another image, or
        made before the layer existed, or worn down by the attack. None: not checked (no payload,
        or a scheme without the layer). Neither value is an attribution: that needs the registry
        and the content to match (``watermark scan``).
    verification_p_value : float or None
        The per-copy layer's p-value (every tile offset tried paid for), None when not checked.
    """

    found: bool
    payload: int | None
    p_value: float
    score: float
    bits: np.ndarray = field(repr=False)
    scheme: str
    transform: np.ndarray | None = field(default=None, repr=False)
    verified: bool | None = None
    verification_p_value: float | None = None

    def __post_init__(self) -> None:
        bits = np.array(self.bits, dtype=np.float32)
        bits.setflags(write=False)
        object.__setattr__(self, "bits", bits)

    @property
    def payload_text(self) -> str | None:
        """The payload as text, when its bytes (leading zero bytes dropped) are printable UTF-8, as
        ``watermark embed --payload-text`` or a bytes payload makes them; else None."""
        if self.payload is None:
            return None
        data = self.payload.to_bytes(8, "big").lstrip(b"\0")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text if text and text.isprintable() else None

    @property
    def geometry(self) -> Geometry | None:
        """The distortion that was undone, or None when nothing was found."""
        return None if self.transform is None else Geometry.from_transform(self.transform)

    @property
    def status(self) -> str:
        """"payload" (a payload was read), "presence" (this key's mark is present, payload unreadable)
        or "none" (no mark of this key found). A blind read is never an attribution."""
        if self.payload is not None:
            return "payload"
        return "presence" if self.found else "none"

    def __str__(self) -> str:
        if self.status == "payload":
            what = f"payload {self.payload:#018x}" + (f" {self.payload_text!r}" if self.payload_text else "")
        elif self.status == "presence":
            what = "this key's mark is present, payload unreadable"
        elif self.p_value < _SOME_EVIDENCE:     # not nothing: say what was not reached
            what = "no mark at the false-alarm threshold"
        else:
            what = "no mark"
        text = f"{what} (p={self.p_value:.3g}, {self.scheme})"
        if self.verified is True:
            text += "; per-copy layer present (a blind read is not an attribution: see `watermark scan`)"
        elif self.verified is False:
            text += ("; per-copy layer not verified: a small or worn copy, or a large photograph's (its layer is "
                     "fainter), often reads so, and so does a mark copied "
                     "from another image (see `watermark scan`)")
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (no per-bit array)."""
        return {
            "found": self.found,
            "status": self.status,
            "payload": None if self.payload is None else f"{self.payload:#018x}",
            "payload_text": self.payload_text,
            "p_value": self.p_value,
            "score": round(self.score, 4),
            "verified": self.verified,
            "verification_p_value": self.verification_p_value,
            "scheme": self.scheme,
            "transform": None if self.transform is None else (np.round(self.transform, 5) + 0.0).tolist(),
            "geometry": None if self.geometry is None else self.geometry.to_dict(),
        }


def _plain(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` decimals, with no negative zero (which prints as -0.00)."""
    return round(value, digits) + 0.0


def _rounded(geometry: Geometry) -> dict[str, Any]:
    return {"degrees": _plain(geometry.degrees, 3), "scale": [_plain(v, 5) for v in geometry.scale],
            "shear": _plain(geometry.shear, 5), "flipped": geometry.flipped,
            "offset": [_plain(v, 2) for v in geometry.offset]}


@dataclass(frozen=True)
class CandidateEvidence:
    """One candidate payload's per-copy layer in an informed read.

    Attributes
    ----------
    payload : int
        The candidate (an issued copy's payload).
    score : float
        The per-copy statistic ``T`` (unit variance without this payload's layer).
    p_value : float
        Probability that a suspect without this payload's layer scores at least ``score``, multiplied
        by the number of candidates tested together (Bonferroni).
    present : bool
        ``p_value`` is at or below the false-alarm rate of the read.
    inverted : bool
        The layer is there with its sign reversed, as strongly (the lower tail's p-value, paying for the
        same candidates, at or below the false-alarm rate): the suspect was made by subtracting this copy
        (a difference of copies), which no processing of a copy does.
    """

    payload: int
    score: float
    p_value: float
    present: bool
    inverted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"payload": f"{self.payload:#018x}", "score": round(self.score, 4), "p_value": self.p_value,
                "present": self.present, "inverted": self.inverted}


@dataclass(frozen=True, eq=False)
class InformedReading:
    """What an informed read found in a suspect already resampled into a master's frame.

    The periodic layer is read at the identity geometry (``found``, ``payload``, ``p_value``,
    ``score``: the blind-at-identity reading, which a pasted mark also gives), and each candidate
    payload's per-copy layer is tested (``candidates``), which a pasted mark does not give. Named
    payloads are evidence that those copies went into the suspect, not yet an attribution: that
    also needs the suspect's content to match the master (registration did it) and the registry.

    Attributes
    ----------
    found, payload, p_value, score
        The periodic layer at the identity (offsets within 3 px and 2 band weightings: 98 hypotheses).
        Its payload is the candidate whose whole codeword matches the layer best, if that match's
        p-value (times the number of candidates) is at most the read's false-alarm rate (``p_value``
        is then that match's), else what the decoder gives.
    candidates : tuple of CandidateEvidence
        Per candidate, in the order given.
    units : int
        Valid 32 px units the per-copy statistic was read on (its maximum is ``sqrt(units)``).
    scheme : str
    """

    found: bool
    payload: int | None
    p_value: float
    score: float
    candidates: tuple[CandidateEvidence, ...]
    units: int
    scheme: str

    @property
    def named(self) -> tuple[int, ...]:
        """The candidate payloads whose per-copy layer is present, strongest first."""
        return tuple(e.payload for e in sorted(self.candidates, key=lambda e: -e.score) if e.present)

    @property
    def inverted(self) -> tuple[int, ...]:
        """The candidate payloads whose per-copy layer is present with its sign reversed (subtracted)."""
        return tuple(e.payload for e in self.candidates if e.inverted)

    def __str__(self) -> str:
        periodic = (f"payload {self.payload:#018x}" if self.payload is not None else
                    "this key's mark is present, payload unreadable" if self.found else "no periodic mark")
        if self.named:
            copies = "per-copy layer of " + ", ".join(
                f"{e.payload:#018x} (p={e.p_value:.3g})" for e in sorted(self.candidates, key=lambda e: -e.score)
                if e.present)
        else:
            copies = f"no candidate's per-copy layer found among {len(self.candidates)}"
        if self.inverted:
            copies += "; subtracted (layer reversed): " + ", ".join(f"{payload:#018x}" for payload in self.inverted)
        return f"{copies}; periodic layer at identity: {periodic} (p={self.p_value:.3g}, {self.scheme})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {"found": self.found, "payload": None if self.payload is None else f"{self.payload:#018x}",
                "p_value": self.p_value, "score": round(self.score, 4),
                "named": [f"{payload:#018x}" for payload in self.named],
                "inverted": [f"{payload:#018x}" for payload in self.inverted],
                "candidates": [e.to_dict() for e in self.candidates], "units": self.units, "scheme": self.scheme}
