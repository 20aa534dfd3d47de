"""How far to trust a model, in plain words derived from its own held-out measurements.

Every sentence here is computed from a model folder's `metrics.json` (the test part of the memes
it is calibrated on, written by `python -m train`) or from one prediction, never typed in for a
particular model: another model gets its own words. Memes labelled with five levels (Memotion's
layout) are judged by how well the model tells negative, neutral and positive memes apart
(`HeldOutQuality`); memes labelled with an emotion (MET-Meme) by how well it tells positive
from negative ones and how true its valence is (`ValenceQuality`). `load_quality` picks the one
a model folder's measurements call for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .labels import LABELS, LABELS3, positive_share
from .model_files import CheckpointError

METRICS_FILE = "metrics.json"
CHANCE = 0.5  # AUROC of answers that carry no information
# Above these AUROCs, a class told apart from the rest is called a little / fairly / well
# separated (a common reading of AUROC: 0.6 poor, 0.7 fair, 0.8 good).
SEPARATION_WORDS = ((0.8, "well"), (0.7, "fairly well"), (0.0, "a little better than chance"))
CALIBRATED_ECE = 0.05  # expected calibration error below which probabilities are called calibrated
SMALL_SHIFT, LARGE_SHIFT = 0.05, 0.25  # total variation from a typical meme's answer


@dataclass(frozen=True)
class HeldOutQuality:
    """The test-split measurements that decide how a model's answers should be read."""

    n: int
    accuracy_3: float
    mean_top_prob_3: float
    ece_3: float
    log_loss_3: float
    log_loss_base_3: float
    auroc_3: dict[str, float | None]
    auroc_ci: dict[str, list[float] | None]

    @classmethod
    def from_metrics(cls, metrics: dict) -> HeldOutQuality:
        """From a `metrics.json` dict; `KeyError`/`TypeError`/`ValueError` if it lacks a key."""
        t = metrics["test"]
        ci = t.get("ci", {})
        return cls(
            n=int(t["n"]),
            accuracy_3=float(t["accuracy_3"]),
            mean_top_prob_3=float(t["mean_top_prob_3"]),
            ece_3=float(t["ece_3"]),
            log_loss_3=float(t["log_loss_3"]),
            log_loss_base_3=float(t["log_loss_base_3"]),
            auroc_3={c: t["auroc_3"][c] for c in LABELS3},
            auroc_ci={c: ci.get(f"auroc_3_{c}") for c in LABELS3},
        )

    @classmethod
    def load(cls, model_dir: str | Path) -> HeldOutQuality | ValenceQuality | None:
        """The quality recorded in `model_dir`, or None when it has no usable `metrics.json`
        (`load_quality`)."""
        return load_quality(model_dir)

    def above_chance(self) -> list[str]:
        """The classes whose AUROC interval lies wholly above chance."""
        return [c for c in LABELS3 if (ci := self.auroc_ci[c]) is not None and ci[0] > CHANCE]

    @property
    def calibrated(self) -> bool:
        return self.ece_3 <= CALIBRATED_ECE

    def separation(self) -> str:
        """Which classes the model tells apart from the rest, and how well."""
        known = {c: a for c, a in self.auroc_3.items() if a is not None}
        if not known:
            return "It could not be measured how well this model tells the classes apart."
        low, high = min(known.values()), max(known.values())
        span = f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f}–{high:.2f}"
        better = self.above_chance()
        if not better:
            return (
                f"On {self.n:,} memes it never saw in training, this model told negative, neutral "
                f"and positive memes apart no better than chance (AUROC {span}, where 0.5 is "
                "chance; every 95 % interval includes 0.5)."
            )
        parts = []
        for c in better:
            ci = self.auroc_ci[c]
            assert ci is not None  # above_chance keeps only classes with an interval
            word = next(w for bound, w in SEPARATION_WORDS if known[c] >= bound)
            lo, hi = ci
            parts.append(
                f"{c} memes {word} (AUROC {known[c]:.2f}, 95 % interval {lo:.2f}–{hi:.2f})"
            )
        rest = [c for c in LABELS3 if c not in better]
        tail = f"; {' and '.join(rest)} memes no better than chance" if rest else ""
        return (
            f"On {self.n:,} memes it never saw in training, this model told "
            f"{'; '.join(parts)} from the rest{tail}."
        )

    def calibration(self) -> str:
        """Whether the stated probabilities match how often the model is right."""
        if self.calibrated:
            return (
                f"Its probabilities are calibrated: on those memes it claimed "
                f"{self.mean_top_prob_3:.0%} for its top class on average and was right "
                f"{self.accuracy_3:.0%} of the time (expected calibration error "
                f"{self.ece_3:.1%})."
            )
        return (
            f"Its probabilities are not calibrated: on those memes it claimed "
            f"{self.mean_top_prob_3:.0%} for its top class on average but was right "
            f"{self.accuracy_3:.0%} of the time (expected calibration error {self.ece_3:.1%}), "
            "so do not read them as chances."
        )

    def against_base_rates(self) -> str:
        """Whether the probabilities beat stating the base rates for every meme."""
        verdict = _forecast_verdict(self.log_loss_3 - self.log_loss_base_3)
        return (
            f"As forecasts they are {verdict} saying a typical meme's shares for every meme "
            f"(log-loss {self.log_loss_3:.3f} against {self.log_loss_base_3:.3f}; lower is better)."
        )

    def advice(self) -> str:
        """The one-line reading a person should take away."""
        if not self.above_chance():
            return "Read its answer as what a typical meme gets, not as a judgement of this meme."
        if not self.calibrated:
            return "Treat its answer as a ranking hint only, not as a chance."
        return "Its answer is a hint; compare it with a typical meme's before reading much into it."

    def trust_sentence(self) -> str:
        """All of the above, as one paragraph for a page or a model card."""
        return " ".join(
            (self.separation(), self.calibration(), self.against_base_rates(), self.advice())
        )


