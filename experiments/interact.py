"""The interaction fusion (`--fusion interact` in the ablation): an experiment, measured and not
shipped (docs/results.md, the ablation).

It adds to the gated unit's vector two terms that say how the words and the picture relate,
where irony lives: the element-wise product of their projections (Hate-CLIPper's "align"
interaction, Kumar and Nandakumar, 2022) and their absolute difference (disagreement). Importing
this module registers it in `memesent.fusion.FUSIONS`.
"""

from __future__ import annotations

import torch
from torch import nn

from memesent.fusion import FUSIONS, FusionConfig, GatedFusion, Mask


class InteractionFusion(GatedFusion):
    """The gated unit's vector beside t*i and |t-i|, the projections' product and disagreement:
    h = mix([z*t + (1-z)*i; t*i; |t-i|]). With one modality the two terms are 0: a meme's words
    alone and its picture alone are read from the gated vector only."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__(cfg)
        h = cfg.hidden
        self.mix = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(3 * h, h), nn.ReLU())

    def fuse(
        self, text: torch.Tensor, image: torch.Tensor, has_text: Mask, has_image: Mask
    ) -> torch.Tensor:
        gated, t, i = self.projections(text, image, has_text, has_image)
        both = (has_text & has_image).unsqueeze(-1)
        return self.mix(torch.cat([gated, t * i, (t - i).abs() * both], dim=-1))


FUSIONS["interact"] = InteractionFusion
