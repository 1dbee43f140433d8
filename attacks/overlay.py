"""Overlays: a caption or a logo blended onto the image, as reposts and stock previews do."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from watermark.color import luminance
from watermark.image import image_op

from ._spec import Param, registered

__all__ = ["text", "logo"]

_PLACES = ("center", "top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")
_MARGIN = 0.03   # fraction of the short side between an overlay and the edge


def _place(layer_size: tuple[int, int], image_size: tuple[int, int], position: str) -> tuple[int, int]:
    (w, h), (width, height) = layer_size, image_size
    margin = round(_MARGIN * min(width, height))
    x = margin if "left" in position else width - w - margin if "right" in position else (width - w) // 2
    y = margin if "top" in position else height - h - margin if "bottom" in position else (height - h) // 2
    return x, y


def _blend(image: np.ndarray, layer: Image.Image, position: str, opacity: float) -> np.ndarray:
    """Alpha-blend the RGBA ``layer`` onto ``image`` (float, grey or RGB) at ``position``."""
    height, width = image.shape[:2]
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(layer, _place(layer.size, (width, height), position), layer)
    rgba = np.asarray(canvas, np.float32) / np.float32(255.0)
    weight = rgba[:, :, 3:] * np.float32(opacity)
    colour = rgba[:, :, :3]
    if image.ndim == 2:
        return image * (1 - weight[:, :, 0]) + luminance(colour) * weight[:, :, 0]
    return image * (1 - weight) + colour * weight


@registered(family="overlay", primary="size",
            text=Param(str, doc="the caption"),
            size=Param(float, 0.005, 1.0, doc="letter height, fraction of the short side"),
            opacity=Param(float, 0.0, 1.0, doc="0 invisible, 1 opaque"),
            position=Param(str, choices=_PLACES, doc="where the caption goes"))
@image_op
def text(image: np.ndarray, *, text: str = "(c) Filigrane", size: float = 0.06, opacity: float = 0.7,
         position: str = "bottom-right") -> np.ndarray:
    """Write a white caption with a dark outline, as a repost credit or a stock-photo mark.

    Parameters
    ----------
    size : float
        Letter height as a fraction of the image's short side.
    opacity : float
        0 (invisible) to 1 (opaque).
    """
    height, width = image.shape[:2]
    pixels = max(6, round(size * min(width, height)))
    font = ImageFont.load_default(size=pixels)
    stroke = max(1, pixels // 12)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font,
                                                                              stroke_width=stroke)
    layer = Image.new("RGBA", (max(1, round(right - left)), max(1, round(bottom - top))), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((-left, -top), text, font=font, fill=(255, 255, 255, 255),
                               stroke_width=stroke, stroke_fill=(20, 20, 20, 255))
    return _blend(image, layer, position, opacity)


@registered(family="overlay", primary="size",
            size=Param(float, 0.01, 1.0, doc="logo side, fraction of the short side"),
            opacity=Param(float, 0.0, 1.0, doc="0 invisible, 1 opaque"),
            position=Param(str, choices=_PLACES, doc="where the logo goes"))
@image_op
def logo(image: np.ndarray, *, size: float = 0.15, opacity: float = 0.5, position: str = "top-left") -> np.ndarray:
    """Blend a synthetic logo (a ring around a square and a bar) onto the image.

    Parameters
    ----------
    size : float
        Side of the logo as a fraction of the image's short side.
    """
    height, width = image.shape[:2]
    side = max(16, round(size * min(width, height)))
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    line = max(1, side // 12)
    draw.ellipse((0, 0, side - 1, side - 1), outline=(230, 40, 40, 255), width=line)
    quarter = side // 4
    draw.rectangle((quarter, quarter, side - 1 - quarter, side - 1 - quarter), fill=(255, 255, 255, 230))
    draw.rectangle((quarter + line, side // 2 - line, side - 1 - quarter - line, side // 2 + line),
                   fill=(30, 60, 200, 255))
    return _blend(image, layer, position, opacity)
