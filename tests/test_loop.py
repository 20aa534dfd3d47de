"""The training loop's parts, each against a value worked out by hand: class weights, soft
targets, the ordinal loss, the auxiliary loss, and the ensemble's averaging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memesent.fusion import FusionConfig
from memesent.model import MemeHead, ModelConfig
from train.loop import (
    Features,
    HeadSettings,
    class_weights,
    level_loss,
    soft_targets,
    train_member,
)


def test_class_weights():
    labels = np.array([0] * 10 + [2] * 40 + [3] * 50)  # 100 memes, levels 1 and 4 absent
    inverse = class_weights(labels, "inverse")
    # n / (count * levels): 100 / (10 * 5) = 2, 100 / (40 * 5) = 0.5, 100 / (50 * 5) = 0.4;
    # absent levels count as 1: 100 / 5 = 20
    assert inverse.tolist() == pytest.approx([2.0, 20.0, 0.5, 0.4, 20.0])
    assert class_weights(labels, "sqrt").tolist() == pytest.approx(
        [math.sqrt(w) for w in inverse.tolist()]
    )
    assert class_weights(labels, "none").tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="unknown class balancing"):
        class_weights(labels, "median")


def test_soft_targets():
    y = torch.tensor([0, 2])
    smooth = soft_targets(y, HeadSettings(label_smoothing=0.1))
    assert smooth[0].tolist() == pytest.approx([0.92, 0.02, 0.02, 0.02, 0.02])
    ordinal = soft_targets(y, HeadSettings(ordinal_smoothing=0.4))
    assert ordinal[0].tolist() == pytest.approx([0.6, 0.4, 0, 0, 0])  # one neighbour
    assert ordinal[1].tolist() == pytest.approx([0, 0.2, 0.6, 0.2, 0])  # two neighbours


def test_cumulative_loss_is_the_sum_of_threshold_cross_entropies():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]])
    p = logits.softmax(-1)[0]
    above = [p[k + 1 :].sum() for k in range(4)]  # P(level > k) for k = 0..3
    y = torch.tensor([2])  # above 0 and 1: yes; above 2 and 3: no
    want = -(
        torch.log(above[0])
        + torch.log(above[1])
        + torch.log(1 - above[2])
        + torch.log(1 - above[3])
    )
    got = level_loss(logits, y, torch.ones(5), HeadSettings(loss="cumulative"))
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    plain = level_loss(logits, y, torch.ones(5), HeadSettings())
    assert float(plain) == pytest.approx(float(-logits.log_softmax(-1)[0, 2]))


def test_class_weights_weight_the_loss():
    logits = torch.zeros(2, 5)
    y = torch.tensor([0, 1])
    logits[0, 0] = 3.0  # the first meme is easy, the second hard
    weight = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
    per_meme = -logits.log_softmax(-1)[[0, 1], [0, 1]]
    want = (per_meme[0] + 3 * per_meme[1]) / 4
    assert float(level_loss(logits, y, weight, HeadSettings())) == pytest.approx(float(want))


def _tiny(seed: int = 0) -> tuple[MemeHead, Features, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n = 120
    feats = Features(torch.randn(n, 8), torch.randn(n, 6))
    labels = rng.integers(0, 5, n)
    aux = {"humour": rng.integers(0, 4, n)}
    config = ModelConfig(fusion=FusionConfig(text_dim=8, image_dim=6, hidden=16, dropout=0.0))
    torch.manual_seed(seed)
    head = MemeHead(config)
    head.set_feature_stats(feats.text, feats.image)
    return head, feats, labels, aux


def test_the_auxiliary_loss_takes_part_in_training():
    runs = {}
    for weight in (0.0, 1.0):
        head, feats, labels, aux = _tiny()
        settings = HeadSettings(epochs=3, patience=3, aux_weight=weight, flip=False)
        history = train_member(
            head, 0, feats, labels, aux, np.arange(100), np.arange(100, 120), settings, seed=0
        )
        runs[weight] = (history.loss, head.members[0].out[1].weight.detach().clone())
    # the first epoch's loss includes the humour head's cross-entropy (about ln 4 = 1.39)
    assert runs[1.0][0][0] > runs[0.0][0][0] + 1.0
    assert not torch.equal(runs[0.0][1], runs[1.0][1])  # and its gradients reach the network


def test_the_ensemble_averages_probabilities():
    head = MemeHead(ModelConfig(members=2))
    a = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.0, 0.0, 4.0]])
    mean = (a.softmax(-1) + b.softmax(-1)) / 2
    assert head.combine([a, b]).exp().tolist()[0] == pytest.approx(mean.tolist()[0])
    # not the softmax of the mean logits (0.564 for the last level, against 0.510)
    assert abs(float(head.combine([a, b]).exp()[0, 4] - ((a + b) / 2).softmax(-1)[0, 4])) > 0.03
