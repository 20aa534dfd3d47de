"""python -m train.finetune --data DIR: does fine-tuning the top of the text encoder help?

The write-up's future work proposes fine-tuning the text encoder instead of freezing it. This
measures it with the ablation's protocol (`python -m train.ablation`: the memes outside the
training run's test split, the same stratified folds with inner train / validation / calibration
parts, held-out predictions pooled and scored with bootstrap intervals): per fold, the top
`--layers` transformer layers of the text backbone and a linear layer over the five levels are
trained with Adam and cross-entropy on the captions, the epoch with the lowest validation log-loss
is kept, and its probabilities are calibrated (`vector`) on the calibration part. Compare it with
the ablation's frozen "text only" row. It is an experiment, not part of `python -m train`: it did
not help (README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from memesent.backbones import DEFAULT_TEXT, TextEncoder, load_text_encoder

from .ablation import cv_folds, markdown, outside_test, summarise
from .calibration import fit_calibration
from .config import TrainConfig
from .data import DataError, load_memes
from .loop import BALANCING, base_rates, class_weights
from .metrics import evaluate_probs


@dataclass(frozen=True)
class FinetuneSettings:
    """How the top of the text encoder is trained."""

    layers: int = 2
    epochs: int = 3
    lr: float = 3e-5
    head_lr: float = 1e-3
    batch_size: int = 32
    balance: str = "none"


class CaptionClassifier(torch.nn.Module):
    """The text backbone, its top layers trainable, and a linear layer over the five levels."""

    def __init__(self, encoder: TextEncoder, layers: int) -> None:
        super().__init__()
        self.encoder = encoder
        for p in encoder.parameters():
            p.requires_grad_(False)
        stack = encoder.model.encoder.layer
        if not 1 <= layers <= len(stack):
            raise ValueError(f"layers must be 1 to {len(stack)}, the text encoder's depth")
        for layer in stack[len(stack) - layers :]:
            for p in layer.parameters():
                p.requires_grad_(True)
        self.out = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(encoder.dim, 5))

    def forward(self, captions: list[str]) -> torch.Tensor:
        return self.out(self.encoder(**self.encoder.tokenize(captions)))

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    @torch.inference_mode()
    def log_probs(self, captions: list[str], batch: int = 128) -> torch.Tensor:
        """Uncalibrated log-probabilities of the five levels, (len(captions), 5)."""
        self.eval()
        out = [self(captions[i : i + batch]) for i in range(0, len(captions), batch)]
        return torch.cat(out).log_softmax(-1)


def finetune_fold(
    captions: list[str],
    labels: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: FinetuneSettings,
    seed: int,
    text_backbone: str = DEFAULT_TEXT,
) -> CaptionClassifier:
    """A freshly loaded backbone fine-tuned on `train_idx`; the epoch with the lowest log-loss
    on `val_idx` kept."""
    torch.manual_seed(seed)
    model = CaptionClassifier(load_text_encoder(text_backbone), settings.layers)
    opt = torch.optim.Adam(
        [
            {"params": model.trainable(), "lr": settings.lr},
            {"params": model.out.parameters(), "lr": settings.head_lr},
        ]
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights(labels[train_idx], settings.balance))
    rng = np.random.default_rng(seed)
    val_caps = [captions[i] for i in val_idx]
    val_y = torch.as_tensor(labels[val_idx])
    best, best_state = float("inf"), None
    for epoch in range(settings.epochs):
        model.train()
        order = rng.permutation(train_idx)
        batches = range(0, len(order), settings.batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch + 1}", leave=False):
            b = order[start : start + settings.batch_size]
            loss = loss_fn(model([captions[i] for i in b]), torch.as_tensor(labels[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = float(torch.nn.functional.nll_loss(model.log_probs(val_caps), val_y))
        if score < best:
            best, best_state = score, _trainable_state(model)
    model.load_state_dict(best_state, strict=False)
    return model


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights training changes (the frozen ones stay as loaded)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.finetune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = FinetuneSettings()
    p.add_argument(
        "--data", type=Path, action="append", required=True, help="repeat for several folders"
    )
    p.add_argument("--layers", type=int, default=d.layers, help="top layers to train")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--balance", choices=BALANCING, default=d.balance, help="class weights")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the row as JSON")
    a = p.parse_args(argv)
    if a.layers < 1 or a.epochs < 1 or a.folds < 2:
        p.error("--layers and --epochs must be at least 1, --folds at least 2")
    settings = FinetuneSettings(layers=a.layers, epochs=a.epochs, lr=a.lr, balance=a.balance)
    cfg = TrainConfig(data=a.data, out=Path(), seed=a.seed)
    try:
        memes = load_memes(cfg.data)
    except DataError as err:
        print(f"python -m train.finetune: {err}", file=sys.stderr)
        return 2
    labels, pool = memes.labels, outside_test(cfg, memes.labels)
    probs = np.zeros((len(labels), 5))
    for k, fold in enumerate(cv_folds(pool, labels, a.folds, a.seed)):
        start = time.perf_counter()
        model = finetune_fold(memes.captions, labels, fold.train, fold.val, settings, a.seed + k)
        calib = model.log_probs([memes.captions[i] for i in fold.calib])
        scale, bias = fit_calibration(calib, labels[fold.calib], "vector")
        held = model.log_probs([memes.captions[i] for i in fold.held])
        probs[fold.held] = (scale * held.double() + bias).softmax(-1).numpy()
        print(f"fold {k + 1}/{a.folds} ({time.perf_counter() - start:.0f} s)", flush=True)
    name = (
        f"text only, top {settings.layers} text-encoder layers fine-tuned "
        f"(lr {settings.lr:g}, {settings.balance} class weights)"
    )
    rates = np.array(base_rates(labels[pool]))
    row = summarise(name, evaluate_probs(labels[pool], probs[pool], rates))
    print(markdown([row]))
    if a.json:
        out = {"settings": asdict(settings), "folds": a.folds, "seed": a.seed, "row": row}
        a.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
