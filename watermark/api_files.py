"""embed and detect on image files, their bytes and files already read: the format, depth and metadata
kept, and a lossy output written at a quality at which its mark reads back."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from . import imageencode, imageformats, imageio, imageopen, imageplace, imagewrite, pixellimit, schemes
from .api import (
    READ_BACK_BELOW,
    check_key,
    detect,
    detect_decoded,
    embed_as_given,
    luminance_for,
    reduced_for,
    shape_of,
)
from .coding import payload_to_int
from .detection import Detection
from .errors import (
    AlreadyMarkedWarning,
    FiligraneWarning,
    ImageTooSmallError,
    InvalidImageError,
    OutputExistsError,
    ParameterError,
)
from .image import ImageLike
from .keys import Key
from .signer import ManifestSigner, new_manifest_id

__all__ = ["embed_file", "embed_bytes", "embed_loaded", "check_markable", "output_quality", "warn_if_marked",
           "detect_file", "detect_bytes", "detect_loaded", "detect_loaded_keys"]

# A JPEG written on its source's own quantisation tables snaps the coefficients the mark moved by less than
# half a step back onto the source's grid (one-off, 11 held-out photographs at 1920 px, the share of the
# mark's statistic kept: quality 60 about 0.2, 75 0.2-0.9, 85 0.7-1.0, 95 0.98-1.0). The written file must
# keep this share, else the least of the raised qualities that does is used.
_KEPT_SHARE = 0.9
_RAISED_QUALITIES = (85, 90, 95)


def embed_file(src: str | os.PathLike, dst: str | os.PathLike, payload: int | bytes, key: Key, *,
               strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
               overwrite: bool = False, max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS,
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
    check_key(key)
    if not overwrite and os.path.lexists(dst):   # fail before the work, not after
        raise OutputExistsError(imageplace.exists_message(dst))
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
    read at 8 bits, or a format that cannot hold its mode or depth (`imageencode.check_writable`); and warn
    of what the copy changes of the source's encoding (`imagewrite.copy_changes`)."""
    if loaded.depth_reduced:
        raise InvalidImageError(f"{loaded.path}: 16-bit CMYK, read at 8 bits per channel, would be written back "
                                "at 8; convert it to 16-bit RGB or to 8-bit CMYK first")
    try:
        imageencode.check_writable(loaded.image, dst)
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
        return embed_as_given(loaded.image, payload, key, strength=strength, scheme=scheme)
    except InvalidImageError as exc:
        raise type(exc)(str(exc).replace("image:", f"{loaded.path}:", 1)) from None


def embed_bytes(data: bytes, payload: int | bytes, key: Key, *, extension: str | None = None,
                strength: float = 1.0, scheme: str = schemes.DEFAULT_SCHEME, quality: int | None = None,
                max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS, name: str = "image") -> bytes:
    """Mark an image file's bytes (an upload, an object store's) and return the marked file's, as
    `embed_file` would write them: format, bit depth, alpha, ICC and EXIF kept, and a JPEG written at the
    source's quality unless that would erase the mark (then finer, with a `FiligraneWarning`). Saving
    `embed`'s pixels at a chosen quality does not know that: a quality-60 upload marked and saved again at
    60 loses its mark.

    ``extension`` names the output's format (``".jpg"``, ``".png"``, ``".webp"``, ...), by default the
    source's own; ``name`` is how errors name the file.
    """
    check_key(key)
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
    above it that does (95 at most). A copy under ``READ_BACK_BELOW`` px written lossily (JPEG, WebP, a
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
    if (fmt is not None or getattr(marked, "mode", None) == "P") and min(shape_of(marked)) < READ_BACK_BELOW:
        if payload is None:
            payload = detect(marked, key, scheme=scheme.name).payload
        read = _read_back(marked, destination, like, key, scheme, chosen, payload, at_quality=fmt is not None,
                          given=quality is not None)
        if read != chosen:
            why = f"not {chosen or imageencode.DEFAULT_QUALITY}: the mark did not read back from the file written so"
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
        written = imageopen.open_own(imagewrite.image_bytes(marked, destination, like=like, quality=candidate))
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
        written = imageopen.open_own(imagewrite.image_bytes(marked, destination, like=like, quality=candidate))
        if detect(written, key, scheme=scheme.name).payload == payload:
            return candidate
    height, width = shape_of(marked)
    advice = "give a higher quality" if at_quality and given and quality != 100 else "mark a larger picture" + (
        ", or write it as .png" if at_quality else "")
    raise ImageTooSmallError(f"{destination}: {width}x{height} px is too small for its mark to survive this file's "
                             f"encoding (read back from the file written): {advice}")


def _read_in_place(image: ImageLike, key: Key, scheme: schemes.Scheme, name: str = "image") -> Detection:
    """``scheme``'s reading of ``key``'s mark in ``image`` where it was put (no geometric search); errors
    about its pixels call it ``name``."""
    _, luma, _ = luminance_for(reduced_for(scheme, image, name), scheme, name)
    return scheme.detect_in_place(luma, key, source_shape=shape_of(image))


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
                max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS,
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
                 false_alarm: float = schemes.DEFAULT_FALSE_ALARM,
                 max_pixels: int | None = pixellimit.DEFAULT_MAX_PIXELS,
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
    return detect_decoded(loaded.image, keys, scheme, false_alarm, marked_shape=marked_shape,
                          source_shape=(height, width), name=str(loaded.path))
