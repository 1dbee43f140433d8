"""Where ``watermark embed`` writes: one output file, a directory that mirrors the inputs (never read
as an input itself), or the inputs themselves (a link's target); impossible requests and clashes are
refused before anything is written."""

from __future__ import annotations

import contextlib
import functools
import os
import unicodedata
from collections import Counter
from pathlib import Path

from .. import imageformats, listing
from ..errors import ImageFileError, OutputExistsError, ParameterError, WatermarkError

__all__ = ["destinations", "difference_path", "make_folders", "remove_empty"]


def difference_path(output: Path) -> Path:
    """Where ``--diff`` writes the amplified difference image of ``output``."""
    return output.with_name(output.stem + ".diff.png")


def destinations(inputs: list[str], output: str | None, *, in_place: bool, diff: bool,
                 left_out: Counter[str] | None = None) -> list[tuple[Path, Path]]:
    """(source, destination) for every image the command line names, directories expanded
    (recursively, images only; ``left_out`` counts the pictures of formats not read that they hold);
    nothing is created (`make_folders` does it once every check passed).

    ``-o`` names a file when it has an image extension (one input only), else a directory, under
    which each input keeps its name and each image found in a directory input its path below that
    directory.

    Raises
    ------
    WatermarkError
        One line: no images, a file name for several inputs, an unknown extension, an output
        directory that is an input one, two inputs that would be written to the same place.
    """
    if in_place == (output is not None):
        raise ParameterError("give either -o OUTPUT or --in-place")
    if output == "-":        # it made a folder named "-"
        raise ParameterError("-o - is no file or folder: the marked images are written to files (-o OUT)")
    if "-" in inputs:        # it was looked for as a file named "-"
        raise ParameterError("- is no list here: embed marks the files and folders named on its command line "
                             "(detect and scan read a list of paths on stdin)")
    if output is None:       # a link is marked where it points, not replaced by a marked file
        return [(source, Path(os.path.realpath(source))) for source, _ in _sources(inputs, left_out=left_out)]
    target = Path(output)
    sources = _sources(inputs, skip=output, left_out=left_out)
    one_file = len(inputs) == 1 and not Path(inputs[0]).is_dir()
    if not (target.is_dir() or output.endswith(("/", os.sep))) and target.suffix:
        if target.suffix.lower() not in imageformats.OUTPUT_EXTENSIONS and one_file:
            raise ParameterError(f"{output}: {target.suffix!r} is not an image format Filigrane writes; use one of "
                                 f"{', '.join(sorted(imageformats.OUTPUT_EXTENSIONS))}, or end the name with / "
                                 "for a directory")
        if target.suffix.lower() in imageformats.OUTPUT_EXTENSIONS:
            if not one_file:
                raise ParameterError(f"{output}: names one image file; several inputs, or a directory, need an "
                                     "output directory (a name without an image extension, or ending in /)")
            return [(sources[0][0], target)]
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{output}: is a file, not a directory (several inputs, or a directory "
                                "input, need an output directory)")
    pairs = [(source, target / relative) for source, relative in sources]
    _refuse_clashes(pairs, diff)
    return pairs


def make_folders(pairs: list[tuple[Path, Path]]) -> list[Path]:
    """Create the directories the destinations of `destinations` need; returns those it made (for
    `remove_empty`).

    Raises
    ------
    ImageFileError
        One line naming the directory that cannot be created, or written in.
    """
    made = []
    for folder in sorted({destination.parent for _, destination in pairs}):
        missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageFileError(f"{folder}: cannot create the output directory ({exc.strerror or exc})") from None
        if not os.access(folder, os.W_OK | os.X_OK):      # found only once every picture was marked, before
            raise ImageFileError(f"{folder}: cannot write in the output directory (permission denied, or a read-only "
                                 "file system); check its permissions")
        made += missing
    return made


def remove_empty(made: list[Path]) -> None:
    """Remove the directories `make_folders` made that the batch left empty (every copy for them skipped or
    failed), the deepest first."""
    for folder in sorted(set(made), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):      # not empty, or gone: left as it is
            folder.rmdir()


def _sources(inputs: list[str], skip: str | None = None,
             left_out: Counter[str] | None = None) -> list[tuple[Path, Path]]:
    """Each image to mark, once, with its path relative to the directory it was found in (its name
    when it was named itself); a directory's walk leaves out what is under ``skip`` (the output
    directory, when it is inside an input one: a second run would mark the first one's outputs),
    and ``skip`` itself as an input directory is refused."""
    sources: dict[str, tuple[Path, Path]] = {}
    _identity.cache_clear()                              # folders made or removed since an earlier call
    outputs = None if skip is None else _identity(os.path.realpath(skip))
    for item in inputs:
        root = Path(item)
        if root.is_dir():
            folder = _identity(os.path.realpath(root))
            if outputs is not None and outputs == folder:
                raise ParameterError(f"{skip}: is the input directory; give another output directory, or "
                                     "--in-place to mark its files where they are")
            inside = skip is not None and outputs is not None and folder in _lineage(skip)   # else none is an output
            unread: Counter[str] = Counter()
            found = [path for path in listing.iter_image_files(root, left_out=unread)
                     if not (inside and outputs in _lineage(path))]
            if not found:
                raise WatermarkError(listing.no_image_files(str(item), unread))
            if left_out is not None:
                left_out.update(unread)
            pairs = [(path, path.relative_to(root)) for path in found]
        else:
            pairs = [(root, Path(root.name))]
        for path, relative in pairs:
            sources.setdefault(os.path.realpath(path), (path, relative))
    return list(sources.values())


def _lineage(path: str | os.PathLike) -> set[tuple[int, int] | None]:
    """The identities of ``path``, its links followed, and of every folder above it: compared by identity, not
    by name (``photos`` is ``Photos`` on a case-insensitive disk, macOS's and FAT's, where comparing names
    let the masters be overwritten; a link into the input is the input)."""
    here = Path(os.path.realpath(path))
    return {_identity(str(ancestor)) for ancestor in (here, *here.parents)}


@functools.lru_cache(maxsize=4096)
def _identity(path: str) -> tuple[int, int] | None:
    """The (device, inode) of the file at ``path``, a real path; None if there is none (a walk's folders repeat:
    each is asked once)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _refuse_clashes(pairs: list[tuple[Path, Path]], diff: bool) -> None:
    """Two inputs bound for the same output file (or difference image): refused, naming both. Names that
    differ only in case, or in how an accent is encoded (NFC, NFD), clash too: they are one file on macOS's,
    Windows' and FAT disks (where one copy replaced the other), and on any disk the folder is copied to."""
    written: dict[str, Path] = {}
    for source, destination in pairs:
        for path in (destination, difference_path(destination)) if diff else (destination,):
            key = unicodedata.normalize("NFD", os.path.normcase(os.path.abspath(path))).lower()
            if key in written and written[key] != source:
                raise OutputExistsError(f"{path}: both {written[key]} and {source} would be written to this one "
                                        "file (or, their names differing only in case or accents' encoding, to one "
                                        "file on macOS and Windows); rename one, or mark them in separate runs")
            written[key] = source
