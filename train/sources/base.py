"""What every data set adapter returns (`Examples`) and how it is registered (`Source`).

An adapter reads one data set in its own layout and returns `Examples`: for every example its
caption (None when the data set has no text), its picture (None when it has none), the levels
of `memesent.LABELS` its label allows (a label coarser than five levels is a set of allowed
levels, learnt by marginal likelihood), the part it belongs to (train / val / calib / test: the
data set's own split where it has one, otherwise a stratified split with a fixed seed) and the
extra columns its field measures with. `SOURCES` maps each name to its `Source`: what it holds,
how its labels map onto the five levels, and how its field scores a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Source:
    """A registered data set: `modalities` it has (`text`, `image` or both), `load(root,
    splitting)` its adapter, `mapping` each of its labels to the levels it allows (for the
    docs and the model card), `score(examples, probs, base_rates, intervals)` its field's
    measures of five-level answers, and `headline`, the key of the one its field quotes
    (described by `measure`)."""

    name: str
    description: str
    modalities: tuple[str, ...]
    load: Callable[[Path, Splitting], Examples]
    mapping: Mapping[str, tuple[str, ...]]
    score: Callable[[Examples, np.ndarray, np.ndarray, bool], dict]
    headline: str
    measure: str

    @property
    def reading(self) -> str:
        """The reading its examples are scored with: both modalities, or the one it has."""
        return "both" if len(self.modalities) == 2 else self.modalities[0]


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


def load_source(name: str, root: str | Path, splitting: Splitting | None = None) -> Examples:
    """The examples of source `name` read from `root`; a `DataError` says what is wrong."""
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(SOURCES)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{name}: {root} is not a folder")
    return SOURCES[name].load(root, splitting or Splitting())


def describe_mapping(source: Source) -> str:
    """`label → levels` for every label of `source`, one per line (docs/training.md, model card)."""
    return "\n".join(
        f"{label} → {' or '.join(levels) if len(levels) < len(LABELS) else 'any level'}"
        for label, levels in source.mapping.items()
    )
