"""Twitter I (You et al., AAAI 2015): photos posted on Twitter, positive or negative.

Layout: `labels.csv` (`image_name, sentiment, agreement`) and `images/`. Pictures only. A
positive photo allows both positive levels, a negative one both negative levels. Split here,
stratified by sentiment and agreement; its field's measure is accuracy on the photos that all
five workers agreed on (5/5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from memesent.labels import level_set

from ..data import DataError, image_problem
from ..metrics import side_measures
from .base import Examples, Source, Splitting, register

LEVELS = {"positive": ("positive", "very_positive"), "negative": ("very_negative", "negative")}


def load(root: Path, splitting: Splitting) -> Examples:
    csv = root / "labels.csv"
    if not csv.is_file():
        raise DataError(f"twitter-images: {root} has no labels.csv (Twitter I's layout)")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if not {"image_name", "sentiment", "agreement"} <= set(df.columns):
        raise DataError(f"twitter-images: {csv} lacks image_name, sentiment or agreement")
    sentiment = df["sentiment"].str.strip().str.lower()
    unknown = sorted(set(sentiment) - set(LEVELS))
    if unknown:
        raise DataError(f"twitter-images: {csv} has unknown sentiment(s) {unknown}")
    keep, skipped = [], []
    for i, name in enumerate(df["image_name"]):
        reason = image_problem(root / "images", name)
        (skipped.append((name, reason)) if reason else keep.append(i))
    if not keep:
        raise DataError(f"twitter-images: no row of {csv} has a readable picture")
    rows, sides = df.iloc[keep], sentiment.iloc[keep].tolist()
    agreement = rows["agreement"].str.strip().to_numpy(dtype=object)
    return Examples(
        source="twitter-images",
        names=rows["image_name"].tolist(),
        captions=[None] * len(rows),
        images=[root / "images" / n for n in rows["image_name"]],
        allowed=np.array([level_set(*LEVELS[s]) for s in sides]),
        parts=splitting.parts(
            np.array([f"{s} {a}" for s, a in zip(sides, agreement, strict=True)])
        ),
        extra={"positive": np.array([s == "positive" for s in sides]), "agreement": agreement},
        skipped=skipped,
    )


def sides(ex: Examples) -> tuple[np.ndarray, np.ndarray]:
    """The photos all five workers agreed on (the field's benchmark) and whether each is
    positive."""
    keep = np.flatnonzero(ex.extra["agreement"] == "5/5")
    return keep, ex.extra["positive"][keep]


SOURCE = register(
    Source(
        name="twitter-images",
        description="Twitter I photos, positive or negative (pictures only)",
        noun="Twitter I photos",
        modalities=("image",),
        load=load,
        mapping=LEVELS,
        score=lambda ex, probs, rates, intervals: side_measures(
            ex.extra["positive"], ex.extra["agreement"], probs
        ),
        headline="accuracy_5agree",
        measure="accuracy on the 5/5-agreement test photos",
        folder="twitter-images",
        sides=sides,
        calibration_priority=1,
        shipped=4,
    )
)
