"""Training the fusion head on cached features of several sources at once.

Every batch draws from each source in proportion to its weight, so 50,000 tweets do not drown
3,000 memes. A meme with both modalities trains all three readings (both, words alone, picture
alone); a sentence or a tweet trains the words' reading, a photo the picture's. Each label is
learnt by the marginal likelihood of the levels it allows (`train.losses`). Adam; the epoch
with the lowest validation log-loss on the memes that choose it (the calibrating source's
validation part, averaged over the three readings) is kept; then each reading's calibration is
fitted on that source's calibration part. A head with a words head of its own
(`ModelConfig.words_head`) first trains it on every labelled text (`train_words`), by the
same draws and early stopping on the validation memes' captions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from memesent.fusion import ConcatFusion, GatedFusion
from memesent.model import READINGS, MemeHead, ModelConfig, reading_masks

from .calibration import fit_calibration
from .losses import marginal_nll
from .pool import Pool

log = logging.getLogger("train")


@dataclass
class HeadSettings:
    """How one ensemble member is optimised: `epochs` (each `len(train) / batch_size` steps) at
    most, stopping `patience` epochs after the best; Adam's `lr` and `weight_decay`; `flip`
    swaps a picture's features for its mirror image's half of the time; `aux` names labels
    beside sentiment (`Source.aux`) that the fused vector also learns to predict, through a
    linear layer per target that training throws away, their cross-entropy weighted by
    `aux_weight` beside the sentiment loss (the epoch is still chosen by sentiment alone)."""

    epochs: int = 40
    patience: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    flip: bool = True
    aux: tuple[str, ...] = ()
    aux_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, patience and batch_size must be at least 1")
        if self.aux_weight <= 0:
            raise ValueError("the auxiliary targets' weight must be above 0")
        self.aux = tuple(self.aux)


@dataclass
class MemberHistory:
    """Per-epoch training loss and validation log-loss of one member (or the words head: its
    `name` says which), and the epoch kept. `val_log_loss[0]` is the member before training
    (epoch 0), so `loss` is one shorter; a member started from an existing model may keep
    epoch 0."""

    name: str = ""
    loss: list[float] = field(default_factory=list)
    val_log_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


def _batch_loss(
    head: MemeHead,
    member: int,
    pool: Pool,
    idx: torch.Tensor,
    image: torch.Tensor,
    aux: torch.nn.ModuleDict | None = None,
    aux_weight: float = 0.0,
) -> torch.Tensor:
    """Mean marginal log-loss of the examples `idx`: each modality it has read alone, and both
    together when it has both (their mean). With `aux` (a linear layer per auxiliary target),
    plus `aux_weight` times each target's cross-entropy from the fused vector of both
    modalities, over the examples labelled with it."""
    t, i, allowed = pool.text[idx], image, pool.allowed[idx]
    net = cast(GatedFusion | ConcatFusion, head.members[member])  # every fusion: fuse, out
    std_t, std_i = head.standardise(t, i)
    losses, counts = torch.zeros(len(idx)), torch.zeros(len(idx))
    masks = reading_masks(pool.has_text[idx], pool.has_image[idx], distinct=True)
    extra = torch.zeros(())
    for reading, (use_t, use_i) in masks.items():
        rows = use_t | use_i
        if rows.any():
            fused = net.fuse(std_t[rows], std_i[rows], use_t[rows], use_i[rows])
            losses[rows] += marginal_nll(net.out(fused), allowed[rows])
            counts[rows] += 1
            if aux is not None and reading == "both":
                for name, layer in aux.items():
                    labels = pool.aux[name].labels[idx][rows]
                    has = labels >= 0
                    if has.any():
                        ce = torch.nn.functional.cross_entropy(layer(fused[has]), labels[has])
                        extra = extra + aux_weight * ce
    return (losses / counts.clamp(min=1)).mean() + extra


@torch.no_grad()
def validation_log_loss(head: MemeHead, member: int | None, pool: Pool, idx: np.ndarray) -> float:
    """Marginal log-loss of `idx` averaged over the three readings (uncalibrated; one member,
    or the whole ensemble when `member` is None). Rows lacking a reading's modality sit out."""
    head.eval()
    idx_t = torch.as_tensor(idx)
    t, i, allowed = pool.text[idx_t], pool.image[idx_t], pool.allowed[idx_t]
    scores = []
    masks = reading_masks(pool.has_text[idx_t], pool.has_image[idx_t], distinct=True)
    for use_t, use_i in masks.values():
        rows = use_t | use_i
        if not rows.any():
            continue
        logits = head.members_logits(t[rows], i[rows], use_t[rows], use_i[rows])
        logp = head.combine(logits if member is None else [logits[member]])
        scores.append(float(marginal_nll(logp, allowed[rows]).mean()))
    return float(np.mean(scores))