def _interval(ci: list[float] | None) -> str:
    return f", 95 % interval {ci[0]:.2f}–{ci[1]:.2f}" if ci else ""


@dataclass(frozen=True)
class ValenceQuality:
    """Held-out measurements of memes labelled with an emotion (MET-Meme's): how well the
    answers' valence separates positive from negative memes and how true it is."""

    source: str
    n: int
    auroc: float | None
    auroc_ci: list[float] | None
    valence_ece: float
    mean_positive_share: float
    positive_rate: float
    log_loss_5: float
    log_loss_base_5: float
    n_neutral_allowed: int

    @classmethod
    def from_metrics(cls, metrics: dict) -> ValenceQuality:
        """From a `metrics.json` dict; `KeyError`/`TypeError`/`ValueError` if it lacks a key."""
        t = metrics["test"]
        return cls(
            source=str(metrics.get("calibrated_on", "")),
            n=int(t["n"]),
            auroc=t["auroc_valence"],
            auroc_ci=t.get("ci", {}).get("auroc_valence"),
            valence_ece=float(t["valence_ece"]),
            mean_positive_share=float(t["mean_positive_share"]),
            positive_rate=float(t["positive_rate"]),
            log_loss_5=float(t["log_loss_5"]),
            log_loss_base_5=float(t["log_loss_base_5"]),
            n_neutral_allowed=int(t["n_neutral_allowed"]),
        )

    @property
    def above_chance(self) -> bool:
        return self.auroc_ci is not None and self.auroc_ci[0] > CHANCE

    @property
    def calibrated(self) -> bool:
        return self.valence_ece <= CALIBRATED_ECE

    def separation(self) -> str:
        """How well the answers tell positive-emotion memes from negative-emotion ones."""
        seen = f"On {self.n:,} {self.source} memes it never saw in training, this model"
        if self.auroc is None:
            return f"{seen} could not be measured: they were all on one side."
        if not self.above_chance:
            return (
                f"{seen} told memes with positive emotions from memes with negative ones no "
                f"better than chance (AUROC {self.auroc:.2f}{_interval(self.auroc_ci)}; 0.5 is "
                "chance)."
            )
        word = next(w for bound, w in SEPARATION_WORDS if self.auroc >= bound)
        return (
            f"{seen} told memes with positive emotions (happiness, love) from memes with "
            f"negative ones {word} (AUROC {self.auroc:.2f}{_interval(self.auroc_ci)}; 0.5 is "
            "chance, 1 perfect)."
        )

    def calibration(self) -> str:
        """Whether the share it puts on the positive side matches how often memes are."""
        state = "calibrated" if self.calibrated else "not calibrated"
        return (
            f"Its valence is {state}: of the probability on the two sides of neutral it put "
            f"{self.mean_positive_share:.0%} on the positive side on average, and "
            f"{self.positive_rate:.0%} of those memes were positive (valence calibration error "
            f"{self.valence_ece:.1%})."
        )

    def against_base_rates(self) -> str:
        """Whether its five levels beat a typical meme's answer as forecasts."""
        verdict = _forecast_verdict(self.log_loss_5 - self.log_loss_base_5)
        return (
            f"As forecasts its five levels are {verdict} a typical meme's answer for every meme "
            f"(log-loss {self.log_loss_5:.3f} against {self.log_loss_base_5:.3f})."
        )

    def advice(self) -> str:
        """The one-line reading a person should take away."""
        neutral = (
            " None of these memes was labelled neutral, so its neutral share was learnt from "
            "sentences and tweets, not measured on memes."
            if self.n_neutral_allowed == 0
            else ""
        )
        if not self.above_chance:
            return f"Read its answer as what a typical meme gets.{neutral}"
        lead = "Read its answer as a hint" if self.calibrated else "Read its side as a ranking hint"
        return f"{lead}, not a verdict: memes are often ironic.{neutral}"

    def trust_sentence(self) -> str:
        """All of the above, as one paragraph for a page or a model card."""
        return " ".join(
            (self.separation(), self.calibration(), self.against_base_rates(), self.advice())
        )


