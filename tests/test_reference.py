"""`train.reference`: what a model's collection estimates know of its calibration memes,
measured from readings and labels: summaries only, and a threshold that lets collections of
validation memes through."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memesent.shares import Reference, check, estimate_shares
from train.data import DataError
from train.reference import build_reference, classes3


def five(p: np.ndarray) -> np.ndarray:
    neutral = 0.01
    return np.stack(
        [(1 - neutral) * (1 - p) / 2] * 2
        + [np.full_like(p, neutral)]
        + [(1 - neutral) * p / 2] * 2,
        1,
    )


def memes(n: int, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    sides = np.where(rng.random(n) < 0.5, 2, 0)
    x = np.where(sides == 2, 0.4, -0.4) + rng.standard_normal(n)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    readings = {
        "both": five(sigmoid(0.8 * x)),
        "text": five(sigmoid(0.6 * (x + 0.5 * rng.standard_normal(n)))),
        "image": five(sigmoid(0.2 * (x + rng.standard_normal(n)))),
    }
    return readings, sides


RATES = five(np.array([0.5]))[0]


def test_the_reference_summarises_and_lets_like_memes_through(tmp_path):
    reference = build_reference("m", RATES, memes(600, 0), memes(600, 1), "toy memes")
    assert reference.classes == {"negative": int((memes(600, 0)[1] == 0).sum()), "neutral": 0,
                                 "positive": int((memes(600, 0)[1] == 2).sum())}  # fmt: skip
    assert 0 < reference.intercept_sd < 0.2 and sum(reference.counts) == 600
    assert np.isfinite(reference.threshold) and "validation toy memes" in reference.threshold_of
    flagged = []
    for seed in range(20):
        found, _ = memes(200, 100 + seed)
        share = estimate_shares(found, RATES, reference).shares["positive"]
        flagged.append(check(found, share, reference).like is False)
    assert np.mean(flagged) <= 0.15
    written = json.loads(reference.save(tmp_path).read_text())
    assert set(written) == {f for f in Reference.__dataclass_fields__}  # summaries, no memes
    assert len(written["means"]) == 2 and len(written["means"][0]) == 6


def test_too_few_calibration_memes_of_a_side_say_so():
    readings, sides = memes(20, 0)
    with pytest.raises(DataError, match="too few calibration toy memes"):
        build_reference("m", RATES, (readings, sides), memes(600, 1), "toy memes")


def test_classes_of_labels_that_allow_one_class():
    allowed = np.array(
        [
            [True, True, False, False, False],  # negative
            [False, False, True, False, False],  # neutral
            [False, False, False, False, True],  # positive
            [True, True, True, True, True],  # surprise: any level
        ]
    )
    assert classes3(allowed).tolist() == [0, 1, 2, -1]
