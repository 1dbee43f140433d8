"""embed and detect on images in memory: the edges done once (convert, split alpha, luminance, add, clip,
restore). Image files, their bytes and files already read: `watermark.api_files`."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable

import cv2
import numpy as np
from PIL import Image

from . import schemes
from .coding import payload_to_int
from .detection import Detection, InformedReading
from .errors import ImageTooSmallError, InvalidImageError, ParameterError
from .image import SIXTEEN_BIT_MODES, ImageLike, PixelFormat, add_to_luminance, luminance_of, pixels_of, shaped_as
from .keys import Key
from .visibility import Budget

__all__ = ["embed", "detect", "detect_keys", "read_in_frame", "MAX_STRENGTH", "READ_BACK_BELOW", "embed_as_given",
           "detect_decoded", "check_key", "luminance_for", "reduced_for", "shape_of"]

MAX_STRENGTH = 10.0     # ten times the default amplitude: far past visible, short of a destroyed picture
READ_BACK_BELOW = 192   # px (short side): a mark this small is read back before it is handed out
_CLIPPED_OVER = 0.5     # share of pure black or white pixels from which a mark is read back: half of it clips
_NEARLY_BLACK = 4 / 255  # and a picture 99 % darker than this (a 16-bit file holding 8-bit values)


def luminance_for(image: ImageLike, scheme: schemes.Scheme, name: str) -> tuple[np.ndarray, np.ndarray, PixelFormat]:
    """The pixels of ``image`` as they came (see `pixels_of`), their luminance and their format."""
    array, fmt = pixels_of(image, name=name)
    height, width = array.shape[:2]
    if min(height, width) < scheme.min_size:
        raise ImageTooSmallError(
            f"{name}: {width}x{height} px is below the {scheme.name} scheme's "
            f"{scheme.min_size}x{scheme.min_size} minimum")
    return array, luminance_of(array), fmt


def shape_of(image: ImageLike) -> tuple[int, int]:
    """(height, width) of an image given as an array or a Pillow image."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    if not isinstance(image, np.ndarray) or image.ndim < 2:
        pixels_of(image)      # raises what is wrong with it
    return int(image.shape[0]), int(image.shape[1])


def check_key(key: Key) -> None:
    """A ParameterError unless ``key`` is a `Key` (not a path or a passphrase given by mistake)."""
    if not isinstance(key, Key):
        raise ParameterError(f"key must be a watermark.Key (Key.load(path), Key.from_passphrase(text)), "
                             f"got {type(key).__name__}")


def reduced_for(scheme: schemes.Scheme, image: ImageLike, name: str = "image",
                source_shape: tuple[int, int] | None = None) -> ImageLike:
    """``image``'s luminance scaled down to what ``scheme``'s detector analyses, when that is smaller:
    large 8- and 16-bit images are averaged down before any conversion, which is most of the work.

    ``source_shape``: the file's full size when ``image`` is a decode of it reduced by a whole factor
    per side (JPEG's DCT scaling, `Image.reduce`). Such a decode covers the file's pixels in blocks of
    that factor, its last row and column a partial block: it is scaled as the file would be, and that
    partial block's share cut off (stretched over the file's size, a 2200 x 3300 PNG reduced by 3 read
    "scaled 1.001, offset (3.0, 0)" and 15 % weaker)."""
    if isinstance(image, Image.Image) and image.mode in ("L", "RGB", "RGBA"):
        image, _ = pixels_of(image, name=name)
    if not (isinstance(image, np.ndarray) and image.dtype in (np.uint8, np.uint16)):
        return image
    image, _ = pixels_of(image, name=name)      # checked: (H, W) or (H, W, 2 to 4), with pixels
    source = source_shape or image.shape[:2]
    target = scheme.analysis_shape(source)
    if target is None:
        return image
    if image.ndim == 3:      # schemes see luminance only: one channel to average down, not three
        image = image[:, :, 0] if image.shape[2] == 2 else \
            cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY if image.shape[2] == 4 else cv2.COLOR_RGB2GRAY)
    covered = [round(side * round(whole / side) * want / whole)       # the blocks' extent, at the target's scale
               for side, whole, want in zip(image.shape, source, target)]
    return cv2.resize(image, (covered[1], covered[0]), interpolation=cv2.INTER_AREA)[:target[0], :target[1]]


