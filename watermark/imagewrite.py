"""Image files out, safely: atomic writes, metadata and encoding kept, a format's limits said before the work.

`save_image` picks the format from the extension and writes the file atomically (`imageplace`): readers
see the old file or the new one, never half. An existing file, above all the input, is replaced only
with ``overwrite=True`` (else `OutputExistsError`). The file is encoded as `imageencode` says: a mode the
format cannot hold is refused unless nothing is lost, and the source's metadata and encoding choices are
kept. The source, ``like``, is an `imageio.LoadedImage`.

`image_bytes` makes the same file in memory. Before the work, `copy_changes` says what a copy would not
keep of its source (`misnamed`: a source whose extension names another format), `kept_jpeg_quality` and
`lossy_format` at what it would be encoded, `extension_of` which extension keeps a source's format;
`imageencode.check_writable` raises what a save would, and `imageplace.exists_message` is the line that
refuses an existing output.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from . import metadata
from .errors import ImageFileError, OutputExistsError, ParameterError
from .imageencode import kept_quality, output_format, writer
from .imageformats import OUTPUT_FORMATS
from .imageio import LoadedImage
from .imageplace import exists_message, write_atomic

__all__ = ["save_image", "image_bytes", "kept_jpeg_quality", "lossy_format", "misnamed", "copy_changes",
           "extension_of"]

PathLike = str | os.PathLike


def save_image(image: Image.Image | np.ndarray, path: PathLike, *, like: LoadedImage | None = None,
               quality: int | None = None, overwrite: bool = False,
               finish: Callable[[bytes], bytes] | None = None) -> None:
    """Write ``image`` to ``path`` atomically, in the format its extension names.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        An array is uint8 ``(H, W[, 2|3|4])`` or uint16 ``(H, W)``.
    path : str or os.PathLike
        ``.jpg``/``.jpeg``, ``.png``, ``.webp``, ``.tif``/``.tiff``, ``.bmp`` or ``.gif``.
    like : LoadedImage, optional
        The source, whose metadata and encoding choices are kept and whose path is never written
        unless ``overwrite``. Without it, the metadata of ``image.info`` is kept.
    quality : int, optional
        JPEG and WebP quality, 1 to 100. By default a JPEG source's own, when its tables tell it,
        for a JPEG output; else 95.
    finish : callable, optional
        A last step from the encoded file's bytes to the bytes written (Content Credentials signing).

    Raises
    ------
    OutputExistsError
        ``path`` exists, or is the source, and ``overwrite`` is false.
    ParameterError
        Unknown extension or bad ``quality``.
    InvalidImageError
        A mode the format cannot hold without loss.
    ImageFileError
        Missing or read-only directory, full disk, ...

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from watermark.imageio import load_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (64, 48), "teal").save(folder / "in.png")
    >>> loaded = load_image(folder / "in.png")
    >>> save_image(loaded.image, folder / "out.jpg", like=loaded)
    """
    path = Path(path)
    fmt = output_format(path)
    _check_quality(path, quality)
    if os.path.isdir(path):
        raise ImageFileError(f"{path}: is a directory; give a file name for the output")
    if not overwrite:
        if like is not None and _same_file(path, like.path):
            raise OutputExistsError(f"{path}: is the input image; write elsewhere, or pass "
                                    "overwrite=True (--overwrite) to replace it")
        if os.path.lexists(path):
            raise OutputExistsError(exists_message(path))
    write_atomic(path, writer(image, path, fmt, like, quality), fmt, overwrite, finish)


def image_bytes(image: Image.Image | np.ndarray, name: PathLike, *, like: LoadedImage | None = None,
                quality: int | None = None) -> bytes:
    """The bytes `save_image` would write to a file named ``name`` (whose extension names the format), made
    in memory."""
    path = Path(name)
    fmt = output_format(path)
    _check_quality(path, quality)
    buffer = io.BytesIO()
    writer(image, path, fmt, like, quality)(buffer)
    return buffer.getvalue()


def _check_quality(path: Path, quality: int | None) -> None:
    if quality is not None and not (isinstance(quality, (int, np.integer)) and 1 <= quality <= 100):
        raise ParameterError(f"{path}: quality must be an integer from 1 to 100, got {quality!r}")


def kept_jpeg_quality(path: PathLike, like: LoadedImage | None, quality: int | None) -> int | None:
    """The JPEG source's own quality that `save_image` keeps for ``path`` given ``like`` and ``quality``;
    None when it keeps none (not a JPEG output, ``quality`` given, the source's not estimable)."""
    return None if quality is not None else kept_quality(output_format(Path(path)), like)


def lossy_format(path: PathLike, like: LoadedImage | None) -> str | None:
    """The format `save_image` writes ``path`` (given ``like``) in at a quality, lossily: "JPEG", "WebP" (but a
    lossless source WebP's copy); None for the others."""
    fmt = output_format(Path(path))
    if fmt == "JPEG" or fmt == "WEBP" and not (like is not None and like.webp_lossless):
        return "WebP" if fmt == "WEBP" else fmt
    return None


def misnamed(loaded: LoadedImage) -> str | None:
    """How ``loaded``'s file name misleads, when its extension names another format than its content's
    ("a PNG file named .jpg"); None when it does not."""
    named = OUTPUT_FORMATS.get(loaded.path.suffix.lower())
    real = "JPEG" if loaded.format == "MPO" else loaded.format
    return f"a {real} file named {loaded.path.suffix}" if named and real and named != real else None


def copy_changes(loaded: LoadedImage, path: PathLike) -> list[str]:
    """What a copy of ``loaded`` written to ``path`` does not keep of the source, a line each: a lossy TIFF
    compression; the source's format, when the source's name says the copy's; a JPEG's extended XMP; an
    XMP too long for a JPEG copy."""
    path, changes = Path(path), []
    fmt = output_format(path)
    if fmt == "TIFF" and loaded.tiff_lossy:
        changes.append(f"{path}: written with lossless Deflate compression, not the source's {loaded.tiff_lossy} "
                       "(which could erase the mark)")
    lie = misnamed(loaded)
    if lie and OUTPUT_FORMATS.get(loaded.path.suffix.lower()) == fmt:
        changes.append(f"{loaded.path}: {lie}; its copy {path} is written as {fmt}, as its name says")
    if loaded.extended_xmp:
        changes.append(f"{loaded.path}: its extended XMP ({loaded.extended_xmp:,} bytes) is left out of the copy: it "
                       "may hold the unmarked picture (a phone's GImage:Data) or its previews")
    xmp = loaded.info.get("xmp")
    if fmt == "JPEG" and xmp and metadata.xmp_too_long(xmp):
        changes.append(f"{loaded.path}: its XMP ({len(metadata.xmp_bytes(xmp)):,} bytes) is more than a JPEG segment "
                       "holds; the copy carries none of it (a .png, .webp or .tif copy would)")
    return changes


def extension_of(source_format: str) -> str | None:
    """The output extension that writes a file read as ``source_format`` (Pillow's name) in its own format
    (an MPO's primary picture as a JPEG), the first `OUTPUT_FORMATS` lists for it; None for one not written."""
    wanted = "JPEG" if source_format == "MPO" else source_format
    return next((extension for extension, fmt in OUTPUT_FORMATS.items() if fmt == wanted), None)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)
