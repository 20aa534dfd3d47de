"""One training run: data -> split -> cached features -> head -> checkpoint + report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from memesent.backbones import ImageSpec, TextSpec, load_image_encoder, load_text_encoder
from memesent.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from memesent.labels import LABELS
from memesent.model import MemeHead
from memesent.model_files import model_version

from .config import TrainConfig
from .data import DataError, MemeSet, load_memes
from .features import image_features, text_features
from .loop import Features, base_rates, fit_head, predict_probs
from .metrics import evaluate_probs
from .report import write_report

log = logging.getLogger("train")


def starting_head(cfg: TrainConfig) -> MemeHead | None:
    """The head in `cfg.init`, checked to fit this run, or None without `--init`."""
    if cfg.init is None:
        return None
    try:
        head = load_checkpoint(cfg.init)
    except CheckpointError as err:
        raise DataError(f"--init: {err}") from err
    c = head.config
    theirs = (c.text.name, c.image.name, c.fusion.kind, c.fusion.hidden, c.members)
    ours = (cfg.text_backbone, cfg.image_backbone, cfg.fusion, cfg.hidden, cfg.members)
    if theirs != ours:
        names = ("text backbone", "image backbone", "fusion", "hidden size", "members")
        diff = [
            f"{n} {t} (this run: {o})"
            for n, t, o in zip(names, theirs, ours, strict=True)
            if t != o
        ]
        raise DataError(
            f"--init {cfg.init} was trained with {', '.join(diff)}: use its settings, or train "
            "without --init"
        )
    return head


def extract_features(cfg: TrainConfig, memes: MemeSet) -> tuple[Features, TextSpec, ImageSpec]:
    """Features of every meme from the frozen backbones, through the on-disk cache."""
    text_encoder = load_text_encoder(cfg.text_backbone)
    image_encoder = load_image_encoder(cfg.image_backbone)
    paths = memes.image_paths
    feats = Features(
        text=text_features(text_encoder, memes.captions, cfg.cache),
        image=image_features(image_encoder, paths, cfg.cache),
        image_flip=image_features(image_encoder, paths, cfg.cache, flip=True)
        if cfg.head.flip
        else None,
    )
    return feats, text_encoder.spec, image_encoder.spec


def run(cfg: TrainConfig) -> dict:
    """Train, evaluate on the held-out test split, and write the model folder `cfg.out`."""
    start = time.perf_counter()
    memes = load_memes(cfg.data)
    start_from = starting_head(cfg)
    for name, reason in memes.skipped:
        log.warning("skipped %s: %s", name, reason)
    if memes.skipped:
        log.warning("skipped %d of %d rows", len(memes.skipped), len(memes) + len(memes.skipped))
    split = cfg.split(memes.labels)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    split.save(out / "split.json", memes.names)

    feats, text_spec, image_spec = extract_features(cfg, memes)
    features_done = time.perf_counter()

    rates = base_rates(memes.labels[split.train])
    head, histories = fit_head(
        cfg.model_config(text_spec, image_spec, rates),
        feats,
        memes.labels,
        memes.aux,
        (split.train, split.val, split.calib),
        cfg.head,
        cfg.seed,
        init=start_from,
    )
    for k, h in enumerate(histories):
        log.info(
            "member %d: best epoch %d (0: as it started), validation log-loss %.3f",
            k + 1,
            h.best_epoch,
            h.val_log_loss[h.best_epoch],
        )
    done = time.perf_counter()

    test_labels = memes.labels[split.test]
    test_probs = predict_probs(head, feats, split.test)
    metrics = {
        "test": evaluate_probs(test_labels, test_probs, rates),
        "validation": evaluate_probs(
            memes.labels[split.val], predict_probs(head, feats, split.val), rates, intervals=False
        ),
        "base_rates_test": evaluate_probs(
            test_labels, np.tile(rates, (len(test_labels), 1)), rates, intervals=False
        ),
        "base_rates": dict(zip(LABELS, rates, strict=True)),
        "init": None
        if cfg.init is None
        else {
            "folder": Path(cfg.init).resolve().name,
            "version": model_version(cfg.init),
        },
        "calibration": {
            "method": cfg.calibration,
            "scale": float(head.calibration_scale),
            "bias": [round(float(b), 4) for b in head.calibration_bias],
        },
        "data": {
            "folders": [Path(d).resolve().name for d in cfg.data],
            "memes": len(memes),
            "skipped": len(memes.skipped),
            "train": len(split.train),
            "validation": len(split.val),
            "calibration": len(split.calib),
            "test": len(split.test),
        },
        "seconds": {
            "features": round(features_done - start, 1),
            "head": round(done - features_done, 1),
            "total": round(done - start, 1),
        },
        "history": [asdict(h) for h in histories],
    }
    save_checkpoint(head, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_report(out, cfg, metrics, test_labels, test_probs)
    return metrics
