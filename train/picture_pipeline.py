"""python -m train.picture_pipeline --data metmeme=DIR --data twitter-images=DIR: which way of
feeding pictures to the image backbone keeps the most sentiment.

For each candidate preprocessing (`CANDIDATES`: the resolution pictures are first squeezed to,
and the backbone's input size), the frozen backbone's features of every picture of the data sets
given are computed (through the feature cache) and a logistic regression reads each data set's
side (positive vs negative) from them, in 5-fold stratified cross-validation: AUROC for
MET-Meme memes (surprise left out), accuracy on the 5/5-agreement photos for Twitter I. The
winner becomes `memesent.backbones.IMAGE_SPECS`' preprocessing for training and serving alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from memesent.backbones import DEFAULT_IMAGE, load_image_encoder

from .config import DEFAULT_CACHE, data_specs
from .data import DataError
from .features import image_features
from .sources import SOURCES, load_source

# name: (pictures larger than this are squeezed to it first, 0: none; the backbone's input
# size). The data sets' pictures are 256 px on their long side, so "to 256" squeezes none of them.
CANDIDATES = {
    "squeeze to 128, then 224 (Memotion's copies)": (128, 224),
    "straight to 224": (0, 224),
    "to 256 (larger ones squeezed to 256 first)": (256, 256),
    "straight to 288": (0, 288),
}


def valence_probe(c: float = 0.05) -> Pipeline:
    """A linear valence layer read off picture features: a logistic regression (positive
    against negative side) on standardised features, L2-regularised by `c` (smaller: more)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def probe(features: np.ndarray, positive: np.ndarray, seed: int = 0) -> dict:
    """Held-out P(positive) of a 5-fold `valence_probe`: AUROC and accuracy."""
    model = valence_probe()
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, features, positive, cv=folds, method="predict_proba")[:, 1]
    return {
        "auroc": float(roc_auc_score(positive, p)),
        "accuracy": float(((p > 0.5) == positive).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.picture_pipeline", description=__doc__)
    parser.add_argument("--data", action="append", required=True, metavar="SOURCE=DIR")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--image-backbone", default=DEFAULT_IMAGE)
    parser.add_argument("--json", type=Path, default=None)
    a = parser.parse_args(argv)
    try:
        sets = [load_source(s.source, s.roots[0]) for s in data_specs(a.data)]
    except (DataError, ValueError) as err:
        print(f"python -m train.picture_pipeline: {err}", file=sys.stderr)
        return 2
    probes = []  # (examples, those with a side, whether each is positive)
    for ex in sets:
        sides = SOURCES[ex.source].sides
        if sides is None:
            print(
                f"python -m train.picture_pipeline: {ex.source}'s labels have no side (positive "
                "or negative) to probe the pictures for",
                file=sys.stderr,
            )
            return 2
        probes.append((ex, *sides(ex)))
    encoder = load_image_encoder(a.image_backbone)
    base = encoder.spec
    rows = []
    for name, (source_size, size) in CANDIDATES.items():
        encoder.spec = replace(base, source_size=source_size, size=size)
        row: dict[str, Any] = {"pipeline": name, "source_size": source_size, "size": size}
        for ex, keep, positive in probes:
            start = time.perf_counter()
            feats = image_features(encoder, [ex.images[i] for i in keep], a.cache).numpy()
            row[ex.source] = probe(feats, positive) | {"n": len(keep)}
            row[ex.source]["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    names = [ex.source for ex in sets]
    print("| pipeline | " + " | ".join(f"{n}: AUROC / accuracy" for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for r in rows:
        cells = [f"{r[n]['auroc']:.3f} / {r[n]['accuracy']:.3f}" for n in names]
        print(f"| {r['pipeline']} | " + " | ".join(cells) + " |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
