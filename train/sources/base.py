"""What every data set adapter returns (`Examples`) and how it is registered (`Source`).

An adapter reads one data set in its own layout and returns `Examples`: for every example its
caption (None when the data set has no text), its picture (None when it has none), the levels
of `memesent.LABELS` its label allows (a label coarser than five levels is a set of allowed
levels, learnt by marginal likelihood), the part it belongs to (train / val / calib / test: the
data set's own split where it has one, otherwise a stratified split with a fixed seed) and the
extra columns its field measures with. `SOURCES` maps each name to its `Source`: everything
about the data set, from how to read it to how a run weighs, calibrates on and scores it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memesent.labels import LABELS

from ..data import DataError, stratified_split

PARTS = ("train", "val", "calib", "test")


@dataclass(frozen=True)
class Splitting:
    """How a data set without a split of its own is cut: shares of validation (chooses the
    epoch), calibration and test, stratified, the same for the same seed."""

    seed: int = 0
    val: float = 0.15
    calib: float = 0.15
    test: float = 0.15

    def parts(self, strata: np.ndarray) -> np.ndarray:
        """One part name per example, stratified by `strata` (any labels, one per example);
        with every share 0 (`WHOLE`), the whole data set is one part, `train`."""
        if not (self.val or self.calib or self.test):
            return np.full(len(strata), PARTS[0], dtype=object)
        _, codes = np.unique(strata, return_inverse=True)
        split = stratified_split(codes, self.val, self.test, self.seed, self.calib)
        parts = np.empty(len(strata), dtype=object)
        for name, idx in zip(PARTS, (split.train, split.val, split.calib, split.test), strict=True):
            parts[idx] = name
        return parts


WHOLE = Splitting(val=0.0, calib=0.0, test=0.0)  # read a data set whole, without a split


@dataclass
class Examples:
    """Examples of one source (see the module). `allowed` is (n, 5) bool in `LABELS` order;
    `extra` holds per-example columns the source's measures use (e.g. MET-Meme's signed
    intensity); `skipped` lists (name, reason) for rows left out."""

    source: str
    names: list[str]
    captions: list[str | None]
    images: list[Path | None]
    allowed: np.ndarray
    parts: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.names)
        sizes = {len(self.captions), len(self.images), len(self.allowed), len(self.parts)}
        if sizes != {n} or any(len(v) != n for v in self.extra.values()):
            raise ValueError(f"{self.source}: columns of different lengths")
        if self.allowed.shape[1:] != (len(LABELS),) or not self.allowed.any(1).all():
            raise ValueError(f"{self.source}: every example must allow at least one level")
        if not set(self.parts) <= set(PARTS):
            raise ValueError(f"{self.source}: parts must be among {PARTS}")

    def __len__(self) -> int:
        return len(self.names)

    def part(self, name: str) -> np.ndarray:
        """Indices of the examples in part `name`."""
        return np.flatnonzero(self.parts == name)

    def subset(self, idx: np.ndarray) -> Examples:
        """The examples `idx`, in that order."""
        return Examples(
            source=self.source,
            names=[self.names[i] for i in idx],
            captions=[self.captions[i] for i in idx],
            images=[self.images[i] for i in idx],
            allowed=self.allowed[idx],
            parts=self.parts[idx],
            extra={k: v[idx] for k, v in self.extra.items()},
        )

    @property
    def has_text(self) -> np.ndarray:
        return np.array([c is not None for c in self.captions], dtype=bool)

    @property
    def has_image(self) -> np.ndarray:
        return np.array([p is not None for p in self.images], dtype=bool)


Plot = Callable[[Examples, np.ndarray, dict, Path, str], None]
"""A picture of a data set's answers: (its examples, their five-level probabilities, its
measures of them, the PNG file to write, a title)."""


@dataclass(frozen=True)
class Source:
    """A registered data set: everything about it, declared in its adapter's module.

    What it is: `description`, the `modalities` it has (`text`, `image` or both), `folder` (its
    usual folder name among the shared data sets), `mapping`, each of its labels to the
    levels it allows (for the docs and the model card), and `noun`, what its examples are
    called in a sentence ("MET-Meme memes"; default: "NAME examples").

    How to read it: `load(root, splitting)`, its adapter; `load_folders(roots, splitting)` where
    several folders of its layout read as one set (None: one folder only); `bare_folders` when a
    bare `--data DIR` is in its layout (one source at most).

    How it is scored: `score(examples, probs, base_rates, intervals)`, its field's measures of
    five-level answers; `headline`, the key of the one its field quotes (described by
    `measure`); `published`, others' results on its test part by that measure, (who, value);
    `plots`, pictures of its answers by name; `details(examples, probs)`, text reports that
    `train.evaluate` adds to its JSON, and `summary(measures)`, what it prints of them;
    `sides(examples)`, the examples whose label has a side and whether each is positive (what
    `train.picture_pipeline` probes pictures' features for; None: its labels have no side).
    `aux`: labels beside sentiment that the head may learn as auxiliary targets (`--aux`), each
    an `extra` column of class names ("" where an example has none) with its classes.

    How a run uses it: `head_weight`, its share of every batch of the head's training
    (renormalised over a run's sources; 0: it trains no part of the head, and is still tuned on
    and evaluated; `--weight` overrides it); `tuning_weight`, its share of every batch of the
    text encoder's tuning; `calibration_priority`: of a run's sources, the one with the highest
    chooses the epoch and fits the calibration and the base rates (None: it cannot, having no
    calibration part); `shipped`: its place among the shipped recipe's data sets, in `--data`
    order (None: the shipped model is not trained on it); `writeup`: the original write-up
    trained on it (`--recipe writeup` trains on it alone).
    """

    name: str
    description: str
    modalities: tuple[str, ...]
    load: Callable[[Path, Splitting], Examples]
    mapping: Mapping[str, tuple[str, ...]]
    score: Callable[[Examples, np.ndarray, np.ndarray, bool], dict]
    headline: str
    measure: str
    folder: str
    noun: str = ""
    load_folders: Callable[[Sequence[Path], Splitting], Examples] | None = None
    bare_folders: bool = False
    published: tuple[tuple[str, float], ...] = ()
    plots: Mapping[str, Plot] = field(default_factory=dict)
    details: Callable[[Examples, np.ndarray], dict[str, str]] | None = None
    summary: Callable[[dict], str] | None = None
    sides: Callable[[Examples], tuple[np.ndarray, np.ndarray]] | None = None
    aux: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    head_weight: float = 1.0
    tuning_weight: float = 1.0
    calibration_priority: int | None = None
    shipped: int | None = None
    writeup: bool = False

    @property
    def examples_noun(self) -> str:
        """What its examples are called in a sentence (`noun`)."""
        return self.noun or f"{self.name} examples"

    @property
    def reading(self) -> str:
        """The reading its examples are scored with: both modalities, or the one it has."""
        return "both" if len(self.modalities) == 2 else self.modalities[0]

    def read(self, roots: Sequence[Path], splitting: Splitting) -> Examples:
        """Its examples in `roots`: one folder, or several where `load_folders` reads them as
        one set. A `DataError` says what is wrong."""
        for root in roots:
            if not Path(root).is_dir():
                raise DataError(f"{self.name}: {root} is not a folder")
        if len(roots) == 1:
            return self.load(Path(roots[0]), splitting)
        if self.load_folders is None:
            raise DataError(f"{self.name} reads one folder, not {len(roots)}: give it once")
        return self.load_folders([Path(r) for r in roots], splitting)


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add `source` to `SOURCES` (again under its name: replaced)."""
    if source.head_weight < 0 or source.tuning_weight < 0:
        raise ValueError(f"{source.name}: weights must be 0 or more")
    bare = [s.name for s in SOURCES.values() if s.bare_folders and s.name != source.name]
    if source.bare_folders and bare:
        raise ValueError(f"{source.name}: bare --data folders are already {bare[0]}'s layout")
    SOURCES[source.name] = source
    return source


def source_named(name: str) -> Source:
    """The registered source `name`; a `DataError` names the known ones."""
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def bare_source() -> Source:
    """The source whose layout a bare `--data DIR` is in."""
    for source in SOURCES.values():
        if source.bare_folders:
            return source
    known = ", ".join(SOURCES)
    raise DataError(f"no data set reads a bare --data DIR: name its source, SOURCE=DIR ({known})")


def load_source(name: str, root: str | Path, splitting: Splitting | None = None) -> Examples:
    """The examples of source `name` read from `root`; a `DataError` says what is wrong."""
    return source_named(name).read([Path(root)], splitting or Splitting())


def describe_mapping(source: Source) -> str:
    """`label → levels` for every label of `source`, one per line (docs/training.md, model card)."""
    return "\n".join(
        f"{label} → {' or '.join(levels) if len(levels) < len(LABELS) else 'any level'}"
        for label, levels in source.mapping.items()
    )
