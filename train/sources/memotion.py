"""Memotion 7k (SemEval-2020 Task 8) and anything in its layout, such as a folder of people's
corrections: `labels.csv` (`image_name`, `text_corrected` or `text_ocr`, `overall_sentiment`)
and `images/`. Its labels are our five levels. Several folders load as one set, their memes
named `folder/image_name`; split here, stratified by level. Its field's measure is the
three-class macro-F1 of SemEval-2020 Task 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memesent.labels import LABELS

from ..data import load_memes
from ..metrics import evaluate_probs
from .base import Examples, Source, Splitting, register


def load_folders(folders: Sequence[Path], splitting: Splitting) -> Examples:
    """One or more Memotion-layout folders as one source (see the module)."""
    memes = load_memes(list(folders))
    allowed = np.zeros((len(memes), len(LABELS)), dtype=bool)
    allowed[np.arange(len(memes)), memes.labels] = True
    return Examples(
        source="memotion",
        names=memes.names,
        captions=[c or None for c in memes.captions],
        images=list(memes.image_paths),
        allowed=allowed,
        parts=splitting.parts(memes.labels),
        extra={"level": memes.labels},
        skipped=memes.skipped,
    )


def load(root: Path, splitting: Splitting) -> Examples:
    return load_folders([root], splitting)


SOURCE = register(
    Source(
        name="memotion",
        description="Memotion 7k memes (or a folder in its layout), five sentiment levels",
        modalities=("text", "image"),
        load=load,
        mapping={level: (level,) for level in LABELS},
        score=lambda ex, probs, rates, intervals: evaluate_probs(
            ex.extra["level"], probs, rates, intervals
        ),
        headline="macro_f1_3",
        measure="three-class macro-F1 (SemEval-2020 Task 8)",
    )
)
