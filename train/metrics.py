"""Scores of predicted distributions against true levels.

Two kinds, kept apart. *Decisions*: accuracy and F1 of the most likely level (and of the
three-class summary), plus the *balanced* decision, the most likely class after dividing by the
base rates (prior-corrected, what class-weighted training approximates; how the write-up and
SemEval compare by macro-F1). *Information and honesty* of the probabilities themselves:
one-vs-rest AUROC, Spearman correlation of the expected level, log-loss against the base rates'
log-loss, Brier score and expected calibration error; with bootstrap 95 % intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    classification_report,
    confusion_matrix,
    f1_score,
)

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse, positive_share

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


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x`, ties sharing their average rank: `scipy.stats.rankdata(x)` without
    its per-call overhead (the bootstrap ranks thousands of draws)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    group = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    ranks = np.empty(len(x))
    ranks[order] = ((starts[:-1] + starts[1:] + 1) / 2)[group]
    return ranks


def auroc(y: np.ndarray, score: np.ndarray) -> float | None:
    """One-vs-rest AUROC of `score` for the boolean `y`; None when `y` holds one value only.

    The Mann-Whitney statistic from average ranks (a tie counts one half), equal to
    scikit-learn's `roc_auc_score` without its per-call validation: the bootstrap calls it
    thousands of times.
    """
    y = np.asarray(y, dtype=bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return None
    ranks = average_ranks(score)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean −log of the probability given to each example's class (`y`: class indices, `probs`
    rows summing to 1), clipped at float64's epsilon: scikit-learn's `log_loss`, without its
    per-call validation (the bootstrap calls it thousands of times)."""
    probs = np.asarray(probs, dtype=np.float64)
    picked = probs[np.arange(len(y)), np.asarray(y)]
    return float(-np.log(np.clip(picked, np.finfo(np.float64).eps, 1.0)).mean())