def embed(image: ImageLike, payload: int | bytes, key: Key, *, strength: float = 1.0,
          scheme: str = schemes.DEFAULT_SCHEME) -> ImageLike:
    """Hide ``payload`` in ``image`` under ``key``; returns the same kind, shape, dtype and mode.

    The mark changes luminance only (the same amount is added to R, G and B); alpha is untouched.

    Parameters
    ----------
    image : numpy.ndarray or PIL.Image.Image
        ``(H, W)``, ``(H, W, 2)`` (grey, alpha), ``(H, W, 3)`` or ``(H, W, 4)``, uint8, uint16 or float
        in [0, 1], RGB order.
    payload : int or bytes
        An int in [0, 2**64) or at most 8 bytes.
    strength : float
        Multiplies the mark's amplitude: higher is more robust and more visible; at most
        `MAX_STRENGTH`.

    Raises
    ------
    InvalidImageError, PayloadTooLargeError, ParameterError
    ImageTooSmallError
        Below the scheme's minimum size, or, under 192 px, a mark that does not read back (the
        marked image is checked there: a small picture may not hold one).
    InvalidImageError
        Also a picture mostly pure black or white whose mark does not read back (checked there).

    Examples
    --------
    >>> import numpy as np, watermark as wm
    >>> photo = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    >>> key = wm.Key.from_passphrase("example")
    >>> marked = wm.embed(photo, payload=0xC0FFEE, key=key)
    >>> marked.shape, marked.dtype
    ((512, 512, 3), dtype('uint8'))
    >>> wm.detect(marked, key=key).payload == 0xC0FFEE
    True
    """
    _refuse_eight_bits_as_sixteen(image)
    return embed_as_given(image, payload, key, strength=strength, scheme=scheme)


def _refuse_eight_bits_as_sixteen(image: ImageLike) -> None:
    """An InvalidImageError for a caller's 16-bit array or image whose values stay within 0..255: an 8-bit
    picture after ``.astype(np.uint16)`` or ``convert("I;16")``, which the mark, made for 0..65535, would
    cross 257 times too strongly (PSNR 14 dB). A 16-bit file that dark is marked (`embed_file`): there the
    values are what they say."""
    sixteen = (image.mode in SIXTEEN_BIT_MODES if isinstance(image, Image.Image)
               else isinstance(image, np.ndarray) and image.dtype == np.uint16)
    if sixteen and int(np.asarray(image).max(initial=0)) <= 255:
        raise InvalidImageError("image: 16-bit values that stay within 0..255: 8 or 16 bits? The mark would be made "
                                "for 0..65535, 257 times too strong; pass 8-bit pixels (.astype(np.uint8), mode 'L') "
                                "or the values times 257")


def embed_as_given(image: ImageLike, payload: int | bytes, key: Key, *, strength: float, scheme: str) -> ImageLike:
    """`embed` without its check of the caller's bit depth (a file's pixels are what they say)."""
    if not (isinstance(strength, numbers.Real) and 0 < strength <= MAX_STRENGTH):
        raise ParameterError(f"strength must be a number in (0, {MAX_STRENGTH:g}], got {strength!r}")
    check_key(key)
    value = payload_to_int(payload)
    frames = getattr(image, "n_frames", 1) if isinstance(image, Image.Image) else 1
    if frames > 1:
        raise InvalidImageError(f"image: {frames} frames (animated, or pages); marking would drop all but the "
                                "current one: mark each frame on its own")
    chosen = schemes.get(scheme)
    pixels, luma, fmt = luminance_for(image, chosen, "image")
    if fmt.pil_mode == "1":
        raise InvalidImageError("image: a 1-bit (black and white) image cannot hold a mark; convert it to 'L'")
    residual = chosen.residual(luma, value, key, strength=strength, budget=Budget.of(pixels, fmt))
    unreadable = _where_a_mark_may_not_read(luma)
    del luma      # gone before the output is made: one full-size float plane at a time besides the residual
    marked = add_to_luminance(pixels, fmt, residual)
    marked = shaped_as(marked, image)
    height, width = pixels.shape[:2]
    if min(height, width) < READ_BACK_BELOW and detect(marked, key, scheme=scheme).payload != value:
        raise ImageTooSmallError(f"image: {width}x{height} px is too small for this picture to hold a mark that "
                                 f"reads back (tried at strength {strength:g})")
    if unreadable and detect(marked, key, scheme=scheme).payload != value:
        raise InvalidImageError(f"image: {unreadable}: it does not read back (tried at strength {strength:g})")
    return marked


