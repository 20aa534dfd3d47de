"""What a training run leaves for people: confusion matrices, training curves, a reliability
diagram and the model card, every sentence of which is derived from the run's metrics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse
from memesent.quality import HeldOutQuality

from .config import TrainConfig
from .metrics import ECE_BINS

# The original write-up's test-set numbers (three classes) and the SemEval-2020 Task 8 results:
# published measurements of other systems, quoted for comparison.
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


def plot_reliability(labels: np.ndarray, probs: np.ndarray, path: Path, title: str = "") -> None:
    """Reliability diagrams (scikit-learn's `CalibrationDisplay`): left, how often the top
    three-class answer is right against the probability it was given; right, each class one
    against the rest. A calibrated model follows the diagonal."""
    y3, p3 = TO3_INDEX[np.asarray(labels)], collapse(probs)
    fig, (top_ax, class_ax) = plt.subplots(1, 2, figsize=(12, 5))
    CalibrationDisplay.from_predictions(
        p3.argmax(1) == y3, p3.max(1), n_bins=ECE_BINS, ax=top_ax, name="top class"
    )
    top_ax.set(title="top class", xlabel="stated probability", ylabel="share right")
    for k, c in enumerate(LABELS3):
        CalibrationDisplay.from_predictions(y3 == k, p3[:, k], n_bins=ECE_BINS, ax=class_ax, name=c)
    class_ax.set(title="each class vs the rest", xlabel="stated probability", ylabel="share true")
    for ax in (top_ax, class_ax):
        ax.set(xlim=(0, 1), ylim=(0, 1))
    fig.suptitle(title or f"{len(y3)} memes, {ECE_BINS} bins")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss and validation log-loss per epoch for each ensemble member."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for k, h in enumerate(history):
        loss_ax.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], label=f"member {k + 1}")
        val_ax.plot(np.arange(len(h["val_log_loss"])), h["val_log_loss"], label=f"member {k + 1}")
        val_ax.scatter([h["best_epoch"]], [h["val_log_loss"][h["best_epoch"]]], marker="o")
    loss_ax.set(title="training loss", xlabel="epoch")
    val_ax.set(
        title="validation log-loss (5 levels, before calibration); dot = kept",
        xlabel="epoch (0: before training)",
    )
    loss_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out: Path, cfg: TrainConfig, metrics: dict, test_labels: np.ndarray, test_probs: np.ndarray
) -> None:
    """confusion.png, reliability.png, training_curve.png and MODEL_CARD.md in the model folder."""
    n = metrics["test"]["n"]
    plot_confusions(metrics["test"], out / "confusion.png", f"test split, {n} memes")
    plot_reliability(test_labels, test_probs, out / "reliability.png", f"test split, {n} memes")
    plot_history(metrics["history"], out / "training_curve.png")
    (out / "MODEL_CARD.md").write_text(model_card(cfg, metrics))


def _interval(metrics: dict, key: str) -> str:
    ci = metrics.get("ci", {}).get(key)
    return f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "–"


def _value(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def information_table(t: dict) -> str:
    """Markdown rows: each information measure of the test split with its 95 % interval."""
    rows = [
        *(
            (f"AUROC, {c} vs rest", t["auroc_3"][c], f"auroc_3_{c}", "0.5 is chance")
            for c in LABELS3
        ),
        ("Spearman, expected vs true level (5)", t["spearman_5"], "spearman_5", "0 is chance"),
        ("log-loss (3 classes)", t["log_loss_3"], "log_loss_3", "lower is better"),
        ("log-loss of the base rates", t["log_loss_base_3"], None, "stating a typical meme's"),
        (
            "log-loss minus the base rates'",
            t["log_loss_3"] - t["log_loss_base_3"],
            "log_loss_3_minus_base",
            "below 0: more informative",
        ),
        ("Brier score (3 classes)", t["brier_3"], None, "lower is better"),
        (
            "expected calibration error (top class)",
            t["ece_3"],
            None,
            f"{ECE_BINS} bins; 0 is ideal",
        ),
        ("mean top probability", t["mean_top_prob_3"], None, f"accuracy {t['accuracy_3']:.3f}"),
        ("answers claiming over 90 %", t["share_top_prob_over_90_3"], None, "share of memes"),
    ]
    lines = ["| measure | value | 95 % interval | reading |", "| --- | ---: | :---: | --- |"]
    for name, v, key, note in rows:
        lines.append(f"| {name} | {_value(v)} | {_interval(t, key) if key else '–'} | {note} |")
    return "\n".join(lines)


def decision_table(t: dict, base: dict) -> str:
    """Markdown rows: accuracy and F1 of the model's decisions against the base rates' and the
    write-up's."""

    def row(name: str, m: dict, balanced: bool = False) -> str:
        if balanced:
            f1 = [m["f1_3_balanced"][c] for c in LABELS3]
            acc, mf1 = m["accuracy_3_balanced"], m["macro_f1_3_balanced"]
        else:
            f1 = [m["per_class_3"][c]["f1"] for c in LABELS3]
            acc, mf1 = m["accuracy_3"], m["macro_f1_3"]
        return f"| {name} | {acc:.3f} | {mf1:.3f} | " + " | ".join(f"{v:.3f}" for v in f1) + " |"

    majority = LABELS3[int(np.argmax(np.sum(base["confusion_3"], axis=0)))]
    w = WRITEUP
    return "\n".join(
        [
            "| decision | accuracy | macro-F1 | F1 negative | F1 neutral | F1 positive |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            row("this model, most likely class", t),
            row("this model, balanced (prior-corrected)", t, balanced=True),
            row(f"base rates: always {majority}", base),
            f"| original write-up (its own test set) | {w['accuracy_3']:.3f} | "
            f"{w['macro_f1_3']:.3f} | {w['negative']:.3f} | {w['neutral']:.3f} | "
            f"{w['positive']:.3f} |",
        ]
    )


def model_card(cfg: TrainConfig, metrics: dict) -> str:
    t, base, d = metrics["test"], metrics["base_rates_test"], metrics["data"]
    quality = HeldOutQuality.from_metrics(metrics)
    h = cfg.head
    members = (
        "one network"
        if cfg.members == 1
        else f"an ensemble of {cfg.members} networks trained with different seeds, "
        "probabilities averaged"
    )
    cal = metrics["calibration"]
    calibration = {
        "vector": f"a temperature (scale {cal['scale']:.4f}) and a bias per level",
        "temperature": f"a temperature (scale {cal['scale']:.4f})",
        "none": "no calibration",
    }[cal["method"]]
    rates = ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in metrics["base_rates"].items())
    folders = ", ".join(d.get("folders", [])) or "the training folder"
    init = metrics.get("init")
    started = (
        f"\n- Started from the head of `{init['folder']}` (version {init['version']}), its feature"
        " standardisation kept; epoch 0 (the head as it started) could be kept."
        if init
        else ""
    )
    return f"""# memesent fusion head — model card

A small fusion network that reads the sentiment of a meme from its picture and its caption, on
five levels ({", ".join(LABELS)}), collapsed to negative / neutral / positive
for scoring.

**How far to trust it.** {quality.trust_sentence()}

## Model
- Text: `{cfg.text_backbone}` (frozen, mean-pooled caption vector).
- Image: `{cfg.image_backbone}`, ImageNet-trained (frozen, pooled last feature map).
- Head: `{cfg.fusion}` fusion, hidden size {cfg.hidden}, dropout {cfg.dropout}; {members}.
- Training: Adam (lr {h.lr}, weight decay {h.weight_decay}), `{h.loss}` loss on the five levels
  with `{h.balance}` class weights, label smoothing {h.label_smoothing}, ordinal smoothing
  {h.ordinal_smoothing}, batch {h.batch_size}, up to {h.epochs} epochs, the epoch with the lowest
  validation log-loss kept (patience {h.patience}); auxiliary-label weight {h.aux_weight};
  mirrored-image augmentation {"on" if h.flip else "off"}; seed {cfg.seed}.
- Calibration (`{cal["method"]}`): {calibration}, fitted on the calibration part, which neither
  trained the network nor chose its epoch.{started}

## Data
{d["memes"]:,} labelled memes from {folders} ({d["skipped"]} skipped), split stratified by level
with seed {cfg.seed}: {d["train"]:,} train, {d["validation"]:,} validation (epoch),
{d["calibration"]:,} calibration, {d["test"]:,} test (`split.json`). Base rates of the training
part (what a typical meme gets): {rates}.

## Calibration and information (test split, {t["n"]:,} memes)
{quality.calibration()} {quality.against_base_rates()}

{information_table(t)}

Intervals: percentile bootstrap over the test memes (1,000 resamples, fixed seed). Reliability
diagram: `reliability.png`.

## Decisions (test split, three classes)
The most likely class is what the app shows; the balanced decision divides each class's
probability by its base rate first, the rule that class-weighted training approximates and the
way the write-up and SemEval-2020 compare systems by macro-F1.

{decision_table(t, base)}

Macro-F1, 95 % interval: most likely class {_interval(t, "macro_f1_3")}, balanced
{_interval(t, "macro_f1_3_balanced")}. Five levels: accuracy {t["accuracy_5"]:.3f}, macro-F1
{t["macro_f1_5"]:.3f}. SemEval-2020 Task 8 (three classes, macro-F1 on its own test set): best
system {SEMEVAL_BEST}, baseline {SEMEVAL_BASELINE}.
Full numbers: `metrics.json`; confusion matrices: `confusion.png`; curves: `training_curve.png`.

## Known limits
- {quality.separation()} {quality.advice()}
- Trained on the captions and pictures of its training folder; English captions only. The head
  only works with the backbones and preprocessing recorded in `config.json`.

## Intended use
A demonstration of multimodal fusion and of explaining its answers. Not for moderation,
profiling, or any decision about people.
"""
