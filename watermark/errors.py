"""The one error hierarchy: each class is also the built-in a caller would catch."""

from __future__ import annotations

__all__ = [
    "WatermarkError",
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
]


class WatermarkError(Exception):
    """Base of every error Filigrane raises on purpose."""


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
