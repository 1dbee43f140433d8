"""embed and detect: the edges done once (convert, split alpha, luminance, add, clip, restore)."""

from __future__ import annotations

import functools
import numbers
import operator
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from . import imageformats, imageio, imagewrite, schemes
from .coding import payload_to_int
from .detection import Detection, InformedReading
from .errors import (
    AlreadyMarkedWarning,
    FiligraneWarning,
    ImageTooSmallError,
    InvalidImageError,
    OutputExistsError,
    ParameterError,
)
from .image import SIXTEEN_BIT_MODES, ImageLike, PixelFormat, add_to_luminance, luminance_of, pixels_of, shaped_as
from .keys import Key
from .signer import ManifestSigner, new_manifest_id

__all__ = ["embed", "detect", "detect_keys", "embed_file", "detect_file", "detect_loaded", "detect_loaded_keys",
           "read_in_frame", "warn_if_marked", "output_quality", "check_markable", "embed_loaded", "MAX_STRENGTH"]

MAX_STRENGTH = 10.0     # ten times the default amplitude: far past visible, short of a destroyed picture
_READ_BACK_BELOW = 192  # px (short side): a mark this small is read back before it is handed out
_CLIPPED_OVER = 0.5     # share of pure black or white pixels from which a mark is read back: half of it clips
# A JPEG written on its source's own quantisation tables snaps the coefficients the mark moved by less than
# half a step back onto the source's grid (one-off, 11 held-out photographs at 1920 px, the share of the
# mark's statistic kept: quality 60 about 0.2, 75 0.2-0.9, 85 0.7-1.0, 95 0.98-1.0). The written file must
# keep this share, else the least of the raised qualities that does is used.
_KEPT_SHARE = 0.9
_RAISED_QUALITIES = (85, 90, 95)


def _luminance_of(image: ImageLike, scheme: schemes.Scheme, name: str) -> tuple[np.ndarray, np.ndarray, PixelFormat]:
    """The pixels of ``image`` as they came (see `pixels_of`), their luminance and their format."""
    array, fmt = pixels_of(image, name=name)
    height, width = array.shape[:2]
    if min(height, width) < scheme.min_size:
        raise ImageTooSmallError(
            f"{name}: {width}x{height} px is below the {scheme.name} scheme's "
            f"{scheme.min_size}x{scheme.min_size} minimum")
    return array, luminance_of(array), fmt


