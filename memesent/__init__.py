"""memesent: the sentiment of a meme from its picture and caption, and why.

`Predictor.load()` gives the shipped model; `.predict(image, caption)` scores a meme and
`.explain(image, caption)` says which regions, words and modality drove the answer.
"""

from .labels import LABELS, LABELS3
from .predictor import Prediction, Predictor

__all__ = ["LABELS", "LABELS3", "Explanation", "Prediction", "Predictor"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Explanation lives with Captum, which is slow to import: load it on first use only.
    if name == "Explanation":
        from .explain import Explanation

        return Explanation
    raise AttributeError(f"module 'memesent' has no attribute {name!r}")
