"""The prior shift: probabilities calibrated on one population moved to a collection whose
label shares are known."""

from __future__ import annotations

import numpy as np
import pytest

from memesent.labels import LABELS, collapse
from memesent.population import parse_shares, prior_shift, share_vector, shift_probs

MEANS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])  # a level's memes are N(mean, 1) on one axis


def posteriors(x: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The exact posterior over the five levels of the toy memes `x` where levels occur as
    `prior`: a perfectly calibrated model of that population."""
    logp = -0.5 * (x[:, None] - MEANS) ** 2 + np.log(prior)
    p = np.exp(logp - logp.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def collection(shares: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    levels = rng.choice(len(LABELS), size=n, p=shares)
    return MEANS[levels] + rng.standard_normal(n)


def kl(truth: np.ndarray, probs: np.ndarray) -> float:
    """Mean KL divergence of `probs` from the true posteriors."""
    return float((truth * np.log(truth / probs)).sum(1).mean())


CALIBRATED_ON = np.array([0.05, 0.45, 0.01, 0.44, 0.05])  # balanced sides, almost no neutral
COLLECTION = np.array([0.02, 0.07, 0.31, 0.45, 0.15])  # Memotion-like: a third neutral


def test_known_five_level_shares_make_the_mean_answer_match_them():
    x = collection(COLLECTION, 40_000)
    rates = posteriors(collection(CALIBRATED_ON, 40_000, seed=1), CALIBRATED_ON).mean(0)
    probs = posteriors(x, CALIBRATED_ON)
    assert np.abs(probs.mean(0) - COLLECTION).max() > 0.1  # unshifted: far off
    shares = dict(zip(LABELS, COLLECTION.tolist(), strict=True))
    shifted = shift_probs(probs, prior_shift(shares, rates))
    np.testing.assert_allclose(shifted.mean(0), COLLECTION, atol=0.02)
    np.testing.assert_allclose(shifted.sum(1), 1.0)


def test_three_class_shares_match_on_three_classes_and_are_more_likely():
    x = collection(COLLECTION, 40_000)
    rates = posteriors(collection(CALIBRATED_ON, 40_000, seed=1), CALIBRATED_ON).mean(0)
    probs = posteriors(x, CALIBRATED_ON)
    target3 = collapse(COLLECTION)
    shares = dict(zip(("negative", "neutral", "positive"), target3.tolist(), strict=True))
    shifted = shift_probs(probs, prior_shift(shares, rates))
    np.testing.assert_allclose(collapse(shifted).mean(0), target3, atol=0.03)
    truth = posteriors(x, COLLECTION)  # what the collection's own model would say
    assert kl(truth, shifted) < 0.5 * kl(truth, probs)


def test_shares_equal_to_the_base_rates_change_nothing():
    rates = CALIBRATED_ON
    probs = posteriors(collection(CALIBRATED_ON, 100), rates)
    same = shift_probs(probs, prior_shift(dict(zip(LABELS, rates, strict=True)), rates))
    np.testing.assert_allclose(same, probs)


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ({"negative": 0.5, "positive": 0.5}, "three classes"),
        ({"negative": 0.5, "neutral": 0.6, "positive": 0.2}, "sum to 1"),
        ({"negative": -0.1, "neutral": 0.6, "positive": 0.5}, "at least 0"),
    ],
)
def test_bad_shares_say_what_is_wrong(shares, message):
    with pytest.raises(ValueError, match=message):
        share_vector(shares, CALIBRATED_ON)


def test_parse_shares():
    assert parse_shares("negative=0.09, neutral=0.31,positive=0.6") == {
        "negative": 0.09,
        "neutral": 0.31,
        "positive": 0.6,
    }
    with pytest.raises(ValueError, match="LEVEL=SHARE"):
        parse_shares("negative:0.5")
