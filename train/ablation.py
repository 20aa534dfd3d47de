"""python -m train.ablation --data DIR: which recipe gives probabilities that carry information.

Every row is measured the same way: the memes outside the training run's test split (same seed,
same fractions) are cut into stratified folds; for each fold a head is trained on the rest, with
inner train / validation (epoch) / calibration parts, and predicts the held-out fold. The
held-out predictions of all folds are pooled (every meme predicted once, by a head that never
saw it) and scored together: AUROC per class, Spearman over the five levels, log-loss against
the base rates' log-loss, calibration error, and the decisions, with bootstrap 95 % intervals.

Rows: stating the base rates; the write-up's recipe uncalibrated, then calibrated; the shipped
recipe; steps tried on top of it (class weights, label smoothing, stronger weight decay, a lower
learning rate, an ordinal loss, soft ordinal targets, auxiliary labels, a sentiment lexicon);
then controls (one modality, shuffled labels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split

from memesent.labels import LABELS3
from memesent.model import ModelConfig

from .config import DEFAULT_CACHE, TrainConfig
from .data import DataError, load_memes
from .lexicon import vader_features
from .loop import Features, HeadSettings, base_rates, fit_head, predict_probs
from .metrics import evaluate_probs
from .run import extract_features

MODALITIES = ("both", "text", "image", "lexicon", "both+lexicon")


@dataclass(frozen=True)
class Variant:
    """One row of the table: a recipe, or a control.

    `modality`: which features the head sees (`lexicon`: VADER's four caption scores only;
    `both+lexicon`: those beside the text features). `base_rates_only`: no head at all, every
    meme gets its fold's training base rates.
    """

    name: str
    fusion: str = "gated"
    members: int = 1
    calibration: str = "vector"
    head: HeadSettings = field(default_factory=HeadSettings)
    modality: str = "both"
    shuffle_labels: bool = False
    base_rates_only: bool = False


def variants() -> list[Variant]:
    """The base rates, the write-up's recipe, the shipped recipe (the defaults of
    `python -m train`), steps tried on top of it, then the controls."""
    d = TrainConfig(Path(), Path())
    shipped = Variant("shipped recipe", d.fusion, d.members, d.calibration, d.head)
    writeup = Variant(
        "write-up recipe: concat fusion, cross-entropy, uncalibrated",
        "concat",
        calibration="none",
        head=replace(d.head, balance="none", flip=False),
    )

    def on_top(name: str, **head) -> Variant:
        return replace(shipped, name=f"shipped + {name}", head=replace(shipped.head, **head))

    return [
        Variant("stating the base rates for every meme", base_rates_only=True),
        writeup,
        replace(writeup, name="write-up recipe, calibrated (vector)", calibration="vector"),
        shipped,
        replace(shipped, name="shipped, temperature only", calibration="temperature"),
        on_top("class weights (sqrt)", balance="sqrt"),
        on_top("label smoothing 0.1", label_smoothing=0.1),
        on_top("weight decay 0.01", weight_decay=0.01),
        on_top("learning rate 1e-4", lr=1e-4),
        on_top("ordinal loss (cumulative)", loss="cumulative"),
        on_top("soft ordinal targets (0.3 to neighbours)", ordinal_smoothing=0.3),
        on_top("auxiliary labels (weight 0.3)", aux_weight=0.3),
        replace(shipped, name="shipped + VADER lexicon features", modality="both+lexicon"),
        replace(shipped, name="VADER lexicon scores alone", modality="lexicon"),
        replace(shipped, name="control: text only", modality="text"),
        replace(
            shipped,
            name="text only + ordinal loss",
            modality="text",
            head=replace(shipped.head, loss="cumulative"),
        ),
        replace(
            shipped,
            name="text only + auxiliary labels (weight 0.3)",
            modality="text",
            head=replace(shipped.head, aux_weight=0.3),
        ),
        replace(shipped, name="control: image only", modality="image"),
        replace(shipped, name="control: shuffled training labels", shuffle_labels=True),
    ]


def features_for(feats: Features, lexicon: torch.Tensor, modality: str) -> Features:
    """The features a variant's head sees; a modality it must not see is zeroed (the head's
    standardisation then makes it a constant)."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {MODALITIES}")
    blank_image = torch.zeros_like(feats.image)
    if modality == "text":
        return Features(feats.text, blank_image, blank_image)
    if modality == "image":
        return Features(torch.zeros_like(feats.text), feats.image, feats.image_flip)
    if modality == "lexicon":
        return Features(lexicon, blank_image, blank_image)
    if modality == "both+lexicon":
        return Features(torch.cat([feats.text, lexicon], 1), feats.image, feats.image_flip)
    return feats


@dataclass(frozen=True)
class Fold:
    """One fold: `held` is predicted; the rest is cut into `train` (fitted on), `val` (chooses
    the epoch) and `calib` (fits the calibration)."""

    train: np.ndarray
    val: np.ndarray
    calib: np.ndarray
    held: np.ndarray


def outside_test(cfg: TrainConfig, labels: np.ndarray) -> np.ndarray:
    """The memes that a training run with `cfg` does not keep for its test split."""
    split = cfg.split(labels)
    return np.sort(np.concatenate([split.train, split.val, split.calib]))


