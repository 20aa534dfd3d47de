"""One training run: data sets -> split -> text encoder tuned -> cached features -> head ->
calibration on memes -> checkpoint + report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from memesent.backbones import ImageSpec, TextEncoder, load_image_encoder, load_text_encoder
from memesent.checkpoint import CheckpointError, load_model_weights, save_checkpoint
from memesent.labels import LABELS
from memesent.model import READINGS, MemeHead
from memesent.model_files import model_version
from memesent.tuning import merge_lora

from .config import TrainConfig
from .data import DataError
from .features import image_features, text_features
from .loop import Pool, fit_head, reading_log_probs
from .metrics import reading_margins
from .report import write_report
from .sources import PARTS, SOURCES, Examples, load_source
from .sources.memotion import load_folders
from .text_tuning import TextSet, tune

log = logging.getLogger("train")


def load_data(cfg: TrainConfig) -> list[Examples]:
    """Every data set of the run, read and split; skipped rows are logged."""
    sets = []
    for spec in cfg.data:
        if spec.source == "memotion":
            examples = load_folders(spec.roots, cfg.splitting)
        else:
            examples = load_source(spec.source, spec.roots[0], cfg.splitting)
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
    theirs = (c.text.name, c.image.name, c.fusion.kind, c.fusion.hidden, c.members, c.calibration)
    ours = (cfg.text_backbone, cfg.image_backbone, cfg.fusion, cfg.hidden, 1, cfg.calibration)
    names = ("text backbone", "image backbone", "fusion", "hidden size", "members", "calibration")
    diff = [
        f"{n} {t} (this run: {o})" for n, t, o in zip(names, theirs, ours, strict=True) if t != o
    ]
    if diff:
        raise DataError(
            f"--init {cfg.init} was trained with {', '.join(diff)}: use its settings, or train "
            "without --init"
        )
    return head, adapter


def _text_sets(cfg: TrainConfig, sets: list[Examples], part: str) -> list[TextSet]:
    """The labelled captions, sentences and tweets of `part` of each source, weighted for
    tuning (validation sets are named `SOURCE-val`)."""
    assert cfg.tuning is not None
    out = []
    for ex in sets:
        idx = [i for i in ex.part(part) if ex.captions[i] and not ex.allowed[i].all()]
        if idx:
            texts = [ex.captions[i] or "" for i in idx]
            name = ex.source if part == "train" else f"{ex.source}-{part}"
            out.append(TextSet(name, texts, ex.allowed[idx], cfg.tuning.weight(ex.source)))
    return out


def text_encoder_for(
    cfg: TrainConfig, sets: list[Examples], start: tuple[MemeHead, dict | None] | None
) -> tuple[TextEncoder, dict | None, dict | None]:
    """The run's text encoder with its adapter merged in: the `--init` model's, one tuned on
    the run's words (`train.text_tuning`), or none (frozen). Also the adapter weights and what
    tuning measured (None when nothing was tuned)."""
    encoder = load_text_encoder(cfg.text_backbone)
    if start is not None:
        head, adapter = start
        if adapter is not None and head.config.text_tuning is not None:
            merge_lora(encoder, head.config.text_tuning, adapter)
        return encoder, adapter, None
    if cfg.tuning is None:
        return encoder, None, None
    calibrating = next(ex for ex in sets if ex.source == cfg.calibrating_source)
    val = _text_sets(cfg, [calibrating], "val")
    train = _text_sets(cfg, sets, "train")
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
    return encoder, result.state, info


def build_pool(
    cfg: TrainConfig, sets: list[Examples], encoder: TextEncoder
) -> tuple[Pool, ImageSpec]:
    """Backbone features of every example (through the cache), stacked into one `Pool`; and
    the image encoder's spec."""
    image_encoder = load_image_encoder(cfg.image_backbone)
    texts, images, flips, allowed, source = [], [], [], [], []
    for k, ex in enumerate(sets):
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
        allowed.append(torch.from_numpy(ex.allowed))
        source.append(np.full(len(ex), k))
    pool = Pool(
        text=torch.cat(texts),
        image=torch.cat(images),
        has_text=torch.from_numpy(np.concatenate([ex.has_text for ex in sets])),
        has_image=torch.from_numpy(np.concatenate([ex.has_image for ex in sets])),
        allowed=torch.cat(allowed),
        source=np.concatenate(source),
        sources=[ex.source for ex in sets],
        image_flip=torch.cat(flips) if cfg.head.flip else None,
    )
    return pool, image_encoder.spec


