"""The lattice mark's default amplitude at strength 1: predicted from the host, then checked on a round trip.

:func:`default_amplitude` predicts what the detector's pilot statistic will be on the host plus the
mark and sets the amplitude that reaches a target on a large photograph (a small one keeps its
perceptual mask as it is); :func:`round_trip_scale` then publishes the marked image as a site would
(:func:`_publications`), reads the pilot back where it was put, and raises or lowers the amplitude to
what the published copy needs, no lower than :func:`least_scale` allows.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ... import color
from . import masking, periodicity, sync
from .layout import LEVEL_OF_SLOT, LEVELS, PILOT_WEIGHTINGS, Layout, slots_from_tile
from .sync import TILE
from .views import search_view, working_view

__all__ = ["default_amplitude", "least_scale", "round_trip_scale", "checks_visibility", "visible_scale"]

# The calibration of strength 1 (see default_amplitude): the pilot z the default mark aims for, as
# predicted without the host cancellation and with flat areas counted as _ROBUST_ACTIVITY busy, at a
# 512 px working side (times the working area over 512 px's: a finer band keeps less of its predicted
# z once published), and the limits of the resulting amplitude (1: the perceptual mask as it is).
_TARGET_Z = 24.0
_LARGE_RANGE = (0.2, 1.5)      # on an image of 1024 px (short side) or more; (1, 1) on one up to 512 px;
_ROBUST_ACTIVITY = 4.0 / 255.0  # log-interpolated between (masking.largeness)
# Then measured (see round_trip_scale): the pilot z the mark should keep once published at a 1024 px
# short side as WebP 50 (9 kept no more 1080p photographs' payloads through WebP 50 than 7.5 does),
# the z under which a boosted mark is still mostly gone, the most extra amplitude spent on a large
# image (more makes a smooth photograph's mark more visible than JPEG q90: `python -m eval.visibility
# --strengths`), and the least kept where the published mark keeps more than it needs (less lost
# small crops of a smooth photograph). Where WebP at 1024 px takes even the raised mark, the same
# is asked of a full-size JPEG 50 (the lowest quality of `eval.acceptance`'s 95 % class), and a
# full-size JPEG 30 (its 80 % class) asks for the limit where it keeps under _JPEG_30_LOST (reaching
# _ROUND_TRIP_Z from there would take more): of the held-out photographs given up on at 1080p, the
# six whose JPEG 30 copy kept 6.1-8.6 gave their payload back after JPEG 30, the two under 5 (3.1,
# 4.9) did not, one of them until 6.7. Between them, an upscaled sky (5.4, test_visibility) whose
# payload JPEG 30 takes, but which any raise makes more visible than JPEG q90.
_ROUND_TRIP_SIDE = 1024
_PUBLISHED = (".webp", (cv2.IMWRITE_WEBP_QUALITY, 50))
# A photograph larger than the 1080p class (short side over 1.5 x LARGEST_WORKING_SIDE, from where
# the mark's periods grow with the image, and with them its visibility at 1:1) is checked as a web
# copy instead, 1080 px on its long side, JPEG 80 (`eval.acceptance`'s social class), and as WebP 50
# at full size (its WebP class), up to a 3000 px short side: beyond, at that size, which asks more
# of the mark and bounds the encoder's time and memory (a 12000x8000 image's would take 2 GiB).
_LARGE_FROM = round(1.5 * color.LARGEST_WORKING_SIDE)
_FULL_SIZE_AT_MOST = 3000
_WEBP_LARGEST_SIDE = 16383      # libwebp's limit: a wider panorama is published narrower
_WEB_LONG_SIDE = 1080
_WEB_COPY = (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 80))
_FULL_SIZE_JPEG = (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 50))
_FULL_SIZE_JPEG_30 = (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 30))
_ROUND_TRIP_Z, _ROUND_TRIP_USEFUL = 7.5, 6.0
_JPEG_30_LOST = 5.0
_ROUND_TRIP_BOOST, _ROUND_TRIP_LEAST = 1.5, 0.5
# A photograph larger than the 1080p class may be lowered further, to 0.3, as long as the
# geometric search still sees its mark's lattice with the evidence _FINDABLE (the search's best
# lattice on an unmarked image scores up to about 18, on the 250 of the null test; at 30 the
# acceptance photographs at 4000x3000 still gave their payload back after rotations and aspect
# changes, and at 17 immunohistochemistry's did not). Its crops are read at a finer scale than its
# published copies: at 4000x3000, a quarter crop holds the mark at twice the working resolution;
# StirMark's bending, whose dewarp finds the field by the mark's energy, lost no more than at 0.5
# (eval.acceptance at 4000x3000) once the dewarp read the mark's upper bins (dewarp._bands).
_LARGER_LEASTS = (0.45, 0.4, 0.35, 0.3)   # tried in turn
_FINDABLE = 30.0
# Last, a photograph of the 1080p class (short side from 1024 px to _LARGE_FROM, at most
# _VISIBLE_PIXELS) is marked no more visibly than its own JPEG q90 copy by SSIMULACRA 2
# (visibility.Budget): the amplitude is lowered where it would be, to _VISIBLE_LEAST of it at most,
# in up to _VISIBLE_TRIES further scores (about 0.4 s each at 1920x1080). Where JPEG q90 costs a
# picture little (smooth areas beside sharp edges, an upscaled picture), the calibration's amplitude
# was up to 2.5 times what the eye allows (one-off: 11 of 42 photographs at 1920x1080 lowered, to
# 0.40-0.99 of it).
_VISIBLE_SIDES = (1024, _LARGE_FROM)
_VISIBLE_PIXELS = 4_000_000
_VISIBLE_LEAST, _VISIBLE_TRIES = 0.35, 3
_AIM_OVER, _CLOSE_ENOUGH = 0.15, 0.6   # points over the target aimed at, and kept without a further try


def default_amplitude(layout: Layout, whitened: np.ndarray, activity: np.ndarray, pattern: np.ndarray,
                      signs: np.ndarray, large: float) -> float:
    """The mark's amplitude at strength 1, relative to the perceptual mask: on a large image (``large``
    1, see :func:`masking.largeness`), what makes the pilot's predicted z reach ``_TARGET_Z``, within
    ``_LARGE_RANGE``; on a small one (0), 1.

    The one place where the default is calibrated. A large photograph is read at a fraction of its
    size, where full-resolution degradations are averaged away, and the eye sees its mark near the
    peak of its contrast sensitivity: it gets a weaker mark, the weaker the less its host hides the
    pilot (smooth areas, many tiles); a busy one gets more, up to what stays invisible.
    The prediction is the detector's pilot statistic on the host plus ``pattern`` (the mark at unit
    amplitude), without the host's interference cancelled by informed embedding (a crop or a
    degradation brings it back) and with flat areas counted as ``_ROBUST_ACTIVITY`` busy (a faint
    mark in a flat sky is the first thing JPEG removes).
    """
    robust = np.maximum(activity, _ROBUST_ACTIVITY)
    host = layout.products(sync.fold(whitened * (activity / robust), TILE))
    gain = slots_from_tile(sync.fold(masking.whiten_linear(pattern, robust), TILE)) * signs
    per_level = []
    for level in range(len(LEVELS)):
        pilot = layout.is_pilot & (LEVEL_OF_SLOT == level)
        per_level.append(gain[pilot].sum() / max(np.sqrt(np.sum(host[pilot] ** 2)), 1e-12))
    z = float(np.max(PILOT_WEIGHTINGS @ np.array(per_level)))
    low, high = (1.0 + large * (limit - 1.0) for limit in _LARGE_RANGE)
    target = _TARGET_Z * (min(whitened.shape) / color.WORKING_SHORT_SIDE) ** 2
    return float(np.clip(target / max(z, 1e-12), low, high))


def least_scale(working: np.ndarray, mark_at: Callable[[float], np.ndarray], shape: tuple[int, ...],
                wanted: float) -> float:
    """The least amplitude scale :func:`round_trip_scale` may lower the mark to, where it would lower it
    to ``wanted``: ``_ROUND_TRIP_LEAST``; on a photograph larger than the 1080p class (``shape``), the
    least of ``_LARGER_LEASTS`` down to ``wanted`` at which the lattice evidence of ``working +
    mark_at(scale)`` is still ``_FINDABLE`` (it falls with the amplitude)."""
    least = _ROUND_TRIP_LEAST
    if min(shape[:2]) > _LARGE_FROM:
        for scale in _LARGER_LEASTS:
            if least <= wanted or _lattice_evidence(working + mark_at(scale)) < _FINDABLE:
                break
            least = scale
    return least


def _lattice_evidence(working: np.ndarray) -> float:
    """What the geometric search sees of the tile's lattice where it was put, in ``working`` (a marked
    image at its working resolution): the search's score of that lattice (about N(0, 1) without it)."""
    _, activity = masking.whiten(working)
    view = masking.denoised_residual(working, activity)
    small = search_view(view)
    lags = periodicity.LagMap(sync.central(small)[0])
    return float(lags.scores([np.eye(2) * TILE * small.shape[0] / view.shape[0]])[0])


