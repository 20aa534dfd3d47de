"""A run's data sets stacked into one table for the head: the order and offset of each source
(`Stack`, known once the data sets are read) and the backbone features and labels of every
example (`Pool`, once the features are computed), row for row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .sources import PARTS, SOURCES, Examples


class Stack:
    """A run's data sets in the order they are stacked: each source's examples, and the rows
    its parts take in the `Pool`."""

    def __init__(self, sets: list[Examples]) -> None:
        self.sets = sets
        starts = np.cumsum([0] + [len(ex) for ex in sets])
        self.offsets = {ex.source: int(start) for ex, start in zip(sets, starts, strict=False)}

    def __iter__(self) -> Iterator[Examples]:
        return iter(self.sets)

    def __getitem__(self, source: str) -> Examples:
        return self.sets[list(self.offsets).index(source)]

    def rows(self, source: str, part: str, labelled: bool = False) -> np.ndarray:
        """The pool rows of `part` of `source`, in order; `labelled`: only the examples whose
        label allows fewer than every level (the others teach and measure nothing)."""
        ex = self[source]
        idx = ex.part(part)
        if labelled:
            idx = idx[~ex.allowed[idx].all(1)]
        return idx + self.offsets[source]

    def split(self) -> dict[str, dict[str, list[str]]]:
        """Each source's example names, part by part: `split.json`."""
        return {ex.source: {p: [ex.names[i] for i in ex.part(p)] for p in PARTS} for ex in self}


@dataclass
class AuxTarget:
    """An auxiliary target of every pool row: its `classes`, and each row's class index in
    `labels` (n,), -1 where the row has none (another source's, or unlabelled)."""

    classes: tuple[str, ...]
    labels: torch.Tensor


def aux_targets(stack: Stack) -> dict[str, AuxTarget]:
    """The auxiliary targets the stack's sources declare (`Source.aux`), stacked row for row;
    a target two sources declare must have the same classes in both."""
    out: dict[str, AuxTarget] = {}
    n = sum(len(ex) for ex in stack)
    for ex in stack:
        for name, classes in SOURCES[ex.source].aux.items():
            target = out.setdefault(name, AuxTarget(classes, torch.full((n,), -1)))
            if target.classes != classes:
                raise ValueError(f"auxiliary target {name!r}: its classes differ between sources")
            index = {c: k for k, c in enumerate(classes)}
            codes = [index.get(v, -1) for v in ex.extra[name]]
            start = stack.offsets[ex.source]
            target.labels[start : start + len(ex)] = torch.tensor(codes)
    return out


@dataclass
class Pool:
    """Backbone features and labels of every example of every source, stacked in the `Stack`'s
    order.

    `text` / `image` are zeros where `has_text` / `has_image` is False; `image_flip` holds the
    mirrored pictures' features (None: no mirroring); `allowed` (n, 5) bool; `aux` the
    auxiliary targets its sources declare (`Source.aux`), by name."""

    text: torch.Tensor
    image: torch.Tensor
    has_text: torch.Tensor
    has_image: torch.Tensor
    allowed: torch.Tensor
    image_flip: torch.Tensor | None = None
    aux: dict[str, AuxTarget] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.allowed)