def cv_folds(pool: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> Iterator[Fold]:
    """Stratified folds of `pool`; the rest of each fold split 70 / 15 / 15, stratified."""
    kfold = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for k, (fit, held) in enumerate(kfold.split(pool, labels[pool])):
        fit, held = pool[fit], pool[held]
        train, rest = train_test_split(
            fit, test_size=0.3, stratify=labels[fit], random_state=seed + k
        )
        val, calib = train_test_split(
            rest, test_size=0.5, stratify=labels[rest], random_state=seed + k
        )
        yield Fold(train, val, calib, held)


def cross_validate(
    variant: Variant,
    feats: Features,
    lexicon: torch.Tensor,
    labels: np.ndarray,
    aux: dict[str, np.ndarray],
    pool: np.ndarray,
    base: ModelConfig,
    folds: int,
    seed: int,
) -> np.ndarray:
    """Held-out five-level probabilities of `variant` for every meme of `pool`, (len(labels), 5)
    with rows outside `pool` left at 0."""
    feats = features_for(feats, lexicon, variant.modality)
    fusion = replace(base.fusion, kind=variant.fusion, text_dim=feats.text.shape[1])
    probs = np.zeros((len(labels), len(base.labels)))
    for k, fold in enumerate(cv_folds(pool, labels, folds, seed)):
        rates = base_rates(labels[fold.train])
        if variant.base_rates_only:
            probs[fold.held] = rates
            continue
        y = labels.copy()
        if variant.shuffle_labels:
            fit = np.concatenate([fold.train, fold.val, fold.calib])
            y[fit] = np.random.default_rng(seed + k).permutation(y[fit])
        config = replace(
            base,
            fusion=fusion,
            members=variant.members,
            calibration=variant.calibration,
            base_rates=rates,
        )
        head, _ = fit_head(
            config, feats, y, aux, (fold.train, fold.val, fold.calib), variant.head, seed + k
        )
        probs[fold.held] = predict_probs(head, feats, fold.held)
    return probs


def summarise(name: str, metrics: dict) -> dict:
    """One table row from pooled held-out metrics: values and their 95 % intervals."""
    ci = metrics["ci"]
    row = {
        "variant": name,
        "n": metrics["n"],
        "accuracy_3": metrics["accuracy_3"],
        "macro_f1_3_balanced": [metrics["macro_f1_3_balanced"], ci["macro_f1_3_balanced"]],
        "spearman_5": [metrics["spearman_5"], ci["spearman_5"]],
        "log_loss_3": metrics["log_loss_3"],
        "log_loss_3_minus_base": [
            metrics["log_loss_3"] - metrics["log_loss_base_3"],
            ci["log_loss_3_minus_base"],
        ],
        "ece_3": metrics["ece_3"],
    }
    for c in LABELS3:
        row[f"auroc_{c}"] = [metrics["auroc_3"][c], ci[f"auroc_3_{c}"]]
    return row


def _cell(value: list | float | None, digits: int = 3) -> str:
    if isinstance(value, list):
        v, ci = value
        if v is None:
            return "–"
        return f"{v:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else f"{v:.3f}"
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    cols = (
        "auroc_negative",
        "auroc_neutral",
        "auroc_positive",
        "spearman_5",
        "log_loss_3_minus_base",
        "ece_3",
        "accuracy_3",
        "macro_f1_3_balanced",
    )
    lines = [
        "| recipe | AUROC neg | AUROC neu | AUROC pos | Spearman (5) | log-loss − base | ECE "
        "| accuracy | macro-F1, balanced |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(_cell(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def above_chance(rows: list[dict]) -> list[str]:
    """Sentences naming each recipe and class whose AUROC interval lies above 0.5."""
    found = []
    for r in rows:
        for c in LABELS3:
            v, ci = r[f"auroc_{c}"]
            if ci and ci[0] > 0.5:
                found.append(f"{r['variant']}: {c} AUROC {v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", type=Path, action="append", required=True, help="repeat for several folders"
    )
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the folds and heads; the memes are always those outside the test split "
        "of python -m train's defaults",
    )
    p.add_argument("--only", nargs="+", metavar="TEXT", help="rows whose name contains a TEXT")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    if a.folds < 2:
        p.error("--folds must be at least 2")
    cfg = TrainConfig(data=a.data, out=Path(), cache=a.cache)
    try:
        memes = load_memes(cfg.data)
    except DataError as err:
        print(f"python -m train.ablation: {err}", file=sys.stderr)
        return 2
    pool = outside_test(cfg, memes.labels)
    feats, text_spec, image_spec = extract_features(cfg, memes)
    lexicon = vader_features(memes.captions)
    pool_rates = np.array(base_rates(memes.labels[pool]))
    base = cfg.model_config(text_spec, image_spec, tuple(pool_rates))
    chosen = [v for v in variants() if not a.only or any(t in v.name for t in a.only)]
    print(f"{len(pool)} memes outside the test split, {a.folds}-fold cross-validation", flush=True)
    rows = []
    for variant in chosen:
        start = time.perf_counter()
        probs = cross_validate(
            variant, feats, lexicon, memes.labels, memes.aux, pool, base, a.folds, a.seed
        )
        metrics = evaluate_probs(memes.labels[pool], probs[pool], pool_rates)
        rows.append(summarise(variant.name, metrics))
        print(
            f"{variant.name}: AUROC {[_cell(rows[-1][f'auroc_{c}']) for c in LABELS3]}, "
            f"log-loss − base {_cell(rows[-1]['log_loss_3_minus_base'], 4)} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print(markdown(rows))
    found = above_chance(rows)
    print(
        "AUROC intervals above 0.5:\n" + "\n".join(found)
        if found
        else "No recipe has an AUROC interval above 0.5 for any class."
    )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
