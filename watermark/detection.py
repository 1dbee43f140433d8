"""The answer of a detector: one small, self-describing value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Detection", "Geometry"]


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
        tile's period there (128 px of the 512 px working resolution: ``128 * short side / 512``).
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

    @classmethod
    def from_transform(cls, transform: np.ndarray) -> "Geometry":
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
    """

    found: bool
    payload: int | None
    p_value: float
    score: float
    bits: np.ndarray = field(repr=False)
    scheme: str
    transform: np.ndarray | None = field(default=None, repr=False)

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

    def __str__(self) -> str:
        if self.payload is not None:
            what = f"payload {self.payload:#018x}" + (f" {self.payload_text!r}" if self.payload_text else "")
        elif self.found:
            what = "mark found, payload unreadable"
        else:
            what = "no mark"
        return f"{what} (p={self.p_value:.3g}, {self.scheme})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (no per-bit array)."""
        return {
            "found": self.found,
            "payload": None if self.payload is None else f"{self.payload:#018x}",
            "payload_text": self.payload_text,
            "p_value": self.p_value,
            "score": round(self.score, 4),
            "scheme": self.scheme,
            "transform": None if self.transform is None else (np.round(self.transform, 5) + 0.0).tolist(),
            "geometry": None if self.geometry is None else _rounded(self.geometry),
        }


def _plain(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` decimals, with no negative zero (which prints as -0.00)."""
    return round(value, digits) + 0.0


def _rounded(geometry: Geometry) -> dict[str, Any]:
    return {"degrees": _plain(geometry.degrees, 3), "scale": [_plain(v, 5) for v in geometry.scale],
            "shear": _plain(geometry.shear, 5), "flipped": geometry.flipped,
            "offset": [_plain(v, 2) for v in geometry.offset]}
