"""`MemeFeatures`: one meme as the model sees it, computed once by `Predictor.encode` and then
scored (`Predictor.predict_features`) and explained (`Predictor.explain_features`) without
running the backbones again; `Predictor.recaption` swaps its caption, encoding only the words."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class MemeFeatures:
    """`picture` and `caption` as given (the caption cleaned; None / "" when the meme has no
    picture / no caption), the text backbone's pooled vector `text` (1, text dim; None without a
    caption), and the image backbone's last feature map `feature_map` (1, image dim, h, w; None
    without a picture), whose mean over h and w is the image vector the head reads."""

    picture: Image.Image | None
    caption: str
    text: torch.Tensor | None
    feature_map: torch.Tensor | None

    @property
    def image(self) -> torch.Tensor | None:
        """The pooled image vector, (1, image dim), or None without a picture."""
        return None if self.feature_map is None else self.feature_map.mean(dim=(2, 3))
