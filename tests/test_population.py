"""The prior shift: probabilities calibrated on one population moved to a collection whose
label shares are known: on a toy collection where the exact posteriors are known, and through
`Predictor.with_label_shares` on the shipped model."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import draw_meme, photo

from memesent.labels import LABELS, LABELS3, collapse
from memesent.population import parse_shares, prior_shift, share_vector

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


def shift_probs(probs: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    """`probs` moved by `prior_shift`'s log-weights and renormalised, as `MemeHead` does it to
    its calibrated log-probabilities."""
    logp = np.log(probs) + log_weights
    p = np.exp(logp - logp.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


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


MEMES = [  # (photo, top, bottom): a few memes of every side
    ("coffee", "first coffee of the day", "best feeling ever"),
    ("chelsea", "when the cat ignores you", "again"),
    ("astronaut", "me explaining my plans", "nobody listens"),
    ("rocket", "finally passed my exam", "to the moon"),
    ("camera", "monday morning", "meeting at 8"),
    ("coffee", "spilled it all over my laptop", "I hate everything"),
]
MEMOTION_LIKE = {"negative": 0.09, "neutral": 0.31, "positive": 0.6}


@pytest.fixture(scope="module")
def memes() -> tuple[list, list[str]]:
    pictures = [draw_meme(photo(name), top, bottom) for name, top, bottom in MEMES]
    return pictures, [f"{top} {bottom}" for _, top, bottom in MEMES]


def mean3(results: list, reading: str) -> np.ndarray:
    """The mean three-class answer of one reading over `results`."""
    return collapse([[r.readings[reading][k] for k in LABELS] for r in results]).mean(0)


def test_label_shares_move_every_reading_and_the_explanation(predictor, memes):
    shifted = predictor.with_label_shares(MEMOTION_LIKE)
    before = predictor.predict_batch(*memes)
    after = shifted.predict_batch(*memes)
    target = np.array([MEMOTION_LIKE[c] for c in LABELS3])
    for reading in ("text", "image", "both"):
        was, now = mean3(before, reading), mean3(after, reading)
        assert np.abs(now - target).sum() < 0.6 * np.abs(was - target).sum(), reading
        assert now[1] > was[1] + 0.02, reading  # neutral, which MET-Meme never labels, rises
    assert collapse([shifted.base_rates[k] for k in LABELS]) == pytest.approx(target)
    assert (
        after[0].population
        == shifted.population
        == (
            f"{predictor.population}, shifted to the label shares you gave: "
            "negative=0.09, neutral=0.31, positive=0.6"
        )
    )
    assert after[0].to_dict()["population"] == shifted.population
    explained = shifted.explain(memes[0][0], memes[1][0])
    assert explained.probs == pytest.approx(after[0].probs, abs=1e-6)
    assert explained.target == after[0].label
    again = predictor.predict_batch(*memes)  # the predictor it came from is unchanged
    assert [r.probs for r in again] == [r.probs for r in before]


def test_shares_equal_to_the_base_rates_change_no_answer(predictor, memes):
    same = predictor.with_label_shares(predictor.base_rates)
    for a, b in zip(predictor.predict_batch(*memes), same.predict_batch(*memes), strict=True):
        for reading in ("text", "image", "both"):
            assert b.readings[reading] == pytest.approx(a.readings[reading], abs=1e-6)


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ({"negative": 0.5, "neutral": 0.0, "positive": 0.5}, "above 0"),
        ({"negative": 0.5, "neutral": 0.3, "positive": 0.5}, "sum to 1"),
        ({"sad": 0.5, "happy": 0.5}, "three classes"),
    ],
)
def test_bad_label_shares_are_refused_with_what_is_wrong(predictor, shares, message):
    with pytest.raises(ValueError, match=message):
        predictor.with_label_shares(shares)


def test_a_shifted_head_is_not_saved(predictor, tmp_path):
    from memesent.checkpoint import save_checkpoint

    with pytest.raises(ValueError, match="save the head it came from"):
        save_checkpoint(predictor.with_label_shares(MEMOTION_LIKE).head, tmp_path)
