"""What a training run leaves for people: confusion matrices, training curves, the model card."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from memesent.labels import LABELS, LABELS3

if TYPE_CHECKING:
    from .run import TrainConfig

# The original write-up's test-set numbers (three classes) and the SemEval-2020 Task 8 results.
WRITEUP = {
    "accuracy_3": 0.51,
    "macro_f1_3": 0.32,
    "negative": 0.03,
    "neutral": 0.29,
    "positive": 0.65,
}
SEMEVAL_BEST, SEMEVAL_BASELINE = 0.355, 0.218


def plot_confusions(metrics: dict, path: Path, title: str = "") -> None:
    """Three-class and five-level confusion matrices side by side, as a PNG."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, key, names in ((axes[0], "confusion_3", LABELS3), (axes[1], "confusion_5", LABELS)):
        ConfusionMatrixDisplay(np.array(metrics[key]), display_labels=list(names)).plot(
            ax=ax, cmap="Blues", colorbar=False, xticks_rotation=30
        )
        ax.set_title(f"{len(names)} classes")
    fig.suptitle(title or f"{metrics['n']} memes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss and validation macro-F1 per epoch for each ensemble member."""
    fig, (loss_ax, f1_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for k, h in enumerate(history):
        epochs = np.arange(1, len(h["loss"]) + 1)
        loss_ax.plot(epochs, h["loss"], label=f"member {k + 1}")
        f1_ax.plot(epochs, h["val_macro_f1_3"], label=f"member {k + 1}")
        f1_ax.scatter([h["best_epoch"] + 1], [h["val_macro_f1_3"][h["best_epoch"]]], marker="o")
    loss_ax.set(title="training loss", xlabel="epoch")
    f1_ax.set(title="validation macro-F1 (3 classes); dot = kept", xlabel="epoch")
    loss_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, cfg: TrainConfig, metrics: dict) -> None:
    """confusion.png, training_curve.png and MODEL_CARD.md in the model folder."""
    plot_confusions(
        metrics["test"], out / "confusion.png", f"test split, {metrics['test']['n']} memes"
    )
    plot_history(metrics["history"], out / "training_curve.png")
    (out / "MODEL_CARD.md").write_text(model_card(cfg, metrics))


def _row(name: str, m: dict) -> tuple:
    return (name, m["accuracy_3"], m["macro_f1_3"], *(m["per_class_3"][c]["f1"] for c in LABELS3))


def model_card(cfg: TrainConfig, metrics: dict) -> str:
    t, base, d = metrics["test"], metrics["majority_baseline_test"], metrics["data"]
    majority = LABELS[int(np.argmax(np.sum(base["confusion_5"], axis=0)))]
    rows = [
        _row("this model", t),
        _row(f"always {majority.replace('_', ' ')}", base),
        (
            "original write-up (its own test set)",
            WRITEUP["accuracy_3"],
            WRITEUP["macro_f1_3"],
            WRITEUP["negative"],
            WRITEUP["neutral"],
            WRITEUP["positive"],
        ),
    ]
    table = "\n".join(
        f"| {name} | {acc:.3f} | {mf1:.3f} | {neg:.3f} | {neu:.3f} | {pos:.3f} |"
        for name, acc, mf1, neg, neu, pos in rows
    )
    h = cfg.head
    members = (
        "one network"
        if cfg.members == 1
        else f"an ensemble of {cfg.members} networks trained with different seeds, "
        "probabilities averaged"
    )
    priors = (
        f"class priors tuned on the validation split for macro-F1 (log-prior shifts "
        f"{metrics['logit_bias']})"
        if cfg.tune_priors
        else "class priors as trained"
    )
    return f"""# memesent fusion head — model card

A small fusion network that reads the sentiment of a meme from its picture and its caption, on
five levels ({", ".join(LABELS)}), collapsed to negative / neutral / positive
for scoring.

## Model
- Text: `{cfg.text_backbone}` (frozen, mean-pooled caption vector).
- Image: `{cfg.image_backbone}`, ImageNet-trained (frozen, pooled last feature map).
- Head: `{cfg.fusion}` fusion, hidden size {cfg.hidden}, dropout {cfg.dropout}; {members};
  {priors}.
- Training: Adam (lr {h.lr}, weight decay {h.weight_decay}), cross-entropy on the five levels with
  `{h.balance}` class weights, batch {h.batch_size}, up to {h.epochs} epochs with early stopping on
  validation macro-F1 (patience {h.patience}); auxiliary-label weight {h.aux_weight};
  mirrored-image augmentation {"on" if h.flip else "off"}; seed {cfg.seed}.

## Data
Memotion 7k (SemEval-2020 Task 8): {d["memes"]} labelled memes ({d["skipped"]} skipped),
split stratified by level with seed {cfg.seed}: {d["train"]} train, {d["validation"]} validation,
{d["test"]} test (`split.json`). Captions are the data set's corrected transcriptions.

## Results on the test split ({t["n"]} memes, three classes)
| model | accuracy | macro-F1 | F1 negative | F1 neutral | F1 positive |
| --- | --- | --- | --- | --- | --- |
{table}

Five levels: accuracy {t["accuracy_5"]:.3f}, macro-F1 {t["macro_f1_5"]:.3f}. SemEval-2020 Task 8
(three classes, macro-F1 on its own test set): best system {SEMEVAL_BEST},
baseline {SEMEVAL_BASELINE}.
Full numbers: `metrics.json`; confusion matrices: `confusion.png`; curves: `training_curve.png`.

## Known limits
- Memotion's sentiment labels are very noisy: on this data, captions and pictures carry almost no
  signal about the annotated sentiment (see the README's Results), so scores stay near what the
  class priors allow. Treat outputs as a weak hint, never as a judgement about a person.
- English captions only; trained on 2018-2019 internet memes at 128x128 pixels.
- The head only works with the backbones and preprocessing recorded in `config.json`.

## Intended use
A demonstration of multimodal fusion and of explaining its answers. Not for moderation,
profiling, or any decision about people.
"""