def train_member(
    head: MemeHead,
    member: int,
    pool: Pool,
    train_idx: dict[str, np.ndarray],
    shares: dict[str, float],
    val_idx: np.ndarray,
    settings: HeadSettings,
    seed: int,
) -> MemberHistory:
    """Fit `head.members[member]` on `train_idx` (per source), each batch drawn by `shares`;
    keep the epoch with the lowest validation log-loss on `val_idx`, stopping `patience` epochs
    after it (see the module)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    flip = settings.flip and pool.image_flip is not None
    net: torch.nn.Module = head.members[member]
    aux = None
    if settings.aux:
        missing = [name for name in settings.aux if name not in pool.aux]
        if missing:
            raise ValueError(
                f"auxiliary target(s) {', '.join(missing)}: no data set of this run has them "
                f"(they have: {', '.join(pool.aux) or 'none'})"
            )
        hidden = head.config.fusion.hidden
        aux = torch.nn.ModuleDict(
            {n: torch.nn.Linear(hidden, len(pool.aux[n].classes)) for n in settings.aux}
        )
        net = torch.nn.ModuleDict({"member": net, "aux": aux})

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        image = _images(pool, idx, flip, rng)
        return _batch_loss(head, member, pool, idx, image, aux, settings.aux_weight)

    return _early_stopped(
        net,
        _Draws(train_idx, shares, settings.batch_size, rng),
        batch_loss,
        lambda: validation_log_loss(head, member, pool, val_idx),
        settings,
    )


def train_words(
    head: MemeHead,
    pool: Pool,
    train_idx: dict[str, np.ndarray],
    shares: dict[str, float],
    val_idx: np.ndarray,
    settings: HeadSettings,
    seed: int,
) -> MemberHistory:
    """Fit `head.words`, the words-alone reading's own linear layer, on the texts of
    `train_idx` (per source; rows without words are left out), each batch drawn by `shares`;
    keep the epoch with the lowest log-loss on the captions of `val_idx`."""
    words = head.words
    if words is None:
        raise ValueError("this head reads the words with its fusion: it has no words head")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    worded = {s: idx[pool.has_text[idx].numpy()] for s, idx in train_idx.items()}
    val = torch.as_tensor(val_idx[pool.has_text[val_idx].numpy()])

    def loss(idx: torch.Tensor) -> torch.Tensor:
        text = head.standardise(pool.text[idx], pool.image[idx])[0]
        return marginal_nll(words(text), pool.allowed[idx]).mean()

    def val_loss() -> float:
        with torch.no_grad():
            return float(loss(val))

    return _early_stopped(
        words, _Draws(worded, shares, settings.batch_size, rng), loss, val_loss, settings
    )


class _Draws:
    """Training batches: each draws `batch_size` rows from the sources by their `shares`
    (sources with no rows or share 0 sit out); an epoch is as many batches as the rows fill."""

    def __init__(
        self,
        rows: dict[str, np.ndarray],
        shares: dict[str, float],
        batch_size: int,
        rng: np.random.Generator,
    ) -> None:
        self.rows, self.batch_size, self.rng = rows, batch_size, rng
        self.names = [s for s in rows if len(rows[s]) and shares.get(s, 0) > 0]
        if not self.names:
            raise ValueError("nothing to train on: no source has rows and a share above 0")
        p = np.array([shares[s] for s in self.names], dtype=np.float64)
        self.p = p / p.sum()
        self.steps = max(1, sum(len(rows[s]) for s in self.names) // batch_size)

    def __call__(self) -> torch.Tensor:
        counts = self.rng.multinomial(self.batch_size, self.p)
        return torch.from_numpy(
            np.concatenate(
                [self.rng.choice(self.rows[s], c) for s, c in zip(self.names, counts, strict=True)]
            )
        )


def _early_stopped(
    net: torch.nn.Module,
    draws: _Draws,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    val_loss: Callable[[], float],
    settings: HeadSettings,
) -> MemberHistory:
    """Adam on `net` over `draws`' batches, epoch by epoch; `net` ends with the weights of the
    epoch of lowest `val_loss` (epoch 0: as it started), `patience` epochs after which it stops."""
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    history = MemberHistory(val_log_loss=[val_loss()])
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for epoch in range(1, settings.epochs + 1):
        net.train()
        total = 0.0
        for _ in range(draws.steps):
            loss = batch_loss(draws())
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        history.loss.append(total / draws.steps)
        history.val_log_loss.append(val_loss())
        if history.val_log_loss[-1] < history.val_log_loss[history.best_epoch]:
            history.best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - history.best_epoch >= settings.patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    return history


def _images(pool: Pool, idx: torch.Tensor, flip: bool, rng: np.random.Generator) -> torch.Tensor:
    """Image features of `idx`, each swapped for its mirrored copy with probability 1/2."""
    if not flip or pool.image_flip is None:
        return pool.image[idx]
    mirrored = torch.from_numpy(rng.random(len(idx)) < 0.5).unsqueeze(1)
    return torch.where(mirrored, pool.image_flip[idx], pool.image[idx])


@torch.no_grad()
def reading_log_probs(
    head: MemeHead, pool: Pool, idx: np.ndarray, calibrated: bool = True
) -> dict[str, np.ndarray]:
    """Each reading's log-probabilities of the examples `idx`, {reading: (n, 5)}, calibrated
    or not; NaN rows where an example lacks the reading's modality."""
    head.eval()
    i = torch.as_tensor(idx)
    t, im, has_t, has_i = pool.text[i], pool.image[i], pool.has_text[i], pool.has_image[i]
    if calibrated:
        return {r: v.numpy() for r, v in head.readings(t, im, has_t, has_i).items()}
    out = {}
    for r, (use_t, use_i) in reading_masks(has_t, has_i).items():
        logp = head.combine(head.members_logits(t, im, use_t, use_i)).double()
        logp[~(use_t | use_i)] = float("nan")
        out[r] = logp.numpy()
    return out


