"""The master at hand: its own pixels, for a non-blind read of a suspect registered to it.

Blind, the mark is read against the whole host: in a small crop or a collage's cell the host's own
detail is most of what the detector sees. When the master file is still where the registry recorded
it and unchanged (same SHA-256), the informed read subtracts the master from the suspect in the
master's frame (`watermark.read_in_frame` with ``original``) and reads what is left: the mark and
what the copy went through. Two things make the subtraction clean:

* the suspect must be placed to a small fraction of a working pixel, better than local features
  place it (about half a pixel): :func:`refine` aligns the suspect on the master's pixels (OpenCV's
  ECC, a shift of a few pixels at most from where the features put it);
* the master must look as the suspect shows it: a collage's cell holds a quarter-size master, whose
  finer detail is gone, and the frame's resampling aliases a full-size crop. :func:`as_suspect`
  resamples the master onto the suspect's own pixels (area-averaged where the suspect is smaller),
  and the scan then takes both into the frame the same way.

A small crop that neither local features nor the mark's tile phase placed (a dark or plain detail)
is sought in the master file itself, at the master's own scale and upright (:func:`place`): where
its luminance matches best, kept only if it is the master's own pixels there: its luminance
correlates with theirs by at least :data:`MIN_LIKENESS` and its fine detail (grain, texture) by at
least :data:`MIN_DETAIL`. A crop of another photograph, with or without a mark pasted on it, has
not reached both; one of the same scene taken at the same instant by a second camera (scikit-image's
stereo pair) has, once in 200 (`python -m eval.placement` measures both margins). The other way
round, a master that local features proposed for a page but could not register (a repeated
pattern, a night scene) is sought whole and upright inside the page, at every size from the page's
down to a 96 px short side (:func:`place_whole`: a collage's cell), and kept on the same conditions.

Both searches first look at the registry print's thumbnail (:func:`could_be_whole`,
:func:`could_be_crop`), so that a master file is read only where its content may be: most of the
masters the feature index proposes for an unrelated file are not read.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import color, imageio, pixellimit
from .errors import WatermarkError
from .image import luminance_of, pixels_of
from .registration import Registration, frame_scaling
from .schemes.lattice.masking import highpass

__all__ = ["load_original", "as_suspect", "refine", "place", "place_whole", "could_be_whole", "could_be_crop",
           "MIN_DETAIL", "MIN_LIKENESS"]

_SHORT_SIDE = 2048     # px: the most of the master's short side kept (the read is at 512-724)
_MAX_MOVE = 3.0        # px at the frame's scale: the most ECC may move the registration
_AFFINE_COVER = 0.5    # the least part of the frame a suspect covers for an affine correction
_ECC_ITERATIONS, _ECC_EPSILON, _ECC_SMOOTHING = 100, 1e-6, 1
MIN_DETAIL = 0.2       # correlation of fine detail that places a crop in the master file
MIN_LIKENESS = 0.95    # and of luminance there
_COARSE_SIDE = 512     # px: the master's short side for the first, coarse search
_MIN_COARSE = 24       # px: the crop's smallest side at that scale worth a search
_DETAIL_SIGMA = 1.0    # px at the master file's scale: detail is what a blur this wide removes
_PAGE_SIDE = 320       # px: the page's long side for the coarse search of a whole master in it
_MIN_WHOLE = 96        # px: the smallest short side of a whole master in a page worth a search
_SIZE_STEP = 0.96      # ratio between the sizes the coarse search tries (then 1 % apart, then ECC)
_COARSE_LIKENESS = 0.85  # luminance correlation of the coarse search's best worth refining
# The same searches in the registry print's thumbnail (192 px), before the master file is read: the
# least luminance correlation there worth reading the file for. A master whole in a page scores at most
# 0.035 less in its thumbnail than in its file (0.96 and more for collages' cells); a true crop, at
# least 0.74 (a plain one: the thumbnail's JPEG noise); most unrelated pages and files score under
# 0.6 (measured on 30 photographs, see the commit). A crop under _MIN_THUMBNAIL px there is not judged.
_THUMBNAIL_WHOLE, _THUMBNAIL_CROP, _MIN_THUMBNAIL = 0.8, 0.6, 12


def load_original(path: str, sha256: str, size: tuple[int, int],
                  *, max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """The master file's luminance (float32, 0..1; its short side at most ``_SHORT_SIDE``), or None
    when the file is no longer at ``path``, has changed (SHA-256, or ``size``: (width, height)), or
    cannot be read."""
    try:
        data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            return None
        loaded = imageio.load_image_bytes(data, path, max_pixels=max_pixels, animated="first",
                                          reduce_to=_SHORT_SIDE, luminance=True)
        array, _ = pixels_of(loaded.image, name=path)
    except (OSError, WatermarkError):
        return None
    if loaded.original_size != tuple(size):
        return None
    luma = luminance_of(array)
    return color.resize(luma, color.at_most(luma.shape, _SHORT_SIDE))


def as_suspect(original: np.ndarray, master_size: tuple[int, int], registration: Registration,
               shape: tuple[int, int]) -> np.ndarray:
    """The master's luminance ``original`` (any size; ``master_size``: its full (width, height))
    resampled onto the suspect's pixels (``shape``: height, width) through ``registration``, area-averaged
    first where the suspect shows the master smaller; 0 where the suspect lies outside the master."""
    height, width = original.shape
    to_original = frame_scaling(master_size, (height, width)) @ registration.homography
    zoom = float(np.sqrt(abs(np.linalg.det(_jacobian(to_original, shape)))))   # original px per suspect px
    if zoom > 1.0:
        smaller = (max(1, round(height / zoom)), max(1, round(width / zoom)))
        to_original = frame_scaling((width, height), smaller) @ to_original
        original = color.resize(original, smaller)
    seen = cv2.warpPerspective(original, to_original, (shape[1], shape[0]),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    return np.clip(seen, 0.0, 1.0)          # rounding may step past 1


def _jacobian(homography: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The 2x2 derivative of ``homography`` (x, y) at the centre of an image of ``shape``."""
    x, y = shape[1] / 2.0, shape[0] / 2.0
    u, v, w = homography @ np.array([x, y, 1.0])
    return (homography[:2, :2] * w - np.outer([u, v], homography[2, :2])) / (w * w)


