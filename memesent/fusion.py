"""Fusion of the caption vector and the picture vector into sentiment logits.

`concat` is the write-up's network: a fully connected pathway per modality, concatenation, more
layers. `gated` is the gated multimodal unit (Arevalo et al., 2017) its future work points to:
each modality is projected to a shared space and a learned, per-dimension gate decides how much
of each enters the fused vector, so a meme whose picture says nothing can lean on its caption.
Experiments register fusions of their own (`experiments.interact`, which reads how the words
and the picture relate).

Either modality may be missing, example by example (`has_text`, `has_image`: a caption-less
meme, a sentence, a photo): `gated` then takes the present modality's projection whole (the
gate is 1 or 0), `concat` leaves the missing pathway's units at 0. This is how the model reads
a meme's words alone and its picture alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

Mask = torch.Tensor  # (B,) bool: which examples have the modality


@dataclass
class FusionConfig:
    """Shape of a fusion network; feature sizes come from the backbones, never hard-coded."""

    kind: str = "gated"
    text_dim: int = 384
    image_dim: int = 1280
    hidden: int = 256
    dropout: float = 0.3
    num_labels: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


def _pathway(dim_in: int, dim_out: int, dropout: float, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim_in, dim_out), act)


class ConcatFusion(nn.Module):
    """Per-modality FC layers, concatenation, two more layers (the write-up's design)."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.text = _pathway(cfg.text_dim, h, cfg.dropout, nn.ReLU())
        self.image = _pathway(cfg.image_dim, h, cfg.dropout, nn.ReLU())
        self.mix = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(2 * h, h), nn.ReLU())
        self.out = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(h, cfg.num_labels))

    def fuse(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> torch.Tensor:
        """The fused hidden vector, (B, hidden), that the output layer reads."""
        t = self.text(text) * has_text.unsqueeze(-1)
        i = self.image(image) * has_image.unsqueeze(-1)
        return self.mix(torch.cat([t, i], dim=-1))

    def forward(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> torch.Tensor:
        return self.out(self.fuse(text, image, has_text, has_image))


class GatedFusion(nn.Module):
    """Gated multimodal unit: h = z*tanh(W_t t) + (1-z)*tanh(W_i i), z = sigmoid(W_z [t; i])."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.text = _pathway(cfg.text_dim, h, cfg.dropout, nn.Tanh())
        self.image = _pathway(cfg.image_dim, h, cfg.dropout, nn.Tanh())
        self.gate = nn.Sequential(nn.Linear(cfg.text_dim + cfg.image_dim, h), nn.Sigmoid())
        self.mix = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(h, h), nn.ReLU())
        self.out = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(h, cfg.num_labels))

    def projections(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The gated sum z*t + (1-z)*i and the two projections t and i (0 where missing)."""
        both = (has_text & has_image).unsqueeze(-1)
        z = torch.where(
            both, self.gate(torch.cat([text, image], dim=-1)), has_text.unsqueeze(-1).to(text.dtype)
        )
        # the picture's pathway runs first: its dropout draws come before the words' (as they
        # always have), so a seed trains the same head as before
        i = self.image(image) * has_image.unsqueeze(-1)
        t = self.text(text) * has_text.unsqueeze(-1)
        return z * t + (1 - z) * i, t, i

    def fuse(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> torch.Tensor:
        """The fused hidden vector, (B, hidden), that the output layer reads."""
        return self.mix(self.projections(text, image, has_text, has_image)[0])

    def forward(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> torch.Tensor:
        return self.out(self.fuse(text, image, has_text, has_image))


# The fusions by name (`FusionConfig.kind`): the shipped model's and the write-up's. An
# experiment registers its own here (`experiments.interact`).
FUSIONS: dict[str, type[nn.Module]] = {
    "concat": ConcatFusion,
    "gated": GatedFusion,
}


def build_fusion(cfg: FusionConfig) -> nn.Module:
    """The fusion network named by `cfg.kind`."""
    if cfg.kind not in FUSIONS:
        raise ValueError(
            f"unknown fusion {cfg.kind!r}; choose one of: {', '.join(FUSIONS)} (an experiment's "
            "registers when its module is imported, `import experiments`)"
        )
    return FUSIONS[cfg.kind](cfg)
