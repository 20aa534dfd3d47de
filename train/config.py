"""A training run's settings: `TrainConfig`, whose defaults produce the shipped model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from memesent.backbones import DEFAULT_IMAGE, DEFAULT_TEXT, ImageSpec, TextSpec
from memesent.fusion import FusionConfig
from memesent.model import ModelConfig

from .data import Split, stratified_split
from .loop import HeadSettings

DEFAULT_CACHE = Path.home() / ".cache" / "memesent" / "features"


@dataclass
class TrainConfig:
    """A training run; the defaults produce the shipped model. `data` holds one or more
    Memotion-layout folders, trained on as one set; `init` a model folder whose head training
    starts from (its fusion settings must match this run's)."""

    data: list[Path]
    out: Path
    cache: Path = DEFAULT_CACHE
    init: Path | None = None
    text_backbone: str = DEFAULT_TEXT
    image_backbone: str = DEFAULT_IMAGE
    fusion: str = "gated"
    hidden: int = 256
    dropout: float = 0.3
    members: int = 1
    calibration: str = "vector"
    head: HeadSettings = field(default_factory=HeadSettings)
    seed: int = 0
    val_fraction: float = 0.15
    calib_fraction: float = 0.15
    test_fraction: float = 0.15

    def to_dict(self) -> dict:
        """The settings that shape the model (paths left out), for `config.json`."""
        d = asdict(self)
        for key in ("data", "out", "cache", "init"):
            d.pop(key)
        return d

    def model_config(
        self, text: TextSpec, image: ImageSpec, rates: tuple[float, ...]
    ) -> ModelConfig:
        """The head this run trains, on top of the backbones it extracted features with;
        `rates` are the training memes' base rates."""
        fusion = FusionConfig(
            kind=self.fusion,
            text_dim=text.dim,
            image_dim=image.dim,
            hidden=self.hidden,
            dropout=self.dropout,
        )
        return ModelConfig(
            text=text,
            image=image,
            fusion=fusion,
            members=self.members,
            calibration=self.calibration,
            base_rates=rates,
            training=self.to_dict(),
        )

    def split(self, labels: np.ndarray) -> Split:
        """This run's train / validation / calibration / test split of `labels`."""
        return stratified_split(
            labels, self.val_fraction, self.test_fraction, self.seed, self.calib_fraction
        )
