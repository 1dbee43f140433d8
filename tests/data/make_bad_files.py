"""Make the small crafted bad image files in tests/data/bad/ (run from anywhere; deterministic).

Each file is one documented bad input of `watermark.imageio.load_image`:

- empty.png           zero bytes
- not_an_image.png    text with an image extension
- truncated.png       a valid 48x32 RGB PNG cut in the middle of its IDAT chunk
- truncated.jpg       a valid 48x32 JPEG cut in the middle of its entropy-coded data
- bomb.png            a 1x1 PNG whose IHDR claims 40000x40000 px (1.6 Gpx, above twice Pillow's
                      limit), CRC fixed so only the size gives it away
- bomb_mild.png       the same claiming 15000x15000 px (225 Mpx: between Pillow's warning and error)
- animated.gif        a 3-frame 16x16 GIF
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent / "bad"


def _pixels() -> np.ndarray:
    y, x = np.mgrid[0:32, 0:48]
    return np.stack([x * 5, y * 7, (x + y) * 3], axis=2).astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def patched_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR says ``width`` x ``height``, with a correct CRC."""
    data = bytearray(_encode(Image.new("L", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def main() -> None:
    HERE.mkdir(exist_ok=True)
    picture = Image.fromarray(_pixels())
    png = _encode(picture, "PNG")
    jpeg = _encode(picture, "JPEG", quality=90)
    frames = [Image.new("RGB", (16, 16), colour).convert("P") for colour in ("red", "lime", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files = {
        "empty.png": b"",
        "not_an_image.png": b"This is a text file, not a PNG.\n",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "bomb.png": patched_png(40000, 40000),
        "bomb_mild.png": patched_png(15000, 15000),
        "animated.gif": gif.getvalue(),
    }
    for name, content in files.items():
        (HERE / name).write_bytes(content)


if __name__ == "__main__":
    main()
