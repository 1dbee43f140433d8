"""Filigrane: invisible, keyed, robust image watermarks with honest detection statistics."""

from .errors import (AttackParameterError, ImageFileError, ImageTooSmallError, InvalidImageError,
                     KeyFileError, OutputExistsError, PayloadTooLargeError, UnknownNameError, WatermarkError)

__all__ = ["WatermarkError", "InvalidImageError", "ImageTooSmallError", "ImageFileError", "OutputExistsError",
           "KeyFileError", "PayloadTooLargeError", "AttackParameterError", "UnknownNameError"]

from .api import detect, detect_file, embed, embed_file, read_in_frame
from .detection import CandidateEvidence, Detection, Geometry, InformedReading
from .keys import Key

__all__ += ["embed", "detect", "embed_file", "detect_file", "read_in_frame", "Detection", "Geometry",
            "InformedReading", "CandidateEvidence", "Key"]
