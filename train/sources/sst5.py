"""Stanford Sentiment Treebank, five levels (Socher et al. 2013): sentences, words only.

Layout: `train.tsv`, `dev.tsv`, `test.tsv` with `label` (our five level names) and `sentence`.
Its labels are exactly our five levels; its own split is kept (dev → val), which has no
calibration part, so it never calibrates a run. Its field's measure is test accuracy over the
five levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from memesent.labels import LABELS, level_set

from ..data import DataError
from ..metrics import level_measures
from .base import Examples, Source, Splitting, register

FILES = {"train": "train.tsv", "val": "dev.tsv", "test": "test.tsv"}


def load(root: Path, splitting: Splitting) -> Examples:
    frames = []
    for part, name in FILES.items():
        path = root / name
        if not path.is_file():
            raise DataError(f"sst5: {root} has no {name} (SST-5's layout)")
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        if not {"label", "sentence"} <= set(df.columns):
            raise DataError(f"sst5: {path} lacks the columns label and sentence")
        unknown = sorted(set(df["label"]) - set(LABELS))
        if unknown:
            raise DataError(f"sst5: {path} has unknown label(s) {unknown}")
        frames.append(df.assign(part=part, name=[f"{part}/{i}" for i in range(len(df))]))
    df = pd.concat(frames, ignore_index=True)
    level = np.array([LABELS.index(v) for v in df["label"]])
    captions: list[str | None] = list(df["sentence"].str.strip().tolist())  # as Examples holds
    return Examples(
        source="sst5",
        names=df["name"].tolist(),
        captions=captions,
        images=[None] * len(df),
        allowed=np.array([level_set(v) for v in df["label"]]),
        parts=df["part"].to_numpy(dtype=object),
        extra={"level": level},
    )


SOURCE = register(
    Source(
        name="sst5",
        description="Stanford Sentiment Treebank sentences (movie reviews), five levels",
        noun="SST-5 sentences",
        modalities=("text",),
        load=load,
        mapping={level: (level,) for level in LABELS},
        score=lambda ex, probs, rates, intervals: level_measures(ex.extra["level"], probs),
        headline="accuracy_5",
        measure="test accuracy, five levels",
        folder="sst5",
        published=(("fine-tuned BERT-base", 0.532), ("RoBERTa-large", 0.598)),
        tuning_weight=0.4,
        shipped=1,
    )
)
