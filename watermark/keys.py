"""Secret keys and the keyed pseudo-random streams every carrier is drawn from.

A detector must regenerate carriers bit for bit, years later, on another machine. NumPy promises
that only for a bit generator's raw stream, so a keyed BLAKE2b hash seeds PCG64 and our own code maps
the raw words (a +-1 chip is a word's top bit, a permutation is a stable argsort of words).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import warnings
from pathlib import Path

import numpy as np

from . import atomic
from .errors import KeyFileError, KeyFilePermissionWarning, ParameterError

__all__ = ["Key", "words", "chips", "permutation", "passphrase_weakness", "warn_if_shared"]

_HEADER = "filigrane-key v1"
_SECRET_BYTES = 32
_PASSPHRASE_SALT = b"filigrane/passphrase/v1"
_MAX_FILE_BYTES = 4096      # a key file is 82 bytes; anything much larger is another file
_STRONG_PASSPHRASE = 20     # characters, blanks at the ends aside: five random words or so


class Key:
    """A 256-bit secret that seeds every carrier. Its material never appears in ``repr`` or ``str``.

    Examples
    --------
    >>> key = Key.from_passphrase("correct horse battery staple")    # a published phrase: never use it
    >>> key
    Key(fingerprint='9eae04af')
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) != _SECRET_BYTES:
            raise KeyFileError(f"a key is {_SECRET_BYTES} bytes of secret material")
        self._secret = secret

    @classmethod
    def generate(cls) -> Key:
        """A fresh random key from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(_SECRET_BYTES))

    @classmethod
    def from_passphrase(cls, passphrase: str) -> Key:
        """Derive a key from a passphrase with scrypt (slow on purpose, to resist guessing). Every
        Filigrane user's derivation is the same (one salt), and a key's public id is published in its
        copies' records: a short passphrase can be guessed offline (see `passphrase_weakness`); a key
        file (:meth:`generate`, ``watermark keygen``) cannot.

        Raises
        ------
        ParameterError
            ``passphrase`` is not a str, or not valid Unicode text (a lone surrogate).
        KeyFileError
            ``passphrase`` is empty.
        """
        if not isinstance(passphrase, str):
            raise ParameterError(f"the passphrase must be a str, got {type(passphrase).__name__}")
        if not passphrase:
            raise KeyFileError("the passphrase is empty")
        if any("\ud800" <= character <= "\udfff" for character in passphrase):   # no exception's context holds it
            raise ParameterError("the passphrase is not valid Unicode text (it holds a lone surrogate: bytes that "
                                 "were not UTF-8, such as an environment variable set in another encoding)")
        return cls(hashlib.scrypt(passphrase.encode("utf-8"), salt=_PASSPHRASE_SALT, n=2**14, r=8, p=1,
                                  dklen=_SECRET_BYTES))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Key:
        """Read a key file written by :meth:`save`.

        Warns `KeyFilePermissionWarning` when other users than the owner may read or change the file.

        Raises
        ------
        KeyFileError
            Missing, unreadable or corrupt file, or one over 4 KiB (a key file holds under 100 bytes).
        """
        path = Path(path)
        try:
            with open(path, "rb") as file:
                data = file.read(_MAX_FILE_BYTES + 1)       # never all of a large file, nor of /dev/zero
                mode = os.fstat(file.fileno()).st_mode     # the file read, not one put at its name since
        except FileNotFoundError:
            raise KeyFileError(f"{path}: key file not found") from None
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read key file ({exc.strerror or exc.__class__.__name__})") from None
        secret, problem = _parsed(data)
        del data                       # no frame of a traceback (an error reporter's locals) holds the digits
        if problem:
            raise KeyFileError(f"{path}: {problem}")
        key = cls(secret)
        del secret                     # nor the bytes, when the warning below is raised (-W error)
        warn_if_shared(path, stat.S_IMODE(mode))
        return key

    def save(self, path: str | os.PathLike) -> None:
        """Write the key to a new file readable by its owner only (mode 0600); never overwrites, and
        never leaves a partial file (written beside it, synced, then linked into place)."""
        path = Path(path)
        if not path.name:
            raise KeyFileError(f"{str(path)!r}: not a file name")
        try:
            atomic.write_file(path, f"{_HEADER}\n{self._secret.hex()}\n".encode("ascii"), replace=False, mode=0o600)
        except FileExistsError:
            raise KeyFileError(f"{path}: already exists; refusing to overwrite a key") from None
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot create key file ({exc.strerror})") from None

    @property
    def fingerprint(self) -> str:
        """A short public identifier of the key (a one-way hash), safe to print and log."""
        return hashlib.blake2b(self._secret, digest_size=4, person=b"fingerprint").hexdigest()

    @property
    def public_id(self) -> str:
        """The key's identity in a registry: 128 bits of a one-way hash, 32 hex digits.

        Reveals nothing of the secret, and is long enough that two keys never share one (the
        4-byte :attr:`fingerprint` is for display and may collide among thousands of keys).
        """
        return hashlib.blake2b(self._secret, digest_size=16, person=b"public-id/v1").hexdigest()

    def digest(self, purpose: str) -> bytes:
        """32 bytes that depend only on the key and ``purpose``."""
        return hashlib.blake2b(purpose.encode("utf-8"), key=self._secret, digest_size=32).digest()

    def __repr__(self) -> str:
        return f"Key(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and secrets.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self):  # worker processes receive keys: through pipes (--jobs), or Dask (see batch_dask)
        return (Key, (self._secret,))


def passphrase_weakness(passphrase: str) -> str | None:
    """Why a key from ``passphrase`` could be guessed, or None: under ``_STRONG_PASSPHRASE`` characters,
    a dictionary tried against a key id that copies' records publish (a registry's exports, a C2PA
    manifest's soft binding, scan rows) finds it at scrypt's pace, about 60 ms a guess."""
    if len(passphrase.strip()) >= _STRONG_PASSPHRASE:
        return None
    return (f"a passphrase of {len(passphrase.strip())} characters can be guessed from the key id that copies' "
            f"records show; use a key file (watermark keygen), or {_STRONG_PASSPHRASE} characters or more (five "
            "random words)")


def _parsed(data: bytes) -> tuple[bytes, str]:
    """The secret a key file's ``data`` holds, or what is wrong with it (never a digit of it)."""
    if len(data) > _MAX_FILE_BYTES:
        return b"", (f"not a Filigrane key file (more than {_MAX_FILE_BYTES // 1024} KiB; a key file holds under "
                     "100 bytes)")
    fields = data.decode("utf-8", "replace").removeprefix("\ufeff").split()    # a BOM an editor added
    if " ".join(fields[:2]) != _HEADER:
        return b"", f"not a Filigrane key file (expected a '{_HEADER}' header)"
    if len(fields) != 3:
        return b"", (f"corrupt key file (after the header, the secret is {2 * _SECRET_BYTES} hex digits with no "
                     f"space or line break inside; found {len(fields) - 2} words)")
    try:
        secret = bytes.fromhex(fields[2])
    except ValueError:
        secret = b""
    if len(secret) != _SECRET_BYTES:
        return b"", f"corrupt key file (the secret is not {2 * _SECRET_BYTES} hex digits)"
    return secret, ""