def fit_head(
    config: ModelConfig,
    pool: Pool,
    train_idx: dict[str, np.ndarray],
    shares: dict[str, float],
    val_idx: np.ndarray,
    calib_idx: np.ndarray,
    settings: HeadSettings,
    seed: int,
    init: MemeHead | None = None,
    words: tuple[dict[str, np.ndarray], dict[str, float]] | None = None,
) -> tuple[MemeHead, list[MemberHistory]]:
    """A new head for `config`: every ensemble member trained on `train_idx` with early
    stopping on `val_idx`, then each reading's `config.calibration` fitted on `calib_idx` and
    the base rates set to the mean calibrated answer there. With `init`, training starts from its
    members' weights and keeps its feature standardisation (the weights expect it). A words head
    (`config.words_head`) trains first, on `words` (rows per source, shares; default: the
    members' own), and its history comes first in the list returned.

    Runs on one thread: these matrices are small, and extra threads only add synchronisation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)  # the initial weights depend on the seed alone
        head = MemeHead(config)
        if init is None:
            fit = np.concatenate(list(train_idx.values()))
            head.set_feature_stats(
                pool.text[fit[pool.has_text[fit].numpy()]],
                pool.image[fit[pool.has_image[fit].numpy()]],
            )
        else:
            head.load_state_dict(init.state_dict())
        histories = []
        if head.words is not None:
            rows, weights = words or (train_idx, shares)
            h = train_words(head, pool, rows, weights, val_idx, settings, seed)
            h.name = "words head"
            log.info(
                "words head: best epoch %d, validation log-loss %.3f",
                h.best_epoch,
                h.val_log_loss[h.best_epoch],
            )
            histories.append(h)
        for k in range(config.members):
            h = train_member(head, k, pool, train_idx, shares, val_idx, settings, seed * 1000 + k)
            h.name = f"member {k + 1}"
            log.info(
                "member %d: best epoch %d (0: as it started), validation log-loss %.3f",
                k + 1,
                h.best_epoch,
                h.val_log_loss[h.best_epoch],
            )
            histories.append(h)
        calibrate(head, pool, calib_idx)
        return head, histories
    finally:
        torch.set_num_threads(threads)


def calibrate(head: MemeHead, pool: Pool, calib_idx: np.ndarray) -> None:
    """Fit each reading's calibration on the examples `calib_idx` that have its modalities, and
    set the base rates to the mean calibrated answer (both modalities) over them."""
    raw = reading_log_probs(head, pool, calib_idx, calibrated=False)
    allowed = pool.allowed[torch.as_tensor(calib_idx)].numpy()
    informative = ~allowed.all(1)
    for r, reading in enumerate(READINGS):
        rows = ~np.isnan(raw[reading]).any(1) & informative
        if rows.sum() == 0:
            continue
        scale, bias = fit_calibration(
            torch.from_numpy(raw[reading][rows]), allowed[rows], head.config.calibration
        )
        head.calibration_scale[r] = scale
        head.calibration_bias[r] = bias
    both = np.exp(reading_log_probs(head, pool, calib_idx)["both"])
    rates = both.mean(0)
    head.config.base_rates = tuple(float(x) for x in rates / rates.sum())
