"""Calibration (fitted in `train.calibration`, applied in `MemeHead`, one per reading), the
evaluation's measures checked by hand, and the trust wording derived from them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import log_loss, roc_auc_score

from memesent import Predictor
from memesent.checkpoint import load_checkpoint, save_checkpoint
from memesent.labels import LABELS, level_set, positive_share
from memesent.model import MemeHead, ModelConfig, apply_calibration
from memesent.quality import HeldOutQuality, MetricsError, ValenceQuality, shift_sentence
from train import metrics
from train.calibration import fit_calibration
from train.loop import HeadSettings, fit_head, reading_log_probs
from train.metrics import evaluate_probs, valence_ece, valence_measures
from train.pool import Pool

BASE = np.array([0.03, 0.07, 0.3, 0.45, 0.15])


def _valence(logp: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
    """`valence` calibration of (n, 5) log-probabilities with one reading's parameters."""
    n = len(logp)
    calibrated = apply_calibration(
        "valence", logp.double(), scale.double().expand(n, 1), bias.double().expand(n, 5)
    )
    return calibrated.exp().numpy()


def _sides(positive: np.ndarray) -> np.ndarray:
    """Labels that say the side only: both levels of it allowed."""
    sides = {True: ("positive", "very_positive"), False: ("very_negative", "negative")}
    return np.array([level_set(*sides[bool(p)]) for p in positive])


def test_a_head_with_no_information_falls_back_to_the_share_of_positive_memes():
    rng = np.random.default_rng(0)
    positive = rng.random(4000) < 0.3
    generator = torch.Generator().manual_seed(0)
    noise = (5 * torch.randn(4000, 5, generator=generator)).log_softmax(-1)  # unrelated
    scale, bias = fit_calibration(noise, _sides(positive), "valence")
    assert float(scale) < 0.05 and (bias[1:] == 0).all()
    shares = positive_share(_valence(noise, scale, bias))  # nearly the same for every meme
    assert abs(shares.mean() - positive.mean()) < 0.01
    assert np.abs(shares - positive.mean()).max() < 0.05


