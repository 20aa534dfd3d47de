"""A collection's shares (`memesent.shares`) on toy collections whose truth is known: a weak
but calibrated model of two sides, where each meme is a point on one axis."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from memesent.labels import LABELS, LABELS3
from memesent.model_files import CheckpointError, model_version
from memesent.shares import (
    MIN_LABELS,
    LabelsError,
    Reference,
    check,
    estimate_shares,
    features,
    prediction_powered,
    read_labels,
    readings_of_rows,
    wilson,
)

SEPARATION = 0.8  # means of the two sides' memes on the axis: weak, as the shipped model is
CALIBRATION_SHARE = 0.47  # positive share of the toy calibration memes
SIDES = {"negative": 0, "positive": 2}


def side_logit(x: np.ndarray, share: float) -> np.ndarray:
    """The exact log-odds of the positive side for memes at `x` where the positive share is
    `share`: the two sides are N(∓SEPARATION/2, 1)."""
    return SEPARATION * x + np.log(share / (1 - share))


def five(p_positive: np.ndarray, neutral: float = 0.01) -> np.ndarray:
    """Five-level answers with this positive side probability (split evenly within each side)."""
    sides = 1 - neutral
    pos, neg = sides * p_positive, sides * (1 - p_positive)
    return np.stack([neg / 2, neg / 2, np.full_like(p_positive, neutral), pos / 2, pos / 2], 1)


def memes(n: int, share: float, rng: np.random.Generator, shift: float = 0.0) -> tuple:
    """`n` toy memes with positive share `share`: their points and sides (0 or 2); `shift`
    moves every meme along the axis (memes unlike the calibration memes)."""
    sides = np.where(rng.random(n) < share, 2, 0)
    x = np.where(sides == 2, SEPARATION / 2, -SEPARATION / 2) + rng.standard_normal(n) + shift
    return x, sides


def readings(x: np.ndarray, text_noise: np.ndarray, image_noise: np.ndarray) -> dict:
    """Three calibrated readings of the memes: both, the words (noisier), the picture (noisier)."""
    p = 1 / (1 + np.exp(-side_logit(x, CALIBRATION_SHARE)))
    words = 1 / (1 + np.exp(-side_logit(x + text_noise, CALIBRATION_SHARE) * 0.7))
    picture = 1 / (1 + np.exp(-side_logit(x + image_noise, CALIBRATION_SHARE) * 0.3))
    return {"both": five(p), "text": five(words), "image": five(picture)}


def toy(n: int, share: float, seed: int, shift: float = 0.0) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, sides = memes(n, share, rng, shift)
    return readings(x, rng.standard_normal(n), rng.standard_normal(n)), sides


def toy_reference(seed: int = 1, threshold: float = 18.0) -> Reference:
    """A reference measured on 2,000 toy calibration memes, as `train.reference` does."""
    found, sides = toy(2_000, CALIBRATION_SHARE, seed)
    values = features(found)
    groups = [values[sides == s] for s in (0, 2)]
    p = 1 / (1 + np.exp(-np.log(found["both"][:, 3:].sum(1) / found["both"][:, :2].sum(1))))
    return Reference(
        model="toy",
        classes={
            "negative": int((sides == 0).sum()),
            "neutral": 0,
            "positive": int((sides == 2).sum()),
        },
        intercept_sd=float(1 / np.sqrt(np.sum(p * (1 - p)))),
        means=[g.mean(0).tolist() for g in groups],
        covariances=[np.cov(g.T).tolist() for g in groups],
        counts=[len(g) for g in groups],
        threshold=threshold,
        threshold_of="toy",
    )


RATES = five(np.array([CALIBRATION_SHARE]))[0]


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_the_estimate_recovers_the_share_where_counting_cannot(share):
    found, _ = toy(3_000, share, seed=int(share * 10))
    estimate = estimate_shares(found, RATES, toy_reference())
    low, high = estimate.interval["positive"]
    assert abs(estimate.shares["positive"] - share) < 0.06
    assert low <= share <= high
    if share != 0.5:  # counting leans to the middle
        assert abs(estimate.counted["positive"] - share) > 0.12
    assert estimate.shares["neutral"] is None and estimate.of == "memes with a side"


def test_the_interval_holds_the_share_about_as_often_as_it_says():
    reference = toy_reference()
    held = []
    for seed in range(60):
        share = [0.2, 0.5, 0.8][seed % 3]
        found, _ = toy(200, share, seed=100 + seed)
        low, high = estimate_shares(found, RATES, reference).interval["positive"]
        held.append(low <= share <= high)
    assert np.mean(held) >= 0.85


def test_the_calibrations_uncertainty_widens_the_interval():
    found, _ = toy(300, 0.5, seed=7)
    sure = estimate_shares(found, RATES, replace(toy_reference(), intercept_sd=0.0))
    unsure = estimate_shares(found, RATES, replace(toy_reference(), intercept_sd=0.1))
    width = {
        k: e.interval["positive"][1] - e.interval["positive"][0]
        for k, e in (("sure", sure), ("unsure", unsure))
    }
    assert width["unsure"] > 1.3 * width["sure"]


def test_the_check_tells_memes_like_the_calibration_memes_from_unlike_ones():
    reference = toy_reference(threshold=20.0)
    like = [toy(200, s, seed=300 + i)[0] for i, s in enumerate([0.1, 0.5, 0.9] * 10)]
    unlike = [toy(200, 0.5, seed=400 + i, shift=0.0)[0] for i in range(30)]
    for found in unlike:  # these memes' pictures read more positive than their words say
        picture = found["image"][:, 3:].sum(1) / 0.99
        found["image"] = five(1 / (1 + np.exp(-(np.log(picture / (1 - picture)) + 0.6))))
    flagged_like = np.mean(
        [
            check(f, estimate_shares(f, RATES, reference).shares["positive"], reference).like
            is False
            for f in like
        ]
    )
    flagged_unlike = np.mean(
        [
            check(f, estimate_shares(f, RATES, reference).shares["positive"], reference).like
            is False
            for f in unlike
        ]
    )
    assert flagged_like <= 0.1 and flagged_unlike >= 0.9


def test_the_check_is_not_made_on_too_few_memes_with_both_readings():
    found, _ = toy(100, 0.5, seed=3)
    found["text"][20:] = np.nan
    result = check(found, 0.5, toy_reference())
    assert result.like is None and result.memes == 20


def test_labels_and_model_hold_the_share_and_are_no_wider_than_the_labels_alone():
    held, widths, own = [], [], []
    for seed in range(80):
        share = [0.2, 0.5, 0.8][seed % 3]
        rng = np.random.default_rng(500 + seed)
        # memes unlike the calibration memes: the model alone would be off
        found, sides = toy(200, share, seed=500 + seed, shift=0.6)
        labels = np.full(200, -1)
        chosen = rng.choice(200, 40, replace=False)
        labels[chosen] = sides[chosen]
        estimate = estimate_shares(found, RATES, toy_reference(), labels)
        truth = float(np.mean(sides == 2))
        low, high = estimate.interval["positive"]
        held.append(low <= truth <= high)
        widths.append(high - low)
        low, high = wilson(float(np.mean(sides[chosen] == 2)), 40)
        own.append(high - low)
    assert estimate.of == "memes" and estimate.labelled == 40 and "PPI++" in estimate.method
    assert np.mean(held) >= 0.85
    assert np.mean(widths) < np.mean(own)


def test_prediction_powered_uses_a_model_that_knows_and_ignores_one_that_does_not():
    rng = np.random.default_rng(0)
    truth = (rng.random(400) < 0.3).astype(float)
    labels = np.full(400, np.nan)
    labels[:40] = truth[:40]
    _, knows, worth = prediction_powered(labels, 0.05 + 0.9 * truth)
    _, guesses, _ = prediction_powered(labels, rng.random(400))
    _, alone, _ = prediction_powered(labels, np.full(400, 0.3))
    assert worth > 4 * 40 and knows[1] - knows[0] < 0.5 * (alone[1] - alone[0])
    assert guesses[1] - guesses[0] == pytest.approx(alone[1] - alone[0], rel=0.1)
    k = truth[:40].sum()
    assert alone == pytest.approx(wilson(k / 40, 40))  # the model adds nothing: the labels' own


def test_no_labelled_meme_of_a_class_still_leaves_an_interval():
    labels = np.full(200, np.nan)
    labels[:40] = 0.0
    estimate, (low, high), _ = prediction_powered(labels, np.full(200, 0.01))
    assert estimate == 0.0 and low == 0.0 and high > 0.05


def test_too_few_labels_leave_the_estimate_to_the_model():
    found, sides = toy(200, 0.5, seed=9)
    labels = np.full(200, -1)
    labels[: MIN_LABELS - 1] = sides[: MIN_LABELS - 1]
    assert estimate_shares(found, RATES, toy_reference(), labels).labelled == 0


def test_without_a_reference_there_is_no_interval_and_no_check():
    found, _ = toy(200, 0.5, seed=4)
    estimate = estimate_shares(found, RATES, None)
    assert estimate.interval["positive"] is None and estimate.check is None
    assert "no reference" in estimate.method


def test_label_shares_keep_the_calibration_memes_neutral_share():
    found, _ = toy(300, 0.8, seed=5)
    estimate = estimate_shares(found, RATES, toy_reference())
    shares = estimate.label_shares(RATES)
    assert shares["neutral"] == pytest.approx(RATES[2])
    assert shares["positive"] / (shares["positive"] + shares["negative"]) == pytest.approx(
        estimate.shares["positive"]
    )
    assert sum(shares.values()) == pytest.approx(1.0)


def test_results_rows_become_readings():
    rows = [
        {f"prob_{k}": 0.2 for k in LABELS}
        | {f"text_prob_{k}": None for k in LABELS}
        | {f"image_prob_{k}": 0.2 for k in LABELS},
    ]
    found = readings_of_rows(rows)
    assert found["both"].shape == (1, 5) and np.isnan(found["text"]).all()


def test_labels_are_read_and_checked(tmp_path: Path):
    images = ["a.jpg", "b.jpg", "c.jpg"]
    good = tmp_path / "labels.csv"
    good.write_text("image,label\na.jpg,positive\nc.jpg,very_negative\n")
    assert read_labels(good, images).tolist() == [2, -1, 0]
    (tmp_path / "other.csv").write_text("image,label\nz.jpg,positive\n")
    with pytest.raises(LabelsError, match=r"not scored in the results: z\.jpg"):
        read_labels(tmp_path / "other.csv", images)
    (tmp_path / "bad.csv").write_text("image,label\na.jpg,happy\n")
    with pytest.raises(LabelsError, match="happy"):
        read_labels(tmp_path / "bad.csv", images)
    (tmp_path / "columns.csv").write_text("file,label\na.jpg,positive\n")
    with pytest.raises(LabelsError, match="image and label"):
        read_labels(tmp_path / "columns.csv", images)


def test_a_reference_of_another_model_is_refused(tmp_path: Path, shipped_model: Path):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((shipped_model / name).read_bytes())
    reference = toy_reference()
    replace(reference, model=model_version(tmp_path)).save(tmp_path)
    assert Reference.load(tmp_path) is not None
    reference.save(tmp_path)  # measured for "toy"
    with pytest.raises(CheckpointError, match=r"python -m train\.reference"):
        Reference.load(tmp_path)


def test_the_shipped_model_has_its_reference(shipped_model: Path):
    reference = Reference.load(shipped_model)
    assert reference is not None
    data = json.loads((shipped_model / "shares_reference.json").read_text())
    assert data["classes"]["neutral"] == 0 and reference.intercept_sd > 0
    assert set(LABELS3) == set(data["classes"])