def refine(registration: Registration, framed: np.ndarray, valid: np.ndarray, original: np.ndarray,
           master_size: tuple[int, int]) -> Registration:
    """``registration`` corrected so that the suspect, resampled by it into the master's frame
    (``framed``: luminance at ``original``'s shape, ``valid`` the pixels it covers), lies on
    ``original`` (the master's luminance, resampled into the frame as the suspect was), by ECC: an
    affine correction where the suspect covers at least ``_AFFINE_COVER`` of the frame (features leave
    a whole copy's scale a few tenths of a percent off, pixels at its far side), else a shift (an
    affine correction fits a small part's noise: measured worse); the shift when the affine one does
    not converge or moves a covered pixel more than ``_MAX_MOVE`` px, and the registration itself when
    neither does."""
    if not valid.any():
        return registration
    shift = (cv2.MOTION_TRANSLATION,)
    for motion in (cv2.MOTION_AFFINE, *shift) if valid.mean() >= _AFFINE_COVER else shift:
        correction = _ecc(framed, valid, original, motion)
        if correction is not None:
            scaling = frame_scaling(master_size, original.shape)
            back = np.linalg.inv(scaling) @ np.linalg.inv(correction) @ scaling
            return replace(registration, homography=back @ registration.homography)
    return registration


def _ecc(framed: np.ndarray, valid: np.ndarray, original: np.ndarray, motion: int) -> np.ndarray | None:
    """The 3x3 map (x, y) from ``original``'s frame to where that pixel lies in ``framed``, found by ECC
    with ``motion``; None when it does not converge or moves a corner of the covered pixels' box more
    than ``_MAX_MOVE`` px."""
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, _ECC_ITERATIONS, _ECC_EPSILON)
    try:
        _, found = cv2.findTransformECC(original, np.ascontiguousarray(framed, np.float32),
                                        np.eye(2, 3, dtype=np.float32), motion, criteria,
                                        valid.astype(np.uint8), _ECC_SMOOTHING)
    except cv2.error:
        return None
    correction = np.vstack([np.asarray(found, np.float64), [0.0, 0.0, 1.0]])
    rows, cols = np.nonzero(valid)
    corners = np.array([[cols.min(), cols.max(), cols.min(), cols.max()],
                        [rows.min(), rows.min(), rows.max(), rows.max()], [1.0, 1.0, 1.0, 1.0]])
    moved = np.hypot(*((correction @ corners)[:2] - corners[:2]))
    return correction if np.all(np.isfinite(moved)) and moved.max() <= _MAX_MOVE else None