def _forecast_verdict(gap: float) -> str:
    """How a log-loss compares with the base rates', `gap` being the difference."""
    return "better than" if gap < -0.01 else "about as good as" if gap <= 0.01 else "worse than"


class MetricsError(CheckpointError):
    """A model folder's `metrics.json` lacks what is said of the model; the message names it."""


def read_metrics(model_dir: str | Path) -> dict | None:
    """A model folder's `metrics.json`: the one place it is read. None when the folder has
    none (a model trained elsewhere: nothing is known of it); `MetricsError` when it is not a
    JSON object."""
    path = Path(model_dir) / METRICS_FILE
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MetricsError(f"{path} cannot be read ({err})") from err
    if not isinstance(metrics, dict):
        raise MetricsError(f"{path} is not a JSON object")
    return metrics


def _lacking(model_dir: str | Path, err: Exception) -> MetricsError:
    what = err.args[0] if isinstance(err, KeyError) and err.args else err
    return MetricsError(
        f"{Path(model_dir) / METRICS_FILE} lacks what the page says of the model ({what!r}): "
        "train the model again with this memesent, or remove the file"
    )


def load_quality(model_dir: str | Path) -> HeldOutQuality | ValenceQuality | None:
    """The held-out quality recorded in `model_dir`: `ValenceQuality` when its test memes were
    measured by valence, `HeldOutQuality` when by levels; None without a `metrics.json`, and
    `MetricsError` when it lacks what they need."""
    metrics = read_metrics(model_dir)
    if metrics is None:
        return None
    try:
        if "auroc_valence" in metrics["test"]:
            return ValenceQuality.from_metrics(metrics)
        return HeldOutQuality.from_metrics(metrics)
    except (KeyError, TypeError, ValueError) as err:
        raise _lacking(model_dir, err) from err


def training_examples(model_dir: str | Path) -> dict[str, int]:
    """How many labelled examples each training data set gave, by name ({} when the folder
    records none); `MetricsError` when the record is malformed."""
    metrics = read_metrics(model_dir) or {}
    try:
        return {name: int(d["examples"]) for name, d in metrics.get("data", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _lacking(model_dir, err) from err


def shift_sentence(shift: float) -> str:
    """How much one answer depends on the meme, from `Prediction.shift` (total variation
    distance from a typical meme's answer), worded for the explanations shown with it."""
    share = f"{shift:.1%}" if shift < 0.1 else f"{shift:.0%}"
    moved = (
        f"This meme's picture and caption move {share} of the probability away from a typical "
        "meme's answer"
    )
    if shift < SMALL_SHIFT:
        return (
            f"{moved}: the answer hardly depends on this meme, so the heat map and word scores "
            "explain a very small effect."
        )
    if shift < LARGE_SHIFT:
        return f"{moved}: the heat map and word scores explain a modest effect."
    return f"{moved}: the heat map and word scores explain a large effect."


@dataclass(frozen=True)
class ReadingMargins:
    """How far the words' and the picture's readings must lean from a typical meme's valence
    to count as clearly positive or negative: each reading's margin is the distance that only
    the most decided quarter (the `quantile` recorded) of the held-out memes' readings reached,
    measured at training (`metrics.json`, `reading_margins`)."""

    base_positive_share: float
    text: float
    image: float
    quantile: float

    @classmethod
    def load(cls, model_dir: str | Path) -> ReadingMargins | None:
        """The margins in a model folder's `metrics.json`, or None when it records none (a
        model trained before they were measured); `MetricsError` when they are malformed."""
        metrics = read_metrics(model_dir) or {}
        found = metrics.get("sources", {}).get(metrics.get("calibrated_on"), {})
        if "reading_margins" not in found:
            return None
        m = found["reading_margins"]
        try:
            return cls(
                float(m["base_positive_share"]),
                float(m["text"]),
                float(m["image"]),
                float(m["quantile"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise _lacking(model_dir, err) from err

    def side(self, reading: str, probs: dict[str, float] | None) -> int:
        """+1 when a reading clearly leans positive, -1 negative, 0 neither (or no reading)."""
        if probs is None:
            return 0
        share = float(positive_share(np.array([probs[k] for k in LABELS])))
        lean = share - self.base_positive_share
        margin = getattr(self, reading)
        return 1 if lean > margin else -1 if lean < -margin else 0

    def disagreement(self, readings: dict[str, dict[str, float] | None]) -> str | None:
        """One plain line when the words and the picture clearly point opposite ways (where a
        meme's irony usually lives), else None."""
        words, picture = (
            self.side("text", readings.get("text")),
            self.side("image", readings.get("image")),
        )
        if words * picture != -1:
            return None
        name = {1: "positive", -1: "negative"}
        return (
            f"The words read {name[words]} and the picture reads {name[picture]}: they "
            "disagree, which is where a meme's irony usually lives."
        )
