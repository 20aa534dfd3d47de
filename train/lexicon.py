"""Caption sentiment from a validated lexicon (VADER), as extra features for the ablation.

VADER (Hutto & Gilbert, 2014) scores a text's polarity from a human-rated word list and rules for
negation, intensifiers and emphasis; its compound score was the strongest single signal about
Memotion's sentiment labels that this project had measured. `python -m train.ablation` tries its
four scores as features beside the frozen encoders'.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

LEXICON_DIM = 4  # compound, positive, negative, neutral


def vader_features(captions: Sequence[str]) -> torch.Tensor:
    """(len(captions), 4): VADER's compound, positive, negative and neutral scores."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    rows = []
    for caption in captions:
        s = analyzer.polarity_scores(caption)
        rows.append([s["compound"], s["pos"], s["neg"], s["neu"]])
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), LEXICON_DIM)