def spearman(expected: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman correlation (Pearson's of the average ranks, as `scipy.stats.spearmanr`);
    None when either side is constant."""
    if np.ptp(expected) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(average_ranks(expected), average_ranks(y))[0, 1])


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
        "log_loss_3": log_loss(y3, p3),
        "log_loss_base_3": log_loss(y3, np.tile(base3, (len(y3), 1))),
        "log_loss_5": log_loss(y5, probs),
        "log_loss_base_5": log_loss(y5, np.tile(base_rates, (len(y5), 1))),
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
    y3, p3, base3 = TO3_INDEX[labels], collapse(probs), collapse(base_rates)
    pred3 = p3.argmax(1)
    balanced = balanced_decision(p3, base3)
    expected = probs @ np.arange(len(LABELS))
    base_loss = -np.log(base3)[y3]

    def auroc_of(k: int) -> Callable:
        return lambda i: auroc(y3[i] == k, p3[i, k])

    stats = {
        "accuracy_3": lambda i: float((pred3[i] == y3[i]).mean()),
        "macro_f1_3": lambda i: macro_f1(y3[i], pred3[i], 3),
        "macro_f1_3_balanced": lambda i: macro_f1(y3[i], balanced[i], 3),
        **{f"auroc_3_{c}": auroc_of(k) for k, c in enumerate(LABELS3)},
        "spearman_5": lambda i: spearman(expected[i], labels[i]),
        "log_loss_3": lambda i: log_loss(y3[i], p3[i]),
        "log_loss_3_minus_base": lambda i: log_loss(y3[i], p3[i]) - float(base_loss[i].mean()),
    }
    return _bootstrap(stats, len(labels), resamples, seed)


def evaluate_probs(
    labels: np.ndarray, probs: np.ndarray, base_rates: np.ndarray, intervals: bool = True
) -> dict:
    """The evaluation JSON's metrics (docs/training.md: Evaluation) for true level indices, (n, 5)
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


# Each data set's own measures: the field's headline number for it, with what it needs.
VALENCE_ECE_BINS = 10
SIGNED_LEVEL = np.arange(len(LABELS)) - len(LABELS) // 2  # very_negative -2 … very_positive +2


def _normalised(probs: np.ndarray) -> np.ndarray:
    """Probabilities summing to 1 in float64 (float32 sums may miss 1 by 1e-7)."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs / probs.sum(-1, keepdims=True)


def set_log_loss(allowed: np.ndarray, probs: np.ndarray) -> float:
    """Mean −log P(the allowed levels) (the marginal likelihood of set labels, five levels)."""
    p = np.where(allowed, probs, 0.0).sum(1)
    return float(-np.log(np.clip(p, 1e-15, None)).mean())


def valence_ece(positive: np.ndarray, share: np.ndarray, bins: int = VALENCE_ECE_BINS) -> float:
    """Calibration error of the valence: in `bins` equal-width bins of the positive side's share
    of the two sides' probability, |share of memes that are positive − mean stated share|,
    weighted by the memes in each bin."""
    which = np.minimum((share * bins).astype(int), bins - 1)
    hits = np.bincount(which, weights=positive.astype(float), minlength=bins)
    stated = np.bincount(which, weights=share, minlength=bins)
    return float(np.abs(hits - stated).sum() / len(share))


def total_variation(probs: np.ndarray, base_rates: np.ndarray) -> np.ndarray:
    """Per example, the total variation distance of its answer from the base rates."""
    return 0.5 * np.abs(probs - base_rates).sum(1)


def _bootstrap(stats: dict[str, Callable], n: int, resamples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {k: [] for k in stats}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        for name, stat in stats.items():
            v = stat(idx)
            if v is not None:
                values[name].append(v)
    return {
        k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
        if len(v) >= 0.95 * resamples
        else None
        for k, v in values.items()
    }


def auroc_gain(
    positive: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict:
    """AUROC of two scores of the same examples (`before`, `after`) and the gain between them,
    each with a paired bootstrap 95 % interval (the same draws for all three)."""
    positive = np.asarray(positive, dtype=bool)
    out: dict = {
        "n": len(positive),
        "before": auroc(positive, before),
        "after": auroc(positive, after),
    }
    out["gain"] = None if None in (out["before"], out["after"]) else out["after"] - out["before"]

    def gain(i: np.ndarray) -> float | None:
        a, b = auroc(positive[i], after[i]), auroc(positive[i], before[i])
        return None if a is None or b is None else a - b

    out["ci"] = _bootstrap(
        {
            "before": lambda i: auroc(positive[i], before[i]),
            "after": lambda i: auroc(positive[i], after[i]),
            "gain": gain,
        },
        len(positive),
        resamples,
        BOOTSTRAP_SEED,
    )
    return out


def valence_measures(
    signed: np.ndarray,
    allowed: np.ndarray,
    probs: np.ndarray,
    base_rates: np.ndarray,
    intervals: bool = True,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict:
    """How well five-level answers follow memes' emotions (MET-Meme's measures).

    `signed` is the signed intensity (+1…+3 positive emotions, −1…−3 negative, NaN without a
    side); memes without a side are left out of the valence measures. `auroc_valence`: positive
    against negative memes, scored by the expected level; `spearman_intensity`: the expected
    level against the signed intensity; `valence_ece`: see `valence_ece`; `log_loss_5`: the
    set labels' log-loss (`log_loss_base_5`: the base rates' on the same memes); `shift_mean`:
    mean total variation of the answers from the base rates. With bootstrap 95 % intervals.
    """
    probs = np.asarray(probs, dtype=np.float64)
    sided = ~np.isnan(signed)
    s, p, a = signed[sided], probs[sided], allowed[sided]
    positive = s > 0
    expected = p @ SIGNED_LEVEL
    share = positive_share(p)
    base = np.tile(base_rates, (len(p), 1))
    out: dict[str, object] = {
        "n": int(sided.sum()),
        "n_without_side": int((~sided).sum()),
        "n_neutral_allowed": int(a[:, LABELS.index("neutral")].sum()),
        "positive_rate": float(positive.mean()),
        "mean_positive_share": float(share.mean()),
        "auroc_valence": auroc(positive, expected),
        "auroc_valence_share": auroc(positive, share),
        "spearman_intensity": spearman(expected, s),
        "valence_ece": valence_ece(positive, share),
        "log_loss_5": set_log_loss(a, p),
        "log_loss_base_5": set_log_loss(a, base),
        "shift_mean": float(total_variation(probs, base_rates).mean()),
    }
    if intervals:
        out["ci"] = _bootstrap(
            {
                "auroc_valence": lambda i: auroc(positive[i], expected[i]),
                "spearman_intensity": lambda i: spearman(expected[i], s[i]),
                "valence_ece": lambda i: valence_ece(positive[i], share[i]),
                "log_loss_5_minus_base": lambda i: (
                    set_log_loss(a[i], p[i]) - set_log_loss(a[i], base[i])
                ),
            },
            len(p),
            resamples,
            BOOTSTRAP_SEED,
        )
    return out


def level_measures(levels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy and macro-F1 of the most likely of five levels (SST-5's measures)."""
    probs = _normalised(probs)
    pred = probs.argmax(1)
    return {
        "n": len(levels),
        "accuracy_5": float((pred == levels).mean()),
        "macro_f1_5": macro_f1(np.asarray(levels), pred, len(LABELS)),
        "log_loss_5": log_loss(levels, probs),
    }


