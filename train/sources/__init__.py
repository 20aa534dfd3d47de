"""Training data sets, one small adapter each, registered by name in `SOURCES`.

An adapter reads one data set in its own layout and returns `Examples`: for every example its
caption (None when the data set has no text), its picture (None when it has none), the levels
of `memesent.LABELS` its label allows (a label coarser than five levels is a set of allowed
levels, learnt by marginal likelihood), the part it belongs to (train / val / calib / test: the
data set's own split where it has one, otherwise a stratified split with a fixed seed) and the
extra columns its field measures with. Its `Source` declares the rest: how a run weighs it,
whether it calibrates, how it is scored and what others scored on it. Adding a data set is one
module here that calls `register`: every module of this package is imported below.
"""

import importlib
import pkgutil

from .base import (
    PARTS,
    SOURCES,
    WHOLE,
    Examples,
    Plot,
    Source,
    Splitting,
    bare_source,
    describe_mapping,
    load_source,
    register,
    source_named,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "PARTS",
    "SOURCES",
    "WHOLE",
    "Examples",
    "Plot",
    "Source",
    "Splitting",
    "bare_source",
    "describe_mapping",
    "load_source",
    "register",
    "source_named",
]
