"""Training the fusion head on cached features: Adam, cross-entropy, early stopping, priors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memesent.labels import LABELS, TO_THREE
from memesent.model import MemeHead, ModelConfig

from .metrics import TO3_INDEX, collapse_probs, macro_f1, macro_f1_3


@dataclass
class Features:
    """Frozen-backbone features of a set of memes; `image_flip` holds mirrored copies (optional)."""

    text: torch.Tensor
    image: torch.Tensor
    image_flip: torch.Tensor | None = None


@dataclass
class HeadSettings:
    """How one ensemble member is optimised."""

    epochs: int = 60
    patience: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    balance: str = "sqrt"
    aux_weight: float = 0.0
    flip: bool = True


@dataclass
class MemberHistory:
    """Per-epoch training loss and validation macro-F1 of one member, and the epoch kept."""

    loss: list[float] = field(default_factory=list)
    val_macro_f1_3: list[float] = field(default_factory=list)
    best_epoch: int = 0


BALANCING = ("none", "sqrt", "inverse")


def class_weights(labels: np.ndarray, balance: str, n: int = len(LABELS)) -> torch.Tensor:
    """Loss weight per level: 1 (`none`), inverse frequency (`inverse`) or its root (`sqrt`)."""
    if balance not in BALANCING:
        raise ValueError(f"unknown class balancing {balance!r}; choose one of {BALANCING}")
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    inverse = counts.sum() / np.maximum(counts, 1) / n
    w = {"none": np.ones(n), "sqrt": np.sqrt(inverse), "inverse": inverse}[balance]
    return torch.tensor(w, dtype=torch.float32)


def train_member(
    head: MemeHead,
    member: int,
    feats: Features,
    labels: np.ndarray,
    aux: dict[str, np.ndarray],
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: HeadSettings,
    seed: int,
) -> MemberHistory:
    """Fit `head.members[member]` on `train_idx`; keep the epoch with the best validation macro-F1.

    Auxiliary targets (Memotion's humour, sarcasm, offensive, motivational levels; -1 = unknown)
    get a linear head each on the fused vector when `aux_weight` > 0; those heads exist only
    during training.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = head.members[member]
    aux_heads = (
        nn.ModuleDict(
            {
                k: nn.Linear(head.config.fusion.hidden, int(v.max()) + 1)
                for k, v in aux.items()
                if v.max() >= 0
            }
        )
        if settings.aux_weight > 0
        else nn.ModuleDict()
    )
    params = list(net.parameters()) + list(aux_heads.parameters())
    opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    weight = class_weights(labels[train_idx], settings.balance)
    y = torch.from_numpy(labels)
    aux_t = {k: torch.from_numpy(v) for k, v in aux.items()}
    flip = settings.flip and feats.image_flip is not None
    history = MemberHistory()
    best_score, best_state = -1.0, None
    for epoch in range(settings.epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(train_idx))
        total = 0.0
        for batch in order.split(settings.batch_size):
            t, i = head.standardise(feats.text[batch], _images(feats, batch, flip, rng))
            fused = net.fuse(t, i)
            loss = F.cross_entropy(net.out(fused), y[batch], weight=weight)
            for name, aux_head in aux_heads.items():
                target = aux_t[name][batch]
                if (target >= 0).any():
                    loss = loss + settings.aux_weight * F.cross_entropy(
                        aux_head(fused), target, ignore_index=-1
                    )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        history.loss.append(total / len(train_idx))
        score = _member_val_f1(head, member, feats, labels, val_idx)
        history.val_macro_f1_3.append(score)
        if score > best_score:
            best_score, history.best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - history.best_epoch >= settings.patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    return history


def _images(
    feats: Features, batch: torch.Tensor, flip: bool, rng: np.random.Generator
) -> torch.Tensor:
    """Image features of `batch`, each swapped for its mirrored copy with probability 1/2."""
    if not flip:
        return feats.image[batch]
    mirrored = torch.from_numpy(rng.random(len(batch)) < 0.5).unsqueeze(1)
    return torch.where(mirrored, feats.image_flip[batch], feats.image[batch])


@torch.no_grad()
def _member_val_f1(
    head: MemeHead, member: int, feats: Features, labels: np.ndarray, idx: np.ndarray
) -> float:
    net = head.members[member].eval()
    t, i = head.standardise(feats.text[idx], feats.image[idx])
    return macro_f1_3(labels[idx], net(t, i).softmax(-1).numpy())


@torch.no_grad()
def predict_probs(head: MemeHead, feats: Features, idx: np.ndarray) -> np.ndarray:
    """The head's five-level probabilities for the memes `idx`."""
    head.eval()
    return head(feats.text[idx], feats.image[idx]).exp().numpy()


PRIOR_GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)


def tune_priors(probs: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    """Log-prior shifts for the negative and neutral classes that maximise validation macro-F1.

    Returned as a five-level `logit_bias` (both negative levels share the negative shift, positive
    levels stay at 0), which shifts the collapsed three-class log-probabilities by the same
    amounts. Ties keep the smallest shift, so no evidence means no change.
    """
    y3 = TO3_INDEX[labels]
    logp3 = np.log(np.clip(collapse_probs(probs), 1e-12, None))
    best = (macro_f1(y3, logp3.argmax(1), 3), 0.0, 0.0)
    for bn in PRIOR_GRID:
        for bu in PRIOR_GRID:
            score = macro_f1(y3, (logp3 + np.array([bn, bu, 0.0])).argmax(1), 3)
            if score > best[0] + 1e-9 or (
                abs(score - best[0]) <= 1e-9 and abs(bn) + abs(bu) < abs(best[1]) + abs(best[2])
            ):
                best = (score, bn, bu)
    shift = {"negative": best[1], "neutral": best[2], "positive": 0.0}
    return torch.tensor([shift[TO_THREE[label]] for label in LABELS], dtype=torch.float32)


def fit_head(
    config: ModelConfig,
    feats: Features,
    labels: np.ndarray,
    aux: dict[str, np.ndarray],
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: HeadSettings,
    seed: int,
    tune: bool,
) -> tuple[MemeHead, list[MemberHistory]]:
    """A new head for `config`: every ensemble member trained, then (if `tune`) priors tuned.

    Runs on one thread: these matrices are small, and extra threads only add synchronisation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_head(config, feats, labels, aux, train_idx, val_idx, settings, seed, tune)
    finally:
        torch.set_num_threads(threads)


def _fit_head(config, feats, labels, aux, train_idx, val_idx, settings, seed, tune):
    torch.manual_seed(seed)  # the initial weights depend on the seed alone
    head = MemeHead(config)
    head.set_feature_stats(feats.text[train_idx], feats.image[train_idx])
    histories = [
        train_member(head, k, feats, labels, aux, train_idx, val_idx, settings, seed * 1000 + k)
        for k in range(config.members)
    ]
    if tune:
        head.logit_bias.copy_(tune_priors(predict_probs(head, feats, val_idx), labels[val_idx]))
    return head.eval(), histories
