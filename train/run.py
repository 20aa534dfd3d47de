"""One training run: data -> split -> cached features -> head -> checkpoint + report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from memesent.backbones import (
    DEFAULT_IMAGE,
    DEFAULT_TEXT,
    ImageSpec,
    TextSpec,
    load_image_encoder,
    load_text_encoder,
)
from memesent.checkpoint import save_checkpoint
from memesent.fusion import FusionConfig
from memesent.labels import LABELS
from memesent.model import ModelConfig

from .data import load_memes, stratified_split
from .features import image_features, text_features
from .loop import Features, HeadSettings, fit_head, predict_probs
from .metrics import evaluate_probs
from .report import write_report

log = logging.getLogger("train")
DEFAULT_CACHE = Path.home() / ".cache" / "memesent" / "features"


@dataclass
class TrainConfig:
    """A training run; the defaults produce the shipped model."""

    data: Path
    out: Path
    cache: Path = DEFAULT_CACHE
    text_backbone: str = DEFAULT_TEXT
    image_backbone: str = DEFAULT_IMAGE
    fusion: str = "gated"
    hidden: int = 256
    dropout: float = 0.3
    members: int = 1
    tune_priors: bool = False
    head: HeadSettings = field(default_factory=HeadSettings)
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("data", "out", "cache"):
            d.pop(key)
        return d

    def model_config(self, text: TextSpec, image: ImageSpec) -> ModelConfig:
        """The head this run trains, on top of the backbones it extracted features with."""
        fusion = FusionConfig(
            kind=self.fusion,
            text_dim=text.dim,
            image_dim=image.dim,
            hidden=self.hidden,
            dropout=self.dropout,
        )
        return ModelConfig(
            text=text, image=image, fusion=fusion, members=self.members, training=self.to_dict()
        )


def extract_features(cfg: TrainConfig, memes) -> tuple[Features, TextSpec, ImageSpec]:
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
    for name, reason in memes.skipped:
        log.warning("skipped %s: %s", name, reason)
    if memes.skipped:
        log.warning("skipped %d of %d rows", len(memes.skipped), len(memes) + len(memes.skipped))
    split = stratified_split(memes.labels, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    split.save(out / "split.json", memes.names)

    feats, text_spec, image_spec = extract_features(cfg, memes)
    features_done = time.perf_counter()

    head, histories = fit_head(
        cfg.model_config(text_spec, image_spec),
        feats,
        memes.labels,
        memes.aux,
        split.train,
        split.val,
        cfg.head,
        cfg.seed,
        cfg.tune_priors,
    )
    for k, h in enumerate(histories):
        log.info(
            "member %d: best epoch %d, validation macro-F1 %.3f",
            k + 1,
            h.best_epoch + 1,
            max(h.val_macro_f1_3),
        )
    done = time.perf_counter()

    metrics = {
        "test": evaluate_probs(memes.labels[split.test], predict_probs(head, feats, split.test)),
        "validation": evaluate_probs(
            memes.labels[split.val], predict_probs(head, feats, split.val)
        ),
        "majority_baseline_test": majority_baseline(
            memes.labels[split.train], memes.labels[split.test]
        ),
        "data": {
            "memes": len(memes),
            "skipped": len(memes.skipped),
            "train": len(split.train),
            "validation": len(split.val),
            "test": len(split.test),
        },
        "logit_bias": [round(float(b), 3) for b in head.logit_bias],
        "seconds": {
            "features": round(features_done - start, 1),
            "head": round(done - features_done, 1),
            "total": round(done - start, 1),
        },
        "history": [asdict(h) for h in histories],
    }
    save_checkpoint(head, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_report(out, cfg, metrics)
    return metrics


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> dict:
    """Metrics of always answering the level most frequent in `train_labels`."""
    probs = np.zeros((len(test_labels), len(LABELS)))
    probs[:, np.bincount(train_labels, minlength=len(LABELS)).argmax()] = 1.0
    return evaluate_probs(test_labels, probs)