def warn_if_shared(path: Path, mode: int) -> None:
    """Warn when group or others may read or change (``mode``) a key file, ours or a signing key (ssh would
    refuse such a private key)."""
    if os.name != "posix" or not mode & 0o066:
        return
    readable, writable = mode & 0o044, mode & 0o022
    access = "read and change" if readable and writable else "read" if readable else "change"
    warnings.warn(f"{path}: permissions {mode:04o} let other users {access} this key; make it private "
                  f"(chmod 600 {path})", KeyFilePermissionWarning, stacklevel=3)


def words(key: Key, purpose: str, n: int) -> np.ndarray:
    """``n`` uint64 words that depend only on ``key`` and ``purpose`` (e.g. "lattice/pilot/v1")."""
    seed = np.frombuffer(key.digest(purpose), dtype="<u4")
    return np.random.PCG64(seed).random_raw(n)


def chips(key: Key, purpose: str, n: int) -> np.ndarray:
    """``n`` float32 values of +-1, each a word's top bit."""
    top = (words(key, purpose, n) >> np.uint64(63)).astype(np.float32)
    return 2.0 * top - 1.0


def permutation(key: Key, purpose: str, n: int) -> np.ndarray:
    """A keyed permutation of ``range(n)``."""
    return np.argsort(words(key, purpose, n), kind="stable")
