"""Attacks by someone who has Filigrane's code and published marked images, but not the key.

Built from the public code only (the detector's whitening, the tile period, the tile's wavelet
layout, the perceptual mask), never from a key:

* :func:`remove_mark`: estimate-and-remove. The periodic tile is the same everywhere, so folding one
  published image (or several of the same key, ``others``) on the tile period estimates its chips;
  the estimate is subtracted at ``gain`` times the embedder's own amplitude.
* :func:`copy_mark`: the same estimate, taken from a marked ``source`` (or a re-encoded copy of
  it), added to another image; ``residual`` also pastes the source's whole fine residual (finer
  than ``band``), which carries whatever non-periodic layer the source has.
* :func:`collude_average`, :func:`collude_mosaic`: several differently marked copies of one picture
  averaged, or cut into blocks and reassembled.
* :func:`swap_band`: one's own full-size copy with the band that another recipient's published
  (smaller, JPEG) copy holds taken from that copy instead: the marks lie in that band, the finer
  detail that keeps the forgery near the master's quality does not.
* :func:`remark`, :func:`remove_and_remark`: a second mark under another key (the attacker's,
  drawn from ``seed``), after removing the first or not.

Multi-image attacks take their other images as a keyword (``others``, ``source``, ``copies``:
``Attack.inputs`` names it), never as a parameter: ``attacks.attack("copy_mark")(target, source=marked)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

import watermark
from watermark import color
from watermark.errors import AttackParameterError, ImageTooSmallError
from watermark.image import image_op, to_float
from watermark.schemes.lattice import masking, sync
from watermark.schemes.lattice.layout import CHIP_AMPLITUDE, slots_from_tile, tile_from_slots

from ._spec import Param, RngLike, make_rng, registered

__all__ = ["estimate_tile", "subtract_tile", "remove_mark", "copy_mark", "collude_average", "collude_mosaic",
           "swap_band", "remark", "remove_and_remark"]

_TILE = sync.TILE
_MAX_GAIN = 20.0
_DETECTOR_BAND = 8.0      # px at the working resolution: masking.whiten's band limit


def _luma(image: Any) -> np.ndarray:
    pixels = image if isinstance(image, np.ndarray) and image.dtype == np.float32 else to_float(image, name="input")[0]
    return color.luminance(pixels)


def _working(luma: np.ndarray) -> np.ndarray:
    return color.resize(luma, color.working_shape(luma.shape))


def estimate_tile(images: Sequence[Any]) -> np.ndarray:
    """The periodic tile as published marked images of one key show it: each image's whitened
    working-resolution view folded on the tile period (anchored at the top-left, where the embedder
    anchors it), normalised, and summed; returned as a unit-RMS ``TILE`` x ``TILE`` pattern whose
    wavelet coefficients carry the estimated chip signs at the tile's per-level amplitudes."""
    total = np.zeros((_TILE, _TILE), dtype=np.float32)
    for image in images:
        whitened, _ = masking.whiten(_working(_luma(image)))
        folded = sync.fold(whitened, _TILE)
        total += folded / max(float(np.sqrt(np.mean(folded ** 2))), 1e-12)
    pattern = tile_from_slots(np.sign(slots_from_tile(total)) * CHIP_AMPLITUDE)
    return pattern / max(float(np.sqrt(np.mean(pattern ** 2))), 1e-12)


def _add_in_luminance(pixels: np.ndarray, change: np.ndarray) -> np.ndarray:
    """``pixels`` (float, grey or RGB) plus a working-resolution luminance ``change`` resized to full size."""
    full = color.resize(change.astype(np.float32), pixels.shape[:2])
    return pixels + (full if pixels.ndim == 2 else full[:, :, None])


def _periodic(pixels: np.ndarray, tile: np.ndarray, gain: float) -> np.ndarray:
    """``gain`` times ``tile`` repeated over ``pixels``' working frame under its perceptual mask."""
    luma = _luma(pixels)
    shape = color.working_shape(luma.shape)
    return gain * masking.perceptual_mask(luma, shape) * sync.tile_pattern(tile, shape)    # as the embedder


