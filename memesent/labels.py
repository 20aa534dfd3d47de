"""The sentiment levels the model predicts, and their collapse to the three classes of SemEval."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

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


def collapse(probs: ArrayLike) -> np.ndarray:
    """Sum five-level probabilities (last axis, in `LABELS` order) into negative / neutral /
    positive (in `LABELS3` order): (..., 5) -> (..., 3)."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.zeros((*probs.shape[:-1], len(LABELS3)))
    np.add.at(np.moveaxis(out, -1, 0), TO3_INDEX, np.moveaxis(probs, -1, 0))
    return out


# Which side of neutral each level lies on: -1 negative, 0 neutral, +1 positive.
VALENCE = np.array([-1, -1, 0, 1, 1])


def level_set(*levels: str) -> np.ndarray:
    """The five-level mask (bool, `LABELS` order) that allows exactly `levels`: how a label
    coarser than five levels (a tweet's "positive", a photo's "negative") is learnt."""
    unknown = set(levels) - set(LABELS)
    if unknown or not levels:
        raise ValueError(f"levels must be some of {LABELS}, not {sorted(unknown) or 'none'}")
    return np.isin(np.array(LABELS), levels)


def positive_share(probs: np.ndarray) -> np.ndarray:
    """Of the probability on the two sides of neutral, the share on the positive side (last
    axis in `LABELS` order): the valence of an answer whatever its neutral mass."""
    probs = np.asarray(probs, dtype=np.float64)
    positive = probs[..., VALENCE > 0].sum(-1)
    negative = probs[..., VALENCE < 0].sum(-1)
    return positive / np.maximum(positive + negative, 1e-300)