def three_class_measures(label3: np.ndarray, probs: np.ndarray) -> dict:
    """Macro-averaged recall of the most likely of negative / neutral / positive (SemEval-2017
    Task 4A's measure, TweetEval's too), with accuracy and each class's recall."""
    y = np.array([LABELS3.index(v) for v in label3])
    probs = _normalised(probs)
    pred = collapse(probs).argmax(1)
    recall = {c: float((pred[y == k] == k).mean()) for k, c in enumerate(LABELS3) if (y == k).any()}
    return {
        "n": len(y),
        "macro_recall_3": float(np.mean(list(recall.values()))),
        "accuracy_3": float((pred == y).mean()),
        "recall_3": recall,
        "log_loss_3": log_loss(y, collapse(probs)),
    }


def side_measures(positive: np.ndarray, agreement: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy of the side (positive vs negative: which has more probability) on the photos all
    five workers agreed on (Twitter I's benchmark) and on all; AUROC of the positive share."""
    share = positive_share(probs)
    right = (share > 0.5) == positive
    agreed = agreement == "5/5"
    return {
        "n": len(positive),
        "n_5agree": int(agreed.sum()),
        "accuracy_5agree": float(right[agreed].mean()) if agreed.any() else None,
        "accuracy_all": float(right.mean()),
        "auroc_side": auroc(positive, share),
    }


# A reading "clearly" leans to a side when its valence is further from a typical meme's than
# this share of held-out memes' readings are (the page's "words and picture disagree" line).
CLEAR_QUANTILE = 0.75


def reading_margins(readings: dict[str, np.ndarray], base_rates: np.ndarray) -> dict:
    """For each reading, how far its positive share must lie from the base rates' to be among
    the `CLEAR_QUANTILE` most decided of these memes' readings: {reading: margin}, with the
    quantile, the base rates' positive share and the memes counted."""
    base = float(positive_share(base_rates))
    out: dict = {"quantile": CLEAR_QUANTILE, "base_positive_share": base}
    for name, probs in readings.items():
        rows = ~np.isnan(probs).any(1)
        spread = np.abs(positive_share(probs[rows]) - base)
        out[name] = float(np.quantile(spread, CLEAR_QUANTILE)) if rows.any() else None
        out[f"n_{name}"] = int(rows.sum())
    return out


def with_interval(
    result: Mapping, key: str, interval_only: bool = False, sign: bool = False
) -> str:
    """A measure of `result` as every table writes it: `0.703 [0.654, 0.751]` with its
    bootstrap interval (`result["ci"][key]`) where there is one, `–` where the measure is
    absent; `interval_only`: `0.654–0.751`; `sign`: a gain, written `+0.012`."""
    form = "+.3f" if sign else ".3f"
    ci = result.get("ci", {}).get(key)
    if interval_only:
        return f"{ci[0]:{form}}–{ci[1]:{form}}" if ci else "–"
    value = result.get(key)
    if value is None:
        return "–"
    return f"{value:{form}}" + (f" [{ci[0]:{form}}, {ci[1]:{form}}]" if ci else "")


def information_table(t: dict) -> str:
    """Markdown rows: each information measure of `evaluate_probs`'s answer (a test part's)
    with its 95 % interval."""
    rows = [
        *(
            (f"AUROC, {c} vs rest", t["auroc_3"][c], f"auroc_3_{c}", "0.5 is chance")
            for c in LABELS3
        ),
        ("Spearman, expected vs true level (5)", t["spearman_5"], "spearman_5", "0 is chance"),
        ("log-loss (3 classes)", t["log_loss_3"], "log_loss_3", "lower is better"),
        ("log-loss of the base rates", t["log_loss_base_3"], None, "stating a typical meme's"),
        (
            "log-loss minus the base rates'",
            t["log_loss_3"] - t["log_loss_base_3"],
            "log_loss_3_minus_base",
            "below 0: more informative",
        ),
        ("Brier score (3 classes)", t["brier_3"], None, "lower is better"),
        (
            "expected calibration error (top class)",
            t["ece_3"],
            None,
            f"{ECE_BINS} bins; 0 is ideal",
        ),
        ("mean top probability", t["mean_top_prob_3"], None, f"accuracy {t['accuracy_3']:.3f}"),
        ("answers claiming over 90 %", t["share_top_prob_over_90_3"], None, "share of memes"),
    ]
    lines = ["| measure | value | 95 % interval | reading |", "| --- | ---: | :---: | --- |"]
    for name, v, key, note in rows:
        value = "–" if v is None else f"{v:.3f}"
        interval = with_interval(t, key, interval_only=True) if key else "–"
        lines.append(f"| {name} | {value} | {interval} | {note} |")
    return "\n".join(lines)
