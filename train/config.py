"""A training run's settings: `TrainConfig`, whose defaults (with the shipped recipe's data
sets, docs/training.md) produce the shipped model, and the named recipes (`RECIPES`): the
shipped one and the write-up's (`--recipe writeup`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from memesent.backbones import DEFAULT_IMAGE, DEFAULT_TEXT, ImageSpec, TextSpec
from memesent.fusion import FusionConfig
from memesent.model import ModelConfig
from memesent.tuning import LoraSpec

from .loop import HeadSettings
from .sources import SOURCES, Splitting, bare_source
from .text_tuning import TuningSettings

DEFAULT_CACHE = Path.home() / ".cache" / "memesent" / "features"


@dataclass(frozen=True)
class Recipe:
    """A named way to train: the data sets it is made for (`sources`, in `--data` order, which
    fixes the tuning's draws; each read from its `Source.folder` among the shared data sets),
    whether it refuses others (`only`), and the `TrainConfig` settings it sets (`head.NAME`: one
    of the head's `HeadSettings`; the others are kept as given)."""

    name: str
    sources: tuple[str, ...]
    only: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)


# The shipped model: the data sets whose `Source.shipped` gives their place, in that order.
SHIPPED = Recipe(
    "memesent",
    tuple(
        sorted(
            (n for n, s in SOURCES.items() if s.shipped is not None),
            key=lambda n: SOURCES[n].shipped or 0,
        )
    ),
)
# The write-up's network on the write-up's data alone: concatenation fusion, frozen text
# encoder, plain cross-entropy, no calibration, no mirrored pictures (the row the shipped model
# is compared against).
WRITEUP = Recipe(
    "writeup",
    tuple(n for n, s in SOURCES.items() if s.writeup),
    only=True,
    settings={
        "fusion": "concat",
        "tuning": None,
        "calibration": "none",
        "head.epochs": 60,
        "head.patience": 12,
        "head.batch_size": 64,
        "head.flip": False,
    },
)
RECIPES = {recipe.name: recipe for recipe in (SHIPPED, WRITEUP)}


@dataclass
class DataSpec:
    """One data set of a run: its source's name and folder(s) (a source that reads several
    folders as one set, such as Memotion's layout with a folder of corrections, may have
    several)."""

    source: str
    roots: list[Path]

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown data set {self.source!r}; known: {', '.join(SOURCES)}")


def data_specs(values: list[str]) -> list[DataSpec]:
    """`--data` values as data sets: `SOURCE=DIR`, or a bare DIR in the layout of the source
    that takes bare folders (`Source.bare_folders`: Memotion's); folders of a source that reads
    several as one set (`Source.load_folders`) gather into one."""
    specs: dict[str, DataSpec] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or name not in SOURCES:
            if sep and not Path(value).exists():
                raise ValueError(
                    f"unknown data set {name!r} in --data {value}; known: {', '.join(SOURCES)}"
                )
            name, folder = bare_source().name, value
        if name in specs and SOURCES[name].load_folders is None:
            raise ValueError(f"--data {name}=… is given twice")
        specs.setdefault(name, DataSpec(name, [])).roots.append(Path(folder))
    return list(specs.values())


@dataclass
class TrainConfig:
    """A training run (see the module). `weights`: each source's share of a batch, overriding
    its `Source.head_weight`; `calibrate_on`: the source whose validation part chooses the epoch
    and whose calibration part fits the calibration and the base rates (default: the run's
    source of highest `Source.calibration_priority`); `tuning`: how the text encoder learns
    sentiment (None: frozen); `init`: a model folder to start from (its head and its tuned text
    encoder, which is then not tuned again)."""

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
    members: int = 1
    words_head: bool = False
    calibration: str = "valence"
    head: HeadSettings = field(default_factory=HeadSettings)
    seed: int = 0
    val_fraction: float = 0.15
    calib_fraction: float = 0.15
    test_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError("--members must be at least 1")
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {list(RECIPES)}")
        names = [d.source for d in self.data]
        if not names:
            raise ValueError("no data set given")
        if len(set(names)) < len(names):
            raise ValueError("each data set may be given once (several folders of one: one each)")
        unknown = set(self.weights) - set(names)
        if unknown:
            raise ValueError(f"weights for data sets this run does not have: {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("a data set's --weight must be 0 or more")
        offered = {t for n in names for t in SOURCES[n].aux}
        if set(self.head.aux) - offered:
            unknown_aux = ", ".join(sorted(set(self.head.aux) - offered))
            raise ValueError(
                f"--aux {unknown_aux}: no data set of this run has that label (they have: "
                f"{', '.join(sorted(offered)) or 'none'})"
            )
        if not any(self.weight(n) > 0 for n in names):
            raise ValueError("every data set has weight 0: give at least one a --weight above 0")
        if self.calibrate_on is not None and self.calibrate_on not in names:
            raise ValueError(f"--calibrate-on {self.calibrate_on}: not among this run's data sets")
        able = [n for n in names if SOURCES[n].calibration_priority is not None]
        if self.calibrate_on is not None and self.calibrate_on not in able:
            raise ValueError(f"--calibrate-on {self.calibrate_on}: it has no calibration part")
        if not able:
            anywhere = [n for n, s in SOURCES.items() if s.calibration_priority is not None]
            raise ValueError(
                f"none of this run's data sets ({', '.join(names)}) has a calibration part to "
                f"choose the epoch and fit the calibration on: add one of {', '.join(anywhere)}"
            )

    @property
    def sources(self) -> list[str]:
        return [d.source for d in self.data]

    @property
    def calibrating_source(self) -> str:
        """The source whose memes choose the epoch and fit the calibration (see the class)."""
        if self.calibrate_on:
            return self.calibrate_on
        able = [s for s in self.sources if SOURCES[s].calibration_priority is not None]
        return max(able, key=lambda s: SOURCES[s].calibration_priority or 0)

    def weight(self, source: str) -> float:
        return self.weights.get(source, SOURCES[source].head_weight)

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
            members=self.members,
            words_head=self.words_head,
            calibration=self.calibration,
            text_tuning=lora,
            training=self.to_dict(),
        )


def apply_recipe(cfg: TrainConfig, name: str) -> TrainConfig:
    """`cfg` with recipe `name`'s settings; a `ValueError` when the recipe trains on other
    data sets alone."""
    recipe = RECIPES[name]
    if recipe.only and cfg.sources != list(recipe.sources):
        wanted = ", ".join(
            "DIR (its layout)" if SOURCES[s].bare_folders else f"{s}=DIR" for s in recipe.sources
        )
        raise ValueError(
            f"the {name} recipe trains on {', '.join(recipe.sources)} only: --data {wanted}"
        )
    top = {k: v for k, v in recipe.settings.items() if not k.startswith("head.")}
    head = {k.removeprefix("head."): v for k, v in recipe.settings.items() if k.startswith("head.")}
    return replace(cfg, recipe=name, head=replace(cfg.head, **head), **top)
