"""A collection's share of negative and of positive memes, estimated from the model's answers.

Counting each meme's most likely class measures a collection badly: a model that reads single
memes only a little better than chance leans every answer toward the shares of the memes it was
calibrated on. Because the answers are calibrated, the collection as a whole can be measured
instead: under the prior shift (`memesent.population`), the likelihood of the collection's
positive share q among its memes with a side is the product over memes of
p(+|meme)·q/π + p(−|meme)·(1−q)/(1−π), π the calibration memes' share (Saerens et al., 2002,
whose EM climbs to its maximum). `estimate_shares` takes the posterior median of q under a
uniform prior and its 5 % and 95 % quantiles. The calibration itself was fitted on a few hundred
memes, and a small error in it moves the estimate far (a shift of 0.1 in the answers' log-odds
moves it by about 0.15 on the shipped model): the posterior is averaged over the calibration's
own uncertainty (its intercept's standard error, `Reference.intercept_sd`, by Gauss–Hermite
nodes), so the interval counts that error too. The model reads the side of a meme; it was
calibrated on memes that have one, so without labels the neutral share is not measured.

That holds only for memes the model reads as it reads its calibration memes. `check` tests it:
the mean of six numbers per meme (each reading's log-odds of the two sides and its log
probability of neutral) against the mean the calibration memes give at the estimated share
(Hotelling's T², with the calibration memes' class means and spreads), flagged past a threshold
set on simulated collections of validation memes (`Reference.threshold`).

A few labels make the estimate valid whatever the collection: with labels for a random sample
of it, each class's share is prediction-powered (PPI++, Angelopoulos et al. 2023): the labels'
mean plus λ times the model's mean over the whole collection less its mean over the labelled
memes, λ tuned to the variance (0: the labels alone), with a normal 90 % interval.
docs/how-it-works.md explains it for a non-statistician, with the measurements
(`python -m benchmarks.collection_shares`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from .errors import MemesentError
from .labels import LABELS, LABELS3, TO_THREE, VALENCE, collapse

REFERENCE_FILE = "shares_reference.json"
LEVEL = 0.90  # every interval here is a 90 % interval
GRID = np.linspace(0.0005, 0.9995, 1000)  # positive shares the likelihood is evaluated at
NODES = 9  # Gauss–Hermite nodes over the calibration's uncertainty
CHUNK = 2_000  # memes per block of the likelihood (memory: CHUNK x len(GRID) floats)
MIN_LABELS = 10  # fewer labels than this: the estimate is the model's alone
MIN_CHECKED = 30  # fewer memes with both readings than this: the check is not made
FEATURES = tuple(
    f"{reading} {what}" for reading in ("both", "text", "image") for what in ("sides", "neutral")
)
EPS = 1e-12


@dataclass(frozen=True)
class Reference:
    """What a collection's estimate needs to know of the memes the model was calibrated on,
    written beside the model by training (`train.reference`), so that the data need not ship.

    `model`: the version digest of the model folder it was measured for; `classes`: how many
    calibration memes each of `LABELS3` labels; `intercept_sd`: the standard error of the
    calibration's intercept on the two sides' log-odds (1/√Σp(1−p) over the calibration memes
    with a side); `means` and `covariances` of `FEATURES` among the calibration memes of each
    side (negative, positive) and `counts` of them; `threshold`: the check's T² above which a
    collection is unlike them, and `threshold_of`, how it was set."""

    model: str
    classes: dict[str, int]
    intercept_sd: float
    means: list[list[float]]
    covariances: list[list[list[float]]]
    counts: list[int]
    threshold: float
    threshold_of: str

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / REFERENCE_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> Reference | None:
        """The reference in `model_dir`, or None where there is none; `CheckpointError` when
        it was measured for another model than the folder's."""
        from .model_files import CheckpointError, model_version

        path = Path(model_dir) / REFERENCE_FILE
        if not path.is_file():
            return None
        try:
            reference = cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            raise CheckpointError(
                f"{path} is damaged ({err}): run python -m train.reference"
            ) from err
        if reference.model != model_version(model_dir):
            raise CheckpointError(
                f"{path} was measured for model {reference.model}, and this folder holds model "
                f"{model_version(model_dir)}: run python -m train.reference --model {model_dir}"
            )
        return reference


@dataclass(frozen=True)
class Check:
    """Whether a collection looks like the calibration memes: `statistic` (T²) against
    `threshold` over the `memes` that have both a caption and a picture; `like` is None when too
    few have both."""

    memes: int
    statistic: float | None
    threshold: float
    like: bool | None


