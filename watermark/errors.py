"""The one error hierarchy: each class is also the built-in a caller would catch; and the warnings
given for input that is used although it looks wrong."""

from __future__ import annotations

__all__ = [
    "WatermarkError",
    "ParameterError",
    "InvalidImageError",
    "ImageTooSmallError",
    "ImageFileError",
    "OutputExistsError",
    "KeyFileError",
    "CredentialsError",
    "MissingExtraError",
    "PayloadTooLargeError",
    "AttackParameterError",
    "UnknownNameError",
    "FiligraneWarning",
    "AlreadyMarkedWarning",
    "KeyFilePermissionWarning",
    "WeakPassphraseWarning",
    "RegistryMigratedWarning",
    "RegistryError",
    "RegistryBusyError",
    "IssuedCopyError",
]


class WatermarkError(Exception):
    """Base of every error Filigrane raises on purpose."""


class ParameterError(WatermarkError, ValueError):
    """An argument that is not an image is out of range or malformed: strength, quality, payload text,
    pixel limit, false-alarm rate."""


class InvalidImageError(WatermarkError, ValueError):
    """The image cannot be used: not an image, truncated, unsupported layout or values."""


class ImageTooSmallError(InvalidImageError):
    """The image is below the scheme's minimum size."""


class ImageFileError(WatermarkError, OSError):
    """The file system refused: a missing or unreadable input, an output that cannot be written."""


class OutputExistsError(ImageFileError, FileExistsError):
    """The output exists (or is the input) and overwriting was not asked for."""


class KeyFileError(WatermarkError, OSError):
    """A key file is missing, unreadable, corrupt or would be overwritten."""


class CredentialsError(KeyFileError):
    """A C2PA signing certificate, its private key or a trust-anchor file is missing, unreadable,
    corrupt, expired, or the key does not match the certificate."""


class MissingExtraError(WatermarkError, ImportError):
    """An optional feature's libraries are not installed; the message names the pip extra."""


class PayloadTooLargeError(WatermarkError, ValueError):
    """The payload does not fit the scheme's capacity."""


class AttackParameterError(WatermarkError, ValueError):
    """An attack was called with a parameter outside its range."""


class UnknownNameError(WatermarkError, KeyError):
    """A scheme, attack or suite name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FiligraneWarning(UserWarning):
    """Base of the warnings Filigrane gives: the work is done, but something looks wrong."""


class AlreadyMarkedWarning(FiligraneWarning):
    """The image given to `embed_file` already carries this key's mark: marking it again stacks a
    second mark on the first (the new payload is the one read back, and the change is more visible)."""


class KeyFilePermissionWarning(FiligraneWarning):
    """A key file can be read or changed by other users than its owner."""


class WeakPassphraseWarning(FiligraneWarning):
    """A passphrase short enough to be guessed from a key id that copies' records publish."""


class RegistryMigratedWarning(FiligraneWarning):
    """A registry made by an older Filigrane was migrated to this one's schema, in place: older versions
    can no longer open it."""


class RegistryError(WatermarkError, OSError):
    """A registry database is missing, damaged, newer than this code, locked, or refuses a record."""


class RegistryBusyError(RegistryError):
    """Another writer held the registry longer than the timeout: the same call may succeed later."""


class IssuedCopyError(RegistryError):
    """A file given as a master is a copy the registry issued under the same key: copies are never marked
    again with it (an output folder of an earlier run inside the folder of masters, walked again)."""
