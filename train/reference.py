"""What a model's collection estimates need to know of its calibration memes, measured once and
written beside the model (`memesent.shares.Reference`, `shares_reference.json`).

    python -m train.reference --model DIR --data SOURCE=DIR    # a model trained before it

A training run writes it itself (`train.run`). Here it is measured for a model folder that lacks
it: the memes of its calibration and validation parts (the folder's `split.json`) are read by
the model (`memesent.Predictor`, the full path) and summarised: how the calibration memes'
labels fall on the three classes, the calibration's intercept uncertainty, each side's mean and
spread of `memesent.shares.FEATURES`, and the check's threshold, the 95th percentile of its
statistic over collections of validation memes drawn with replacement at positive shares from
0.1 to 0.9. No meme, caption or label is written: only these summaries.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from memesent import Predictor
from memesent.checkpoint import CheckpointError
from memesent.labels import LABELS3, TO3_INDEX
from memesent.model_files import model_version
from memesent.shares import (
    EPS,
    Reference,
    check,
    features,
    quantiles,
    side_posterior,
    side_probability,
)

from .config import data_specs
from .data import DataError
from .evaluate import _split_part, predict, select
from .sources import SOURCES, Splitting

SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
DRAWS = 200  # simulated collections per share
COLLECTION = 200  # memes per simulated collection
PERCENTILE = 95


def classes3(allowed: np.ndarray) -> np.ndarray:
    """Each example's class (0 negative, 1 neutral, 2 positive) where its label allows levels
    of one class only, else -1."""
    classes = np.stack([allowed[:, TO3_INDEX == k].any(1) for k in range(3)], 1)
    return np.where(classes.sum(1) == 1, classes.argmax(1), -1)


def build_reference(
    model: str,
    base_rates: np.ndarray,
    calib: tuple[Mapping[str, np.ndarray], np.ndarray],
    val: tuple[Mapping[str, np.ndarray], np.ndarray],
    noun: str = "memes",
    seed: int = 0,
) -> Reference:
    """The reference of the model with version `model` and `base_rates`, from its readings and
    classes (`classes3`) on the calibration part (`calib`) and the validation part (`val`)."""
    readings, classes = calib
    p = side_probability(readings["both"][(classes == 0) | (classes == 2)])
    values = features(readings)
    complete = ~np.isnan(values).any(1)
    means, covariances, counts = [], [], []
    for side in (0, 2):
        rows = values[complete & (classes == side)]
        if len(rows) < 2 * values.shape[1]:
            raise DataError(f"too few calibration {noun} of one side ({len(rows)}) to summarise")
        means.append(rows.mean(0).tolist())
        covariances.append(np.cov(rows.T).tolist())
        counts.append(len(rows))
    draft = Reference(
        model=model,
        classes={c: int((classes == k).sum()) for k, c in enumerate(LABELS3)},
        intercept_sd=float(1 / np.sqrt(max(np.sum(p * (1 - p)), EPS))),
        means=means,
        covariances=covariances,
        counts=counts,
        threshold=float("inf"),
        threshold_of="",
    )
    threshold = check_threshold(draft, base_rates, val, seed)
    return replace(
        draft,
        threshold=round(threshold, 3),
        threshold_of=(
            f"the {PERCENTILE}th percentile of the statistic over {DRAWS * len(SHARES):,} "
            f"collections of {COLLECTION} validation {noun} drawn with replacement at positive "
            f"shares {', '.join(f'{s:g}' for s in SHARES)}"
        ),
    )


def check_threshold(
    draft: Reference,
    base_rates: np.ndarray,
    val: tuple[Mapping[str, np.ndarray], np.ndarray],
    seed: int,
) -> float:
    """The check's statistic on simulated collections of validation memes (see the module)."""
    readings, classes = val
    complete = ~np.isnan(features(readings)).any(1)
    negative = np.flatnonzero(complete & (classes == 0))
    positive = np.flatnonzero(complete & (classes == 2))
    if not len(negative) or not len(positive):
        raise DataError("the validation part needs memes of both sides to set the check")
    rng = np.random.default_rng(seed)
    prior_share = float(side_probability(np.asarray(base_rates)))
    statistics: list[float] = []
    for share in SHARES:
        k = round(share * COLLECTION)
        for _ in range(DRAWS):
            idx = np.concatenate([rng.choice(positive, k), rng.choice(negative, COLLECTION - k)])
            drawn = {r: v[idx] for r, v in readings.items()}
            posterior = side_posterior(
                side_probability(drawn["both"]), prior_share, draft.intercept_sd
            )
            (median,) = quantiles(posterior, 0.5)
            found = check(drawn, median, draft).statistic
            if found is not None:
                statistics.append(found)
    return float(np.percentile(statistics, PERCENTILE))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.reference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help="the model folder to write it into")
    p.add_argument(
        "--data",
        required=True,
        metavar="SOURCE=DIR",
        help="the data set the model was calibrated on (the source of its base rates)",
    )
    a = p.parse_args(argv)
    try:
        (spec,) = data_specs([a.data])
        split = a.model / "split.json"
        predictor = Predictor.load(a.model)
        source = SOURCES[spec.source]
        parts = {}
        for part in ("calib", "val"):
            names = _split_part(split, spec.source, part)
            ex, missing = select(source.read(spec.roots, Splitting()), names, spec.roots[0])
            if missing:
                raise DataError(
                    f"{len(missing)} {part} memes of {split} are not in {spec.roots[0]}"
                )
            parts[part] = (predict(predictor, ex), classes3(ex.allowed))
        reference = build_reference(
            model_version(a.model),
            np.array(predictor.head.config.base_rates),
            parts["calib"],
            parts["val"],
            source.examples_noun,
        )
    except (DataError, CheckpointError, OSError, ValueError) as err:
        print(f"python -m train.reference: {err}", file=sys.stderr)
        return 2
    path = reference.save(a.model)
    summary = {k: v for k, v in asdict(reference).items() if k not in ("means", "covariances")}
    print(json.dumps(summary))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