def place(suspect: Any, original_size: tuple[int, int], original: np.ndarray, master_size: tuple[int, int],
          *, min_detail: float = MIN_DETAIL, min_likeness: float = MIN_LIKENESS) -> tuple[Registration, float] | None:
    """Where a suspect at the master's own scale, upright (a crop), lies in the master file's
    luminance ``original``, and the correlation of their fine detail there; None when it does not fit,
    is too small to search, or is not the master's pixels there (the correlation of fine detail under
    ``min_detail`` or of luminance under ``min_likeness``).

    ``suspect`` is the file's pixels (at its full size ``original_size``, width and height, or
    reduced); the registration maps them to the master's full-resolution pixels, to the nearest pixel
    of ``original`` (the read refines it, see :func:`refine`).
    """
    pixels, _ = pixels_of(suspect)
    scale = original.shape[1] / master_size[0]                    # master px -> original px
    size = (round(original_size[0] * scale), round(original_size[1] * scale))
    if size[0] > original.shape[1] or size[1] > original.shape[0]:
        return None
    crop = cv2.resize(luminance_of(pixels), size, interpolation=cv2.INTER_AREA)
    coarse = min(1.0, _COARSE_SIDE / min(original.shape))
    small = (max(1, round(size[0] * coarse)), max(1, round(size[1] * coarse)))
    if min(small) < _MIN_COARSE:
        return None
    master_small = cv2.resize(original, None, fx=coarse, fy=coarse, interpolation=cv2.INTER_AREA)
    if small[0] > master_small.shape[1] or small[1] > master_small.shape[0]:
        return None
    template = cv2.resize(crop, small, interpolation=cv2.INTER_AREA)
    x, y = cv2.minMaxLoc(cv2.matchTemplate(master_small, template, cv2.TM_CCOEFF_NORMED))[3]
    reach = int(np.ceil(1.0 / coarse)) + 2                        # px at the original's scale around it
    left, top = max(0, round(x / coarse) - reach), max(0, round(y / coarse) - reach)
    right = min(original.shape[1], round(x / coarse) + size[0] + reach)
    bottom = min(original.shape[0], round(y / coarse) + size[1] + reach)
    window = highpass(original[top:bottom, left:right], _DETAIL_SIGMA)
    if window.shape[0] < size[1] or window.shape[1] < size[0]:
        return None
    detail = highpass(crop, _DETAIL_SIGMA)
    _, correlation, _, (dx, dy) = cv2.minMaxLoc(cv2.matchTemplate(window, detail, cv2.TM_CCOEFF_NORMED))
    there = original[top + dy:top + dy + size[1], left + dx:left + dx + size[0]]
    likeness = float(cv2.matchTemplate(there, crop, cv2.TM_CCOEFF_NORMED)[0, 0])
    if not (correlation >= min_detail and likeness >= min_likeness):    # NaN where the crop is blank
        return None
    width, height = original_size
    homography = np.array([[width / pixels.shape[1], 0.0, (left + dx) / scale],
                           [0.0, height / pixels.shape[0], (top + dy) / scale], [0.0, 0.0, 1.0]])
    coverage = width * height / (master_size[0] * master_size[1])
    return Registration(True, homography, 0, 0, False, min(1.0, coverage)), float(correlation)