@dataclass(frozen=True)
class SharesEstimate:
    """A collection's estimated shares. `memes`: how many were scored; `method`: how the
    shares were estimated; `of`: which memes the shares are of ("memes with a side", where the
    neutral share is not measured and is None, or "all memes"); `shares` and their 90 %
    `interval`s (None where not measured); `counted`: the shares of each meme's most likely
    class, for comparison; `check`: whether the collection looks like the calibration memes
    (None: the model folder has no reference); `labelled`: how many labels were used."""

    memes: int
    method: str
    of: str
    shares: dict[str, float | None]
    interval: dict[str, tuple[float, float] | None]
    counted: dict[str, float]
    check: Check | None
    labelled: int = 0

    @property
    def like_calibration(self) -> bool | None:
        return None if self.check is None else self.check.like

    def to_dict(self) -> dict:
        """`memesent shares --json`'s object."""
        return {
            "memes": self.memes,
            "method": self.method,
            "of": self.of,
            "shares": self.shares,
            "interval": {k: None if v is None else list(v) for k, v in self.interval.items()},
            "counted": self.counted,
            "like_calibration": self.like_calibration,
            "check": None if self.check is None else asdict(self.check),
            "labelled": self.labelled,
        }

    def label_shares(self, base_rates: np.ndarray) -> dict[str, float]:
        """Three-class shares to shift answers to (`Predictor.with_label_shares`): the estimate,
        where the neutral share is not measured the calibration memes' (from `base_rates`),
        each at least 0.001 (the shift needs every class)."""
        rates = collapse(np.asarray(base_rates, dtype=np.float64))
        neutral = self.shares["neutral"]
        if neutral is None:
            neutral = float(rates[1])
            sided = {
                c: (1 - neutral) * float(self.shares[c] or 0.0) for c in ("negative", "positive")
            }
            shares = {
                "negative": sided["negative"],
                "neutral": neutral,
                "positive": sided["positive"],
            }
        else:
            shares = {c: float(self.shares[c] or 0.0) for c in LABELS3}
        floor = {c: max(v, 0.001) for c, v in shares.items()}
        total = sum(floor.values())
        return {c: v / total for c, v in floor.items()}

    def lines(self) -> list[str]:
        """The estimate in plain sentences, as the command line and the page say it."""
        said = [f"Of {self.memes:,} memes ({self.method}):"]
        for c in LABELS3:
            share, interval = self.shares[c], self.interval[c]
            if share is None:
                said.append(f"  {c}: {NOT_MEASURED}")
                continue
            span = (
                "" if interval is None else f" (90 % interval {interval[0]:.0%}–{interval[1]:.0%})"
            )
            said.append(f"  {c}: {share:.0%} of the {self.of}{span}")
        counted = ", ".join(f"{c} {self.counted[c]:.0%}" for c in LABELS3)
        said.append(f"Counting each meme's most likely class instead: {counted}.")
        said.append(WHY_COUNTS_DIFFER)
        if self.check is not None:
            said.append(check_sentence(self.check, self.labelled))
        return said


NOT_MEASURED = "not measured without labels (the model was calibrated on memes with a side)"
WHY_COUNTS_DIFFER = (
    "The two differ because the model reads one meme only a little better than chance: each "
    "answer leans toward the shares of the memes it was calibrated on, and counting adds the "
    "leaning up, while the estimate corrects for it."
)


def check_sentence(check: Check, labelled: int) -> str:
    """Whether to trust an estimate from the model alone, in one sentence."""
    if check.like is None:
        return (
            f"Only {check.memes} memes have both a caption and a picture: too few to check "
            "whether they look like the memes the model was calibrated on."
        )
    if check.like:
        return "These memes look like the memes the model was calibrated on, as far as it can tell."
    trusted = (
        "the estimate uses your labels, which hold whatever the memes"
        if labelled >= MIN_LABELS
        else "the estimate from the model alone cannot be trusted here: label a random sample"
    )
    return f"These memes do not look like the memes the model was calibrated on: {trusted}."


def side_probability(probs: np.ndarray) -> np.ndarray:
    """Of each answer's probability on the two sides of neutral, the positive side's share."""
    probs = np.asarray(probs, dtype=np.float64)
    positive = probs[..., VALENCE > 0].sum(-1)
    negative = probs[..., VALENCE < 0].sum(-1)
    return np.clip(positive / np.maximum(positive + negative, EPS), 1e-9, 1 - 1e-9)


def features(readings: Mapping[str, np.ndarray]) -> np.ndarray:
    """`FEATURES` of each meme from its three readings ({reading: (n, 5)}), NaN where a meme
    lacks a reading."""
    cols = []
    for reading in ("both", "text", "image"):
        probs = np.asarray(readings[reading], dtype=np.float64)
        side = side_probability(probs)
        cols += [np.log(side / (1 - side)), np.log(np.maximum(collapse(probs)[..., 1], EPS))]
    return np.stack(cols, axis=-1)