def _shape_of(image: ImageLike) -> tuple[int, int]:
    """(height, width) of an image given as an array or a Pillow image."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    if not isinstance(image, np.ndarray) or image.ndim < 2:
        pixels_of(image)      # raises what is wrong with it
    return int(image.shape[0]), int(image.shape[1])


def _check_key(key: Key) -> None:
    """A ParameterError unless ``key`` is a `Key` (not a path or a passphrase given by mistake)."""
    if not isinstance(key, Key):
        raise ParameterError(f"key must be a watermark.Key (Key.load(path), Key.from_passphrase(text)), "
                             f"got {type(key).__name__}")


def _reduced_for(scheme: schemes.Scheme, image: ImageLike, name: str = "image",
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
    return _embed(image, payload, key, strength=strength, scheme=scheme)


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


def _embed(image: ImageLike, payload: int | bytes, key: Key, *, strength: float, scheme: str) -> ImageLike:
    """`embed` without its check of the caller's bit depth (a file's pixels are what they say)."""
    if not (isinstance(strength, numbers.Real) and 0 < strength <= MAX_STRENGTH):
        raise ParameterError(f"strength must be a number in (0, {MAX_STRENGTH:g}], got {strength!r}")
    _check_key(key)
    value = payload_to_int(payload)
    frames = getattr(image, "n_frames", 1) if isinstance(image, Image.Image) else 1
    if frames > 1:
        raise InvalidImageError(f"image: {frames} frames (animated, or pages); marking would drop all but the "
                                "current one: mark each frame on its own")
    chosen = schemes.get(scheme)
    pixels, luma, fmt = _luminance_of(image, chosen, "image")
    if fmt.pil_mode == "1":
        raise InvalidImageError("image: a 1-bit (black and white) image cannot hold a mark; convert it to 'L'")
    residual = chosen.residual(luma, value, key, strength=strength)
    sample = luma[::4, ::4]       # a share of pixels: every 16th tells it
    clipped = np.count_nonzero((sample <= 1e-6) | (sample >= 1.0 - 1e-6)) > _CLIPPED_OVER * sample.size
    del luma      # gone before the output is made: one full-size float plane at a time besides the residual
    marked = add_to_luminance(pixels, fmt, residual)
    marked = shaped_as(marked, image)
    height, width = pixels.shape[:2]
    if min(height, width) < _READ_BACK_BELOW and detect(marked, key, scheme=scheme).payload != value:
        raise ImageTooSmallError(f"image: {width}x{height} px is too small for this picture to hold a mark that "
                                 f"reads back (tried at strength {strength:g})")
    if clipped and detect(marked, key, scheme=scheme).payload != value:
        raise InvalidImageError(f"image: mostly pure black or white, where the mark clips: it does not read back "
                                f"(tried at strength {strength:g})")
    return marked


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
    return _detect(image, [key], scheme, false_alarm, marked_shape=marked_shape)[0]


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
    return _detect(image, keys, scheme, false_alarm, marked_shape=marked_shape)


def _detect(image: ImageLike, keys: Iterable[Key], scheme: str, false_alarm: float, *,
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
        source_shape = _shape_of(image)
    try:
        _, luma, _ = _luminance_of(_reduced_for(chosen, image, name, source_shape), chosen, name)
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
    """``keys`` as a list, each checked (`_check_key`): an iterator is read once."""
    if isinstance(keys, Key):
        raise ParameterError("keys must be a list of watermark.Key, got a single Key; pass [key], or call detect")
    try:
        listed = list(keys)
    except TypeError:
        raise ParameterError(f"keys must be a list of watermark.Key, got {type(keys).__name__}") from None
    for key in listed:
        _check_key(key)
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


def embed_file(src: str | os.PathLike, dst: str | os.PathLike, payload: int | bytes, key: Key, *,
               strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
               overwrite: bool = False, max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS,
               c2pa_signer: ManifestSigner | None = None) -> str | None:
    """Mark the image file ``src`` into ``dst``, keeping format, bit depth, alpha, ICC and EXIF.

    An ``src`` that already carries ``key``'s mark (read where it was put, which is cheap) is marked
    all the same, with an `AlreadyMarkedWarning`.

    ``dst`` is written atomically; it is never ``src`` unless ``overwrite`` is true, and an existing
    ``dst`` is replaced only when ``overwrite`` is true. A JPEG output keeps a JPEG source's quality
    (estimated from its quantisation tables; finer where those tables would erase the mark, with a
    `FiligraneWarning`: see `output_quality`) and progressive encoding; ``quality`` (1-100) overrides
    it, and sets WebP's, whose lossy quality cannot be read from a file (default 95).
    With ``c2pa_signer`` (`watermark.signer.ManifestSigner`), ``dst`` is written once, already
    carrying a signed C2PA manifest whose soft binding names the payload and the key's public id
    (see `watermark.provenance`); the manifest's id is returned, else None.
    """
    _check_key(key)
    if not overwrite and os.path.lexists(dst):   # fail before the work, not after
        raise OutputExistsError(imagewrite.exists_message(dst))
    if c2pa_signer is not None:
        c2pa_signer.check_output(dst)
    loaded = imageio.load_image(src, max_pixels=max_pixels, animated="error")
    marked = _marked(loaded, dst, payload, key, strength, scheme)
    manifest_id = finish = None
    if c2pa_signer is not None:
        manifest_id = new_manifest_id()
        finish = functools.partial(c2pa_signer.sign, output=dst, source=src, source_format=loaded.format,
                                   payload=payload_to_int(payload), key_id=key.public_id,
                                   scheme=schemes.get(scheme).name, manifest_id=manifest_id)
    quality = output_quality(marked, dst, loaded, key, schemes.get(scheme), quality, payload=payload_to_int(payload))
    imagewrite.save_image(marked, dst, like=loaded, quality=quality, overwrite=overwrite, finish=finish)
    return manifest_id


def _marked(loaded: imageio.LoadedImage, dst: str | os.PathLike, payload: int | bytes, key: Key, strength: float,
            scheme: str) -> ImageLike:
    """``loaded``'s pixels marked, once its output ``dst`` is known to hold them (errors name its file)."""
    check_markable(loaded, dst)
    warn_if_marked(loaded.image, key, schemes.get(scheme), loaded.path)
    return embed_loaded(loaded, payload, key, strength=strength, scheme=scheme)