def place_whole(suspect: Any, original: np.ndarray, master_size: tuple[int, int], *, min_detail: float = MIN_DETAIL,
                min_likeness: float = MIN_LIKENESS) -> tuple[Registration, float] | None:
    """Where the master file's luminance ``original`` lies whole, upright and smaller, inside a suspect
    (a collage's cell, a page), and the correlation of their fine detail there; None when it is not
    found there, or not with ``min_detail`` and ``min_likeness`` (as :func:`place`).

    ``suspect`` is the file's pixels; the registration maps them to the master's full-resolution
    pixels (``master_size``: width, height). A coarse search tries every size from the largest that
    fits down to a ``_MIN_WHOLE`` px short side, ``_SIZE_STEP`` apart, on the page reduced to
    ``_PAGE_SIDE`` px; the best, if its luminance correlates by ``_COARSE_LIKENESS`` there, is placed
    at the page's own scale on fine detail (sizes 1 % apart), and the place made exact by ECC (an
    affine map: the whole master holds enough to fit one).
    """
    pixels, _ = pixels_of(suspect)
    page = luminance_of(pixels).astype(np.float32)
    aspect = original.shape[1] / original.shape[0]
    coarse = min(1.0, _PAGE_SIDE / max(page.shape))
    value, width, (x, y) = _coarse_whole(page, original, coarse)
    if not value >= _COARSE_LIKENESS:
        return None
    if original.shape[1] > 2 * width:         # the fine sizes resized from twice the size, not the whole file
        original = cv2.resize(original, (round(2 * width), round(2 * width / aspect)), interpolation=cv2.INTER_AREA)
    detail, reach = highpass(page, _DETAIL_SIGMA), int(np.ceil(1.0 / coarse)) + 2 + round(0.05 * width)
    corner = (round(x / coarse) - reach, round(y / coarse) - reach)
    fits = [_fit_whole(detail, original, width * factor, corner, reach) for factor in np.linspace(0.96, 1.04, 9)]
    correlation, (left, top), size = max(fits, key=lambda fit: fit[0])
    if not correlation > -np.inf:
        return None
    template = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
    start = np.array([[1.0, 0.0, left], [0.0, 1.0, top]], np.float32)       # template px -> page px
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, _ECC_ITERATIONS, _ECC_EPSILON)
    try:
        warp = np.asarray(cv2.findTransformECC(template, page, start, cv2.MOTION_AFFINE, criteria,
                                               np.ones(page.shape, np.uint8), _ECC_SMOOTHING)[1])
    except cv2.error:                                                         # did not converge
        return None
    there = cv2.warpAffine(page, warp, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    correlation = float(cv2.matchTemplate(highpass(there, _DETAIL_SIGMA), highpass(template, _DETAIL_SIGMA),
                                          cv2.TM_CCOEFF_NORMED)[0, 0])
    likeness = float(cv2.matchTemplate(there, template, cv2.TM_CCOEFF_NORMED)[0, 0])
    if not (correlation >= min_detail and likeness >= min_likeness):
        return None
    to_template = np.linalg.inv(np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]]))
    template_to_master = np.linalg.inv(frame_scaling(master_size, (size[1], size[0])))
    return Registration(True, template_to_master @ to_template, 0, 0, False, 1.0), correlation


