"""Training the fusion head on cached features: Adam, early stopping on validation log-loss,
then the calibration fitted on a part of the memes kept apart for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from memesent.labels import LABELS
from memesent.model import MemeHead, ModelConfig

from .calibration import fit_calibration


@dataclass
class Features:
    """Frozen-backbone features of a set of memes; `image_flip` holds mirrored copies (optional)."""

    text: torch.Tensor
    image: torch.Tensor
    image_flip: torch.Tensor | None = None


BALANCING = ("none", "sqrt", "inverse")
LOSSES = ("cross_entropy", "cumulative")


@dataclass
class HeadSettings:
    """How one ensemble member is optimised.

    `loss`: `cross_entropy` over the five levels, or `cumulative`, the ordinal loss of a
    cumulative-link model (a binary cross-entropy for each threshold "above level k", from the
    softmax's cumulative probabilities). `label_smoothing` spreads that share of every target
    evenly over all levels; `ordinal_smoothing` moves it to the neighbouring levels instead (soft
    targets that respect the order).
    """

    epochs: int = 60
    patience: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    balance: str = "none"
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    ordinal_smoothing: float = 0.0
    aux_weight: float = 0.0
    flip: bool = True

    def __post_init__(self) -> None:
        if self.balance not in BALANCING:
            raise ValueError(f"unknown class balancing {self.balance!r}; choose one of {BALANCING}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {LOSSES}")
        for name in ("label_smoothing", "ordinal_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")


@dataclass
class MemberHistory:
    """Per-epoch training loss and validation log-loss of one member, and the epoch kept.
    `val_log_loss[0]` is the member before training (epoch 0), so `loss` is one shorter; a
    member started from an existing model may keep epoch 0."""

    loss: list[float] = field(default_factory=list)
    val_log_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


def class_weights(labels: np.ndarray, balance: str, n: int = len(LABELS)) -> torch.Tensor:
    """Loss weight per level: 1 (`none`), inverse frequency (`inverse`) or its root (`sqrt`)."""
    if balance not in BALANCING:
        raise ValueError(f"unknown class balancing {balance!r}; choose one of {BALANCING}")
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    inverse = counts.sum() / np.maximum(counts, 1) / n
    w = {"none": np.ones(n), "sqrt": np.sqrt(inverse), "inverse": inverse}[balance]
    return torch.tensor(w, dtype=torch.float32)


def soft_targets(y: torch.Tensor, settings: HeadSettings, n: int = len(LABELS)) -> torch.Tensor:
    """(batch, n) target distributions: one-hot, smoothed uniformly and toward neighbours."""
    target = F.one_hot(y, n).float()
    if settings.ordinal_smoothing:
        kernel = torch.zeros(n, n)
        for k in range(n):
            neighbours = [j for j in (k - 1, k + 1) if 0 <= j < n]
            kernel[k, k] = 1 - settings.ordinal_smoothing
            kernel[k, neighbours] = settings.ordinal_smoothing / len(neighbours)
        target = target @ kernel
    if settings.label_smoothing:
        target = (1 - settings.label_smoothing) * target + settings.label_smoothing / n
    return target


def level_loss(
    logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, settings: HeadSettings
) -> torch.Tensor:
    """The training loss of one batch of five-level logits (see `HeadSettings`)."""
    target = soft_targets(y, settings, logits.shape[1])
    w = weight[y]
    if settings.loss == "cross_entropy":
        per_meme = -(target * logits.log_softmax(-1)).sum(-1)
    else:
        # P(level > k) for the thresholds k = 0..n-2, and the same for the targets
        above = logits.softmax(-1).flip(-1).cumsum(-1).flip(-1)[:, 1:].clamp(1e-6, 1 - 1e-6)
        target_above = target.flip(-1).cumsum(-1).flip(-1)[:, 1:].clamp(0, 1)
        per_meme = F.binary_cross_entropy(above, target_above, reduction="none").sum(-1)
    return (w * per_meme).sum() / w.sum()


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
    """Fit `head.members[member]` on `train_idx`; keep the epoch with the lowest validation
    log-loss (five levels), stopping `patience` epochs after it.

    Selecting on the likelihood rewards probabilities that mean what they say; an argmax metric
    would keep an epoch whose answers are confidently wrong. Auxiliary targets (Memotion's
    humour, sarcasm, offensive, motivational levels; -1 = unknown) get a linear head each on the
    fused vector when `aux_weight` > 0; those heads exist only during training.
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
    history = MemberHistory(val_log_loss=[_member_log_loss(head, member, feats, y, val_idx)])
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for epoch in range(1, settings.epochs + 1):
        net.train()
        order = torch.from_numpy(rng.permutation(train_idx))
        total = 0.0
        for batch in order.split(settings.batch_size):
            t, i = head.standardise(feats.text[batch], _images(feats, batch, flip, rng))
            fused = net.fuse(t, i)
            loss = level_loss(net.out(fused), y[batch], weight, settings)
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
        history.val_log_loss.append(_member_log_loss(head, member, feats, y, val_idx))
        if history.val_log_loss[-1] < history.val_log_loss[history.best_epoch]:
            history.best_epoch = epoch
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
def _member_log_loss(
    head: MemeHead, member: int, feats: Features, y: torch.Tensor, idx: np.ndarray
) -> float:
    net = head.members[member].eval()
    t, i = head.standardise(feats.text[idx], feats.image[idx])
    return float(F.cross_entropy(net(t, i), y[idx]))


@torch.no_grad()
def predict_probs(head: MemeHead, feats: Features, idx: np.ndarray) -> np.ndarray:
    """The head's calibrated five-level probabilities for the memes `idx`."""
    head.eval()
    return head(feats.text[idx], feats.image[idx]).double().softmax(-1).numpy()


def base_rates(labels: np.ndarray) -> tuple[float, ...]:
    """Each level's share of `labels`."""
    counts = np.bincount(labels, minlength=len(LABELS))
    return tuple(float(c) for c in counts / counts.sum())


def fit_head(
    config: ModelConfig,
    feats: Features,
    labels: np.ndarray,
    aux: dict[str, np.ndarray],
    parts: tuple[np.ndarray, np.ndarray, np.ndarray],
    settings: HeadSettings,
    seed: int,
    init: MemeHead | None = None,
) -> tuple[MemeHead, list[MemberHistory]]:
    """A new head for `config`: every ensemble member trained on `parts[0]` with early stopping
    on `parts[1]`, then `config.calibration` fitted on `parts[2]`. With `init`, training starts
    from its members' weights and keeps its feature standardisation (the weights expect it).

    Runs on one thread: these matrices are small, and extra threads only add synchronisation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_head(config, feats, labels, aux, parts, settings, seed, init)
    finally:
        torch.set_num_threads(threads)


def _fit_head(config, feats, labels, aux, parts, settings, seed, init):
    train_idx, val_idx, calib_idx = parts
    torch.manual_seed(seed)  # the initial weights depend on the seed alone
    head = MemeHead(config)
    if init is None:
        head.set_feature_stats(feats.text[train_idx], feats.image[train_idx])
    else:
        head.load_state_dict(init.state_dict())
    histories = [
        train_member(head, k, feats, labels, aux, train_idx, val_idx, settings, seed * 1000 + k)
        for k in range(config.members)
    ]
    head.eval()
    with torch.no_grad():
        uncalibrated = head.combine(
            head.members_logits(feats.text[calib_idx], feats.image[calib_idx])
        )
    scale, bias = fit_calibration(uncalibrated, labels[calib_idx], config.calibration)
    head.calibration_scale.copy_(scale)
    head.calibration_bias.copy_(bias)
    return head, histories
