"""python -m train.ablation --data DIR: what each step of the recipe gives, by cross-validation.

Every row is measured the same way: the memes outside the training run's test split (same seed,
same fractions) are cut into stratified folds; for each fold a head is trained on the rest (with
an inner validation split for early stopping and prior tuning) and scored on the fold. Rows add
one step at a time to the write-up's recipe; the last rows are controls: one modality only, and
the final recipe trained on shuffled labels (what chance looks like on this data).
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

from memesent.labels import LABELS
from memesent.model import ModelConfig

from .data import DataError, load_memes, stratified_split
from .loop import Features, HeadSettings, fit_head, predict_probs
from .metrics import evaluate_probs
from .run import DEFAULT_CACHE, TrainConfig, extract_features, majority_baseline


@dataclass(frozen=True)
class Variant:
    """One row of the table: a recipe, or a control."""

    name: str
    fusion: str = "gated"
    members: int = 1
    tune: bool = False
    head: HeadSettings = field(default_factory=HeadSettings)
    modality: str = "both"
    shuffle_labels: bool = False


def variants() -> list[Variant]:
    """The write-up's recipe, steps added one at a time up to the shipped recipe (the defaults of
    `python -m train`), steps tried on top of it, then the controls."""
    plain = HeadSettings(balance="none", flip=False)
    writeup = Variant("write-up recipe: concat fusion, plain cross-entropy", "concat", head=plain)
    weighted = replace(
        writeup, name="+ class-weighted loss (sqrt)", head=replace(plain, balance="sqrt")
    )
    gated = replace(weighted, name="+ gated fusion", fusion="gated")
    d = TrainConfig(Path(), Path())
    shipped = Variant(
        "+ mirrored-image augmentation = shipped recipe", d.fusion, d.members, d.tune_priors, d.head
    )
    tuned = replace(shipped, name="shipped + priors tuned on validation", tune=True)
    return [
        writeup,
        weighted,
        gated,
        shipped,
        replace(
            shipped,
            name="shipped + auxiliary labels (weight 0.3)",
            head=replace(shipped.head, aux_weight=0.3),
        ),
        tuned,
        replace(shipped, name="shipped + ensemble of 5 seeds", members=5),
        replace(tuned, name="shipped + priors tuned + ensemble of 5 seeds", members=5),
        replace(shipped, name="control: shipped recipe, text only", modality="text"),
        replace(shipped, name="control: shipped recipe, image only", modality="image"),
        replace(
            shipped, name="control: shipped recipe, shuffled training labels", shuffle_labels=True
        ),
    ]


def _blank(feats: Features, modality: str) -> Features:
    if modality == "text":
        return Features(feats.text, torch.zeros_like(feats.image), torch.zeros_like(feats.image))
    if modality == "image":
        return Features(torch.zeros_like(feats.text), feats.image, feats.image_flip)
    return feats


@dataclass(frozen=True)
class Fold:
    """One fold: `held` is scored; `fit` = `train` (fitted on) + `val` (early stopping, tuning)."""

    fit: np.ndarray
    train: np.ndarray
    val: np.ndarray
    held: np.ndarray


def outside_test(cfg: TrainConfig, labels: np.ndarray) -> np.ndarray:
    """The memes that a training run with `cfg` does not keep for its test split."""
    split = stratified_split(labels, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return np.sort(np.concatenate([split.train, split.val]))


def cv_folds(pool: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> Iterator[Fold]:
    """Stratified folds of `pool`, each with a stratified inner validation split (15%)."""
    kfold = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for k, (fit, held) in enumerate(kfold.split(pool, labels[pool])):
        fit, held = pool[fit], pool[held]
        train, val = train_test_split(
            fit, test_size=0.15, stratify=labels[fit], random_state=seed + k
        )
        yield Fold(fit, train, val, held)


def cross_validate(
    variant: Variant,
    feats: Features,
    labels: np.ndarray,
    aux: dict[str, np.ndarray],
    pool: np.ndarray,
    base: ModelConfig,
    folds: int,
    seed: int,
) -> list[dict]:
    """Metrics of `variant` on each held-out fold of `pool`."""
    feats = _blank(feats, variant.modality)
    config = replace(
        base, fusion=replace(base.fusion, kind=variant.fusion), members=variant.members
    )
    scores = []
    for k, fold in enumerate(cv_folds(pool, labels, folds, seed)):
        y = labels.copy()
        if variant.shuffle_labels:
            y[fold.fit] = np.random.default_rng(seed + k).permutation(y[fold.fit])
        head, _ = fit_head(
            config, feats, y, aux, fold.train, fold.val, variant.head, seed + k, variant.tune
        )
        scores.append(evaluate_probs(labels[fold.held], predict_probs(head, feats, fold.held)))
    return scores


def summarise(name: str, scores: list[dict]) -> dict:
    def stat(get) -> tuple[float, float]:
        v = np.array([get(s) for s in scores])
        return float(v.mean()), float(v.std())

    return {
        "variant": name,
        "accuracy_3": stat(lambda s: s["accuracy_3"]),
        "macro_f1_3": stat(lambda s: s["macro_f1_3"]),
        **{
            f"f1_{c}": stat(lambda s, c=c: s["per_class_3"][c]["f1"])
            for c in ("negative", "neutral", "positive")
        },
        "macro_f1_5": stat(lambda s: s["macro_f1_5"]),
    }


def markdown(rows: list[dict]) -> str:
    cols = ("accuracy_3", "macro_f1_3", "f1_negative", "f1_neutral", "f1_positive", "macro_f1_5")
    lines = [
        "| recipe | accuracy | macro-F1 | F1 neg | F1 neu | F1 pos | macro-F1 (5) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = " | ".join(f"{r[c][0]:.3f} ± {r[c][1]:.3f}" for c in cols)
        lines.append(f"| {r['variant']} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    cfg = TrainConfig(data=a.data, out=Path(), cache=a.cache, seed=a.seed)
    try:
        memes = load_memes(cfg.data)
    except DataError as err:
        print(f"python -m train.ablation: {err}", file=sys.stderr)
        return 2
    pool = outside_test(cfg, memes.labels)
    feats, text_spec, image_spec = extract_features(cfg, memes)
    base = cfg.model_config(text_spec, image_spec)
    majority = LABELS[np.bincount(memes.labels[pool]).argmax()]
    rows = [
        summarise(
            f"always the majority level ({majority})",
            [majority_baseline(memes.labels[pool], memes.labels[pool])],
        )
    ]
    print(f"{len(pool)} memes outside the test split, {a.folds}-fold cross-validation", flush=True)
    for variant in variants():
        start = time.perf_counter()
        scores = cross_validate(
            variant, feats, memes.labels, memes.aux, pool, base, a.folds, a.seed
        )
        rows.append(summarise(variant.name, scores))
        print(
            f"{variant.name}: macro-F1 {rows[-1]['macro_f1_3'][0]:.3f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print(markdown(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