def could_be_whole(page: np.ndarray, thumbnail: np.ndarray) -> bool:
    """Whether :func:`place_whole` may find the master in ``page`` (the file's luminance), judged on
    the luminance of its print's ``thumbnail``."""
    page = np.asarray(page, np.float32)
    value, _, _ = _coarse_whole(page, np.asarray(thumbnail, np.float32), min(1.0, _PAGE_SIDE / max(page.shape)))
    return value >= _THUMBNAIL_WHOLE


def could_be_crop(page_size: tuple[int, int], page: np.ndarray, thumbnail: np.ndarray,
                  master_size: tuple[int, int]) -> bool:
    """Whether :func:`place` may find ``page`` (the file's luminance; ``page_size``: its full width
    and height) as a crop of the master (``master_size``: width, height), judged on the luminance of
    its print's ``thumbnail``: True when the crop is too small there to tell."""
    if page_size[0] > master_size[0] or page_size[1] > master_size[1]:
        return False
    scale = thumbnail.shape[1] / master_size[0]
    size = (min(thumbnail.shape[1], round(page_size[0] * scale)), min(thumbnail.shape[0], round(page_size[1] * scale)))
    if min(size) < _MIN_THUMBNAIL:
        return True
    template = cv2.resize(np.asarray(page, np.float32), size, interpolation=cv2.INTER_AREA)
    value = cv2.minMaxLoc(cv2.matchTemplate(np.asarray(thumbnail, np.float32), template, cv2.TM_CCOEFF_NORMED))[1]
    return not value < _THUMBNAIL_CROP          # NaN (a blank crop or thumbnail): read the file


def _coarse_whole(page: np.ndarray, original: np.ndarray, coarse: float) -> tuple[float, float, tuple[int, int]]:
    """The best luminance correlation of ``original`` inside ``page``, both reduced by ``coarse``, over
    the sizes of the coarse search; its width in page px and its place (x, y) in the reduced page."""
    aspect = original.shape[1] / original.shape[0]
    small_page = cv2.resize(page, (max(1, round(page.shape[1] * coarse)), max(1, round(page.shape[0] * coarse))),
                            interpolation=cv2.INTER_AREA)
    width = min(page.shape[1], page.shape[0] * aspect)
    reduced = cv2.resize(original, (max(1, round(width * coarse)), max(1, round(width * coarse / aspect))),
                         interpolation=cv2.INTER_AREA)                # the largest template, resized from once
    best = (-np.inf, 0.0, (0, 0))
    while width / aspect >= _MIN_WHOLE:
        size = (round(width * coarse), round(width / aspect * coarse))
        if min(size) >= _MIN_COARSE:
            template = cv2.resize(reduced, size, interpolation=cv2.INTER_AREA)
            _, value, _, place_at = cv2.minMaxLoc(cv2.matchTemplate(small_page, template, cv2.TM_CCOEFF_NORMED))
            best = max(best, (float(value), width, (int(place_at[0]), int(place_at[1]))), key=lambda entry: entry[0])
        width *= _SIZE_STEP
    return best


def _fit_whole(detail: np.ndarray, original: np.ndarray, width: float, corner: tuple[int, int],
               reach: int) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """The best correlation of ``original``'s fine detail, made ``width`` px wide, with the page's
    ``detail`` within ``reach`` px of placing its top-left ``corner`` there ((x, y), already moved
    back by ``reach``); where (x, y) in the page, and the size (width, height). -inf when it does not fit."""
    size = (max(1, round(width)), max(1, round(width * original.shape[0] / original.shape[1])))
    left, top = max(0, corner[0]), max(0, corner[1])
    window = detail[top:top + size[1] + 2 * reach, left:left + size[0] + 2 * reach]
    if size[0] > window.shape[1] or size[1] > window.shape[0]:
        return -np.inf, (0, 0), size
    template = highpass(cv2.resize(original, size, interpolation=cv2.INTER_AREA), _DETAIL_SIGMA)
    _, correlation, _, (dx, dy) = cv2.minMaxLoc(cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED))
    return float(correlation), (left + dx, top + dy), size
