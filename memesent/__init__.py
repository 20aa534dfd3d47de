"""memesent: the sentiment of a meme from its picture and caption, and why.

`Predictor.load()` gives the shipped model; `.predict(image, caption)` scores a meme and
`.explain(image, caption)` says which regions, words and modality drove the answer.
"""

from .labels import LABELS, LABELS3

__all__ = ["LABELS", "LABELS3", "Explanation", "Prediction", "Predictor"]
__version__ = "0.2.0"


def __getattr__(name: str):
    # The model's classes pull in torch and transformers, Explanation also Captum: they load on
    # first use, so that light modules (memesent.images, memesent.ocr) stay light, as in the
    # batch scorer's worker processes.
    if name in ("Predictor", "Prediction"):
        from . import predictor

        return getattr(predictor, name)
    if name == "Explanation":
        from .explain import Explanation

        return Explanation
    raise AttributeError(f"module 'memesent' has no attribute {name!r}")
