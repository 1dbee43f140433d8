"""Filigrane: invisible, keyed, robust image watermarks with honest detection statistics."""

from .errors import (AttackParameterError, CredentialsError, ImageFileError, ImageTooSmallError,
                     InvalidImageError, KeyFileError, MissingExtraError, OutputExistsError, PayloadTooLargeError,
                     UnknownNameError, WatermarkError)

__all__ = ["WatermarkError", "InvalidImageError", "ImageTooSmallError", "ImageFileError", "OutputExistsError",
           "KeyFileError", "CredentialsError", "MissingExtraError", "PayloadTooLargeError", "AttackParameterError",
           "UnknownNameError"]

from .api import detect, detect_file, embed, embed_file
from .detection import Detection, Geometry
from .keys import Key

__all__ += ["embed", "detect", "embed_file", "detect_file", "Detection", "Geometry", "Key"]
