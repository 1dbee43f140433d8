"""Where a batch's files come from, streamed: paths and directory walks, a list on stdin, URLs.

Nothing is listed ahead: a walk over a million files holds one directory's names at a time. A
problem found while listing (a directory that cannot be read, a name that is not valid UTF-8)
becomes a `Source` with an ``error``, so that the batch reports it on its own line and goes on.
`read_bytes` reads one source whole, from a local path or, with ``fsspec`` installed, any URL
(``s3://`` with ``s3fs``, ``https://`` with ``aiohttp``, whose server may keep a read waiting
``url_timeout`` seconds at most), and refuses a file that changed while it was read.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import stat
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from .errors import ImageFileError, InvalidImageError, ParameterError
from .imageio import NUL_IN_NAME
from .listing import printable, walk

__all__ = ["Source", "STDIN", "STDIN_CLOSED", "URL_TIMEOUT", "iter_sources", "listed_paths", "read_bytes", "is_url",
           "printable", "visible", "quoted", "masked", "has_secret", "shown_recipient", "NO_RECIPIENT"]

STDIN = "-"
URL_TIMEOUT = 60.0     # s: the longest an HTTP(S) server may keep a read waiting for a connection or for data


@dataclass(frozen=True)
class Source:
    """One file of a batch.

    Attributes
    ----------
    name : str
        How the batch names it in its output (lines, rows, report; ``--resume`` matches it): the path
        or URL as given, always valid UTF-8 (bytes that are not are shown as ``\\xNN``), a URL's
        password and secret parameters written ``***`` (`masked`).
    location : str
        What to open: the local path (with the file system's own bytes), made absolute where the batch
        was started, so that a worker with another working directory opens the same file; or the URL.
    error : str or None
        Why it cannot be read, when listing already found out.
    """

    name: str
    location: str
    error: str | None = None


def is_url(text: str) -> bool:
    """True for ``scheme://...`` (but not a Windows drive such as ``C:\\``)."""
    head, sep, _ = text.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").isalnum()


# What would act rather than show, or show nothing, written out. Always: control characters (a name's newline
# forging a result line, escape sequences for the terminal), the bidirectional embeddings, overrides and
# isolates (a name shown reversed), line and paragraph separators, byte-order marks, the blank letters
# (Hangul fillers, the braille blank), and surrogates: a file name's bytes that are not UTF-8 (0x9B is an
# 8-bit CSI), which a strict stdout cannot even encode. The other format characters and spaces (Unicode 15's
# Cf and Zs, and the variation selectors): first or beside an ASCII character, where they shape nothing and
# make two names look one ("Agence X" with a zero-width space, "Alice" with a no-break space); after a
# character that is not ASCII, they stay, as Persian and Indic names, Japanese names with an ideographic
# space, Hebrew with its marks and emoji sequences (a heart's variation selector last) need them
_ALWAYS = ("\x00-\x1f\x7f-\x9f\u115f\u1160\u2028\u2029\u202a-\u202e\u2066-\u206f\u2800\u3164\ud800-\udfff"
           "\ufeff\uffa0\ufff9-\ufffb")
_BESIDE_ASCII = ("\xa0\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u17b4\u17b5\u180e"
                 "\u2000-\u200f\u202f\u205f-\u2064\u3000\ufe00-\ufe0f\U000110bd\U000110cd"
                 "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                 "\U000e0020-\U000e007f\U000e0100-\U000e01ef")
_UNSEEN = re.compile(f"[{_ALWAYS}]|(?<![^\\x00-\\x7f])[{_BESIDE_ASCII}]|[{_BESIDE_ASCII}](?=[\\x00-\\x7f])")


# a URL's user information, SCHEME://USER:PASSWORD@ up to the last @ before the host (an e-mail login's
# own @ too; a token may be the user alone), and the values of query, fragment or path parameters that
# name a secret (access_token, X-Amz-Signature, X-Amz-Credential, sig, api_key, pwd, code, jsessionid, ...)
_USER_INFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")
_SECRET_PARAMETER = re.compile(r"([?&#;](?:[\w.-]*(?:token|signature|secret|passw(?:or)?d|credential|session)[\w.-]*"
                               r"|pass|pwd|code|sig|key|apikey|auth|[\w.-]*[_.-](?:key|auth))=)[^&#;?\s]*",
                               re.IGNORECASE)


def masked(text: str) -> str:
    """``text`` with a URL's user information and secret query values written ``***``, for what people read
    or pass on: a URL's name in a batch (`Source.name`: its lines, rows, report), the errors that quote it."""
    return _SECRET_PARAMETER.sub(r"\1***", _USER_INFO.sub(r"\1***@", text))


def has_secret(url: str) -> bool:
    """Whether ``url`` holds user information or a parameter naming a secret, given or already `masked`."""
    return bool(_USER_INFO.search(url) or _SECRET_PARAMETER.search(url))


def visible(text: str) -> str:
    """``text`` for a terminal or a page: characters that would act rather than show written ``\\xNN`` /
    ``\\uNNNN``, a file name's bytes that are not UTF-8 ``\\xNN`` as `printable` writes them."""
    return _UNSEEN.sub(_shown, text)


def _shown(found: re.Match[str]) -> str:
    character = found.group()
    return printable(character) if "\udc80" <= character <= "\udcff" else ascii(character)[1:-1]


def quoted(name: str) -> str:
    """``name`` as a message starts with it: quoted (``' a.jpg'``) when it starts or ends with white space,
    which would not show, or holds ": ", which would end it early (a file named "a.jpg: attributed to X.jpg"
    forging a result line)."""
    return repr(name) if name != name.strip() or ": " in name else name


NO_RECIPIENT = "no recipient"      # how a copy without a recipient is shown


def shown_recipient(name: str | None) -> str:
    """A copy's recipient as the report and the command's lines show it: quoted when white space at its ends
    would not show (`quoted`; characters that do not show at all are written out, `visible`), or
    `NO_RECIPIENT`."""
    return quoted(name) if name else NO_RECIPIENT


def _source(path: str, error: str | None = None) -> Source:
    shown = printable(path)
    name = masked(shown) if is_url(path) else shown
    if error is None and "\0" in path:
        error = f"{name}: {NUL_IN_NAME}"
    elif error is None and shown != path:
        error = f"{name}: the file name is not valid UTF-8; rename the file to scan it"
    location = path if is_url(path) else os.path.join(os.getcwd(), path)    # join: a/../b stays the kernel's
    return Source(name=name, location=location, error=error)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` or its file name matches one of the shell ``patterns``."""
    base = os.path.basename(path)
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(base, p) for p in patterns)


def _walk(root: str, recursive: bool, left_out: Counter[str] | None) -> Iterator[Source]:
    """`listing.walk` following symbolic links to directories (once each), as sources: a directory that
    cannot be listed, or a link not entered again, is a source with its error."""
    for path, problem in walk(root, recursive=recursive, left_out=left_out, follow_links=True):
        yield _source(path, problem)


STDIN_CLOSED = "-: standard input is closed (<&-): '-' reads the paths there, one a line"


def listed_paths(stream: BinaryIO) -> Iterator[str]:
    """The paths of a list, one a line (blank lines skipped), read from the binary ``stream`` as the
    file system's names are (`os.fsdecode`): bytes that are not UTF-8 stay the name's own."""
    return (os.fsdecode(line.rstrip(b"\r\n")) for line in stream if line.strip())


def iter_sources(arguments: Iterable[str], *, recursive: bool = True, include: Sequence[str] = (),
                 exclude: Sequence[str] = (), stdin: BinaryIO | None = None,
                 left_out: Counter[str] | None = None) -> Iterator[Source]:
    """Expand command-line ``arguments`` into the files of a batch, lazily.

    A file or URL named explicitly is yielded whatever its extension; a directory gives its image
    files (recursively unless ``recursive`` is false); ``-`` reads one path or URL per line from
    ``stdin``, a binary stream (``sys.stdin.buffer``) whose lines are decoded as the file system's names
    are (`os.fsdecode`): a name that is not valid UTF-8 is one error, not the end of the list.
    ``include`` keeps only files whose path or name matches one of its shell patterns, ``exclude``
    drops those that match one of its own; both apply to every file, named or walked.
    Nothing is deduplicated (that would hold every name in memory). ``left_out`` counts, by extension,
    the pictures of a format Filigrane does not read that a walk leaves out (`imageformats.UNREAD_EXTENSIONS`).

    Raises
    ------
    ParameterError
        An empty pattern, which would match no file (said at once, before any file is listed).
    """
    if "" in (*include, *exclude):
        raise ParameterError(f"--{'include' if '' in include else 'exclude'} '': an empty pattern matches no file")
    return _sources(arguments, recursive, include, exclude, stdin, left_out)


def _sources(arguments: Iterable[str], recursive: bool, include: Sequence[str], exclude: Sequence[str],
             stdin: BinaryIO | None, left_out: Counter[str] | None) -> Iterator[Source]:
    def wanted(source: Source) -> bool:
        if source.error is not None and ("\0" in source.location or not os.path.lexists(source.location)):
            return True                     # a listing problem is reported whatever the patterns
        return (not include or _matches(source.name, include)) and not _matches(source.name, exclude)

    for argument in arguments:
        if argument == STDIN:
            if stdin is None:
                raise ParameterError(STDIN_CLOSED)
            candidates: Iterable[Source] = map(_source, listed_paths(stdin))
        elif not is_url(argument) and os.path.isdir(argument):
            candidates = _walk(argument, recursive, left_out)
        else:
            candidates = [_source(argument)]
        yield from filter(wanted, candidates)


def read_bytes(source: Source, *, max_bytes: int | None = None, url_timeout: float = URL_TIMEOUT) -> bytes:
    """The whole content of ``source``.

    Raises
    ------
    ImageFileError
        Missing, vanished, unreadable, a directory, a symbolic-link loop, changed while being read,
        larger than ``max_bytes``, a URL that failed, or an HTTP(S) server that left the connection or
        the data waiting longer than ``url_timeout`` seconds.
    InvalidImageError
        An empty file (0 bytes), or a name the batch cannot print faithfully.
    """
    if source.error is not None:
        raise ImageFileError(source.error)
    local = _file_url_path(source.location)
    if local is not None:
        source = dataclasses.replace(source, location=local)
    data = _read_url(source, max_bytes, url_timeout) if is_url(source.location) else _read_local(source, max_bytes)
    if not data:
        raise InvalidImageError(f"{quoted(source.name)}: empty file (0 bytes)")
    return data


def _file_url_path(location: str) -> str | None:
    """The local path of a ``file:`` URL of this machine (``file:///a%20b.png``, ``file://localhost/...``),
    percent-decoded, which fsspec would take literally; None for anything else."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost"):
        return None
    return urllib.request.url2pathname(parts.path)


def _read_local(source: Source, max_bytes: int | None) -> bytes:
    name = quoted(source.name)
    try:   # non-blocking: a FIFO or a terminal opens at once, and is then refused, not waited on
        with open(os.open(source.location, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as handle:
            before = os.fstat(handle.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise ImageFileError(f"{name}: not a regular file")
            if max_bytes is not None and before.st_size > max_bytes:
                raise ImageFileError(f"{name}: {before.st_size:,} bytes exceeds the limit of {max_bytes:,}")
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
            after = os.fstat(handle.fileno())
    except FileNotFoundError:
        raise ImageFileError(f"{name}: no such file (it may have been moved or deleted)") from None
    except IsADirectoryError:
        raise ImageFileError(f"{name}: is a directory, not an image file") from None
    except PermissionError:
        raise ImageFileError(f"{name}: permission denied; check the file's permissions") from None
    except OSError as exc:
        if isinstance(exc, ImageFileError):
            raise
        raise ImageFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) != after.st_size or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ImageFileError(f"{name}: the file changed while it was read; scan it again once it is complete")
    return data


def _read_url(source: Source, max_bytes: int | None, timeout: float) -> bytes:
    try:
        import fsspec
    except ImportError:
        raise ImageFileError(f"{source.name}: reading URLs needs fsspec: pip install 'filigrane[urls]'") from None
    try:
        with fsspec.open(source.location, "rb", **_url_options(source.location, timeout)) as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except ImportError as exc:           # the protocol's own package (s3fs, aiohttp, ...) is missing
        raise ImageFileError(f"{source.name}: cannot open this URL ({exc}); http(s) needs "
                             "pip install 'filigrane[urls]', s3:// needs s3fs") from None
    except Exception as exc:             # fsspec backends raise their own types; the batch must go on
        if _timed_out(exc):
            raise ImageFileError(f"{source.name}: no answer from the server within {timeout:g} s") from None
        raise ImageFileError(f"{source.name}: cannot read URL ({type(exc).__name__}: {exc})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageFileError(f"{source.name}: more than the limit of {max_bytes:,} bytes")
    return data


def _url_options(location: str, timeout: float) -> dict[str, object]:
    """fsspec's options that bound how long an HTTP(S) server may keep a read waiting, for a connection
    or for more data (fsspec's own default lets a stalled server hold a worker for minutes); other
    protocols keep their backends' defaults."""
    if location.partition("://")[0].lower() not in ("http", "https"):
        return {}
    # fsspec's HTTP backend; missing, the caller says what to install
    import aiohttp

    limit = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    return {"client_kwargs": {"timeout": limit}}


def _timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` or what it was raised from is a timeout (fsspec wraps aiohttp's in its own types)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TimeoutError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