def _where_a_mark_may_not_read(luma: np.ndarray) -> str:
    """Why the mark on ``luma`` may not read back, from every 16th pixel: more than `_CLIPPED_OVER` of it pure
    black or white (half the mark clips), or nearly all of it under `_NEARLY_BLACK` (a small picture's mask dims
    the mark there, under what the detector tells from a blank area); "" otherwise. A function of its own: a view
    of the plane kept in the caller (the sample) would keep the whole plane alive."""
    sample = luma[::4, ::4]
    if np.count_nonzero((sample <= 1e-6) | (sample >= 1.0 - 1e-6)) > _CLIPPED_OVER * sample.size:
        return "mostly pure black or white, where the mark clips"
    if np.percentile(sample, 99) < _NEARLY_BLACK:
        return "nearly black, where the mark is too faint to tell from a blank area"
    return ""


def detect(image: ImageLike, key: Key, *, scheme: str = schemes.DEFAULT_SCHEME,
           false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
           marked_shape: tuple[int, int] | None = None) -> Detection:
    """Look for ``key``'s mark in ``image``; "no mark" is an answer, never an exception.

    ``found`` is ``p_value <= false_alarm``: the chance that an unmarked image is reported found.
    An image below the scheme's minimum size gives ``found=False`` with ``p_value=1``.

    Parameters
    ----------
    marked_shape : (int, int), optional
        (height, width) of the marked image, when known: `Detection.geometry` then reads a resized
        copy's true scale. Without it the marked image is taken at ``image``'s own size (a mark made
        at a fixed working resolution cannot tell a resized copy from an original of that size).

    Raises
    ------
    ParameterError
        ``false_alarm`` is not in (0, 1).
    """
    return detect_decoded(image, [key], scheme, false_alarm, marked_shape=marked_shape)[0]


def detect_keys(image: ImageLike, keys: Iterable[Key], *, scheme: str = schemes.DEFAULT_SCHEME,
                false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                marked_shape: tuple[int, int] | None = None) -> list[Detection]:
    """`detect` with each of ``keys``, in order: the same detections, for less than one detection
    per key (the lattice scheme's geometric search, dewarp and folds use no key and are made once).
    Each key's p-value is its own: with N keys, an unmarked image is found with a probability of at
    most N times ``false_alarm``. No keys, no detections: ``[]`` (the image is checked all the same).

    Raises
    ------
    ParameterError
        ``keys`` is a single `Key` (pass ``[key]``) or not an iterable of keys; ``false_alarm`` is not in (0, 1).
    InvalidImageError
    """
    return detect_decoded(image, keys, scheme, false_alarm, marked_shape=marked_shape)


def detect_decoded(image: ImageLike, keys: Iterable[Key], scheme: str, false_alarm: float, *,
                   marked_shape: tuple[int, int] | None, source_shape: tuple[int, int] | None = None,
                   name: str = "image") -> list[Detection]:
    """`detect` with each of ``keys``, told the (height, width) the image was encoded at when it was
    decoded smaller; errors about its pixels call it ``name``."""
    chosen = schemes.get(scheme)
    _check_false_alarm(false_alarm)
    keys = _key_list(keys)
    if not keys:
        pixels_of(image, name=name)
        return []
    if source_shape is None:
        source_shape = shape_of(image)
    try:
        _, luma, _ = luminance_for(reduced_for(chosen, image, name, source_shape), chosen, name)
    except ImageTooSmallError:
        return [Detection(found=False, payload=None, p_value=1.0, score=0.0, bits=np.zeros(0), scheme=chosen.name)
                for _ in keys]
    return chosen.detect_keys(luma, keys, false_alarm=false_alarm, source_shape=_pair(source_shape),
                              marked_shape=None if marked_shape is None else _pair(marked_shape))


