"""Scores of predicted distributions against true levels, five-level and collapsed to three."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from memesent.labels import LABELS, LABELS3, TO_THREE

TO3_INDEX = np.array([LABELS3.index(TO_THREE[label]) for label in LABELS])


def collapse_probs(probs: np.ndarray) -> np.ndarray:
    """(n, 5) level probabilities -> (n, 3) negative / neutral / positive."""
    out = np.zeros((len(probs), len(LABELS3)))
    for level, cls in enumerate(TO3_INDEX):
        out[:, cls] += probs[:, level]
    return out


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over classes 0..k-1 from one confusion count (F1 = 2TP / (#true + #predicted)).

    Equal to scikit-learn's `f1_score(labels=range(k), average="macro", zero_division=0)`, which
    counts a class absent from both `y` and `pred` as 0, without its per-call validation: the
    prior search calls it about a thousand times.
    """
    conf = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    denom = conf.sum(0) + conf.sum(1)
    f1 = np.divide(2 * np.diag(conf), denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean())


def macro_f1_3(labels: np.ndarray, probs: np.ndarray) -> float:
    """Three-class macro-F1 of the argmax of the collapsed distribution (the selection metric)."""
    return macro_f1(TO3_INDEX[labels], collapse_probs(probs).argmax(1), len(LABELS3))


def _block(y: np.ndarray, pred: np.ndarray, names: tuple[str, ...], suffix: str) -> dict:
    ids = list(range(len(names)))
    report = classification_report(
        y, pred, labels=ids, target_names=list(names), output_dict=True, zero_division=0
    )
    return {
        f"accuracy_{suffix}": float(accuracy_score(y, pred)),
        f"macro_f1_{suffix}": float(
            f1_score(y, pred, average="macro", labels=ids, zero_division=0)
        ),
        f"weighted_f1_{suffix}": float(
            f1_score(y, pred, average="weighted", labels=ids, zero_division=0)
        ),
        f"per_class_{suffix}": {
            n: {
                "precision": float(report[n]["precision"]),
                "recall": float(report[n]["recall"]),
                "f1": float(report[n]["f1-score"]),
                "support": int(report[n]["support"]),
            }
            for n in names
        },
        f"confusion_{suffix}": confusion_matrix(y, pred, labels=ids).tolist(),
    }


def evaluate_probs(labels: np.ndarray, probs: np.ndarray) -> dict:
    """The evaluation JSON's metrics (README: Training and evaluation) for true level indices
    and (n, 5) probabilities.

    The three-class prediction is the most likely class of the collapsed distribution, as
    `Prediction.label3` reports it.
    """
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    out: dict = {"n": len(labels)}
    out.update(_block(labels, probs.argmax(1), LABELS, "5"))
    out.update(_block(TO3_INDEX[labels], collapse_probs(probs).argmax(1), LABELS3, "3"))
    return out
