"""The trainable part of memesent: standardised features -> fusion ensemble -> calibrated levels.

A meme is read three ways by the same network (`READINGS`): its words alone, its picture alone
and both together; a meme that lacks a modality (no caption, no picture) is read by the one it
has. Each reading has its own calibration, fitted on memes that neither trained the head nor
chose its epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from .backbones import IMAGE_SPECS, TEXT_SPECS, ImageSpec, TextSpec
from .fusion import FusionConfig, build_fusion
from .labels import LABELS, VALENCE
from .population import prior_shift, share_vector, shifted_population
from .tuning import LoraSpec

# How each reading's probabilities are calibrated:
# - `valence`: of the probability on the two sides of neutral, the positive side's log-odds are
#   scaled and shifted (Platt scaling); neutral's share and the split within each side stay as
#   trained. For memes whose labels say the side but never "neutral" (MET-Meme).
# - `none`: as trained (the write-up's recipe).
CALIBRATIONS = ("valence", "none")
READINGS = ("text", "image", "both")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a head and to know which backbones it belongs to.

    `base_rates` is what a typical meme gets: the mean answer over the memes the model is
    calibrated on, which `base_rates_of` names (which memes its probabilities are for: a
    phrase such as "the 416 MET-Meme memes the model was calibrated on (labelled …)", written
    by training from its data); `calibration` names the method whose
    parameters the weights hold; `text_tuning` the adapters (`memesent.tuning`) that the text
    backbone was tuned with, whose weights the checkpoint holds (None: the backbone frozen).
    `sources` records each training data set with its label mapping and weight. `words_head`:
    the words alone are read by a linear layer of their own over the caption's features (trained
    on every labelled text, `train.loop.train_words`), not by the fusion with the picture
    masked, so the fusion's compromise with pictures costs the words nothing.
    """

    text: TextSpec = field(default_factory=lambda: TEXT_SPECS["all-MiniLM-L6-v2"])
    image: ImageSpec = field(default_factory=lambda: IMAGE_SPECS["efficientnet-lite0"])
    fusion: FusionConfig = field(default_factory=FusionConfig)
    members: int = 1
    words_head: bool = False
    labels: tuple[str, ...] = LABELS
    calibration: str = "none"
    base_rates: tuple[float, ...] = (1 / len(LABELS),) * len(LABELS)
    base_rates_of: str = ""
    text_tuning: LoraSpec | None = None
    sources: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"unknown calibration {self.calibration!r}; choose one of {CALIBRATIONS}"
            )
        rates = tuple(float(r) for r in self.base_rates)
        if len(rates) != len(self.labels) or min(rates) < 0 or abs(sum(rates) - 1) > 1e-4:
            raise ValueError(f"base rates {rates} are not one share per level summing to 1")
        self.base_rates = rates

    def to_dict(self) -> dict:
        return {
            "labels": list(self.labels),
            "text_backbone": self.text.to_dict(),
            "image_backbone": self.image.to_dict(),
            "text_tuning": None if self.text_tuning is None else self.text_tuning.to_dict(),
            "fusion": self.fusion.to_dict(),
            "members": self.members,
            "words_head": self.words_head,
            "readings": list(READINGS),
            "calibration": self.calibration,
            "base_rates": dict(zip(self.labels, self.base_rates, strict=True)),
            "base_rates_of": self.base_rates_of,
            "sources": self.sources,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        image = dict(d["image_backbone"])
        image["mean"], image["std"] = tuple(image["mean"]), tuple(image["std"])
        labels = tuple(d["labels"])
        tuning = d.get("text_tuning")
        return cls(
            text=TextSpec(**d["text_backbone"]),
            image=ImageSpec(**image),
            fusion=FusionConfig(**d["fusion"]),
            members=int(d.get("members", 1)),
            words_head=bool(d.get("words_head", False)),
            labels=labels,
            calibration=d["calibration"],
            base_rates=tuple(d["base_rates"][label] for label in labels),
            base_rates_of=d.get("base_rates_of", ""),
            text_tuning=None if tuning is None else LoraSpec.from_dict(tuning),
            sources=d.get("sources", {}),
            training=d.get("training", {}),
        )

    def with_label_shares(self, shares: Mapping[str, float]) -> ModelConfig:
        """This config for a collection whose label shares are `shares` (five levels, or three
        classes: `memesent.population`): its base rates become them and `base_rates_of` says
        so. `ValueError` says what is wrong with shares it cannot use."""
        rates = share_vector(shares, np.array(self.base_rates))
        if (rates <= 0).any():
            raise ValueError(
                "label shares must each be above 0: give a level (or class) the collection "
                "never has a small share, such as 0.01"
            )
        return replace(
            self,
            base_rates=tuple(rates.tolist()),
            base_rates_of=shifted_population(self.base_rates_of, shares),
        )


def reading_masks(
    has_text: torch.Tensor, has_image: torch.Tensor, distinct: bool = False
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For each of `READINGS`, which modalities it reads of every example, (text mask, image
    mask): the words alone, the picture alone, and both (for an example with one modality, the
    one it has). With `distinct`, `both` reads only the examples that have both: for the others
    it would repeat their one reading, which training must not count twice."""
    no = torch.zeros_like(has_text)
    whole = has_text & has_image
    both = (whole, whole) if distinct else (has_text, has_image)
    return {"text": (has_text, no), "image": (no, has_image), "both": both}


def reading_index(has_text: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
    """Per example, the index in `READINGS` of the reading its modalities make: the words
    alone, the picture alone, or both."""
    return torch.where(has_text & has_image, 2, torch.where(has_text, 0, 1))


class MemeHead(nn.Module):
    """Fusion head over backbone features.

    Features are standardised with the training set's statistics (kept as buffers, so a checkpoint
    carries them), each ensemble member predicts, the members' probabilities are averaged, and the
    calibration of the example's reading is applied last. `forward` returns calibrated
    log-probabilities; `members_logits` gives each member's raw logits (training), `combine` the
    uncalibrated average (fitting the calibration). `has_text` / `has_image` (B,) bool say which
    modalities each example has (default: both); a missing one's features are ignored.
    `prior_log_weights` (None unless `with_label_shares` made this head) moves every calibrated
    answer to a collection with other label shares; it is not saved with the weights. With
    `config.words_head`, examples read by their words alone get `words`' logits from every
    member instead of the fusion's.
    """

    # the buffers `__init__` registers
    text_mean: torch.Tensor
    text_std: torch.Tensor
    image_mean: torch.Tensor
    image_std: torch.Tensor
    calibration_scale: torch.Tensor
    calibration_bias: torch.Tensor
    prior_log_weights: torch.Tensor | None

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        f = config.fusion
        self.members = nn.ModuleList(build_fusion(f) for _ in range(config.members))
        self.words = nn.Linear(f.text_dim, f.num_labels) if config.words_head else None
        self.register_buffer("text_mean", torch.zeros(f.text_dim))
        self.register_buffer("text_std", torch.ones(f.text_dim))
        self.register_buffer("image_mean", torch.zeros(f.image_dim))
        self.register_buffer("image_std", torch.ones(f.image_dim))
        n = len(READINGS)
        self.register_buffer("calibration_scale", torch.ones(n))
        self.register_buffer("calibration_bias", torch.zeros(n, f.num_labels))
        self.register_buffer("prior_log_weights", None, persistent=False)

    def set_feature_stats(self, text: torch.Tensor, image: torch.Tensor) -> None:
        """Record the mean and spread of training features (of the examples that have each
        modality), used to standardise inputs."""
        self.text_mean.copy_(text.mean(0))
        self.text_std.copy_(text.std(0).clamp(min=1e-6))
        self.image_mean.copy_(image.mean(0))
        self.image_std.copy_(image.std(0).clamp(min=1e-6))

    def standardise(
        self, text: torch.Tensor, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return (text - self.text_mean) / self.text_std, (image - self.image_mean) / self.image_std

    def members_logits(
        self,
        text: torch.Tensor,
        image: torch.Tensor,
        has_text: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        has_text, has_image = _masks(text, has_text, has_image)
        t, i = self.standardise(text, image)
        t = torch.where(has_text.unsqueeze(-1), t, torch.zeros_like(t))
        i = torch.where(has_image.unsqueeze(-1), i, torch.zeros_like(i))
        logits = [m(t, i, has_text, has_image) for m in self.members]
        if self.words is None:
            return logits
        words_alone = (has_text & ~has_image).unsqueeze(-1)
        words = self.words(t)
        return [torch.where(words_alone, words, lg) for lg in logits]

    def forward(
        self,
        text: torch.Tensor,
        image: torch.Tensor,
        has_text: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        has_text, has_image = _masks(text, has_text, has_image)
        logp = self.combine(self.members_logits(text, image, has_text, has_image))
        return self.calibrate(logp, reading_index(has_text, has_image))

    def readings(
        self,
        text: torch.Tensor,
        image: torch.Tensor,
        has_text: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Calibrated log-probabilities of each reading, {reading: (B, levels)}: the words alone
        (rows without a caption: NaN), the picture alone (rows without a picture: NaN), and
        both (for a meme with one modality, the reading of the one it has)."""
        has_text, has_image = _masks(text, has_text, has_image)
        out = {
            reading: self(text, image, use_text, use_image)
            for reading, (use_text, use_image) in reading_masks(has_text, has_image).items()
        }
        out["text"][~has_text] = float("nan")
        out["image"][~has_image] = float("nan")
        return out

    def combine(self, members_logits: list[torch.Tensor]) -> torch.Tensor:
        """Uncalibrated log-probabilities: the members' probabilities averaged."""
        logp = torch.stack([lg.log_softmax(-1) for lg in members_logits])
        return torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(logp))))

    def calibrate(self, logp: torch.Tensor, reading: torch.Tensor | int = 2) -> torch.Tensor:
        """Calibrated log-probabilities from `combine`'s output, with each row's reading's
        parameters (an index into `READINGS`), in float64: a head that knows little gets a scale
        near 0, and the small differences it leaves between memes would vanish in float32
        rounding (explanations follow them)."""
        reading = torch.as_tensor(reading).expand(logp.shape[0])
        scale = self.calibration_scale.double()[reading].unsqueeze(-1)
        bias = self.calibration_bias.double()[reading]
        out = apply_calibration(self.config.calibration, logp.double(), scale, bias)
        if self.prior_log_weights is None:
            return out
        return (out + self.prior_log_weights.double()).log_softmax(-1)

    def with_label_shares(self, shares: Mapping[str, float]) -> MemeHead:
        """A copy whose every reading answers for a collection whose label shares are `shares`
        (the prior shift of `memesent.population`): its calibrated log-probabilities moved by
        the same log-weights, its config's base rates the shares (`ModelConfig
        .with_label_shares`, whose `ValueError` says what is wrong with them)."""
        config = self.config.with_label_shares(shares)
        weights = torch.from_numpy(prior_shift(shares, np.array(self.config.base_rates)))
        head = copy.deepcopy(self)
        head.config = config
        head.prior_log_weights = (
            weights if self.prior_log_weights is None else self.prior_log_weights + weights
        )
        return head.eval()