def _gain() -> Param:
    return Param(float, 0.0, _MAX_GAIN, doc="amplitude relative to the embedder's (1: as embedded)")


@registered(family="security", primary="gain", inputs="others", inputs_optional=True, gain=_gain())
@image_op
def remove_mark(image: np.ndarray, *, gain: float = 1.0, others: Sequence[Any] = ()) -> np.ndarray:
    """Estimate the periodic mark by folding the image (and ``others``) and subtract it.

    Parameters
    ----------
    gain : float
        Amplitude of what is subtracted, relative to the embedder's perceptual amplitude; about 1
        erases today's periodic layer, more overshoots.
    others : sequence of images, optional
        Other published images marked with the same key (any size): their folds are added to the
        estimate, which then needs less of each.
    """
    return subtract_tile(image, estimate_tile([image, *others]), gain=gain)


@image_op
def subtract_tile(image: np.ndarray, tile: np.ndarray, *, gain: float = 1.0) -> np.ndarray:
    """Subtract an :func:`estimate_tile` pattern from ``image`` at ``gain`` times the embedder's amplitude
    (:func:`remove_mark` with the estimate made once, e.g. for a sweep over ``gain``)."""
    return _add_in_luminance(image, -_periodic(image, tile, gain))


@registered(family="security", primary="gain", inputs="source", gain=_gain(),
            residual=Param(float, 0.0, _MAX_GAIN, doc="gain of the source's whole fine residual also pasted"),
            band=Param(float, 1.0, 512.0, doc="px at the working resolution: the residual pasted is what is finer"))
@image_op
def copy_mark(image: np.ndarray, *, gain: float = 1.0, residual: float = 0.0, band: float = _DETECTOR_BAND,
              source: Any = None) -> np.ndarray:
    """Forge: estimate the periodic mark from a marked ``source`` and add it to ``image``.

    Parameters
    ----------
    gain : float
        Amplitude of the pasted periodic estimate under ``image``'s own perceptual mask.
    residual : float
        Also paste the source's fine residual (everything finer than ``band``, at the working
        resolution, tile grids aligned) times this: it carries the source's non-periodic content,
        per-copy layer included, and the source's texture with it.
    band : float
        The residual's limit, a Gaussian's sigma in px at the working resolution: 8 (the default) is
        the detector's own band; more carries coarser content too (the content a per-copy layer is
        bound to), at the price of a plainer ghost of the source.
    source : image
        A published marked image (any size; a re-encoded or downscaled copy works as well).
    """
    change = _periodic(image, estimate_tile([source]), gain)
    if residual > 0:
        source_working = _working(_luma(source))
        fine = residual * masking.highpass(source_working, band)
        height, width = change.shape
        placed = np.zeros_like(change)
        rows, cols = min(height, fine.shape[0]), min(width, fine.shape[1])
        placed[:rows, :cols] = fine[:rows, :cols]
        change = change + placed
    return _add_in_luminance(image, change)


@registered(family="security", primary="quality", inputs="source",
            quality=Param(int, 1, 100, doc="the JPEG quality the source is guessed to be published at"))
