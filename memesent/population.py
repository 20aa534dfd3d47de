"""Which memes a model's probabilities are for, and moving them to a collection of other memes.

A model's probabilities are calibrated on one population of memes, the calibration part of one
data set: its base rates (the mean answer over those memes) are that population's label shares
as the model sees them. A collection whose label shares differ (Memotion's memes skew positive
and a third of them are neutral; MET-Meme's are balanced and none is neutral) gets probabilities
that mean what they say by a prior shift (Saerens et al., 2002):
p'(level | meme) ∝ p(level | meme) · q(level) / π(level), with π the base rates and q the
collection's shares. It assumes that the collection differs only in how often each level
occurs, not in what a meme of a level looks like.

`Predictor.with_label_shares` applies it to every reading and to explanations; a model's
`base_rates_of` (`Prediction.population`) names the memes its probabilities are for.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .labels import LABELS, LABELS3, TO3_INDEX, collapse

SUM_TOLERANCE = 0.01  # label shares given by a person may be rounded


def parse_shares(text: str) -> dict[str, float]:
    """`negative=0.09,neutral=0.31,positive=0.6` (or the five levels) as a dict; `ValueError`
    with what is wrong otherwise."""
    shares: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"label shares take LEVEL=SHARE,…, not {item!r}") from None
        if not sep:
            raise ValueError(f"label shares take LEVEL=SHARE,…, not {item!r}")
    return shares


def share_vector(shares: Mapping[str, float], base_rates: np.ndarray) -> np.ndarray:
    """Label shares over the five `LABELS`: given for the five levels, or for the three classes
    of `LABELS3` (each class's share then spread over its levels as `base_rates` spread it).
    `ValueError` unless they name every level (or every class) once, are at least 0 and sum
    to 1."""
    names = set(shares)
    if names == set(LABELS):
        q = np.array([shares[k] for k in LABELS], dtype=np.float64)
    elif names == set(LABELS3):
        q3 = np.array([shares[k] for k in LABELS3], dtype=np.float64)
        within = base_rates / collapse(base_rates)[TO3_INDEX]
        q = q3[TO3_INDEX] * within
    else:
        raise ValueError(
            f"label shares name the five levels ({', '.join(LABELS)}) or the three classes "
            f"({', '.join(LABELS3)}), not {', '.join(sorted(names)) or 'nothing'}"
        )
    if (q < 0).any() or not np.isfinite(q).all():
        raise ValueError("label shares must be numbers of at least 0")
    if abs(q.sum() - 1) > SUM_TOLERANCE:
        raise ValueError(f"label shares must sum to 1, not {q.sum():.3f}")
    return q / q.sum()


def prior_shift(shares: Mapping[str, float], base_rates: np.ndarray) -> np.ndarray:
    """The log-weights (five, `LABELS` order) that move probabilities calibrated where the
    levels occur as `base_rates` to a collection where they occur as `shares` (see the module):
    add them to log-probabilities and renormalise. A level the collection never has gets -inf."""
    base_rates = np.asarray(base_rates, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(share_vector(shares, base_rates)) - np.log(base_rates)


def shifted_population(population: str, shares: Mapping[str, float]) -> str:
    """The words for which memes a model's probabilities are for (`population`, a model's
    `base_rates_of`) once they are shifted to `shares`."""
    given = ", ".join(f"{name}={share:g}" for name, share in shares.items())
    calibrated = population or "the memes the model was calibrated on"
    return f"{calibrated}, shifted to the label shares you gave: {given}"