def apply_calibration(
    method: str, logp: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """`method`'s calibration of log-probabilities `logp` (n, levels) with its parameters:
    `scale` (n, 1) and `bias` (n, levels); `valence` uses `bias[:, 0]` as the shift of the
    positive side's log-odds (see `CALIBRATIONS`)."""
    if method == "none":
        return logp.log_softmax(-1)
    valence = torch.as_tensor(VALENCE, device=logp.device)
    positive, negative = valence > 0, valence < 0
    log_pos = logp[:, positive].logsumexp(-1, keepdim=True)
    log_neg = logp[:, negative].logsumexp(-1, keepdim=True)
    log_sides = torch.logaddexp(log_pos, log_neg)
    odds = scale * (log_pos - log_neg) + bias[:, :1]
    new_pos = log_sides + nn.functional.logsigmoid(odds)
    new_neg = log_sides + nn.functional.logsigmoid(-odds)
    out = logp.clone()
    out[:, positive] = logp[:, positive] - log_pos + new_pos
    out[:, negative] = logp[:, negative] - log_neg + new_neg
    return out


def _masks(
    text: torch.Tensor, has_text: torch.Tensor | None, has_image: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    everyone = torch.ones(text.shape[0], dtype=torch.bool, device=text.device)
    return (everyone if has_text is None else has_text.bool()), (
        everyone if has_image is None else has_image.bool()
    )