def _check_false_alarm(false_alarm: float) -> None:
    """A ParameterError unless ``false_alarm`` is a number in (0, 1) (NaN is not)."""
    if not (isinstance(false_alarm, numbers.Real) and 0.0 < false_alarm < 1.0):
        raise ParameterError(f"false-alarm rate must lie in (0, 1), got {false_alarm!r}")


def _key_list(keys: Iterable[Key]) -> list[Key]:
    """``keys`` as a list, each checked (`check_key`): an iterator is read once."""
    if isinstance(keys, Key):
        raise ParameterError("keys must be a list of watermark.Key, got a single Key; pass [key], or call detect")
    try:
        listed = list(keys)
    except TypeError:
        raise ParameterError(f"keys must be a list of watermark.Key, got {type(keys).__name__}") from None
    for key in listed:
        check_key(key)
    return listed


def _pair(shape: tuple[int, int], name: str = "marked_shape") -> tuple[int, int]:
    """``(height, width)`` as plain ints, whatever sequence of positive integers the caller gave."""
    try:
        height, width = (operator.index(side) for side in shape)
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise ParameterError(f"{name} must be (height, width) in whole pixels, got {shape!r}")
    return height, width


def read_in_frame(image: ImageLike, key: Key, candidates: Iterable[int], *, valid: np.ndarray | None = None,
                  original: ImageLike | None = None, false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                  phase_searches: int = 0, master_shape: tuple[int, int] | None = None) -> InformedReading:
    """Informed read of a suspect already registered to a master: ``image`` is the suspect resampled
    into the master's frame (the master's aspect ratio, any size; ``master_shape``: the master's full
    (height, width) when ``image`` is not at it, which sets the working resolution), ``valid`` (bool
    ``(H, W)``, optional) the pixels it covers, ``candidates`` the payloads issued for that master under ``key``.

    Returns the periodic layer read at the identity geometry (its payload matched among the
    candidates, which needs far less of the mark than decoding, or else decoded) and, per candidate,
    the z and p-value (Bonferroni over the candidates) of its per-copy layer;
    :attr:`InformedReading.named` lists the candidates present. A mark pasted from another image
    carries no per-copy layer that matches the suspect's content, so it names nobody here. Lattice
    scheme only. ``phase_searches``: the number of tile-phase searches that placed the suspect
    (`watermark.placement`), whose every offset the p-value then pays for; 0 for a registration.
    ``original`` (optional, same height and width): the master itself in the same frame, when at
    hand; the marks are then read in the suspect minus the master (a non-blind read: the host's
    detail no longer hides a small part's mark; see `watermark.original`).

    Raises
    ------
    InvalidImageError, ImageTooSmallError
    ParameterError
        ``key`` is not a `Key`, ``false_alarm`` is not in (0, 1), ``phase_searches`` is not a whole
        number >= 0, or ``master_shape`` is not (height, width) in whole pixels.
    """
    from .schemes.lattice import LatticeScheme  # the one scheme with an informed read; get() loads it anyway

    chosen = schemes.get("lattice")
    assert isinstance(chosen, LatticeScheme)        # the registry maps "lattice" to it
    check_key(key)
    _check_false_alarm(false_alarm)
    try:
        searches = operator.index(phase_searches)
    except TypeError:
        searches = -1
    if searches < 0:
        raise ParameterError(f"phase_searches must be a whole number >= 0, got {phase_searches!r}")
    frame = None if master_shape is None else _pair(master_shape, "master_shape")
    _, luma, _ = luminance_for(image, chosen, "image")
    payloads = [payload_to_int(payload) for payload in candidates]
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != luma.shape:
            raise InvalidImageError(f"valid: shape {valid.shape} differs from the image's {luma.shape}")
    host = None
    if original is not None:
        _, host, _ = luminance_for(original, chosen, "original")
        if host.shape != luma.shape:
            raise InvalidImageError(f"original: shape {host.shape} differs from the image's {luma.shape}")
    return chosen.read_in_frame(luma, key, payloads, valid=valid, original=host, false_alarm=false_alarm,
                                phase_searches=searches, master_shape=frame)
