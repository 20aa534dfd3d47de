"""One training run, read top to bottom in `run`: data sets -> split -> text encoder tuned ->
cached features -> head -> calibration on memes -> evaluation -> checkpoint + shares reference
+ report. The steps it calls are below it, in that order."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from memesent.backbones import ImageSpec, TextEncoder, load_image_encoder, load_text_encoder
from memesent.checkpoint import CheckpointError, load_model_weights, save_checkpoint
from memesent.labels import LABELS3, TO3_INDEX
from memesent.model import MemeHead
from memesent.model_files import model_version
from memesent.tuning import LoraSpec, merge_lora

from .config import TrainConfig
from .data import DataError
from .features import image_features, text_features
from .loop import fit_head, reading_log_probs
from .metrics import reading_margins
from .pool import Pool, Stack, aux_targets
from .reference import build_reference, classes3
from .report import run_metrics, write_report
from .sources import SOURCES, Examples
from .text_tuning import text_sets, tune

log = logging.getLogger("train")


def run(cfg: TrainConfig) -> dict:
    """Train, evaluate each data set on its held-out test part, and write the model folder."""
    marks = {"start": time.perf_counter()}
    stack = Stack(load_data(cfg))
    calibrating = cfg.calibrating_source
    val = stack.rows(calibrating, "val", labelled=True)
    calib = stack.rows(calibrating, "calib", labelled=True)
    if not len(val) or not len(calib):
        raise DataError(f"{calibrating} has no labelled memes to validate and calibrate")
    start = starting_model(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps(stack.split()))

    text = text_encoder_for(cfg, stack, start)
    marks["text_tuning"] = time.perf_counter()
    pool, image_spec = build_pool(cfg, stack, text.encoder)
    marks["features"] = time.perf_counter()

    config = cfg.model_config(text.encoder.spec, image_spec, text.lora)
    config.base_rates_of = calibration_population(
        cfg, stack[calibrating], calib - stack.offsets[calibrating]
    )
    config.sources = {ex.source: source_record(ex.source, cfg.weight(ex.source)) for ex in stack}
    heads = [ex.source for ex in stack if cfg.weight(ex.source) > 0]
    head, histories = fit_head(
        config,
        pool,
        {s: stack.rows(s, "train", labelled=True) for s in heads},
        {s: cfg.weight(s) for s in heads},
        val,
        calib,
        cfg.head,
        cfg.seed,
        init=None if start is None else start[0],
        words=words_training(stack),
    )
    marks["head"] = time.perf_counter()

    evaluation = {
        ex.source: measure_parts(head, pool, stack, ex.source, calibrating) for ex in stack
    }
    metrics = run_metrics(cfg, head, stack, evaluation, text.tuning, histories, marks)
    save_checkpoint(head, out, text.adapter)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_shares_reference(head, pool, stack, calibrating, out)
    test = stack[calibrating].subset(stack[calibrating].part("test"))
    probs = np.exp(reading_log_probs(head, pool, stack.rows(calibrating, "test"))["both"])
    write_report(out, cfg, metrics, test, probs)
    return metrics


def write_shares_reference(
    head: MemeHead, pool: Pool, stack: Stack, calibrating: str, out: Path
) -> None:
    """What a collection's estimate needs to know of the calibration memes
    (`train.reference`), beside the model; a run with too few of them says so and writes none
    (the estimates then say they lack the calibration's uncertainty)."""
    ex = stack[calibrating]
    parts = {}
    for part in ("calib", "val"):
        rows = stack.rows(calibrating, part)
        readings = {r: np.exp(v) for r, v in reading_log_probs(head, pool, rows).items()}
        parts[part] = (readings, classes3(ex.allowed[rows - stack.offsets[calibrating]]))
    try:
        reference = build_reference(
            model_version(out),
            np.array(head.config.base_rates),
            parts["calib"],
            parts["val"],
            SOURCES[calibrating].examples_noun,
        )
    except DataError as err:
        log.warning("no shares reference written: %s", err)
        return
    reference.save(out)


def load_data(cfg: TrainConfig) -> list[Examples]:
    """Every data set of the run, read and split; skipped rows are logged."""
    sets = []
    for spec in cfg.data:
        examples = SOURCES[spec.source].read(spec.roots, cfg.splitting)
        for name, reason in examples.skipped:
            log.warning("%s: skipped %s: %s", spec.source, name, reason)
        sets.append(examples)
    return sets


def starting_model(cfg: TrainConfig) -> tuple[MemeHead, dict | None] | None:
    """The head (and text adapter) in `cfg.init`, checked to fit this run; None without it."""
    if cfg.init is None:
        return None
    try:
        head, adapter = load_model_weights(cfg.init)
    except CheckpointError as err:
        raise DataError(f"--init: {err}") from err
    c = head.config
    settings = [  # (what, the model's, this run's)
        ("text backbone", c.text.name, cfg.text_backbone),
        ("image backbone", c.image.name, cfg.image_backbone),
        ("fusion", c.fusion.kind, cfg.fusion),
        ("hidden size", c.fusion.hidden, cfg.hidden),
        ("members", c.members, cfg.members),
        ("words head", c.words_head, cfg.words_head),
        ("calibration", c.calibration, cfg.calibration),
    ]
    diff = [f"{n} {t} (this run: {o})" for n, t, o in settings if t != o]
    if diff:
        raise DataError(
            f"--init {cfg.init} was trained with {', '.join(diff)}: use its settings, or train "
            "without --init"
        )
    return head, adapter


@dataclass
class TextSide:
    """The run's text encoder with its adapter merged in; the adapter's shape and weights (None:
    frozen); what tuning measured (None: nothing was tuned in this run)."""

    encoder: TextEncoder
    lora: LoraSpec | None = None
    adapter: dict | None = None
    tuning: dict | None = None


def text_encoder_for(
    cfg: TrainConfig, stack: Stack, start: tuple[MemeHead, dict | None] | None
) -> TextSide:
    """The run's text encoder: the `--init` model's, one tuned on the run's words
    (`train.text_tuning`), or the pretrained one, frozen."""
    encoder = load_text_encoder(cfg.text_backbone)
    if start is not None:
        head, adapter = start
        if adapter is not None and head.config.text_tuning is not None:
            merge_lora(encoder, head.config.text_tuning, adapter)
        return TextSide(encoder, head.config.text_tuning, adapter)
    if cfg.tuning is None:
        return TextSide(encoder)
    val = text_sets([stack[cfg.calibrating_source]], "val")
    train = text_sets(stack.sets, "train")
    if not train or not val:
        raise DataError(
            "tuning the text encoder needs captions with labels in the training parts and in "
            f"{cfg.calibrating_source}'s validation part; train with --text-tuning none"
        )
    result = tune(encoder, train, val[0], cfg.tuning, cfg.seed, cfg.cache)
    merge_lora(encoder, cfg.tuning.lora, result.state)
    info = {
        "best_step": result.best_step,
        "seconds": round(result.seconds, 1),
        "history": result.history,
        "texts": {s.source: len(s.texts) for s in train},
        "weights": {s.source: s.weight for s in train},
    }
    return TextSide(encoder, cfg.tuning.lora, result.state, info)


def build_pool(cfg: TrainConfig, stack: Stack, encoder: TextEncoder) -> tuple[Pool, ImageSpec]:
    """Backbone features of every example (through the cache), stacked into one `Pool`; and
    the image encoder's spec."""
    image_encoder = load_image_encoder(cfg.image_backbone)
    texts, images, flips = [], [], []
    for ex in stack:
        t = torch.zeros(len(ex), encoder.dim)
        i = torch.zeros(len(ex), image_encoder.dim)
        f = torch.zeros(len(ex), image_encoder.dim)
        worded, pictured = np.flatnonzero(ex.has_text), np.flatnonzero(ex.has_image)
        if len(worded):
            t[worded] = text_features(encoder, [ex.captions[j] or "" for j in worded], cfg.cache)
        if len(pictured):
            paths = [p for j in pictured if (p := ex.images[j]) is not None]
            i[pictured] = image_features(image_encoder, paths, cfg.cache)
            if cfg.head.flip:
                f[pictured] = image_features(image_encoder, paths, cfg.cache, flip=True)
        texts.append(t)
        images.append(i)
        flips.append(f)
    pool = Pool(
        text=torch.cat(texts),
        image=torch.cat(images),
        has_text=torch.from_numpy(np.concatenate([ex.has_text for ex in stack])),
        has_image=torch.from_numpy(np.concatenate([ex.has_image for ex in stack])),
        allowed=torch.cat([torch.from_numpy(ex.allowed) for ex in stack]),
        image_flip=torch.cat(flips) if cfg.head.flip else None,
        aux=aux_targets(stack),
    )
    return pool, image_encoder.spec


def words_training(stack: Stack) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """What a words head (`ModelConfig.words_head`) learns from: every source's labelled
    training rows, each at its share of the text encoder's tuning (`Source.tuning_weight`), so
    the words head reads what the tuned encoder learnt, SemEval's tweets included."""
    return (
        {ex.source: stack.rows(ex.source, "train", labelled=True) for ex in stack},
        {ex.source: SOURCES[ex.source].tuning_weight for ex in stack},
    )


def calibration_population(cfg: TrainConfig, ex: Examples, idx: np.ndarray) -> str:
    """Which memes the model's probabilities are for, in words (`config.json`'s
    `base_rates_of`): the examples `idx` of `ex` it is calibrated on, how many, and how their
    labels fall on the three classes."""
    source = SOURCES[ex.source]
    (folders,) = [[r.name for r in d.roots] for d in cfg.data if d.source == ex.source]
    noun = (
        source.examples_noun
        if folders == [source.folder]
        else f"examples in {source.name}'s layout from {', '.join(folders)}"
    )
    # (n, 3): whether each label allows some level of each class
    classes = np.stack([ex.allowed[idx][:, TO3_INDEX == k].any(1) for k in range(3)], 1)
    single = classes.sum(1) == 1
    labelled = [
        f"{share:.0%} {name}" if share else f"none {name}"
        for name, share in zip(LABELS3, (classes & single[:, None]).mean(0), strict=True)
    ]
    if not single.all():
        labelled.append(f"{(~single).mean():.0%} of more than one class")
    return f"the {len(idx):,} {noun} the model was calibrated on (labelled {', '.join(labelled)})"


def source_record(name: str, weight: float) -> dict:
    """What `config.json` records of a training data set: what it is, its labels, its weight."""
    source = SOURCES[name]
    mapping = {label: list(levels) for label, levels in source.mapping.items()}
    return {"description": source.description, "mapping": mapping, "weight": weight}


def measure_parts(head: MemeHead, pool: Pool, stack: Stack, name: str, calibrating: str) -> dict:
    """A source's measures on its test part (with intervals) and validation part, by the
    reading its modalities make; the calibrating source also by each reading alone."""
    source, ex, rates = SOURCES[name], stack[name], np.array(head.config.base_rates)
    out: dict = {"reading": source.reading}
    for part in ("test", "val"):
        idx = ex.part(part)
        if not len(idx):
            continue
        readings = reading_log_probs(head, pool, stack.rows(name, part))
        sub = ex.subset(idx)
        out[part] = source.score(sub, np.exp(readings["both"]), rates, part == "test")
        if name == calibrating and part == "test":
            alone = {r: np.exp(readings[r]) for r in ("text", "image")}
            out["reading_margins"] = reading_margins(alone, rates)
            out["test_readings"] = {}
            for r, probs in alone.items():
                rows = np.flatnonzero(~np.isnan(probs).any(1))
                if len(rows):
                    out["test_readings"][r] = source.score(
                        sub.subset(rows), probs[rows], rates, True
                    )
    return out