def check_markable(loaded: imageio.LoadedImage, dst: str | os.PathLike) -> None:
    """Refuse, before the work, a file whose marked copy ``dst`` could not hold as it is: a 16-bit CMYK
    read at 8 bits, or a format that cannot hold its mode or depth (`imagewrite.check_writable`); and warn
    of what the copy changes of the source's encoding (`imagewrite.copy_changes`)."""
    if loaded.depth_reduced:
        raise InvalidImageError(f"{loaded.path}: 16-bit CMYK, read at 8 bits per channel, would be written back "
                                "at 8; convert it to 16-bit RGB or to 8-bit CMYK first")
    try:
        imagewrite.check_writable(loaded.image, dst)
    except InvalidImageError as exc:
        lie = imagewrite.misnamed(loaded)
        if lie is None:
            raise
        raise type(exc)(f"{exc} (the source {loaded.path} is {lie})") from None
    for change in imagewrite.copy_changes(loaded, dst):
        warnings.warn(change, FiligraneWarning, stacklevel=3)


def embed_loaded(loaded: imageio.LoadedImage, payload: int | bytes, key: Key, *, strength: float = 1.0,
                 scheme: str = schemes.DEFAULT_SCHEME) -> ImageLike:
    """A file's pixels marked: `embed` without its guess at a caller's bit depth (a file's values are what
    they say); errors name the file."""
    try:
        return _embed(loaded.image, payload, key, strength=strength, scheme=scheme)
    except InvalidImageError as exc:
        raise type(exc)(str(exc).replace("image:", f"{loaded.path}:", 1)) from None


def embed_bytes(data: bytes, payload: int | bytes, key: Key, *, extension: str | None = None,
                strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
                max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS, name: str = "image") -> bytes:
    """Mark an image file's bytes (an upload, an object store's) and return the marked file's, as
    `embed_file` would write them: format, bit depth, alpha, ICC and EXIF kept, and a JPEG written at the
    source's quality unless that would erase the mark (then finer, with a `FiligraneWarning`). Saving
    `embed`'s pixels at a chosen quality does not know that: a quality-60 upload marked and saved again at
    60 loses its mark.

    ``extension`` names the output's format (``".jpg"``, ``".png"``, ``".webp"``, ...), by default the
    source's own; ``name`` is how errors name the file.
    """
    _check_key(key)
    if extension is not None and not (isinstance(extension, str) and extension.startswith(".") and len(extension) > 1):
        raise ParameterError(f"extension must be a file extension with its dot, such as '.jpg', got {extension!r}")
    loaded = imageio.load_image_bytes(data, name, max_pixels=max_pixels, animated="error")
    extension = extension or imagewrite.extension_of(loaded.format or "")
    if extension is None:
        raise ParameterError(f"{name}: {loaded.format} is read but not written; give extension= one of "
                             f"{', '.join(sorted(imageformats.OUTPUT_EXTENSIONS))}")
    target = Path(name).with_suffix(extension)
    marked = _marked(loaded, target, payload, key, strength, scheme)
    quality = output_quality(marked, target, loaded, key, schemes.get(scheme), quality,
                             payload=payload_to_int(payload))
    return imagewrite.image_bytes(marked, target, like=loaded, quality=quality)


