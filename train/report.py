"""What a training run leaves: its measurements (`metrics.json`, `run_metrics`), and for people
the plots and the model card, every sentence and number of which is derived from them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from memesent.labels import LABELS
from memesent.model import READINGS, MemeHead
from memesent.model_files import model_version
from memesent.quality import HeldOutQuality, ValenceQuality

from .config import TrainConfig
from .loop import MemberHistory
from .metrics import with_interval
from .plots import plot_history, plot_tuning
from .pool import Stack
from .sources import PARTS, SOURCES, Examples, describe_mapping


def run_metrics(
    cfg: TrainConfig,
    head: MemeHead,
    stack: Stack,
    evaluation: dict,
    tuning: dict | None,
    histories: list[MemberHistory],
    marks: dict[str, float],
) -> dict:
    """`metrics.json`: each data set's `evaluation`, the calibrating one's test measures at the
    top, the base rates and calibration the head ended with, the data each part had, what the
    text encoder's tuning measured, and how long each step took (`marks`: when the run started
    and when each step ended, in order)."""
    calibrating = cfg.calibrating_source
    times = list(marks.values())
    steps = dict(zip(list(marks)[1:], np.diff(times), strict=True))
    return {
        "calibrated_on": calibrating,
        "test": evaluation[calibrating]["test"],
        "sources": evaluation,
        "base_rates": dict(zip(LABELS, head.config.base_rates, strict=True)),
        "base_rates_of": head.config.base_rates_of,
        "init": None
        if cfg.init is None
        else {"folder": Path(cfg.init).resolve().name, "version": model_version(cfg.init)},
        "calibration": {
            "method": cfg.calibration,
            "readings": {
                r: {
                    "scale": float(head.calibration_scale[k]),
                    "bias": [round(float(b), 4) for b in head.calibration_bias[k]],
                }
                for k, r in enumerate(READINGS)
            },
        },
        "data": {
            ex.source: {
                "examples": len(ex),
                "skipped": len(ex.skipped),
                "weight": cfg.weight(ex.source),
                **{p: int((ex.parts == p).sum()) for p in PARTS},
            }
            for ex in stack
        },
        "text_tuning": tuning,
        "seconds": {
            **{step: round(float(s), 1) for step, s in steps.items()},
            "total": round(times[-1] - times[0], 1),
        },
        "history": [asdict(h) for h in histories],
    }


def write_report(
    out: Path, cfg: TrainConfig, metrics: dict, test: Examples, test_probs: np.ndarray
) -> None:
    """confusion.png and reliability.png (the plots the calibrating source declares, of its
    test part), training_curve.png (and tuning_curve.png when the text encoder was tuned) and
    MODEL_CARD.md in the model folder."""
    title = f"{test.source}, test part, {len(test)} memes"
    plots = SOURCES[test.source].plots
    for name in ("confusion", "reliability"):  # or the source's one plot, under both names
        plot = plots.get(name) or next(iter(plots.values()), None)
        if plot is not None:
            plot(test, test_probs, metrics["test"], out / f"{name}.png", title)
    plot_history(metrics["history"], out / "training_curve.png")
    if metrics.get("text_tuning"):
        plot_tuning(metrics["text_tuning"]["history"], out / "tuning_curve.png")
    (out / "MODEL_CARD.md").write_text(model_card(cfg, metrics))


def _v(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


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
        field = "; ".join(f"{who} {v:.3f}" for who, v in source.published) or "–"
        value = with_interval(test, source.headline)
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
            f"| {reading} | {t['n']:,} | {with_interval(t, 'auroc_valence')} | "
            f"{with_interval(t, 'spearman_intensity')} | "
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

**Which memes its probabilities are for.** Memes like {metrics["base_rates_of"]}. A
collection whose labels fall otherwise gets answers tilted toward these memes' label shares; if
you know its label shares, give them (`memesent predict --label-shares`,
`Predictor.with_label_shares`) and every answer is shifted to them.

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
  the mean answer over {metrics["base_rates_of"]}.

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