def test_training_on_noise_ends_at_the_base_rates():
    """The whole loop (training, epoch chosen on log-loss, valence calibration of each
    reading) on features that say nothing about the labels: every reading falls back to the
    calibration memes' share of positive memes, and the base rates are the mean answer
    there."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 1500
    positive = rng.random(n) < 0.3
    pool = Pool(
        text=torch.randn(n, 16),
        image=torch.randn(n, 24),
        has_text=torch.ones(n, dtype=torch.bool),
        has_image=torch.ones(n, dtype=torch.bool),
        allowed=torch.from_numpy(_sides(positive)),
    )
    config = ModelConfig(calibration="valence")
    config.fusion.text_dim, config.fusion.image_dim, config.fusion.hidden = 16, 24, 32
    idx = rng.permutation(n)
    head, histories = fit_head(
        config,
        pool,
        {"noise": idx[:700]},
        {"noise": 1.0},
        idx[700:950],
        idx[950:1200],
        HeadSettings(epochs=30, patience=3, batch_size=64),
        seed=0,
    )
    assert len(histories[0].loss) < 30  # validation log-loss stopped improving: stopped early
    share = positive[idx[950:1200]].mean()
    test = idx[1200:]
    readings = reading_log_probs(head, pool, test)
    for reading, logp in readings.items():
        shares = positive_share(np.exp(logp))
        assert abs(shares.mean() - share) < 0.03 and np.abs(shares - share).max() < 0.1, reading
    mean_answer = np.exp(reading_log_probs(head, pool, idx[950:1200])["both"]).mean(0)
    assert head.config.base_rates == pytest.approx(tuple(mean_answer), abs=1e-6)


def test_valence_calibration_moves_only_the_sides_log_odds():
    logp = torch.tensor([[0.05, 0.15, 0.4, 0.3, 0.1]]).log().double()
    out = apply_calibration(
        "valence", logp, torch.tensor([[2.0]]).double(), torch.tensor([[0.5, 0, 0, 0, 0]]).double()
    ).exp()[0]
    assert float(out.sum()) == pytest.approx(1.0)
    assert float(out[2]) == pytest.approx(0.4)  # neutral's share as it was
    assert float(out[0] / out[1]) == pytest.approx(1 / 3) and float(out[4] / out[3]) == (
        pytest.approx(1 / 3)
    )  # the split within each side as it was
    odds = float(torch.log((out[3] + out[4]) / (out[0] + out[1])))
    assert odds == pytest.approx(2.0 * np.log(0.4 / 0.2) + 0.5)  # scaled and shifted


def test_valence_calibration_fixes_a_head_that_leans_to_one_side():
    """Memes that are positive 30 % of the time, and a head that knows a little about each
    meme's side but says positive far too often and too surely: the fitted calibration brings
    the stated positive share in line with how often memes are positive."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        positive = rng.random(n) < 0.3
        evidence = rng.normal(size=n) + np.where(positive, 0.8, -0.8)
        odds = 3 * evidence + 2.5  # overconfident, and leaning positive
        side = 1 / (1 + np.exp(-odds))
        probs = np.column_stack([0.4 * (1 - side), 0.4 * (1 - side), np.full(n, 0.2)] * 1)
        probs = np.column_stack([probs, 0.4 * side, 0.4 * side])
        allowed = np.array([level_set(*(("positive",) if p else ("negative",))) for p in positive])
        return torch.from_numpy(np.log(probs)), allowed, positive

    fit_logp, fit_allowed, _ = draw(4000)
    test_logp, _, test_positive = draw(4000)
    scale, bias = fit_calibration(fit_logp, fit_allowed, "valence")
    assert 0 < float(scale) < 1 and float(bias[0]) < 0 and (bias[1:] == 0).all()
    n = len(test_logp)
    after = apply_calibration(
        "valence", test_logp, scale.double().expand(n, 1), bias.double().expand(n, 5)
    ).exp()
    before_share = positive_share(test_logp.exp().numpy())
    after_share = positive_share(after.numpy())
    assert valence_ece(test_positive, before_share) > 0.2
    assert valence_ece(test_positive, after_share) < 0.03
    assert after[:, 2].numpy() == pytest.approx(0.2)  # neutral untouched


def test_calibration_survives_saving_and_changes_the_predictor(
    tmp_path, text_encoder, image_encoder
):
    from helpers import photo

    torch.manual_seed(0)
    head = MemeHead(ModelConfig(calibration="valence", base_rates=tuple(BASE))).eval()
    save_checkpoint(head, tmp_path / "plain")
    head.calibration_scale.copy_(torch.tensor([0.5, 2.0, 0.25]))
    head.calibration_bias[:, 0] = torch.tensor([0.3, -0.4, 1.0])
    save_checkpoint(head, tmp_path / "calibrated")
    loaded = load_checkpoint(tmp_path / "calibrated")
    assert loaded.calibration_scale.tolist() == [0.5, 2.0, 0.25]
    assert torch.equal(loaded.calibration_bias, head.calibration_bias)
    assert json.loads((tmp_path / "calibrated" / "config.json").read_text())["calibration"] == (
        "valence"
    )

    meme, caption = photo("coffee", (200, 200)), "monday again"
    plain = Predictor(load_checkpoint(tmp_path / "plain"), text_encoder, image_encoder)
    calibrated = Predictor(loaded, text_encoder, image_encoder)
    a, b = plain.predict(meme, caption), calibrated.predict(meme, caption)
    for reading, k in (("both", 2), ("text", 0), ("image", 1)):
        raw = torch.tensor([a.readings[reading][level] for level in LABELS]).log()
        want = _valence(raw[None], loaded.calibration_scale[k], loaded.calibration_bias[k])[0]
        got = [b.readings[reading][level] for level in LABELS]
        assert got == pytest.approx(want.tolist(), abs=1e-5), reading
    assert b.probs == b.readings["both"] and b.probs != pytest.approx(a.probs, abs=1e-2)
    assert b.base_rates == pytest.approx(dict(zip(LABELS, BASE, strict=True)))
    want = np.array([b.probs[k] for k in LABELS])
    assert b.shift == pytest.approx(0.5 * np.abs(want - BASE).sum(), abs=1e-5)