@image_op
def swap_band(image: np.ndarray, *, quality: int = 85, source: Any = None) -> np.ndarray:
    """Forge with two copies of one picture: ``image`` (one's own copy, full size) minus itself as
    ``source`` was published (resized to ``source``'s size, JPEG ``quality``, brought back), plus
    ``source`` brought back (another recipient's published copy, e.g. a 1280 px web JPEG).

    What the published size keeps, ``image``'s marks with it, is ``source``'s; what is finer stays
    ``image``'s, which keeps the forgery nearer the master than ``source`` is.
    """
    from .codec import jpeg

    published = _same_channels(to_float(source, name="source")[0], image)
    height, width = image.shape[:2]
    size = (published.shape[1], published.shape[0])
    own = jpeg(cv2.resize(image, size, interpolation=cv2.INTER_AREA), quality=quality)
    back = [cv2.resize(np.asarray(plane, np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
            for plane in (published, own)]
    return np.clip(image + back[0] - back[1], 0.0, 1.0)


def _same_channels(pixels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``pixels`` with ``image``'s channels: grey repeated for colour, colour as luminance for grey."""
    if pixels.ndim == 3 and image.ndim == 3:
        return pixels[:, :, :image.shape[2]]
    if pixels.ndim == 3:
        return color.luminance(pixels)
    if image.ndim == 3:
        return np.repeat(pixels[:, :, None], image.shape[2], axis=2)
    return pixels


def _same_shape(image: np.ndarray, copies: Sequence[Any], name: str) -> list[np.ndarray]:
    out = []
    for index, copy in enumerate(copies):
        pixels = _same_channels(to_float(copy, name=f"copies[{index}]")[0], image)
        if pixels.shape != image.shape:
            raise AttackParameterError(f"{name}: copies[{index}] is {pixels.shape[1]}x{pixels.shape[0]} px, "
                                       f"the image {image.shape[1]}x{image.shape[0]}: "
                                       "collusion needs copies of one picture")
        out.append(pixels)
    return out


@registered(family="security", inputs="copies")
@image_op
def collude_average(image: np.ndarray, *, copies: Sequence[Any] = ()) -> np.ndarray:
    """Average the image with ``copies``: other copies of the same picture carrying other payloads."""
    stack = [image, *_same_shape(image, copies, "collude_average")]
    return np.mean(stack, axis=0)


@registered(family="security", random=True, inputs="copies",
            block=Param(int, 8, 4096, doc="side of the square blocks, px"))
@image_op
def collude_mosaic(image: np.ndarray, *, block: int = 128, copies: Sequence[Any] = (),
                   seed: RngLike = None) -> np.ndarray:
    """Reassemble the picture from blocks of ``block`` px, each taken at random from the image or one of ``copies``."""
    stack = [image, *_same_shape(image, copies, "collude_mosaic")]
    rows, cols = -(-image.shape[0] // block), -(-image.shape[1] // block)
    choice = make_rng(seed).integers(0, len(stack), size=(rows, cols))
    out = image.copy()
    for row in range(rows):
        for col in range(cols):
            where = (slice(row * block, (row + 1) * block), slice(col * block, (col + 1) * block))
            out[where] = stack[choice[row, col]][where]
    return out


def _remark(image: np.ndarray, strength: float, seed: RngLike) -> np.ndarray:
    rng = make_rng(seed)
    key = watermark.Key(rng.bytes(32))
    payload = int(rng.integers(0, 2**63))
    try:
        return watermark.embed(image, payload, key, strength=strength)
    except ImageTooSmallError:
        return image          # too small to hold a mark: nothing to add


@registered(family="security", primary="strength", random=True,
            strength=Param(float, 0.05, 10.0, doc="the attacker's embedding strength"))
@image_op
def remark(image: np.ndarray, *, strength: float = 1.0, seed: RngLike = None) -> np.ndarray:
    """Mark the image again with another key and payload (both drawn from ``seed``): a second claim."""
    return _remark(image, strength, seed)


@registered(family="security", primary="gain", random=True, gain=_gain(),
            strength=Param(float, 0.05, 10.0, doc="the attacker's embedding strength"))
@image_op
def remove_and_remark(image: np.ndarray, *, gain: float = 1.0, strength: float = 1.0,
                      seed: RngLike = None) -> np.ndarray:
    """Remove the periodic mark (:func:`remove_mark`), then mark with another key drawn from ``seed``."""
    cleaned = np.clip(_add_in_luminance(image, -_periodic(image, estimate_tile([image]), gain)), 0.0, 1.0)
    return _remark(cleaned.astype(np.float32), strength, seed)