def run(cfg: TrainConfig) -> dict:
    """Train, evaluate each data set on its held-out test part, and write the model folder."""
    start = time.perf_counter()
    sets = load_data(cfg)
    begin = starting_model(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    split = {ex.source: {p: [ex.names[i] for i in ex.part(p)] for p in PARTS} for ex in sets}
    (out / "split.json").write_text(json.dumps(split))

    encoder, adapter, tuning = text_encoder_for(cfg, sets, begin)
    tuned = time.perf_counter()
    pool, image_spec = build_pool(cfg, sets, encoder)
    features_done = time.perf_counter()

    offsets = np.cumsum([0] + [len(ex) for ex in sets])
    where = {ex.source: offsets[k] for k, ex in enumerate(sets)}
    calibrating = next(ex for ex in sets if ex.source == cfg.calibrating_source)

    def part(ex: Examples, name: str) -> np.ndarray:
        idx = ex.part(name)
        return idx[~ex.allowed[idx].all(1)] + where[ex.source]

    heads = [ex for ex in sets if cfg.weight(ex.source) > 0]  # the sources that train the head
    train_idx = {ex.source: part(ex, "train") for ex in heads}
    shares = {ex.source: cfg.weight(ex.source) for ex in heads}
    val_idx, calib_idx = part(calibrating, "val"), part(calibrating, "calib")
    if not len(val_idx) or not len(calib_idx):
        raise DataError(f"{cfg.calibrating_source} has no labelled memes to validate and calibrate")
    if begin is not None:
        lora = begin[0].config.text_tuning
    else:
        lora = cfg.tuning.lora if adapter is not None and cfg.tuning is not None else None
    config = cfg.model_config(encoder.spec, image_spec, lora)
    config.base_rates_of = (
        f"the mean answer over the {len(calib_idx):,} {cfg.calibrating_source} memes of the "
        "calibration part"
    )
    config.sources = {
        ex.source: {
            "description": SOURCES[ex.source].description,
            "mapping": {k: list(v) for k, v in SOURCES[ex.source].mapping.items()},
            "weight": cfg.weight(ex.source),
        }
        for ex in sets
    }
    head, histories = fit_head(
        config,
        pool,
        train_idx,
        shares,
        val_idx,
        calib_idx,
        cfg.head,
        cfg.seed,
        init=None if begin is None else begin[0],
    )
    for k, h in enumerate(histories):
        log.info(
            "member %d: best epoch %d (0: as it started), validation log-loss %.3f",
            k + 1,
            h.best_epoch,
            h.val_log_loss[h.best_epoch],
        )
    done = time.perf_counter()
    rates = np.array(head.config.base_rates)
    evaluation = {
        ex.source: evaluate_parts(head, pool, ex, where[ex.source], rates, cfg.calibrating_source)
        for ex in sets
    }
    metrics = {
        "calibrated_on": cfg.calibrating_source,
        "test": evaluation[cfg.calibrating_source]["test"],
        "sources": evaluation,
        "base_rates": dict(zip(LABELS, rates.tolist(), strict=True)),
        "base_rates_of": config.base_rates_of,
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
            for ex in sets
        },
        "text_tuning": tuning,
        "seconds": {
            "text_tuning": round(tuned - start, 1),
            "features": round(features_done - tuned, 1),
            "head": round(done - features_done, 1),
            "total": round(done - start, 1),
        },
        "history": [asdict(h) for h in histories],
    }
    save_checkpoint(head, out, adapter)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    test = calibrating.part("test")
    test_probs = np.exp(reading_log_probs(head, pool, test + where[calibrating.source])["both"])
    write_report(out, cfg, metrics, calibrating.subset(test), test_probs)
    return metrics


def evaluate_parts(
    head: MemeHead,
    pool: Pool,
    ex: Examples,
    offset: int,
    rates: np.ndarray,
    calibrating: str,
) -> dict:
    """A source's measures on its test part (with intervals) and validation part, by the
    reading its modalities make; the calibrating source also by each reading alone."""
    source = SOURCES[ex.source]
    out: dict = {"reading": source.reading}
    for name in ("test", "val"):
        idx = ex.part(name)
        if not len(idx):
            continue
        readings = reading_log_probs(head, pool, idx + offset)
        sub = ex.subset(idx)
        out[name] = source.score(sub, np.exp(readings["both"]), rates, name == "test")
        if ex.source == calibrating and name == "test":
            out["reading_margins"] = reading_margins(
                {r: np.exp(readings[r]) for r in ("text", "image")}, rates
            )
            out["test_readings"] = {
                r: source.score(
                    sub.subset(np.flatnonzero(~np.isnan(readings[r]).any(1))),
                    np.exp(readings[r][~np.isnan(readings[r]).any(1)]),
                    rates,
                    True,
                )
                for r in ("text", "image")
                if (~np.isnan(readings[r]).any(1)).any()
            }
    return out
