"""Image files for a batch: the files and folders named, expanded into the image files to read, each once.

`iter_image_files` takes named files as they are and walks folders (`walk`): their files with an image
extension (`walked`), hidden names skipped, sorted by name, files before sub-directories; symbolic links
to directories followed once each only when asked. Pictures of a format Filigrane does not read are
counted and said (`left_out_line`, `no_image_files`); a directory that cannot be listed is an
`Unlisted` row or an error. `printable` writes a file name's undecodable bytes as ``\\xNN``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from .errors import WatermarkError
from .imageformats import IMAGE_EXTENSIONS, UNREAD_EXTENSIONS

__all__ = ["iter_image_files", "walk", "walked", "Unlisted", "printable", "left_out_line", "no_image_files"]

PathLike = str | os.PathLike


def left_out_line(left_out: Counter[str]) -> str | None:
    """The line that says which pictures of a format Filigrane does not read a walk left out, or None."""
    if not left_out:
        return None
    counts = ", ".join(f"{extension} {count}" for extension, count in sorted(left_out.items()))
    total = left_out.total()
    return (f"left out {total} file{'s' if total > 1 else ''} of a format Filigrane does not read ({counts}): "
            "convert them to JPEG, PNG or TIFF first")


def no_image_files(where: str, left_out: Counter[str] | None = None) -> str:
    """The one line of a batch that found nothing to read in ``where``, with what its walk left out."""
    said = left_out_line(left_out or Counter())
    return f"no image files in {where}" + (f"; {said}" if said else "")


def iter_image_files(paths: PathLike | Iterable[PathLike], *, recursive: bool = True,
                     left_out: Counter[str] | None = None, follow_links: bool = False,
                     unlisted: list[Unlisted] | None = None) -> Iterator[Path]:
    """Expand files and directories into image files, for batch commands; each file once.

    A file named explicitly is yielded whatever its extension (a missing one too, so that the batch
    reports it); a directory gives its files with an image extension (any case), hidden names
    (``.git``, macOS ``._photo.jpg``) skipped, sorted by name, files before sub-directories, which are
    entered when ``recursive``. Symbolic links to directories are followed once each with ``follow_links``
    (what reads, as a scan's walk: a link back to one already listed, a loop, is not entered), never
    otherwise (what writes: ``embed --in-place`` rewrote pictures a link reached outside the folder named,
    and ``-o`` inside a linked folder marked its own outputs again). ``left_out`` counts, by
    extension, the pictures of a format Filigrane does not read (`UNREAD_EXTENSIONS`) that it leaves out;
    ``unlisted`` receives the directories the walk could not list and the links it did not enter again
    (without it, a `WatermarkError` names the first).
    """
    seen: set[str] = set()
    for item in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        root = Path(item)
        if not root.is_dir():
            candidates: Iterable[Path] = [root]
        else:
            candidates = (Path(path) for path in _listed(str(root), recursive, left_out, follow_links, unlisted))
        for candidate in candidates:
            key = str(candidate) if "\0" in str(candidate) else os.path.realpath(candidate)   # load_image says so
            if key not in seen:
                seen.add(key)
                yield candidate


def printable(path: str) -> str:
    """``path`` (or a command line) as valid UTF-8: undecodable bytes (surrogate escapes) become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class Unlisted(NamedTuple):
    """A directory a walk could not list, or a link to one it listed already, and the line that says so."""

    path: Path
    problem: str


def _listed(root: str, recursive: bool, left_out: Counter[str] | None, follow_links: bool,
            unlisted: list[Unlisted] | None) -> Iterator[str]:
    for path, problem in walk(root, recursive=recursive, left_out=left_out, follow_links=follow_links):
        if problem is None:
            yield path
        elif unlisted is None:
            raise WatermarkError(problem)
        else:
            unlisted.append(Unlisted(Path(path), problem))


def walk(root: str, *, recursive: bool, left_out: Counter[str] | None,
         follow_links: bool) -> Iterator[tuple[str, str | None]]:
    """The image files under the directory ``root``, each as ``(path, None)`` (`walked`: hidden names
    skipped, pictures of a format not read counted in ``left_out``), sorted by name, files before
    sub-directories, entered when ``recursive``; and each directory that cannot be listed, or link to a
    directory listed already (a loop, or the same directory twice: not entered again), as ``(path,
    the line that says so)``. Symbolic links to directories are followed when ``follow_links``."""
    problems: list[tuple[str, str | None]] = []
    listed: set[tuple[int, int]] = set()         # (device, inode) of every directory listed: a few per thousand files

    def report(exc: OSError) -> None:
        where = exc.filename if isinstance(exc.filename, str) else root
        problems.append((where, f"{printable(where)}: cannot list directory ({exc.strerror or exc}); check its "
                                "permissions"))

    def first_time(folder: str) -> bool:
        if not follow_links and os.path.islink(folder):
            return False                         # never entered
        try:
            status = os.stat(folder)
        except OSError:
            return True                          # os.walk reports what cannot be listed
        identity = (status.st_dev, status.st_ino)
        if identity in listed:
            problems.append((folder, f"{printable(folder)}: a symbolic link to a directory listed already (a loop, "
                                     "or the same directory twice); not listed again"))
            return False
        listed.add(identity)
        return True

    first_time(root)
    for folder, dirnames, filenames in os.walk(root, onerror=report, followlinks=follow_links):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and first_time(os.path.join(folder, d))
                             ) if recursive else []
        yield from problems
        problems.clear()
        for name in sorted(filenames):
            if walked(name, left_out):
                yield os.path.join(folder, name), None
    yield from problems


def walked(name: str, left_out: Counter[str] | None) -> bool:
    """Whether a folder's walk takes the file ``name``: not hidden, an image extension Filigrane reads. A
    picture of a format it does not read (`UNREAD_EXTENSIONS`) is counted in ``left_out``, by extension."""
    if name.startswith("."):
        return False
    extension = os.path.splitext(name)[1].lower()
    if extension in UNREAD_EXTENSIONS and left_out is not None:
        left_out[extension] += 1
    return extension in IMAGE_EXTENSIONS
