"""What a training run leaves for people: confusion matrices, training curves, reliability
diagrams and the model card, every sentence and number of which is derived from the run's
metrics (`metrics.json`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse, positive_share
from memesent.quality import HeldOutQuality, ValenceQuality

from .config import TrainConfig
from .metrics import ECE_BINS, VALENCE_ECE_BINS
from .sources import SOURCES, Examples, describe_mapping

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
# Published results on each data set's own test part, by its field's measure (docs/results.md):
# name, value.
FIELD = {
    "sst5": [("fine-tuned BERT-base", 0.532), ("RoBERTa-large", 0.598)],
    "semeval": [("RoBERTa-base (TweetEval)", 0.713), ("best in TweetEval", 0.737)],
    "memotion": [
        ("SemEval-2020 Task 8 baseline", SEMEVAL_BASELINE),
        ("best system", SEMEVAL_BEST),
        ("the original write-up (its own test set)", WRITEUP["macro_f1_3"]),
    ],
}


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


def _interval(metrics: dict, key: str) -> str:
    ci = metrics.get("ci", {}).get(key)
    return f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "–"


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
        lines.append(f"| {name} | {_v(v)} | {_interval(t, key) if key else '–'} | {note} |")
    return "\n".join(lines)


def plot_valence(examples: Examples, probs: np.ndarray, path: Path, title: str) -> None:
    """Reliability of the valence (left: the share of positive memes against the positive
    side's stated share, `VALENCE_ECE_BINS` bins) and the levels given to each signed intensity
    (right: rows −3 … +3, columns the most likely level), as a PNG."""
    signed = examples.extra["signed_intensity"]
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


def plot_tuning(history: list[dict], path: Path) -> None:
    """Validation log-loss of the text encoder's tuning, step by step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([h["step"] for h in history], [h["val_log_loss"] for h in history], marker=".")
    ax.set(title="text encoder tuning: validation log-loss", xlabel="step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out: Path, cfg: TrainConfig, metrics: dict, test: Examples, test_probs: np.ndarray
) -> None:
    """confusion.png, reliability.png, training_curve.png (and tuning_curve.png when the text
    encoder was tuned) and MODEL_CARD.md in the model folder; the plots are of the calibrating
    source's test part."""
    n = len(test)
    title = f"{test.source}, test part, {n} memes"
    if "signed_intensity" in test.extra:
        plot_valence(test, test_probs, out / "reliability.png", title)
        plot_valence(test, test_probs, out / "confusion.png", title)
    else:
        levels = test.allowed.argmax(1)
        plot_confusions(metrics["test"], out / "confusion.png", title)
        plot_reliability(levels, test_probs, out / "reliability.png", title)
    plot_history(metrics["history"], out / "training_curve.png")
    if metrics.get("text_tuning"):
        plot_tuning(metrics["text_tuning"]["history"], out / "tuning_curve.png")
    (out / "MODEL_CARD.md").write_text(model_card(cfg, metrics))


def _v(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ci(result: dict, key: str) -> str:
    ci = result.get("ci", {}).get(key)
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def results_table(metrics: dict) -> str:
    """Markdown rows: each data set's test part by its field's measure, with published
    results on the same test sets where there are any."""
    lines = [
        "| data set | reading | measure | this model | published, same test set |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for name, result in metrics["sources"].items():
        source, test = SOURCES[name], result.get("test")
        if test is None:
            continue
        field = "; ".join(f"{who} {v:.3f}" for who, v in FIELD.get(name, [])) or "–"
        value = _v(test.get(source.headline)) + _ci(test, source.headline)
        lines.append(
            f"| {name} ({test['n']:,}) | {result['reading']} | {source.measure} | {value} "
            f"| {field} |"
        )
    return "\n".join(lines)


def readings_table(metrics: dict) -> str:
    """Markdown rows: the calibrating source's test memes read three ways."""
    name = metrics["calibrated_on"]
    result = metrics["sources"][name]
    if "test_readings" not in result or "auroc_valence" not in result["test"]:
        return ""
    rows = [("both (the answer)", result["test"]), *result["test_readings"].items()]
    lines = [
        "| reading | memes | AUROC positive vs negative | Spearman with signed intensity "
        "| valence calibration error | log-loss (5 levels) − base rates' |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for reading, t in rows:
        lines.append(
            f"| {reading} | {t['n']:,} | {_v(t['auroc_valence'])}{_ci(t, 'auroc_valence')} | "
            f"{_v(t['spearman_intensity'])}{_ci(t, 'spearman_intensity')} | "
            f"{_v(t['valence_ece'])} | {t['log_loss_5'] - t['log_loss_base_5']:+.3f} |"
        )
    return "\n".join(lines)


def model_card(cfg: TrainConfig, metrics: dict) -> str:
    """MODEL_CARD.md, from the run's settings and measurements."""
    quality = (
        ValenceQuality.from_metrics(metrics)
        if "auroc_valence" in metrics["test"]
        else HeldOutQuality.from_metrics(metrics)
    )
    h, data = cfg.head, metrics["data"]
    tuning = metrics.get("text_tuning")
    if cfg.init is not None:
        text = "its tuning taken from the `--init` model"
    elif tuning and cfg.tuning is not None:
        t = cfg.tuning
        texts = ", ".join(
            f"{n:,} {s} (share {tuning['weights'][s]:g})" for s, n in tuning["texts"].items()
        )
        text = (
            f"tuned with LoRA adapters (rank {t.lora.rank}, on every attention and feed-forward "
            f"projection) and a five-level linear layer for {t.steps} steps of {t.batch_size} "
            f"texts (AdamW, lr {t.lr}), drawn from {texts}; the step with "
            f"the lowest validation log-loss on {metrics['calibrated_on']} captions kept (step "
            f"{tuning['best_step']}; `tuning_curve.png`)"
        )
    else:
        text = "frozen"
    cal = metrics["calibration"]
    scales = ", ".join(
        f"{r} {c['scale']:.3f}"
        + (f" / shift {c['bias'][0]:+.3f}" if cal["method"] == "valence" else "")
        for r, c in cal["readings"].items()
    )
    method = {
        "valence": "the positive side's log-odds scaled and shifted (neutral's share and the "
        "split within each side as trained)",
        "none": "none",
    }[cal["method"]]
    rates = ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in metrics["base_rates"].items())
    sources = "\n".join(
        f"- **{name}** ({SOURCES[name].description}; weight {d['weight']:g}): "
        f"{d['examples']:,} examples, {d['skipped']} skipped; {d['train']:,} train, "
        f"{d['val']:,} validation, {d['calib']:,} calibration, {d['test']:,} test. Labels: "
        + "; ".join(describe_mapping(SOURCES[name]).splitlines())
        + "."
        for name, d in data.items()
    )
    init = metrics.get("init")
    started = (
        f"\n- Started from the head of `{init['folder']}` (version {init['version']}), its feature"
        " standardisation kept; epoch 0 (the head as it started) could be kept."
        if init
        else ""
    )
    readings = readings_table(metrics)
    return f"""# memesent — model card

A model that reads the sentiment of a meme on five levels ({", ".join(LABELS)}) from its
caption and its picture, three ways: the words alone, the picture alone and both together.

**How far to trust it.** {quality.trust_sentence()}

## Results (each data set's held-out test part)
{results_table(metrics)}

Intervals: percentile bootstrap over the test examples (1,000 resamples, fixed seed).
{"The test memes of " + metrics["calibrated_on"] + ", read three ways:" if readings else ""}

{readings}

## Model
- Text: `{cfg.text_backbone}`, mean-pooled caption vector; {text}.
- Image: `{cfg.image_backbone}`, ImageNet-trained, frozen (pooled last feature map).
- Head: `{cfg.fusion}` fusion, hidden size {cfg.hidden}, dropout {cfg.dropout}; one network. A
  missing modality is left out of the fusion, which is how the words and the picture are read
  alone.
- Training: Adam (lr {h.lr}, weight decay {h.weight_decay}), batches of {h.batch_size} drawn
  from the data sets by their weights, every label learnt by the likelihood of the levels it
  allows; memes with words and a picture train all three readings; up to {h.epochs} epochs,
  the one with the lowest validation log-loss on {metrics["calibrated_on"]} kept (patience
  {h.patience}); mirrored pictures {"on" if h.flip else "off"}; seed {cfg.seed}.
- Calibration (`{cal["method"]}`: {method}), one per reading, fitted on the
  {metrics["calibrated_on"]} calibration part, which neither trained the model nor chose its
  epoch: {scales}.{started}
- A typical meme's answer (the base rates shown next to every answer): {rates}; that is
  {metrics["base_rates_of"]}.

## Data
{sources}

## Known limits
- {quality.advice()}
- English captions only. The model only works with the backbones, tuning and preprocessing
  recorded in `config.json`.

## Intended use
A demonstration of multimodal sentiment and of explaining its answers. Not for moderation,
profiling, or any decision about people.
"""