# A fixed example whose measures are worked out by hand below. Five-level rows are built as
# [a/2, a/2, b, c/2, c/2] so that they collapse exactly to (a, b, c).
P3 = np.array(
    [
        [0.55, 0.25, 0.20],
        [0.30, 0.33, 0.37],
        [0.20, 0.65, 0.15],
        [0.45, 0.20, 0.35],
        [0.10, 0.15, 0.75],
        [0.05, 0.27, 0.68],
    ]
)
P5 = np.column_stack([P3[:, 0] / 2, P3[:, 0] / 2, P3[:, 1], P3[:, 2] / 2, P3[:, 2] / 2])
Y5 = np.array([0, 1, 2, 2, 3, 4])  # three classes: 0, 0, 1, 1, 2, 2
RATES = np.array([0.1, 0.1, 0.4, 0.2, 0.2])  # three classes: 0.2, 0.4, 0.4


def test_evaluation_measures_match_a_hand_calculation():
    m = evaluate_probs(Y5, P5, RATES)
    # AUROC: share of (positive, negative) pairs ranked right. Negative: 0.55 beats all four
    # negatives, 0.30 beats three of them (not 0.45): 7/8. Neutral: 0.65 beats four, 0.20 beats
    # only 0.15: 5/8. Positive: 0.75 and 0.68 beat every other score: 8/8.
    assert m["auroc_3"] == pytest.approx({"negative": 7 / 8, "neutral": 5 / 8, "positive": 1.0})
    # Spearman: expected levels a/2 + 2b + 3.5c = 1.475, 2.105, 1.925, 1.85, 2.975, 2.945 rank
    # 1, 4, 3, 2, 6, 5 against the true levels' ranks 1, 2, 3.5, 3.5, 5, 6: 13 / sqrt(17.5 * 17).
    assert m["spearman_5"] == pytest.approx(13 / math.sqrt(17.5 * 17))
    truth = [0.55, 0.30, 0.65, 0.20, 0.75, 0.68]
    assert m["log_loss_3"] == pytest.approx(-np.mean(np.log(truth)))
    assert m["log_loss_base_3"] == pytest.approx(-(np.log(0.2) + 2 * np.log(0.4)) / 3)
    onehot = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    assert m["brier_3"] == pytest.approx(((onehot - P3) ** 2).sum(1).mean())
    # Top answers 0.55 ✓, 0.37 ✗, 0.65 ✓, 0.45 ✗, 0.75 ✓, 0.68 ✓ each fall in a bin of their own
    assert m["ece_3"] == pytest.approx((0.45 + 0.37 + 0.35 + 0.45 + 0.25 + 0.32) / 6)
    assert m["mean_top_prob_3"] == pytest.approx(np.mean([0.55, 0.37, 0.65, 0.45, 0.75, 0.68]))
    assert m["share_top_prob_over_90_3"] == 0
    assert m["accuracy_3"] == pytest.approx(4 / 6)
    # Balanced: divided by the base rates (0.2, 0.4, 0.4) the second meme turns negative (1.5 >
    # 0.925) and the fourth stays negative: predictions 0, 0, 1, 0, 2, 2; F1 0.8, 2/3, 1.
    assert m["accuracy_3_balanced"] == pytest.approx(5 / 6)
    assert m["macro_f1_3_balanced"] == pytest.approx((0.8 + 2 / 3 + 1) / 3)
    assert set(m["classwise_ece_3"]) == {"negative", "neutral", "positive"}
    assert m["classwise_ece_3"]["positive"] == pytest.approx(
        np.mean(np.abs(np.array([0, 0, 0, 0, 1, 1]) - P3[:, 2]))  # one meme per bin again
    )