def round_trip_scale(luma: np.ndarray, mark_at: Callable[[float], np.ndarray], layout: Layout,
                     large: float, least: Callable[[float], float]) -> float:
    """How much amplitude, relative to ``mark_at(1)``, the mark needs (``least(wanted)``, see
    :func:`least_scale`, to ``_ROUND_TRIP_BOOST`` on a large image, ``large`` 1, see
    :func:`masking.largeness`; 1 on a small one, whose mask is used as it is and already costs it the
    most SSIM) for its pilot z to stay at ``_ROUND_TRIP_Z`` once the marked image is published the
    common ways (:func:`_publications`: WebP 50 at ``_ROUND_TRIP_SIDE`` px; a photograph larger than
    the 1080p class as a web copy and as a full-size WebP 50; the least z of them counts).

    Measured on the image itself (``mark_at(b)``: the working-resolution mark at ``b`` times the
    default amplitude): a codec removes a faint mark from smooth areas far more than the mark's energy
    predicts, and only on some images. The amplitude is raised by the ratio of the z's, twice at
    most. When even the raised mark is mostly gone after the round trip (z under
    ``_ROUND_TRIP_USEFUL``: an image with nothing to hide a mark in, which the codec flattens), the
    extra visibility would buy nothing there; it is then raised, within the same limit, only as far as
    a full-size JPEG 50 needs (a dark or smooth photograph: without it, JPEG 50 took the payload from
    some), and where even that leaves too little, 1; or, where a full-size JPEG 30 keeps a z under
    ``_JPEG_30_LOST`` of the mark at 1 (without it, JPEG 30 took the payload from some), to the
    limit. Where the published mark keeps more than it
    needs (a smooth photograph, whose flat areas the prediction counts as busier than they are), the
    amplitude is lowered by the ratio of the z's (to ``wanted``), to ``least(wanted)`` at most,
    checked once more after the round trip.
    """
    most = 1.0 + large * (_ROUND_TRIP_BOOST - 1.0)
    if most <= 1.0:
        return 1.0
    publications = [(color.resize(luma, shape), encoding) for shape, encoding in _publications(luma.shape)]

    def z_at(scale: float) -> float:
        mark = mark_at(scale).astype(np.float32)
        return min(_z_after_round_trip(host, color.resize(mark, host.shape), layout, luma.shape, encoding)
                   for host, encoding in publications)

    z = z_at(1.0)
    if z > _ROUND_TRIP_Z:
        wanted = _ROUND_TRIP_Z / z
        lower = max(1.0 + large * (least(wanted) - 1.0), wanted)
        z = z_at(lower)             # a codec's dead zone takes more than its share of a fainter mark
        return lower if z >= _ROUND_TRIP_Z else min(1.0, lower * _ROUND_TRIP_Z / max(z, 1e-12))
    boost = _raised(z_at, z, most, tries=2)
    if boost > 1.0 or z >= _ROUND_TRIP_Z:      # raised, or at the target already: WebP kept it
        return boost

    def z_at_full_size(scale: float, encoding: tuple[str, tuple[int, int]] = _FULL_SIZE_JPEG) -> float:
        mark = color.resize(mark_at(scale).astype(np.float32), luma.shape[:2])
        return _z_after_round_trip(luma, mark, layout, luma.shape, encoding)

    z = z_at_full_size(1.0)
    boost = _raised(z_at_full_size, z, most, tries=1)
    if boost == 1.0 and z < _ROUND_TRIP_Z:     # even JPEG 50 takes the raised mark: nothing would help
        return 1.0
    z = z_at_full_size(1.0, _FULL_SIZE_JPEG_30)
    return most if z < _JPEG_30_LOST else boost


