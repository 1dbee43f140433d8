"""Filigrane: invisible, keyed, robust image watermarks with honest detection statistics."""

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("filigrane")
except _metadata.PackageNotFoundError:   # a source tree that was never installed
    __version__ = "0+unknown"

from .errors import (
    AlreadyMarkedWarning,
    AttackParameterError,
    CredentialsError,
    FiligraneWarning,
    ImageFileError,
    ImageTooSmallError,
    InvalidImageError,
    IssuedCopyError,
    KeyFileError,
    KeyFilePermissionWarning,
    MissingExtraError,
    OutputExistsError,
    ParameterError,
    PayloadTooLargeError,
    RegistryBusyError,
    RegistryError,
    RegistryMigratedWarning,
    UnknownNameError,
    WatermarkError,
    WeakPassphraseWarning,
)

__all__ = ["__version__", "WatermarkError", "ParameterError", "InvalidImageError", "ImageTooSmallError",
           "ImageFileError", "OutputExistsError", "KeyFileError", "CredentialsError", "MissingExtraError",
           "PayloadTooLargeError", "AttackParameterError", "UnknownNameError", "RegistryError", "RegistryBusyError",
           "IssuedCopyError", "FiligraneWarning", "AlreadyMarkedWarning", "KeyFilePermissionWarning",
           "RegistryMigratedWarning", "WeakPassphraseWarning"]

from .api import detect, detect_keys, embed, read_in_frame
from .api_files import detect_bytes, detect_file, embed_bytes, embed_file
from .detection import CandidateEvidence, Detection, Geometry, InformedReading
from .keys import Key

__all__ += ["embed", "detect", "detect_keys", "embed_file", "detect_file", "embed_bytes", "detect_bytes",
            "read_in_frame", "Detection", "Geometry", "InformedReading", "CandidateEvidence", "Key"]
