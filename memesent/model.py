"""The trainable part of memesent: standardised features -> fusion ensemble -> calibrated levels."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .backbones import IMAGE_SPECS, TEXT_SPECS, ImageSpec, TextSpec
from .fusion import FusionConfig, build_fusion
from .labels import LABELS

# How the head's probabilities are calibrated (fitted on memes that neither trained the head nor
# chose its epoch): `vector` divides the log-probabilities by a temperature and adds a bias per
# level, so a head that knows nothing falls back to the base rates; `temperature` only divides;
# `none` leaves them as trained.
CALIBRATIONS = ("vector", "temperature", "none")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a head and to know which backbones it belongs to.

    `base_rates` is each level's share of the memes the model was developed on (what it says
    about a typical meme); `calibration` names the method whose parameters the weights hold.
    """

    text: TextSpec = field(default_factory=lambda: TEXT_SPECS["all-MiniLM-L6-v2"])
    image: ImageSpec = field(default_factory=lambda: IMAGE_SPECS["efficientnet-lite0"])
    fusion: FusionConfig = field(default_factory=FusionConfig)
    members: int = 1
    labels: tuple[str, ...] = LABELS
    calibration: str = "none"
    base_rates: tuple[float, ...] = (1 / len(LABELS),) * len(LABELS)
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
            "fusion": self.fusion.to_dict(),
            "members": self.members,
            "calibration": self.calibration,
            "base_rates": dict(zip(self.labels, self.base_rates, strict=True)),
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        image = dict(d["image_backbone"])
        image["mean"], image["std"] = tuple(image["mean"]), tuple(image["std"])
        labels = tuple(d["labels"])
        return cls(
            text=TextSpec(**d["text_backbone"]),
            image=ImageSpec(**image),
            fusion=FusionConfig(**d["fusion"]),
            members=int(d.get("members", 1)),
            labels=labels,
            calibration=d["calibration"],
            base_rates=tuple(d["base_rates"][label] for label in labels),
            training=d.get("training", {}),
        )


class MemeHead(nn.Module):
    """Fusion head over frozen-backbone features.

    Features are standardised with the training set's statistics (kept as buffers, so a checkpoint
    carries them), each ensemble member predicts, the members' probabilities are averaged, and the
    calibration fitted after training is applied last: log-probabilities times
    `calibration_scale` (an inverse temperature) plus `calibration_bias` (one per level), then
    renormalised. `forward` returns calibrated log-probabilities; `members_logits` gives each
    member's raw logits (training), `combine` the uncalibrated average (fitting the calibration).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        f = config.fusion
        self.members = nn.ModuleList(build_fusion(f) for _ in range(config.members))
        self.register_buffer("text_mean", torch.zeros(f.text_dim))
        self.register_buffer("text_std", torch.ones(f.text_dim))
        self.register_buffer("image_mean", torch.zeros(f.image_dim))
        self.register_buffer("image_std", torch.ones(f.image_dim))
        self.register_buffer("calibration_scale", torch.ones(1))
        self.register_buffer("calibration_bias", torch.zeros(f.num_labels))

    def set_feature_stats(self, text: torch.Tensor, image: torch.Tensor) -> None:
        """Record the mean and spread of training features, used to standardise inputs."""
        self.text_mean.copy_(text.mean(0))
        self.text_std.copy_(text.std(0).clamp(min=1e-6))
        self.image_mean.copy_(image.mean(0))
        self.image_std.copy_(image.std(0).clamp(min=1e-6))

    def standardise(
        self, text: torch.Tensor, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return (text - self.text_mean) / self.text_std, (image - self.image_mean) / self.image_std

    def members_logits(self, text: torch.Tensor, image: torch.Tensor) -> list[torch.Tensor]:
        t, i = self.standardise(text, image)
        return [m(t, i) for m in self.members]

    def forward(self, text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.calibrate(self.combine(self.members_logits(text, image)))

    def combine(self, members_logits: list[torch.Tensor]) -> torch.Tensor:
        """Uncalibrated log-probabilities: the members' probabilities averaged."""
        logp = torch.stack([lg.log_softmax(-1) for lg in members_logits])
        return torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(logp))))

    def calibrate(self, logp: torch.Tensor) -> torch.Tensor:
        """Calibrated log-probabilities from `combine`'s output, in float64: a head that knows
        little gets a scale near 0, and the small differences it leaves between memes would
        vanish in float32 rounding (explanations follow them)."""
        scale, bias = self.calibration_scale.double(), self.calibration_bias.double()
        return (scale * logp.double() + bias).log_softmax(-1)
