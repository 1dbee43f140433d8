"""Attacks on watermarked images: pure ``image -> image`` functions, named attacks and suites.

Every attack takes a numpy array (``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``; uint8, uint16 or
float in [0, 1]) or a PIL image, returns the same kind, dtype and mode, and never changes its input.
Random attacks take ``seed`` (an int or a numpy Generator): the same seed gives the same output.

>>> import attacks
>>> a = attacks.attack("rotate", degrees=5, crop=True)
>>> str(a)
'rotate(degrees=5, crop=True)'
>>> str(attacks.chain(attacks.attack("rescale", factor=0.75), attacks.attack("jpeg", quality=75)))
'rescale(factor=0.75) + jpeg(quality=75)'
>>> len(attacks.suite("stirmark"))
113
"""

from __future__ import annotations

from ._spec import recording
from .bending import latest_small_random_distortions, print_scan, random_bending, small_random_distortions
from .codec import avif, jpeg, screenshot, strip_metadata, webp
from .colour import brightness, colour_jitter, contrast, exposure, gamma, grayscale, hue, palette, saturation
from .filters import convolution, denoise, gaussian_blur, median, self_similarities, sharpen
from .geometry import affine, flip, perspective, rot90, rotate, shear, translate
from .noise import add_noise, gaussian_noise, psnr, salt_pepper
from .overlay import logo, text
from .registry import Attack, attack, chain, describe, names, parse
from .resizing import aspect, canvas, crop, delete_lines, downscale, remove_lines, rescale
from .security import (
    collude_average,
    collude_mosaic,
    copy_mark,
    estimate_tile,
    remark,
    remove_and_remark,
    remove_mark,
    swap_band,
)
from .suites import suite, suites
from .training import random_resized_crop, resize_crop, resize_short

__all__ = [
    "Attack", "attack", "chain", "parse", "names", "describe", "suite", "suites", "recording",
    # codec
    "jpeg", "webp", "avif", "strip_metadata", "screenshot",
    # noise
    "gaussian_noise", "psnr", "add_noise", "salt_pepper",
    # filter
    "median", "convolution", "gaussian_blur", "sharpen", "denoise", "self_similarities",
    # geometry
    "rotate", "rot90", "flip", "crop", "rescale", "aspect", "downscale", "affine", "shear", "translate",
    "remove_lines", "delete_lines", "perspective", "canvas",
    # a machine-learning data pipeline
    "resize_short", "resize_crop", "random_resized_crop",
    # bending and print-scan
    "random_bending", "small_random_distortions", "latest_small_random_distortions", "print_scan",
    # colour
    "brightness", "exposure", "contrast", "gamma", "saturation", "hue", "grayscale", "colour_jitter", "palette",
    # overlay
    "text", "logo",
    # security (an attacker with the code and published marked images, not the key)
    "remove_mark", "copy_mark", "collude_average", "collude_mosaic", "swap_band", "remark", "remove_and_remark",
    "estimate_tile",
]
