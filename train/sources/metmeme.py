"""MET-Meme (Xu et al., SIGIR 2022), English part: memes with an emotion and its intensity.

Layout: `labels.csv` (`image_name, text, emotion, intensity, ...`) and `images/`. The emotion
gives the side of neutral (happiness and love positive; anger, sorrow, fear and hate negative)
and the intensity how far out: slightly → the plain level, moderately → the plain or the very
level, very → the very level. Surprise has no side: it allows every level, so it teaches the
model nothing about valence and is left out of the valence measures. No meme is neutral.
The other labels (the emotion itself, its intensity, the intention, offensiveness, metaphor)
are kept as auxiliary targets the head may learn beside valence (`AUX`, `--aux`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from memesent.labels import LABELS, level_set

from ..data import DataError, image_problem
from ..metrics import valence_measures
from ..plots import plot_valence
from .base import Examples, Source, Splitting, register

POSITIVE = ("happiness", "love")
NEGATIVE = ("anger", "sorrow", "fear", "hate")
NO_SIDE = ("surprise",)
INTENSITY = {"slightly": 1, "moderately": 2, "very": 3}
_OUT = {1: ("{side}",), 2: ("{side}", "very_{side}"), 3: ("very_{side}",)}
# auxiliary targets: labels.csv's column -> its classes (a column may be absent)
AUX = {
    "emotion": POSITIVE + NEGATIVE + NO_SIDE,
    "intensity": tuple(INTENSITY),
    "intention": ("entertaining", "expressive", "offensive", "interactive", "other"),
    "offensiveness": ("non-offensive", "slightly", "moderately", "very"),
    "metaphor": ("0", "1"),
}


def allowed_levels(emotion: str, intensity: str) -> tuple[str, ...]:
    """The five-level names an (emotion, intensity) label allows (see the module)."""
    if emotion in NO_SIDE:
        return LABELS
    side = "positive" if emotion in POSITIVE else "negative"
    return tuple(level.format(side=side) for level in _OUT[INTENSITY[intensity]])


def signed_intensity(emotion: str, intensity: str) -> float:
    """+1…+3 for positive emotions, −1…−3 for negative ones, NaN for surprise."""
    if emotion in NO_SIDE:
        return float("nan")
    return float(INTENSITY[intensity] * (1 if emotion in POSITIVE else -1))


def load(root: Path, splitting: Splitting) -> Examples:
    csv = root / "labels.csv"
    if not csv.is_file():
        raise DataError(f"metmeme: {root} has no labels.csv (MET-Meme's layout)")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in ("image_name", "text", "emotion", "intensity") if c not in df.columns]
    if missing:
        raise DataError(f"metmeme: {csv} lacks the column(s) {', '.join(missing)}")
    emotions = df["emotion"].str.strip().str.lower()
    intensities = df["intensity"].str.strip().str.lower()
    known = set(POSITIVE + NEGATIVE + NO_SIDE)
    bad = sorted(set(emotions) - known) + sorted(set(intensities) - set(INTENSITY))
    if bad:
        raise DataError(f"metmeme: {csv} has unknown emotion or intensity value(s) {bad}")
    keep, skipped = [], []
    for i, name in enumerate(df["image_name"]):
        reason = image_problem(root / "images", name)
        (skipped.append((name, reason)) if reason else keep.append(i))
    if not keep:
        raise DataError(f"metmeme: no row of {csv} has a readable picture")
    rows = df.iloc[keep]
    emo, inten = emotions.iloc[keep].tolist(), intensities.iloc[keep].tolist()
    allowed = np.array([level_set(*allowed_levels(e, k)) for e, k in zip(emo, inten, strict=True)])
    signed = np.array([signed_intensity(e, k) for e, k in zip(emo, inten, strict=True)])
    aux = {name: _aux_column(rows, name, classes) for name, classes in AUX.items()}
    return Examples(
        source="metmeme",
        names=rows["image_name"].tolist(),
        captions=[t.strip() or None for t in rows["text"]],
        images=[root / "images" / n for n in rows["image_name"]],
        allowed=allowed,
        parts=splitting.parts(np.array(emo)),
        extra={"signed_intensity": signed, **aux},
        skipped=skipped,
    )


def _aux_column(rows: pd.DataFrame, name: str, classes: tuple[str, ...]) -> np.ndarray:
    """Column `name` of `rows` as class names, "" where it is absent or not among `classes`."""
    if name not in rows.columns:
        return np.full(len(rows), "", dtype=object)
    values = rows[name].str.strip().str.lower()
    return np.array([v if v in classes else "" for v in values], dtype=object)


def sides(ex: Examples) -> tuple[np.ndarray, np.ndarray]:
    """The memes with a side (surprise has none) and whether each is positive."""
    signed = ex.extra["signed_intensity"]
    keep = np.flatnonzero(~np.isnan(signed))
    return keep, signed[keep] > 0


def _valence(ex: Examples, probs: np.ndarray, measures: dict, path: Path, title: str) -> None:
    plot_valence(ex.extra["signed_intensity"], probs, path, title)


SOURCE = register(
    Source(
        name="metmeme",
        description="MET-Meme memes (English): picture, caption, emotion and its intensity",
        noun="MET-Meme memes",
        modalities=("text", "image"),
        load=load,
        mapping={
            f"{', '.join(group)}, {k}": allowed_levels(group[0], k)
            for group in (POSITIVE, NEGATIVE)
            for k in INTENSITY
        }
        | {"surprise, any intensity": LABELS},
        score=lambda ex, probs, rates, intervals: valence_measures(
            ex.extra["signed_intensity"], ex.allowed, probs, rates, intervals
        ),
        headline="auroc_valence",
        measure="AUROC, positive against negative emotions",
        folder="metmeme",
        plots={"valence": _valence},
        sides=sides,
        aux=AUX,
        # memes' captions teach the text encoder their own sentiment; sentences and tweets
        # (sst5, semeval) teach sentiment in general and take the larger shares
        tuning_weight=0.2,
        shipped=3,
        calibration_priority=3,  # memes with a side: the calibration they can fit is `valence`
    )
)
