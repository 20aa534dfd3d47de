"""OCR's errors, shared by every engine, so that a caller catches the same ones whichever reads."""

from __future__ import annotations

from ..errors import MemesentError


class OCRError(MemesentError, RuntimeError):
    """OCR could not read the picture."""


class EngineMissingError(OCRError):
    """An OCR engine's program or package is not installed; the message says how to install it."""


class TesseractNotFoundError(EngineMissingError):
    """The tesseract program is not installed (or not where pytesseract looks)."""

    def __init__(
        self,
        message: str = "OCR with Tesseract needs the tesseract program: "
        "apt-get install tesseract-ocr (or brew install tesseract)",
    ) -> None:
        super().__init__(message)


class PPOCRNotFoundError(EngineMissingError):
    """The PP-OCR models (the `rapidocr` package) or onnxruntime are not installed."""

    def __init__(
        self,
        message: str = "OCR with PP-OCR needs its models and onnxruntime: "
        "pip install rapidocr==3.7.0 onnxruntime",
    ) -> None:
        super().__init__(message)


class OCRTimeoutError(OCRError):
    """OCR took longer than the time allowed."""
