"""The sentiment levels the model predicts, and their collapse to the three classes of SemEval."""

from __future__ import annotations

import numpy as np

LABELS: tuple[str, ...] = ("very_negative", "negative", "neutral", "positive", "very_positive")
LABELS3: tuple[str, ...] = ("negative", "neutral", "positive")
TO_THREE: dict[str, str] = {
    "very_negative": "negative",
    "negative": "negative",
    "neutral": "neutral",
    "positive": "positive",
    "very_positive": "positive",
}
# TO3_INDEX[level index] = index of its class in LABELS3
TO3_INDEX = np.array([LABELS3.index(TO_THREE[label]) for label in LABELS])


def collapse(probs: np.ndarray) -> np.ndarray:
    """Sum five-level probabilities (last axis, in `LABELS` order) into negative / neutral /
    positive (in `LABELS3` order): (..., 5) -> (..., 3)."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.zeros((*probs.shape[:-1], len(LABELS3)))
    np.add.at(np.moveaxis(out, -1, 0), TO3_INDEX, np.moveaxis(probs, -1, 0))
    return out
