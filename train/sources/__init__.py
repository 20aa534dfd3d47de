"""Training data sets, one small adapter each, registered by name in `SOURCES`.

An adapter reads one data set in its own layout and returns `Examples`: for every example its
caption (None when the data set has no text), its picture (None when it has none), the levels
of `memesent.LABELS` its label allows (a label coarser than five levels is a set of allowed
levels, learnt by marginal likelihood), the part it belongs to (train / val / calib / test: the
data set's own split where it has one, otherwise a stratified split with a fixed seed) and the
extra columns its field measures with. Adding a data set is one module here that calls
`register`.
"""

from . import memotion, metmeme, semeval, sst5, twitter_images
from .base import (
    PARTS,
    SOURCES,
    WHOLE,
    Examples,
    Source,
    Splitting,
    describe_mapping,
    load_source,
    register,
)

__all__ = [
    "PARTS",
    "SOURCES",
    "WHOLE",
    "Examples",
    "Source",
    "Splitting",
    "describe_mapping",
    "load_source",
    "memotion",
    "metmeme",
    "register",
    "semeval",
    "sst5",
    "twitter_images",
]