def side_posterior(p: np.ndarray, prior_share: float, intercept_sd: float) -> np.ndarray:
    """The posterior of the positive share over `GRID` (sums to 1), from each meme's positive
    side probability `p`, the calibration memes' share `prior_share`, averaged over an
    intercept error of standard deviation `intercept_sd` (see the module)."""
    logit = np.log(p / (1 - p))
    nodes, weights = np.polynomial.hermite_e.hermegauss(NODES if intercept_sd > 0 else 1)
    weights = weights / weights.sum()
    posterior = np.zeros(len(GRID))
    for node, weight in zip(nodes, weights, strict=True):
        shifted = 1 / (1 + np.exp(-(logit + intercept_sd * node)))
        loglik = np.zeros(len(GRID))
        for start in range(0, len(p), CHUNK):
            part = shifted[start : start + CHUNK, None]
            loglik += np.log(
                part / prior_share * GRID + (1 - part) / (1 - prior_share) * (1 - GRID)
            ).sum(0)
        one = np.exp(loglik - np.max(loglik))
        posterior += weight * one / one.sum()
    return posterior


def quantiles(posterior: np.ndarray, *qs: float) -> list[float]:
    """The positive shares at which `posterior` (over `GRID`) reaches each of `qs`."""
    at = np.minimum(np.searchsorted(np.cumsum(posterior), qs), len(GRID) - 1)
    return [float(GRID[i]) for i in at]


def check(readings: Mapping[str, np.ndarray], positive_share: float, reference: Reference) -> Check:
    """Whether memes with these readings look like the calibration memes at this positive
    share (see the module)."""
    values = features(readings)
    values = values[~np.isnan(values).any(1)]
    if len(values) < MIN_CHECKED:
        return Check(len(values), None, reference.threshold, None)
    w = np.array([1 - positive_share, positive_share])
    means, covs = np.array(reference.means), np.array(reference.covariances)
    centre = w @ means
    mixture = sum(
        w[k] * (covs[k] + np.outer(means[k] - centre, means[k] - centre)) for k in range(2)
    )
    spread = mixture / len(values) + sum(
        w[k] ** 2 * covs[k] / reference.counts[k] for k in range(2)
    )
    gap = values.mean(0) - centre
    statistic = float(
        gap @ np.linalg.pinv(spread, hermitian=True) @ gap
    )  # a constant feature: none
    return Check(
        len(values), round(statistic, 3), reference.threshold, statistic <= reference.threshold
    )


def prediction_powered(
    labels: np.ndarray, model: np.ndarray
) -> tuple[float, tuple[float, float], float]:
    """PPI++ of one class's share: `labels` (n,) 1/0/NaN (unlabelled) for every meme and
    `model` (n,) its probability of the class. The estimate, its 90 % interval, and the
    labelled memes it is worth (n over the variance's ratio to the labels' alone). The interval
    is Wilson's score interval at that many memes around the estimate: the labels' own Wilson
    interval when the model adds nothing (λ = 0), and never empty when none (or every one) of
    the labelled memes is of the class."""
    known = ~np.isnan(labels)
    y, f_labelled, n, total = labels[known], model[known], int(known.sum()), len(model)
    spread_f = float(np.var(f_labelled, ddof=1))
    covariance = float(np.cov(y, f_labelled)[0, 1])
    lam = 0.0
    if spread_f > EPS:
        lam = float(np.clip(covariance / ((1 + n / total) * spread_f), 0, 1))
    estimate = float(np.clip(y.mean() + lam * (model.mean() - f_labelled.mean()), 0, 1))
    spread_y = float(np.var(y, ddof=1))
    alone = spread_y / n
    powered = (spread_y - 2 * lam * covariance + lam**2 * spread_f) / n
    powered += lam**2 * float(np.var(model, ddof=1)) / total
    worth = n if alone <= EPS else n * alone / min(max(powered, EPS), alone)
    return estimate, wilson(estimate, worth), worth


