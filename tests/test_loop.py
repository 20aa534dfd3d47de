"""The training loop's parts, each against a value worked out by hand: the marginal likelihood
of set labels, fusion with a modality missing, training on one modality, the ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import experiments  # noqa: F401 (registers the interaction fusion)
from memesent.fusion import FusionConfig
from memesent.labels import level_set
from memesent.model import MemeHead, ModelConfig
from train.loop import HeadSettings, _batch_loss, train_member, train_words
from train.losses import marginal_nll
from train.pool import AuxTarget, Pool


def test_the_marginal_loss_is_cross_entropy_for_one_level_and_lower_inside_a_set():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]])
    one = torch.from_numpy(level_set("neutral"))[None]
    cross_entropy = torch.nn.functional.cross_entropy(logits, torch.tensor([2]))
    assert float(marginal_nll(logits, one)[0]) == pytest.approx(float(cross_entropy))
    p = logits.softmax(-1)[0]
    sides = torch.from_numpy(level_set("very_negative", "negative"))[None]
    assert float(marginal_nll(logits, sides)[0]) == pytest.approx(float(-torch.log(p[0] + p[1])))
    # a prediction inside the set costs less than the same one against a single level of it
    assert marginal_nll(logits, sides)[0] < marginal_nll(logits, one)[0]
    everything = torch.ones(1, 5, dtype=torch.bool)
    assert float(marginal_nll(logits, everything)[0]) == pytest.approx(0.0, abs=1e-6)


def _head(members: int = 1, kind: str = "gated") -> MemeHead:
    torch.manual_seed(0)
    fusion = FusionConfig(kind=kind, text_dim=8, image_dim=6, hidden=16, dropout=0.0)
    return MemeHead(ModelConfig(fusion=fusion, members=members)).eval()


@pytest.mark.parametrize("kind", ["gated", "concat", "interact"])
def test_a_missing_modality_is_left_out_of_the_fusion(kind):
    head = _head(kind=kind)
    text, image = torch.randn(3, 8), torch.randn(3, 6)
    yes, no = torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)
    words = head(text, image, yes, no)
    assert torch.allclose(words, head(text, torch.randn(3, 6), yes, no))  # picture ignored
    picture = head(text, image, no, yes)
    assert torch.allclose(picture, head(torch.randn(3, 8), image, no, yes))  # words ignored
    both = head(text, image, yes, yes)
    assert not torch.allclose(both, head(text, torch.randn(3, 6), yes, yes))
    readings = head.readings(text, image, yes, torch.tensor([True, False, True]))
    assert torch.allclose(readings["text"], words)
    assert torch.isnan(readings["image"][1]).all() and not torch.isnan(readings["image"][0]).any()
    assert torch.allclose(readings["both"][1], words[1])  # no picture: the words' reading


def _pool(n: int, has_image: bool, seed: int = 0) -> tuple[Pool, np.ndarray]:
    """Words whose first feature says the side; pictures of random noise, or none."""
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n)
    text = torch.from_numpy(rng.normal(size=(n, 8))).float()
    text[:, 0] += torch.from_numpy(4.0 * side - 2.0).float()
    allowed = np.array([level_set(*(("positive",) if s else ("negative",))) for s in side])
    pool = Pool(
        text=text,
        image=torch.randn(n, 6) if has_image else torch.zeros(n, 6),
        has_text=torch.ones(n, dtype=torch.bool),
        has_image=torch.full((n,), has_image),
        allowed=torch.from_numpy(allowed),
    )
    return pool, side


def test_a_words_only_batch_trains_the_words_and_leaves_the_picture_pathway_alone():
    head = _head()
    pool, side = _pool(200, has_image=False)
    head.set_feature_stats(pool.text, torch.randn(50, 6))
    image_before = [p.detach().clone() for p in head.members[0].image.parameters()]
    # no weight decay: it would shrink the picture's weights whatever the loss says
    settings = HeadSettings(
        epochs=30, patience=30, batch_size=32, lr=1e-2, flip=False, weight_decay=0
    )
    history = train_member(
        head, 0, pool, {"words": np.arange(150)}, {"words": 1.0}, np.arange(150, 200), settings, 0
    )
    assert history.val_log_loss[history.best_epoch] < history.val_log_loss[0] - 0.3
    after = list(head.members[0].image.parameters())
    assert all(torch.equal(a, b) for a, b in zip(image_before, after, strict=True))
    no = torch.zeros(50, dtype=torch.bool)
    probs = head(pool.text[150:], pool.image[150:], ~no, no).exp()
    positive = probs[:, 3:].sum(1) > probs[:, :2].sum(1)
    assert (positive.numpy() == side[150:].astype(bool)).mean() > 0.9


def test_an_auxiliary_target_adds_its_weighted_cross_entropy_over_labelled_memes_with_both():
    head = _head()
    pool, _ = _pool(6, has_image=True)
    pool.has_image[0] = False  # words alone: no fused vector of both to learn the target from
    labels = torch.tensor([1, 0, -1, 2, 1, 0])  # row 2 has no label
    pool.aux = {"emotion": AuxTarget(("a", "b", "c"), labels)}
    head.set_feature_stats(pool.text, pool.image)
    idx = torch.arange(6)
    layer = torch.nn.Linear(16, 3)
    aux = torch.nn.ModuleDict({"emotion": layer})
    rows = torch.tensor([1, 3, 4, 5])
    yes = torch.ones(len(rows), dtype=torch.bool)
    with torch.no_grad():
        plain = _batch_loss(head, 0, pool, idx, pool.image)
        with_aux = _batch_loss(head, 0, pool, idx, pool.image, aux, aux_weight=0.7)
        t, i = head.standardise(pool.text, pool.image)
        fused = head.members[0].fuse(t[rows], i[rows], yes, yes)
        by_hand = torch.nn.functional.cross_entropy(layer(fused), labels[rows])
    assert float(with_aux - plain) == pytest.approx(0.7 * float(by_hand), rel=1e-5)


def test_the_ensemble_averages_probabilities():
    head = MemeHead(ModelConfig(members=2))
    a = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.0, 0.0, 4.0]])
    mean = (a.softmax(-1) + b.softmax(-1)) / 2
    assert head.combine([a, b]).exp().tolist()[0] == pytest.approx(mean.tolist()[0])
    # not the softmax of the mean logits (0.564 for the last level, against 0.510)
    assert abs(float(head.combine([a, b]).exp()[0, 4] - ((a + b) / 2).softmax(-1)[0, 4])) > 0.03


def test_the_interaction_terms_are_zero_when_a_modality_is_missing():
    head = _head(kind="interact")
    text, image = torch.randn(4, 8), torch.randn(4, 6)
    yes, no = torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)
    before = {m: head(text, image, *m) for m in ((yes, no), (no, yes), (yes, yes))}
    with torch.no_grad():
        head.members[0].mix[1].weight[:, 16:] = 0  # the columns reading t*i and |t-i|
    assert torch.allclose(head(text, image, yes, no), before[(yes, no)])
    assert torch.allclose(head(text, image, no, yes), before[(no, yes)])
    assert not torch.allclose(head(text, image, yes, yes), before[(yes, yes)])


def _disagreement_pool(n: int, seed: int) -> tuple[Pool, np.ndarray, np.ndarray]:
    """Words and pictures whose first feature says their side (+1 or -1). A meme with both reads
    its side when they agree and neutral when they disagree (a mixed message); words alone and
    pictures alone read their own side. A third of the memes each: words, picture, both."""
    rng = np.random.default_rng(seed)
    words, picture = rng.choice([-1, 1], n), rng.choice([-1, 1], n)
    kind = np.arange(n) % 3  # 0: words alone, 1: picture alone, 2: both
    text, image = rng.normal(size=(n, 8)), rng.normal(size=(n, 6))
    text[:, 0] += 2.0 * words
    image[:, 0] += 2.0 * picture
    side = np.where(kind == 1, picture, words)
    read = np.where((kind == 2) & (words != picture), 0, side)
    names = {-1: "negative", 0: "neutral", 1: "positive"}
    pool = Pool(
        text=torch.from_numpy(text).float(),
        image=torch.from_numpy(image).float(),
        has_text=torch.from_numpy(kind != 1),
        has_image=torch.from_numpy(kind != 0),
        allowed=torch.from_numpy(np.array([level_set(names[r]) for r in read])),
    )
    return pool, words, picture


@pytest.mark.parametrize("kind", ["gated", "interact"])
def test_a_caption_and_a_picture_that_disagree_read_differently_from_either_alone(kind):
    head = _head(kind=kind)
    pool, _, _ = _disagreement_pool(900, seed=0)
    head.set_feature_stats(pool.text, pool.image)
    settings = HeadSettings(epochs=40, patience=40, batch_size=32, lr=1e-2, flip=False)
    train_member(
        head, 0, pool, {"toy": np.arange(750)}, {"toy": 1.0}, np.arange(750, 900), settings, 0
    )
    test, words, picture = _disagreement_pool(600, seed=1)
    pairs = (words != picture) & test.has_text.numpy() & test.has_image.numpy()
    text, image = test.text[pairs], test.image[pairs]
    yes, no = torch.ones(len(text), dtype=torch.bool), torch.zeros(len(text), dtype=torch.bool)
    levels = {"words": (yes, no), "picture": (no, yes), "both": (yes, yes)}
    read = {name: head(text, image, *masks).argmax(-1).numpy() for name, masks in levels.items()}
    neutral = 2  # LABELS: very_negative, negative, neutral, positive, very_positive
    sides = {"words": words[pairs], "picture": picture[pairs]}
    for alone in ("words", "picture"):  # alone, each reads its own side
        assert (np.sign(read[alone] - neutral) == sides[alone]).mean() > 0.85, alone
    assert (read["both"] == neutral).mean() > 0.85  # together, the mixed message


def test_a_words_head_reads_the_words_alone_and_the_fusion_reads_the_rest():
    torch.manual_seed(0)
    fusion = FusionConfig(text_dim=8, image_dim=6, hidden=16, dropout=0.0)
    head = MemeHead(ModelConfig(fusion=fusion, members=2, words_head=True)).eval()
    assert head.words is not None
    text, image = torch.randn(4, 8), torch.randn(4, 6)
    yes = torch.ones(4, dtype=torch.bool)
    readings = head.readings(text, image, yes, yes)
    own = head.words(head.standardise(text, image)[0]).log_softmax(-1)
    assert torch.allclose(readings["text"], own.double(), atol=1e-6)
    with torch.no_grad():  # the fusion changes: the words alone do not, the others do
        for p in head.members.parameters():
            p.add_(0.5)
    after = head.readings(text, image, yes, yes)
    assert torch.allclose(after["text"], readings["text"])
    assert not torch.allclose(after["both"], readings["both"])
    assert not torch.allclose(after["image"], readings["image"])


def test_the_words_head_learns_from_texts_and_keeps_its_best_epoch():
    torch.manual_seed(0)
    fusion = FusionConfig(text_dim=8, image_dim=6, hidden=16, dropout=0.0)
    head = MemeHead(ModelConfig(fusion=fusion, words_head=True)).eval()
    pool, side = _pool(400, has_image=False)
    head.set_feature_stats(pool.text, torch.randn(50, 6))
    members_before = [p.detach().clone() for p in head.members.parameters()]
    settings = HeadSettings(epochs=20, patience=5, batch_size=32, lr=1e-2, flip=False)
    history = train_words(
        head, pool, {"tweets": np.arange(300)}, {"tweets": 1.0}, np.arange(300, 400), settings, 0
    )
    assert history.val_log_loss[history.best_epoch] == min(history.val_log_loss)
    assert history.val_log_loss[history.best_epoch] < history.val_log_loss[0] - 0.5
    after = head.members.parameters()
    assert all(torch.equal(a, b) for a, b in zip(members_before, after, strict=True))
    no = torch.zeros(100, dtype=torch.bool)
    probs = head.readings(pool.text[300:], pool.image[300:], ~no, no)["text"].exp()
    positive = probs[:, 3:].sum(1) > probs[:, :2].sum(1)
    assert (positive.numpy() == side[300:].astype(bool)).mean() > 0.9


def test_the_words_head_ends_with_its_best_epochs_weights():
    """Thirty noisy texts: it overfits, stops early, and keeps the epoch that read the
    validation texts best, not its last."""
    torch.manual_seed(0)
    fusion = FusionConfig(text_dim=8, image_dim=6, hidden=16, dropout=0.0)
    head = MemeHead(ModelConfig(fusion=fusion, words_head=True)).eval()
    pool, _ = _pool(230, has_image=False)
    pool.allowed[:30] = pool.allowed[torch.randperm(30)]  # labels half noise
    head.set_feature_stats(pool.text, torch.randn(50, 6))
    settings = HeadSettings(epochs=200, patience=3, batch_size=10, lr=5e-2, flip=False)
    history = train_words(
        head, pool, {"few": np.arange(30)}, {"few": 1.0}, np.arange(30, 230), settings, 0
    )
    assert len(history.loss) < settings.epochs  # it stopped early
    assert history.best_epoch < len(history.loss)
    with torch.no_grad():
        logits = head.words(head.standardise(pool.text[30:], pool.image[30:])[0])
        now = float(marginal_nll(logits, pool.allowed[30:]).mean())
    assert now == pytest.approx(history.val_log_loss[history.best_epoch], abs=1e-5)
