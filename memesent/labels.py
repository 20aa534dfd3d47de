"""The sentiment levels the model predicts, and their collapse to the three classes of SemEval."""

from __future__ import annotations

from collections.abc import Mapping

LABELS: tuple[str, ...] = ("very_negative", "negative", "neutral", "positive", "very_positive")
LABELS3: tuple[str, ...] = ("negative", "neutral", "positive")
TO_THREE: dict[str, str] = {
    "very_negative": "negative",
    "negative": "negative",
    "neutral": "neutral",
    "positive": "positive",
    "very_positive": "positive",
}


def collapse(probs: Mapping[str, float]) -> dict[str, float]:
    """Sum five-level probabilities into negative / neutral / positive."""
    out = dict.fromkeys(LABELS3, 0.0)
    for label, p in probs.items():
        out[TO_THREE[label]] += float(p)
    return out