def wilson(share: float, n: float) -> tuple[float, float]:
    """Wilson's score interval (`LEVEL`) of a share observed in `n` memes."""
    z2 = NormalDist().inv_cdf((1 + LEVEL) / 2) ** 2
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = math.sqrt(z2 * (share * (1 - share) / n + z2 / (4 * n * n))) / (1 + z2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def estimate_shares(
    readings: Mapping[str, np.ndarray],
    base_rates: np.ndarray,
    reference: Reference | None,
    labels: np.ndarray | None = None,
) -> SharesEstimate:
    """A collection's shares from its memes' readings ({"both", "text", "image"}: (n, 5) each,
    NaN rows where a meme lacks a reading; "both" has none), the model's `base_rates` and its
    calibration memes' `reference` (None: no interval from the model alone, and no check), and
    optionally `labels` (n,): an index into `LABELS3` for the memes a person labelled, -1 for
    the others (see the module)."""
    both = np.asarray(readings["both"], dtype=np.float64)
    n = len(both)
    if n == 0 or np.isnan(both).any():
        raise ValueError("estimating shares needs at least one scored meme, each with its answer")
    rates = np.asarray(base_rates, dtype=np.float64)
    counted = np.bincount(collapse(both).argmax(1), minlength=3) / n
    prior_share = float(side_probability(rates))
    sd = 0.0 if reference is None else reference.intercept_sd
    posterior = side_posterior(side_probability(both), prior_share, sd)
    median, low, high = quantiles(posterior, 0.5, (1 - LEVEL) / 2, (1 + LEVEL) / 2)
    checked = None if reference is None else check(readings, median, reference)
    labelled = 0 if labels is None else int((np.asarray(labels) >= 0).sum())
    if labelled >= MIN_LABELS:
        assert labels is not None
        return _with_labels(both, np.asarray(labels), counted, checked, labelled)
    method = "prior-shift likelihood of the model's answers"
    if reference is None:
        method += ", without the calibration's uncertainty (the model folder has no reference)"
    interval = None if reference is None else ((1 - high, 1 - low), (low, high))
    return SharesEstimate(
        memes=n,
        method=method,
        of="memes with a side",
        shares={"negative": 1 - median, "neutral": None, "positive": median},
        interval={
            "negative": None if interval is None else interval[0],
            "neutral": None,
            "positive": None if interval is None else interval[1],
        },
        counted=dict(zip(LABELS3, counted.round(6).tolist(), strict=True)),
        check=checked,
    )


def _with_labels(
    both: np.ndarray, labels: np.ndarray, counted: np.ndarray, checked: Check | None, n: int
) -> SharesEstimate:
    model = collapse(both)
    estimates: dict[str, float] = {}
    interval: dict[str, tuple[float, float] | None] = {}
    for k, c in enumerate(LABELS3):
        y = np.where(labels < 0, np.nan, (labels == k).astype(np.float64))
        estimates[c], interval[c], _ = prediction_powered(y, model[:, k])
    total = sum(estimates.values()) or 1.0
    return SharesEstimate(
        memes=len(both),
        method=f"your {n} labels and the model's answers (prediction-powered, PPI++)",
        of="memes",
        shares={c: v / total for c, v in estimates.items()},
        interval=interval,
        counted=dict(zip(LABELS3, counted.round(6).tolist(), strict=True)),
        check=checked,
        labelled=n,
    )


class LabelsError(MemesentError, ValueError):
    """A labels file that cannot be used; the message says what is wrong."""


def read_labels(path: Path, images: list[str]) -> np.ndarray:
    """A person's labels of some of the memes `images` (a results file's `image` column), from
    a CSV with `image` and `label` (negative, neutral or positive, or one of the five levels):
    an index into `LABELS3` per meme, -1 where unlabelled."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = set(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LabelsError(f"cannot read the labels {path}: {err}") from err
    if not {"image", "label"} <= columns:
        raise LabelsError(f"{path} needs the columns image and label, not {sorted(columns)}")
    where = {image: i for i, image in enumerate(images)}
    labels = np.full(len(images), -1)
    unknown, bad = [], []
    for row in rows:
        image, label = (row["image"] or "").strip(), (row["label"] or "").strip().lower()
        label = TO_THREE.get(label, label)
        if image not in where:
            unknown.append(image)
        elif label not in LABELS3:
            bad.append(f"{image}: {label or '(empty)'}")
        else:
            labels[where[image]] = LABELS3.index(label)
    if unknown:
        raise LabelsError(
            f"{path} labels {len(unknown)} memes that are not scored in the results: "
            f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}"
        )
    if bad:
        raise LabelsError(
            f"{path}: a label is negative, neutral or positive (or one of the five levels), "
            f"not {', '.join(bad[:5])}"
        )
    return labels


def readings_of_rows(rows: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """The three readings ({reading: (n, 5)}) of results rows (`memesent.results` columns):
    NaN where a row has no reading of that modality."""
    out = {}
    for reading, prefix in (("both", "prob_"), ("text", "text_prob_"), ("image", "image_prob_")):
        out[reading] = np.array(
            [[_number(row.get(prefix + level)) for level in LABELS] for row in rows],
            dtype=np.float64,
        ).reshape(-1, len(LABELS))
    return out


def _number(value: object) -> float:
    if value is None or value == "":
        return float("nan")
    return float(value)  # type: ignore[arg-type]
