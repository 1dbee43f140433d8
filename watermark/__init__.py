"""Filigrane: invisible, keyed, robust image watermarks with honest detection statistics."""

from .errors import (AttackParameterError, ImageFileError, ImageTooSmallError, InvalidImageError,
                     KeyFileError, OutputExistsError, PayloadTooLargeError, RegistryError, UnknownNameError,
                     WatermarkError)

__all__ = ["WatermarkError", "InvalidImageError", "ImageTooSmallError", "ImageFileError", "OutputExistsError",
           "KeyFileError", "PayloadTooLargeError", "AttackParameterError", "UnknownNameError", "RegistryError"]

from .api import detect, detect_file, embed, embed_file
from .detection import Detection, Geometry
from .keys import Key

__all__ += ["embed", "detect", "embed_file", "detect_file", "Detection", "Geometry", "Key"]
