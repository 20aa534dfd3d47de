"""Caption OCR for memes: a first guess at the caption that the person then corrects.

Two engines sit behind one call, `extract_caption(image, engine=...)`:

- `ppocr` (the default): Baidu's PP-OCRv4 detector and recogniser on onnxruntime, with the
  spaces between English words put back from the recogniser's own space probabilities
  (`memesent.ocr.paddle`);
- `tesseract`: Tesseract tuned for memes, reading the grey picture and a mask of caption-white
  pixels (`memesent.ocr.tesseract`).

The default is the engine with the higher word recall and precision on the OCR benchmark
(`python -m benchmarks.ocr_accuracy`, docs/ocr.md). Both return a `Caption` whose lines
run top to bottom, without watermarks (`memesent.ocr.words`). An engine that is not installed
raises its `EngineMissingError` (the other still works), and a call that takes longer than
`timeout` seconds is stopped with `OCRTimeoutError` (`memesent.ocr.errors`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..images import load_image
from . import paddle, tesseract
from .errors import (
    EngineMissingError,
    OCRError,
    OCRTimeoutError,
    PPOCRNotFoundError,
    TesseractNotFoundError,
)
from .paddle import PPOCRSettings
from .tesseract import TesseractSettings
from .words import Caption, caption

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Caption",
    "EngineMissingError",
    "OCRError",
    "OCRSettings",
    "OCRTimeoutError",
    "PPOCRNotFoundError",
    "PPOCRSettings",
    "TesseractNotFoundError",
    "TesseractSettings",
    "engine_available",
    "extract_caption",
    "tesseract_available",
]

ENGINES = ("ppocr", "tesseract")
DEFAULT_ENGINE = "ppocr"  # the benchmark's best on both word recall and precision


@dataclass(frozen=True)
class OCRSettings:
    """Which engine reads captions and how. `long_side` to `max_side` size the picture for
    Tesseract (long side about `long_side`, small memes at most `max_scale` up, large ones at
    most `min_scale` down); the app also scales uploads down to `long_side` before OCR. PP-OCR
    reads the picture as it comes: its detector scales it down itself."""

    engine: str = DEFAULT_ENGINE
    long_side: int = 1200
    min_scale: float = 0.5
    max_scale: float = 2.0
    max_side: int = 2400  # never hand tesseract a page larger than this
    tesseract: TesseractSettings = field(default_factory=TesseractSettings)
    ppocr: PPOCRSettings = field(default_factory=PPOCRSettings)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown OCR engine {self.engine!r}: choose one of {ENGINES}")


DEFAULT_SETTINGS = OCRSettings()


def tesseract_available() -> bool:
    """Whether the tesseract program pytesseract points at can run (cached per program path)."""
    return tesseract.available()


def engine_available(engine: str = DEFAULT_ENGINE) -> bool:
    """Whether `engine` can run here, so that the app can hide OCR instead of failing."""
    if engine not in ENGINES:
        raise ValueError(f"unknown OCR engine {engine!r}: choose one of {ENGINES}")
    return paddle.available() if engine == "ppocr" else tesseract.available()


def extract_caption(
    image: Image.Image | str | Path,
    timeout: float = 10.0,
    settings: OCRSettings = DEFAULT_SETTINGS,
    engine: str | None = None,
) -> Caption:
    """Read the caption of a meme (PIL image or path) with `engine` (default: the settings').

    Raises the engine's `EngineMissingError` (`TesseractNotFoundError`, `PPOCRNotFoundError`)
    when it is not installed and `OCRTimeoutError` when the whole call takes longer than
    `timeout` seconds."""
    engine = engine or settings.engine
    if engine not in ENGINES:
        raise ValueError(f"unknown OCR engine {engine!r}: choose one of {ENGINES}")
    deadline = time.monotonic() + timeout
    picture = load_image(image)
    if engine == "ppocr":
        if not paddle.available():
            raise PPOCRNotFoundError()
        return caption(paddle.read_words(picture, settings.ppocr, deadline), engine)
    scale = _scale(picture.size, settings)
    if scale != 1.0:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resample = Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BOX
        picture = picture.resize(size, resample)
    return caption(tesseract.read_words(picture, settings.tesseract, deadline), engine)


def _scale(size: tuple[int, int], settings: OCRSettings) -> float:
    long_side = max(size)
    scale = min(settings.max_scale, max(settings.min_scale, settings.long_side / long_side))
    scale = min(scale, settings.max_side / long_side)
    return 1.0 if abs(scale - 1.0) < 0.05 else scale