def output_quality(marked: ImageLike, destination: str | os.PathLike, like: imageio.LoadedImage, key: Key,
                   scheme: schemes.Scheme, quality: int | None, *, payload: int | None = None) -> int | None:
    """The JPEG or WebP quality to write ``marked`` (``like``'s pixels marked with ``key``) at: ``quality``,
    or the source's own when `imagewrite.save_image` keeps it and the file written so keeps the mark
    (``_KEPT_SHARE`` of its statistic, read where it was put); else the least of ``_RAISED_QUALITIES``
    above it that does (95 at most). A copy under ``_READ_BACK_BELOW`` px written lossily (JPEG, WebP, a
    palette) is read back from its file's bytes, and written at 100 when that alone gives its ``payload``
    (read from ``marked`` when not given) back (`_read_back`). A quality raised is said in a
    `FiligraneWarning`."""
    kept = imagewrite.kept_jpeg_quality(destination, like, quality)
    chosen, why = quality, ""
    if kept is not None:
        chosen, share = _kept_or_raised(marked, destination, like, key, scheme, kept)
        if chosen != kept:
            why = f"not the source's {kept}: on the source's own quantisation the mark kept {share:.0%} of its strength"
    fmt = imagewrite.lossy_format(destination, like)
    if (fmt is not None or getattr(marked, "mode", None) == "P") and min(_shape_of(marked)) < _READ_BACK_BELOW:
        if payload is None:
            payload = detect(marked, key, scheme=scheme.name).payload
        read = _read_back(marked, destination, like, key, scheme, chosen, payload, at_quality=fmt is not None,
                          given=quality is not None)
        if read != chosen:
            why = f"not {chosen or imagewrite.DEFAULT_QUALITY}: the mark did not read back from the file written so"
            chosen = read
    if why:
        warnings.warn(f"{destination}: written at {fmt} quality {chosen}, {why}", FiligraneWarning, stacklevel=2)
    return chosen


def _kept_or_raised(marked: ImageLike, destination: str | os.PathLike, like: imageio.LoadedImage, key: Key,
                    scheme: schemes.Scheme, kept: int) -> tuple[int, float]:
    """The source's JPEG quality ``kept`` when the file written at it keeps the mark, else the least raised one
    that does (see `output_quality`); and the share of the mark's statistic that ``kept`` keeps."""
    before = max(_read_in_place(marked, key, scheme).score, 1e-9)
    shares = []
    for candidate in [kept] + [raised for raised in _RAISED_QUALITIES if raised > kept]:
        written = imageio.open_own(imagewrite.image_bytes(marked, destination, like=like, quality=candidate))
        shares.append(_read_in_place(written, key, scheme).score / before)
        if shares[-1] >= _KEPT_SHARE:
            break
    return candidate, min(max(shares[0], 0.0), 1.0)


def _read_back(marked: ImageLike, destination: str | os.PathLike, like: imageio.LoadedImage, key: Key,
               scheme: schemes.Scheme, quality: int | None, payload: int | None, *, at_quality: bool,
               given: bool) -> int | None:
    """``quality`` when the file written at it gives ``payload`` back, else 100 (a format written at a quality,
    ``at_quality``, the quality not ``given``) when that does; a small copy whose file loses its mark even so
    is refused (`ImageTooSmallError`): its pixels held it (`embed` reads them back), its encoding not."""
    for candidate in dict.fromkeys([quality, *([100] if at_quality and not given else [])]):
        written = imageio.open_own(imagewrite.image_bytes(marked, destination, like=like, quality=candidate))
        if detect(written, key, scheme=scheme.name).payload == payload:
            return candidate
    height, width = _shape_of(marked)
    advice = "give a higher quality" if at_quality and given and quality != 100 else "mark a larger picture" + (
        ", or write it as .png" if at_quality else "")
    raise ImageTooSmallError(f"{destination}: {width}x{height} px is too small for its mark to survive this file's "
                             f"encoding (read back from the file written): {advice}")


def _read_in_place(image: ImageLike, key: Key, scheme: schemes.Scheme, name: str = "image") -> Detection:
    """``scheme``'s reading of ``key``'s mark in ``image`` where it was put (no geometric search); errors
    about its pixels call it ``name``."""
    _, luma, _ = _luminance_of(_reduced_for(scheme, image, name), scheme, name)
    return scheme.detect_in_place(luma, key, source_shape=_shape_of(image))


def warn_if_marked(image: ImageLike, key: Key, scheme: schemes.Scheme, name: str | os.PathLike) -> None:
    """Warn (`AlreadyMarkedWarning`) when ``image`` already carries ``key``'s mark where it was put."""
    try:
        found = _read_in_place(image, key, scheme, str(name))
    except ImageTooSmallError:
        return                                   # embed says so
    if found.found:
        payload = "unreadable" if found.payload is None else f"{found.payload:#018x}"
        warnings.warn(f"{name}: already carries this key's mark (payload {payload}); marking it again stacks "
                      "a second mark on the first", AlreadyMarkedWarning, stacklevel=3)


