"""A master's frame: its luminance at the working resolution, kept so a scan can read against it.

The informed read subtracts the master from a suspect registered to it, and reads what is left: the
mark and what the copy went through, without the host's detail (`watermark.original`). It reads at
the working resolution (a 1080p master's short side at 720 px, a 1024 x 768 master's at 512), so the
master is needed only there: the registry keeps that much of it, as an 8-bit grayscale PNG (about
100-400 KB), and the scan uses it whenever the master file itself is not at hand. Its rounding to 8
bits is far below what any copy went through (measured: the per-copy statistic of scrubbed, JPEG'd
and halved copies within 1-11 % of the master file's, see the commit that added it).
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from .. import color
from ..errors import RegistryError
from ..image import ImageLike, luminance_of, pixels_of

__all__ = ["frame_shape", "encode", "decode"]

_PNG = b"\x89PNG\r\n\x1a\n"
_HEADER = struct.Struct(">8sI4sIIBB")   # signature, IHDR's length and type, width, height, bit depth, colour type


def frame_shape(width: int, height: int) -> tuple[int, int]:
    """(height, width) of the frame of a ``width`` x ``height`` master: its working resolution, never
    enlarged (`watermark.color.working_side`)."""
    return color.at_most((height, width), color.working_side((height, width)))


def encode(image: ImageLike) -> bytes:
    """The frame of the master ``image`` (at full size), as PNG bytes."""
    array, _ = pixels_of(image, name="master")
    luma = luminance_of(array)
    shape = frame_shape(luma.shape[1], luma.shape[0])
    frame = np.clip(np.rint(color.resize(luma, shape) * 255.0), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(frame).save(out, "PNG", optimize=True)         # uint8, one channel: mode L
    return out.getvalue()


def decode(data: bytes, width: int, height: int, *, name: str = "frame") -> np.ndarray:
    """The frame stored as ``data`` for a ``width`` x ``height`` master: float32 luminance, 0..1.

    Its PNG header is checked first: no pixel of a frame of another shape or mode (a decompression
    bomb) is decoded.

    Raises
    ------
    RegistryError
        ``data`` is not a grayscale PNG of the frame's shape (a damaged or foreign registry).
    """
    _check_header(data, width, height, name)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            frame = np.asarray(image)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RegistryError(f"{name}: the master's frame cannot be read ({exc})") from None
    return frame.astype(np.float32) / 255.0


def _check_header(data: bytes, width: int, height: int, name: str) -> None:
    """A `RegistryError` unless ``data`` starts as an 8-bit grayscale PNG of the frame's shape."""
    try:
        signature, _, chunk, columns, rows, depth, colour = _HEADER.unpack_from(data)
    except struct.error:
        signature, chunk = b"", b""
    if signature != _PNG or chunk != b"IHDR":
        raise RegistryError(f"{name}: the master's frame cannot be read (not a PNG)")
    if (depth, colour, (rows, columns)) != (8, 0, frame_shape(width, height)):
        mode = "uint8" if (depth, colour) == (8, 0) else f"PNG colour type {colour} of {depth} bits"
        raise RegistryError(f"{name}: the master's frame is {mode} {(rows, columns)}, not the "
                            f"{frame_shape(width, height)} luminance of a {width}x{height} master")
