"""memesent: the sentiment of a meme from its picture and caption, and why.

from memesent import Predictor
p = Predictor.load()
p.predict("meme.jpg", "one does not simply").probs
"""

from .labels import LABELS, LABELS3
from .predictor import Prediction, Predictor

__all__ = ["LABELS", "LABELS3", "Prediction", "Predictor"]
__version__ = "0.1.0"
