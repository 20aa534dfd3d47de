"""A training run's settings: `TrainConfig`, whose defaults (with the shipped recipe's data
sets, docs/training.md) produce the shipped model; `--recipe writeup` the write-up's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from memesent.backbones import DEFAULT_IMAGE, DEFAULT_TEXT, ImageSpec, TextSpec
from memesent.fusion import FusionConfig
from memesent.model import ModelConfig
from memesent.tuning import LoraSpec

from .loop import HeadSettings
from .sources import SOURCES, Splitting
from .text_tuning import TuningSettings

DEFAULT_CACHE = Path.home() / ".cache" / "memesent" / "features"
# Each source's share of every batch of the head's training (renormalised over the sources a
# run has); text-encoder tuning has its own (`train.text_tuning.TUNING_WEIGHTS`). A source of
# weight 0 trains no part of the head, and is still tuned on and evaluated. SemEval's tweets
# only tune the text encoder: the ablation (docs/results.md) read MET-Meme's validation memes
# best with them left out of the head.
SOURCE_WEIGHTS = {
    "metmeme": 1.0,
    "memotion": 1.0,
    "sst5": 1.0,
    "semeval": 0.0,
    "twitter-images": 1.0,
}
# Where calibration and early stopping come from when `--calibrate-on` is not given: the first
# of these sources the run has (memes before sentences).
CALIBRATE_ON = ("metmeme", "memotion", "twitter-images", "sst5", "semeval")
RECIPES = ("memesent", "writeup")


@dataclass
class DataSpec:
    """One data set of a run: its source's name and folder(s) (Memotion's layout may have
    several, such as Memotion and a folder of corrections, trained on as one set)."""

    source: str
    roots: list[Path]

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown data set {self.source!r}; known: {', '.join(SOURCES)}")


def data_specs(values: list[str]) -> list[DataSpec]:
    """`--data` values as data sets: `SOURCE=DIR`, or a bare DIR in Memotion's layout (bare
    folders and `memotion=` folders gather into one Memotion set)."""
    specs: dict[str, DataSpec] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or name not in SOURCES:
            if sep and not Path(value).exists():
                raise ValueError(
                    f"unknown data set {name!r} in --data {value}; known: {', '.join(SOURCES)}"
                )
            name, folder = "memotion", value
        if name in specs and name != "memotion":
            raise ValueError(f"--data {name}=… is given twice")
        specs.setdefault(name, DataSpec(name, [])).roots.append(Path(folder))
    return list(specs.values())


@dataclass
class TrainConfig:
    """A training run (see the module). `weights`: each source's share of a batch (default
    `SOURCE_WEIGHTS`); `calibrate_on`: the source whose validation part chooses the epoch and
    whose calibration part fits the calibration and the base rates; `tuning`: how the text
    encoder learns sentiment (None: frozen); `init`: a model folder to start from (its head and
    its tuned text encoder, which is then not tuned again)."""

    data: list[DataSpec]
    out: Path
    cache: Path = DEFAULT_CACHE
    init: Path | None = None
    recipe: str = "memesent"
    weights: dict[str, float] = field(default_factory=dict)
    calibrate_on: str | None = None
    tuning: TuningSettings | None = field(default_factory=TuningSettings)
    text_backbone: str = DEFAULT_TEXT
    image_backbone: str = DEFAULT_IMAGE
    fusion: str = "gated"
    hidden: int = 256
    dropout: float = 0.3
    calibration: str = "valence"
    head: HeadSettings = field(default_factory=HeadSettings)
    seed: int = 0
    val_fraction: float = 0.15
    calib_fraction: float = 0.15
    test_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {RECIPES}")
        names = [d.source for d in self.data]
        if not names:
            raise ValueError("no data set given")
        if len(set(names)) < len(names):
            raise ValueError("each data set may be given once (several Memotion folders: one each)")
        unknown = set(self.weights) - set(names)
        if unknown:
            raise ValueError(f"weights for data sets this run does not have: {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("a data set's --weight must be 0 or more")
        if not any(self.weight(n) > 0 for n in names):
            raise ValueError("every data set has weight 0: give at least one a --weight above 0")
        if self.calibrate_on is not None and self.calibrate_on not in names:
            raise ValueError(f"--calibrate-on {self.calibrate_on}: not among this run's data sets")

    @property
    def sources(self) -> list[str]:
        return [d.source for d in self.data]

    @property
    def calibrating_source(self) -> str:
        """The source whose memes choose the epoch and fit the calibration (see the class)."""
        if self.calibrate_on:
            return self.calibrate_on
        return next(s for s in (*CALIBRATE_ON, *self.sources) if s in self.sources)

    def weight(self, source: str) -> float:
        return self.weights.get(source, SOURCE_WEIGHTS.get(source, 1.0))

    @property
    def splitting(self) -> Splitting:
        return Splitting(self.seed, self.val_fraction, self.calib_fraction, self.test_fraction)

    def to_dict(self) -> dict:
        """The settings that shape the model (paths left out), for `config.json`."""
        d = asdict(self)
        for key in ("data", "out", "cache", "init"):
            d.pop(key)
        d["weights"] = {s: self.weight(s) for s in self.sources}
        d["calibrate_on"] = self.calibrating_source
        d["tuning"] = None if self.tuning is None else self.tuning.to_dict()
        return d

    def model_config(self, text: TextSpec, image: ImageSpec, lora: LoraSpec | None) -> ModelConfig:
        """The head this run trains, on top of the backbones it extracted features with."""
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
            calibration=self.calibration,
            text_tuning=lora,
            training=self.to_dict(),
        )


def writeup_recipe(cfg: TrainConfig) -> TrainConfig:
    """The write-up's recipe on `cfg`'s data: concatenation fusion, frozen text encoder, plain
    cross-entropy, no calibration, no mirrored pictures (the row the shipped model is compared
    against; Memotion only)."""
    if cfg.sources != ["memotion"]:
        raise ValueError("the write-up's recipe trains on Memotion only: --data DIR (its layout)")
    cfg.recipe, cfg.fusion, cfg.tuning, cfg.calibration = "writeup", "concat", None, "none"
    cfg.head = HeadSettings(epochs=60, patience=12, batch_size=64, flip=False)
    return cfg