def _publications(shape: tuple[int, ...]) -> list[tuple[tuple[int, int], tuple[str, tuple[int, int]]]]:
    """The sizes and encodings at which the round trip publishes an image of ``shape``: up to the
    1080p class, at most ``_ROUND_TRIP_SIDE`` px on its short side as WebP 50 (``_PUBLISHED``, about
    its full size); larger, as a web copy (``_WEB_LONG_SIDE`` px on its long side, ``_WEB_COPY``) and
    at full size as WebP 50 (``_FULL_SIZE_AT_MOST`` px on its short side at most): what
    `eval.acceptance` asks of it, not what a WebP 50 copy at 1024 px, a fraction of its size, would
    (far more)."""
    if min(shape[:2]) <= _LARGE_FROM:
        return [(_within_webp(color.at_most(shape, _ROUND_TRIP_SIDE)), _PUBLISHED)]
    short = round(_WEB_LONG_SIDE * min(shape[:2]) / max(shape[:2]))
    return [(color.at_most(shape, short), _WEB_COPY),
            (_within_webp(color.at_most(shape, _FULL_SIZE_AT_MOST)), _PUBLISHED)]


def _within_webp(shape: tuple[int, int]) -> tuple[int, int]:
    """``shape``, reduced where a side is over ``_WEBP_LARGEST_SIDE`` to the largest that WebP holds."""
    if max(shape) <= _WEBP_LARGEST_SIDE:
        return shape
    return color.at_most(shape, min(shape) * _WEBP_LARGEST_SIDE // max(shape))


def _raised(z_at: Callable[[float], float], z: float, most: float, tries: int) -> float:
    """The amplitude scale, at most ``most``, that brings the round trip's pilot z (``z`` at 1,
    ``z_at(scale)`` otherwise) to ``_ROUND_TRIP_Z``, raised by the ratio of the z's at most ``tries``
    times; 1 when no raise is needed, or when the raised mark still keeps under ``_ROUND_TRIP_USEFUL``."""
    boost = 1.0
    for _ in range(tries):
        if z >= _ROUND_TRIP_Z or boost >= most:
            break
        boost = min(most, boost * _ROUND_TRIP_Z / max(z, 1.0))
        z = z_at(boost)
    return boost if z >= _ROUND_TRIP_USEFUL else 1.0


def _z_after_round_trip(host: np.ndarray, mark: np.ndarray, layout: Layout, shape: tuple[int, ...],
                        encoding: tuple[str, tuple[int, int]]) -> float:
    """The pilot's z, where it was put, in ``host + mark`` (luminance in [0, 1]; ``shape``: the marked
    image's full size) saved with ``encoding`` (OpenCV's extension and parameters) and read back as
    the detector reads an untouched copy."""
    marked = np.clip(np.rint((host + mark) * 255.0), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(encoding[0], marked, list(encoding[1]))
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) if ok else None
    if decoded is None:
        raise RuntimeError(f"OpenCV could not round-trip {encoding[0]}")
    decoded = decoded.astype(np.float32) / 255.0
    plane, _ = masking.whiten(working_view(decoded, shape))
    return float(layout.pilot_z(sync.fold(plane, TILE)))


def checks_visibility(shape: tuple[int, ...]) -> bool:
    """Whether an image of ``shape`` is one whose default amplitude :func:`visible_scale` checks."""
    low, high = _VISIBLE_SIDES
    return low <= min(shape[:2]) <= high and shape[0] * shape[1] <= _VISIBLE_PIXELS


def visible_scale(score_at: Callable[[float], float], target: float) -> float:
    """The largest amplitude scale, at most 1, whose marked picture scores ``target`` or more
    (``score_at(scale)``: SSIMULACRA 2, 100 for no change), no lower than ``_VISIBLE_LEAST``.

    The metric's loss (100 minus the score) grows about as a power of the amplitude: each try
    aims a little over the target along the power the last two scores give (1 at first)."""
    scale, score = 1.0, score_at(1.0)
    if score >= target:
        return 1.0
    within, power, aim = None, 1.0, _loss(target + _AIM_OVER)
    for _ in range(_VISIBLE_TRIES):
        aimed = max(_VISIBLE_LEAST, scale * (aim / _loss(score)) ** (1.0 / power))
        if abs(aimed - scale) < 1e-3:           # at the least already
            break
        aimed_score = score_at(aimed)
        power = float(np.clip(np.log(_loss(aimed_score) / _loss(score)) / np.log(aimed / scale), 0.3, 3.0))
        scale, score = aimed, aimed_score
        if score >= target:
            within = max(within or 0.0, scale)
            if score < target + _CLOSE_ENOUGH:
                break
    return within if within is not None else scale


def _loss(score: float) -> float:
    """What SSIMULACRA 2 counts against a picture: 100 minus its score (kept above 0)."""
    return max(100.0 - score, 1e-6)