@pytest.mark.parametrize("n", [3, 40, 500])
def test_fast_measures_equal_scikit_learns_and_scipys(n):
    """The bootstrap's own ranks, AUROC, Spearman and log-loss (no per-call validation) give
    scipy's and scikit-learn's numbers, ties in the scores and a probability of 0 for the
    true class included."""
    rng = np.random.default_rng(n)
    y = np.arange(n) % 2 == 0
    score = rng.integers(0, 4, n) / 3  # few distinct values: many ties
    assert metrics.average_ranks(score) == pytest.approx(rankdata(score))
    other = score + rng.normal(size=n)
    assert metrics.spearman(other, score) == pytest.approx(spearmanr(other, score).statistic)
    assert metrics.auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    levels = rng.integers(0, 5, n)
    probs = rng.dirichlet(np.ones(5), n)
    probs[0] = np.eye(5)[(levels[0] + 1) % 5]
    assert metrics.log_loss(levels, probs) == pytest.approx(
        log_loss(levels, probs, labels=range(5)), abs=1e-12
    )
    assert metrics.auroc(np.ones(n, dtype=bool), score) is None


def test_bootstrap_intervals_are_fixed_and_bracket_the_estimate():
    rng = np.random.default_rng(3)
    y = rng.choice(5, 400, p=BASE)
    logits = rng.normal(size=(400, 5))
    logits[np.arange(400), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    a, b = evaluate_probs(y, probs, BASE), evaluate_probs(y, probs, BASE)
    assert a["ci"] == b["ci"]  # fixed seed
    expected = {
        "accuracy_3",
        "macro_f1_3",
        "macro_f1_3_balanced",
        "auroc_3_negative",
        "auroc_3_neutral",
        "auroc_3_positive",
        "spearman_5",
        "log_loss_3",
        "log_loss_3_minus_base",
    }
    assert set(a["ci"]) == expected
    for key, value in (
        ("accuracy_3", a["accuracy_3"]),
        ("log_loss_3", a["log_loss_3"]),
        ("auroc_3_positive", a["auroc_3"]["positive"]),
    ):
        low, high = a["ci"][key]
        assert low < value < high and high - low < 0.2, key
    assert a["ci"]["auroc_3_positive"][0] > 0.5  # these probabilities do carry information


def _metrics(auroc: dict, ci: dict, ece: float = 0.01, top: float = 0.6) -> dict:
    return {
        "test": {
            "n": 900,
            "accuracy_3": 0.6,
            "mean_top_prob_3": top,
            "ece_3": ece,
            "log_loss_3": 0.88,
            "log_loss_base_3": 0.89,
            "auroc_3": auroc,
            "ci": {f"auroc_3_{c}": v for c, v in ci.items()},
        }
    }


def test_trust_wording_follows_the_measurements(tmp_path):
    chance = _metrics(
        {"negative": 0.51, "neutral": 0.5, "positive": 0.52},
        {"negative": [0.45, 0.57], "neutral": [0.47, 0.53], "positive": [0.49, 0.55]},
    )
    (tmp_path / "metrics.json").write_text(json.dumps(chance))
    text = HeldOutQuality.load(tmp_path).trust_sentence()
    assert "no better than chance" in text and "AUROC 0.50–0.52" in text
    assert "calibrated" in text and "not calibrated" not in text
    assert "typical meme" in text

    better = _metrics(
        {"negative": 0.72, "neutral": 0.5, "positive": 0.61},
        {"negative": [0.66, 0.78], "neutral": [0.47, 0.53], "positive": [0.56, 0.66]},
        ece=0.2,
        top=0.9,
    )
    (tmp_path / "metrics.json").write_text(json.dumps(better))
    text = HeldOutQuality.load(tmp_path).trust_sentence()
    assert "negative memes fairly well (AUROC 0.72, 95 % interval 0.66–0.78)" in text
    assert "positive memes a little better than chance" in text
    assert "neutral memes no better than chance" in text
    assert "not calibrated" in text and "claimed 90%" in text

    (tmp_path / "metrics.json").write_text("{}")  # lacks what the page says: loud, not silent
    with pytest.raises(MetricsError, match=r"lacks what the page says of the model \('test'\)"):
        HeldOutQuality.load(tmp_path)
    (tmp_path / "metrics.json").unlink()
    assert HeldOutQuality.load(tmp_path) is None  # no measurements at all: nothing is known


def test_shift_sentence_scales_with_the_shift():
    assert "hardly depends" in shift_sentence(0.004) and "0.4%" in shift_sentence(0.004)
    assert "modest" in shift_sentence(0.12)
    assert "large" in shift_sentence(0.6) and "60%" in shift_sentence(0.6)


def test_valence_measures_match_a_hand_calculation():
    # three positive memes (+1, +2, +3), two negative (−1, −3), one without a side
    signed = np.array([1.0, 2.0, 3.0, -1.0, -3.0, np.nan])
    probs = np.array(
        [
            [0.1, 0.1, 0.2, 0.4, 0.2],  # positive share 0.75, expected level +0.5
            [0.2, 0.2, 0.2, 0.2, 0.2],  # 0.5, 0
            [0.0, 0.1, 0.1, 0.4, 0.4],  # 0.8 / 0.9, +1.1
            [0.3, 0.3, 0.2, 0.1, 0.1],  # 0.25, −0.6
            [0.1, 0.2, 0.2, 0.3, 0.2],  # 0.625, +0.3
            [0.2, 0.2, 0.2, 0.2, 0.2],
        ]
    )
    allowed = np.array(
        [
            level_set("positive"),
            level_set("positive", "very_positive"),
            level_set("very_positive"),
            level_set("negative"),
            level_set("very_negative"),
            np.ones(5, dtype=bool),
        ]
    )
    rates = np.array([0.2, 0.2, 0.2, 0.2, 0.2])
    m = valence_measures(signed, allowed, probs, rates, intervals=False)
    assert m["n"] == 5 and m["n_without_side"] == 1 and m["n_neutral_allowed"] == 0
    # expected levels 0.5, 0, 1.1 (positive) against −0.6, 0.3 (negative): 5 of 6 pairs right
    assert m["auroc_valence"] == pytest.approx(5 / 6)
    # log-loss of the allowed sets: 0.4, 0.4, 0.4, 0.3, 0.1
    assert m["log_loss_5"] == pytest.approx(-np.mean(np.log([0.4, 0.4, 0.4, 0.3, 0.1])))
    assert m["log_loss_base_5"] == pytest.approx(-np.mean(np.log([0.2, 0.4, 0.2, 0.2, 0.2])))
    # valence ECE, 10 bins: shares 0.75, 0.5, 0.889, 0.25, 0.625 each alone in its bin
    shares = np.array([0.75, 0.5, 0.8 / 0.9, 0.25, 0.625])
    truth = np.array([1, 1, 1, 0, 0])
    assert m["valence_ece"] == pytest.approx(np.abs(truth - shares).mean())
    assert m["shift_mean"] == pytest.approx(np.mean([0.5 * np.abs(p - rates).sum() for p in probs]))


def test_valence_trust_wording_follows_the_measurements(tmp_path):
    def metrics(auroc, ci, ece):
        test = {
            "n": 400,
            "auroc_valence": auroc,
            "ci": {"auroc_valence": ci},
            "valence_ece": ece,
            "mean_positive_share": 0.52,
            "positive_rate": 0.48,
            "log_loss_5": 1.1,
            "log_loss_base_5": 1.3,
            "n_neutral_allowed": 0,
        }
        return {"calibrated_on": "metmeme", "test": test}

    (tmp_path / "metrics.json").write_text(json.dumps(metrics(0.77, [0.72, 0.81], 0.03)))
    quality = HeldOutQuality.load(tmp_path)
    assert isinstance(quality, ValenceQuality)
    text = quality.trust_sentence()
    assert "fairly well (AUROC 0.77, 95 % interval 0.72–0.81" in text
    assert "valence is calibrated" in text and "52% on the positive side" in text
    assert "better than a typical meme's answer" in text and "labelled neutral" in text
    (tmp_path / "metrics.json").write_text(json.dumps(metrics(0.52, [0.46, 0.58], 0.2)))
    text = HeldOutQuality.load(tmp_path).trust_sentence()
    assert "no better than chance" in text and "not calibrated" in text
