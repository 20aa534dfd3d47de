"""Scores of predicted distributions against true levels.

Two kinds, kept apart. *Decisions*: accuracy and F1 of the most likely level (and of the
three-class summary), plus the *balanced* decision, the most likely class after dividing by the
base rates (prior-corrected, what class-weighted training approximates; how the write-up and
SemEval compare by macro-F1). *Information and honesty* of the probabilities themselves:
one-vs-rest AUROC, Spearman correlation of the expected level, log-loss against the base rates'
log-loss, Brier score and expected calibration error; with bootstrap 95 % intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    classification_report,
    confusion_matrix,
    f1_score,
    log_loss,
    roc_auc_score,
)

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse

ECE_BINS = 15
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over classes 0..k-1 from one confusion count (F1 = 2TP / (#true + #predicted)).

    Equal to scikit-learn's `f1_score(labels=range(k), average="macro", zero_division=0)`, which
    counts a class absent from both `y` and `pred` as 0, without its per-call validation: the
    bootstrap calls it a thousand times.
    """
    conf = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    denom = conf.sum(0) + conf.sum(1)
    f1 = np.divide(2 * np.diag(conf), denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean())


def balanced_decision(probs3: np.ndarray, base3: np.ndarray) -> np.ndarray:
    """The class with the largest probability relative to its base rate (prior-corrected)."""
    return (np.log(np.clip(probs3, 1e-12, None)) - np.log(base3)).argmax(-1)


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray) -> float:
    """|accuracy - confidence| averaged over `ECE_BINS` equal-width confidence bins, weighted by
    the share of answers in each bin (Naeini et al., 2015; Guo et al., 2017)."""
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    hits = np.bincount(bins, weights=correct.astype(float), minlength=ECE_BINS)
    conf = np.bincount(bins, weights=confidence, minlength=ECE_BINS)
    return float(np.abs(hits - conf).sum() / len(correct))


def auroc(y: np.ndarray, score: np.ndarray) -> float | None:
    """One-vs-rest AUROC of `score` for the boolean `y`; None when `y` holds one value only."""
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def spearman(expected: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman correlation; None when either side is constant."""
    if np.ptp(expected) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(expected, y).statistic)


def _decisions(y: np.ndarray, pred: np.ndarray, names: tuple[str, ...], suffix: str) -> dict:
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


def _information(y5: np.ndarray, probs: np.ndarray, base_rates: np.ndarray) -> dict:
    y3, p3, base3 = TO3_INDEX[y5], collapse(probs), collapse(base_rates)
    top = p3.max(1)
    correct = p3.argmax(1) == y3
    balanced = balanced_decision(p3, base3)
    return {
        "auroc_3": {c: auroc(y3 == k, p3[:, k]) for k, c in enumerate(LABELS3)},
        "spearman_5": spearman(probs @ np.arange(len(LABELS)), y5),
        "log_loss_3": float(log_loss(y3, p3, labels=[0, 1, 2])),
        "log_loss_base_3": float(log_loss(y3, np.tile(base3, (len(y3), 1)), labels=[0, 1, 2])),
        "log_loss_5": float(log_loss(y5, probs, labels=list(range(len(LABELS))))),
        "log_loss_base_5": float(
            log_loss(y5, np.tile(base_rates, (len(y5), 1)), labels=list(range(len(LABELS))))
        ),
        "brier_3": float(brier_score_loss(y3, p3, labels=[0, 1, 2])),
        "ece_3": expected_calibration_error(correct, top),
        "classwise_ece_3": {
            c: expected_calibration_error(y3 == k, p3[:, k]) for k, c in enumerate(LABELS3)
        },
        "mean_top_prob_3": float(top.mean()),
        "share_top_prob_over_90_3": float((top > 0.9).mean()),
        "accuracy_3_balanced": float(accuracy_score(y3, balanced)),
        "macro_f1_3_balanced": macro_f1(y3, balanced, len(LABELS3)),
        "f1_3_balanced": dict(
            zip(
                LABELS3,
                f1_score(y3, balanced, labels=[0, 1, 2], average=None, zero_division=0).tolist(),
                strict=True,
            )
        ),
    }


def _interval_statistics(base_rates: np.ndarray) -> dict[str, Callable]:
    """The statistics that get bootstrap intervals, each from (five-level labels, probs)."""
    base3 = collapse(base_rates)

    def auroc_of(k: int) -> Callable:
        return lambda y, p: auroc(TO3_INDEX[y] == k, collapse(p)[:, k])

    return {
        "accuracy_3": lambda y, p: float((collapse(p).argmax(1) == TO3_INDEX[y]).mean()),
        "macro_f1_3": lambda y, p: macro_f1(TO3_INDEX[y], collapse(p).argmax(1), 3),
        "macro_f1_3_balanced": lambda y, p: macro_f1(
            TO3_INDEX[y], balanced_decision(collapse(p), base3), 3
        ),
        **{f"auroc_3_{c}": auroc_of(k) for k, c in enumerate(LABELS3)},
        "spearman_5": lambda y, p: spearman(p @ np.arange(len(LABELS)), y),
        "log_loss_3": lambda y, p: float(log_loss(TO3_INDEX[y], collapse(p), labels=[0, 1, 2])),
        "log_loss_3_minus_base": lambda y, p: float(
            log_loss(TO3_INDEX[y], collapse(p), labels=[0, 1, 2])
            - log_loss(TO3_INDEX[y], np.tile(base3, (len(y), 1)), labels=[0, 1, 2])
        ),
    }


def bootstrap_intervals(
    labels: np.ndarray,
    probs: np.ndarray,
    base_rates: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, list[float] | None]:
    """Percentile bootstrap 95 % intervals: memes drawn with replacement `resamples` times
    (fixed seed), each statistic recomputed on every draw. None where a statistic is undefined
    on too many draws (a class missing from the memes)."""
    rng = np.random.default_rng(seed)
    stats = _interval_statistics(base_rates)
    values: dict[str, list[float]] = {k: [] for k in stats}
    for _ in range(resamples):
        idx = rng.integers(0, len(labels), len(labels))
        y, p = labels[idx], probs[idx]
        for name, stat in stats.items():
            v = stat(y, p)
            if v is not None:
                values[name].append(v)
    return {
        k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
        if len(v) >= 0.95 * resamples
        else None
        for k, v in values.items()
    }


def evaluate_probs(
    labels: np.ndarray, probs: np.ndarray, base_rates: np.ndarray, intervals: bool = True
) -> dict:
    """The evaluation JSON's metrics (README: Evaluation) for true level indices, (n, 5)
    calibrated probabilities and the training base rates (5,).

    The three-class prediction is the most likely class of the collapsed distribution, as
    `Prediction.label3` reports it; `*_balanced` keys use the prior-corrected decision.
    """
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(-1, keepdims=True)  # float32 sums may miss 1 by 1e-7
    base_rates = np.asarray(base_rates, dtype=np.float64)
    base_rates = base_rates / base_rates.sum()
    out: dict = {"n": len(labels)}
    out.update(_decisions(labels, probs.argmax(1), LABELS, "5"))
    out.update(_decisions(TO3_INDEX[labels], collapse(probs).argmax(1), LABELS3, "3"))
    out.update(_information(labels, probs, base_rates))
    if intervals:
        out["ci"] = bootstrap_intervals(labels, probs, base_rates)
    return out
