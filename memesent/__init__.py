"""memesent: the sentiment of a meme from its picture and caption, and why.

`Predictor.load()` gives the shipped model; `.predict(image, caption)` scores a meme and
`.explain(image, caption)` says which regions, words and modality drove the answer. Every error
memesent raises for a user to act on is a `MemesentError`, and each is exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import BackboneError, MemesentError, NothingToScoreError
from .labels import LABELS, LABELS3

if TYPE_CHECKING:  # what a type checker sees; at run time these load on first use (below)
    from .batch_ray import RayEngineError
    from .collection import ManifestError
    from .explain import Explanation
    from .images import NotAnImageError, TooLargeError
    from .model_files import CheckpointError
    from .ocr.errors import (
        EngineMissingError,
        OCRError,
        OCRTimeoutError,
        PPOCRNotFoundError,
        TesseractNotFoundError,
    )
    from .predictor import Prediction, Predictor
    from .quality import MetricsError
    from .results import ResultsError
    from .shares import LabelsError

__all__ = [
    "LABELS",
    "LABELS3",
    "BackboneError",
    "CheckpointError",
    "EngineMissingError",
    "Explanation",
    "LabelsError",
    "ManifestError",
    "MemesentError",
    "MetricsError",
    "NotAnImageError",
    "NothingToScoreError",
    "OCRError",
    "OCRTimeoutError",
    "PPOCRNotFoundError",
    "Prediction",
    "Predictor",
    "RayEngineError",
    "ResultsError",
    "TesseractNotFoundError",
    "TooLargeError",
]
__version__ = "0.2.0"

# The module each name loads from on first use. The model's classes pull in torch and
# transformers, Explanation also Captum; the errors' modules are light (no torch) but need not
# load with the package. So `import memesent` stays light, as in the batch scorer's workers.
_LAZY = {
    "Predictor": "predictor",
    "Prediction": "predictor",
    "Explanation": "explain",
    "CheckpointError": "model_files",
    "NotAnImageError": "images",
    "TooLargeError": "images",
    "ManifestError": "collection",
    "ResultsError": "results",
    "LabelsError": "shares",
    "MetricsError": "quality",
    "RayEngineError": "batch_ray",
    **dict.fromkeys(
        (
            "OCRError",
            "EngineMissingError",
            "OCRTimeoutError",
            "PPOCRNotFoundError",
            "TesseractNotFoundError",
        ),
        "ocr.errors",
    ),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'memesent' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
