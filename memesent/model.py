"""The trainable part of memesent: standardised features -> fusion ensemble -> five levels."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .backbones import IMAGE_SPECS, TEXT_SPECS, ImageSpec, TextSpec
from .fusion import FusionConfig, build_fusion
from .labels import LABELS


@dataclass
class ModelConfig:
    """Everything needed to rebuild a head and to know which backbones it belongs to."""

    text: TextSpec = field(default_factory=lambda: TEXT_SPECS["all-MiniLM-L6-v2"])
    image: ImageSpec = field(default_factory=lambda: IMAGE_SPECS["efficientnet-lite0"])
    fusion: FusionConfig = field(default_factory=FusionConfig)
    members: int = 1
    labels: tuple[str, ...] = LABELS
    training: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "labels": list(self.labels),
            "text_backbone": self.text.to_dict(),
            "image_backbone": self.image.to_dict(),
            "fusion": self.fusion.to_dict(),
            "members": self.members,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        image = dict(d["image_backbone"])
        image["mean"], image["std"] = tuple(image["mean"]), tuple(image["std"])
        return cls(
            text=TextSpec(**d["text_backbone"]),
            image=ImageSpec(**image),
            fusion=FusionConfig(**d["fusion"]),
            members=int(d.get("members", 1)),
            labels=tuple(d["labels"]),
            training=d.get("training", {}),
        )


class MemeHead(nn.Module):
    """Fusion head over frozen-backbone features.

    Features are standardised with the training set's statistics (kept as buffers, so a checkpoint
    carries them), each ensemble member predicts, the members' probabilities are averaged, and a
    per-level log-prior correction tuned on validation data (`logit_bias`) is added last.
    `forward` returns log-probabilities; `members_logits` gives each member's raw logits (training).
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
        self.register_buffer("logit_bias", torch.zeros(f.num_labels))

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
        return self.combine(self.members_logits(text, image))

    def combine(self, members_logits: list[torch.Tensor]) -> torch.Tensor:
        """Log-probabilities from the members' logits: their probabilities averaged, then the
        prior correction added."""
        logp = torch.stack([lg.log_softmax(-1) for lg in members_logits])
        mean_logp = torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(logp))))
        return (mean_logp + self.logit_bias).log_softmax(-1)
