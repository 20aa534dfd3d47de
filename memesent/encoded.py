"""`MemeFeatures`: one meme as the model sees it, computed once by `Predictor.encode` and then
scored (`Predictor.predict_features`) and explained (`Predictor.explain_features`) without
running the backbones again."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class MemeFeatures:
    """`picture` and `caption` as given (the caption cleaned), the text backbone's pooled
    vector `text` (1, text dim), and the image backbone's last feature map `feature_map`
    (1, image dim, h, w), whose mean over h and w is the image vector the head reads."""

    picture: Image.Image
    caption: str
    text: torch.Tensor
    feature_map: torch.Tensor

    @property
    def image(self) -> torch.Tensor:
        """The pooled image vector, (1, image dim)."""
        return self.feature_map.mean(dim=(2, 3))
