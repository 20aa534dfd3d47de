"""The OCR settings' cross-validation: every meme scored by a choice made without it."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ocr_cv import cross_validate, fold_of, scores


def test_each_fold_is_read_by_the_choice_the_other_folds_made():
    fold = fold_of(8, 2, seed=3)
    assert sorted(np.bincount(fold)) == [4, 4]
    good, bad = (9, 10, 10), (2, 10, 10)  # (words in common, transcribed, read) of one meme
    # "a" reads fold 1's memes well and fold 0's badly; "b" the other way round
    a = np.array([good if f == 1 else bad for f in fold])
    b = np.array([good if f == 0 else bad for f in fold])
    a[fold == 1] = (10, 10, 10)  # and a little better than b overall
    result = cross_validate({"a": a, "b": b}, folds=2, seed=3)
    # fold 0 is read by the choice of fold 1's memes ("a"), fold 1 by fold 0's ("b")
    assert result["chosen"] == ["a", "b"]
    want = scores(np.concatenate([a[fold == 0], b[fold == 1]]))
    assert result["f1"] == pytest.approx(want["f1"]) and result["recall"] == pytest.approx(0.2)
    assert result["f1"] < min(scores(a)["f1"], scores(b)["f1"])  # below either on all memes


def test_scores_are_micro_averaged_over_words():
    rows = np.array([(1, 2, 4), (3, 3, 4)])
    assert scores(rows) == pytest.approx({"recall": 0.8, "precision": 0.5, "f1": 2 * 0.4 / 1.3})
