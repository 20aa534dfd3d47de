"""Plots of a model's answers and of its training, for people: confusion matrices, reliability
diagrams, the valence's reliability, and the training and tuning curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse, positive_share

from .metrics import ECE_BINS, VALENCE_ECE_BINS


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


def plot_valence(signed: np.ndarray, probs: np.ndarray, path: Path, title: str) -> None:
    """Reliability of the valence (left: the share of positive memes against the positive
    side's stated share, `VALENCE_ECE_BINS` bins) and the levels given to each signed intensity
    (right: rows −3 … +3, columns the most likely level), as a PNG; `signed` is each meme's
    signed intensity (NaN: no side, left out)."""
    sided = ~np.isnan(signed)
    fig, (rel_ax, conf_ax) = plt.subplots(1, 2, figsize=(12, 5))
    CalibrationDisplay.from_predictions(
        signed[sided] > 0,
        positive_share(probs[sided]),
        n_bins=VALENCE_ECE_BINS,
        ax=rel_ax,
        name="positive side",
    )
    rel_ax.set(
        title="valence: stated vs observed",
        xlabel="stated share of the positive side",
        ylabel="share of positive memes",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    rows = sorted(set(signed[sided].astype(int)))
    counts = np.array(
        [np.bincount(probs[sided][signed[sided] == r].argmax(1), minlength=5) for r in rows]
    )
    conf_ax.imshow(counts, cmap="Blues", aspect="auto")
    for (r, c), v in np.ndenumerate(counts):
        conf_ax.text(c, r, str(v), ha="center", va="center", fontsize=8)
    conf_ax.set(
        title="most likely level by signed intensity",
        xticks=range(5),
        yticks=range(len(rows)),
        ylabel="signed intensity (−: negative emotion)",
    )
    conf_ax.set_xticklabels(LABELS, rotation=30)
    conf_ax.set_yticklabels([f"{r:+d}" for r in rows])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss and validation log-loss per epoch for each ensemble member (and the words
    head, when the model has one)."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for k, h in enumerate(history):
        name = h.get("name") or f"member {k + 1}"
        loss_ax.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], label=name)
        val_ax.plot(np.arange(len(h["val_log_loss"])), h["val_log_loss"], label=name)
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


def plot_tuning(history: list[dict], path: Path) -> None:
    """Validation log-loss of the text encoder's tuning, step by step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([h["step"] for h in history], [h["val_log_loss"] for h in history], marker=".")
    ax.set(title="text encoder tuning: validation log-loss", xlabel="step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