def detect_file(path: str | os.PathLike, key: Key, *, scheme: str = schemes.DEFAULT_SCHEME,
                false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS,
                marked_shape: tuple[int, int] | None = None) -> Detection:
    """Detect in an image file (as `detect` does); an animated file (or a multi-page one) is read at
    its first frame, with a `FiligraneWarning` saying so.

    A scheme that analyses a smaller image than the file's (``lattice``: 512 to 724 px short side) gets it
    decoded straight at reduced size (JPEG's DCT scaling); the others read the file at full size.
    Colour JPEGs are decoded straight to their luma (schemes see luminance only).
    """
    loaded = imageio.load_image(path, max_pixels=max_pixels, animated="first",
                                reduce_to=schemes.get(scheme).analysis_short_side, luminance=True)
    _warn_of_frames(loaded)
    return detect_loaded(loaded, key, scheme=scheme, false_alarm=false_alarm, marked_shape=marked_shape)


def detect_bytes(data: bytes, key: Key, *, scheme: str = schemes.DEFAULT_SCHEME,
                 false_alarm: float = schemes.DEFAULT_FALSE_ALARM, max_pixels: int | None = imageio.DEFAULT_MAX_PIXELS,
                 marked_shape: tuple[int, int] | None = None, name: str = "image") -> Detection:
    """`detect_file` of an image file's bytes (an upload); ``name`` is how errors and warnings name the file."""
    loaded = imageio.load_image_bytes(data, name, max_pixels=max_pixels, animated="first",
                                      reduce_to=schemes.get(scheme).analysis_short_side, luminance=True)
    _warn_of_frames(loaded)
    return detect_loaded(loaded, key, scheme=scheme, false_alarm=false_alarm, marked_shape=marked_shape)


def _warn_of_frames(loaded: imageio.LoadedImage) -> None:
    """A `FiligraneWarning` that only the first frame of an animated (or multi-page) file was read."""
    if loaded.n_frames > 1:
        warnings.warn(f"{loaded.path}: {loaded.n_frames} frames (animated, or pages): the first was read",
                      FiligraneWarning, stacklevel=3)


def detect_loaded(loaded: imageio.LoadedImage, key: Key, *, scheme: str = schemes.DEFAULT_SCHEME,
                  false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                  marked_shape: tuple[int, int] | None = None) -> Detection:
    """Detect in an image file already read (`imageio.load_image` or `imageio.load_image_bytes`, best
    with ``reduce_to`` the scheme's ``analysis_short_side``): the geometry speaks of the file's own size."""
    return detect_loaded_keys(loaded, [key], scheme=scheme, false_alarm=false_alarm, marked_shape=marked_shape)[0]


def detect_loaded_keys(loaded: imageio.LoadedImage, keys: Iterable[Key], *, scheme: str = schemes.DEFAULT_SCHEME,
                       false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                       marked_shape: tuple[int, int] | None = None) -> list[Detection]:
    """`detect_loaded` with each of ``keys``, in order, sharing what uses no key (see `detect_keys`)."""
    width, height = loaded.original_size
    return _detect(loaded.image, keys, scheme, false_alarm, marked_shape=marked_shape, source_shape=(height, width),
                   name=str(loaded.path))


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
    _check_key(key)
    _check_false_alarm(false_alarm)
    try:
        searches = operator.index(phase_searches)
    except TypeError:
        searches = -1
    if searches < 0:
        raise ParameterError(f"phase_searches must be a whole number >= 0, got {phase_searches!r}")
    frame = None if master_shape is None else _pair(master_shape, "master_shape")
    _, luma, _ = _luminance_of(image, chosen, "image")
    payloads = [payload_to_int(payload) for payload in candidates]
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != luma.shape:
            raise InvalidImageError(f"valid: shape {valid.shape} differs from the image's {luma.shape}")
    host = None
    if original is not None:
        _, host, _ = _luminance_of(original, chosen, "original")
        if host.shape != luma.shape:
            raise InvalidImageError(f"original: shape {host.shape} differs from the image's {luma.shape}")
    return chosen.read_in_frame(luma, key, payloads, valid=valid, original=host, false_alarm=false_alarm,
                                phase_searches=searches, master_shape=frame)
