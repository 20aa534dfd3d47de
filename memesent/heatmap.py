"""Heat maps as pictures: a coarse attribution map resized to the meme and coloured over it."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image
from torch.nn import functional

COLORMAP = "jet"
# The heat map is blended with an opacity rising with the heat: cold areas stay close to the meme
# and no pixel loses more than half of its contrast, so captions stay readable on light and dark
# memes alike.
ALPHA_COLD, ALPHA_HOT = 0.2, 0.5


def heat_map(coarse: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """A non-negative (1, 1, h', w') map resized bilinearly to `size` (h, w), peak scaled to 1.

    The picture was squeezed to a square before the backbone, so a plain resize maps it back.
    A map with no positive evidence stays all zeros.
    """
    heat = functional.interpolate(coarse.float(), size=size, mode="bilinear", align_corners=False)
    peak = float(heat.max())
    return (heat[0, 0] / peak if peak > 0 else torch.zeros_like(heat[0, 0])).numpy()


def overlay(picture: Image.Image, heat: np.ndarray) -> Image.Image:
    """`heat` (h, w) in [0, 1] in colour over `picture`, more opaque where hotter."""
    colour = Image.fromarray(colormaps[COLORMAP](heat, bytes=True)[..., :3])
    alpha = (255 * (ALPHA_COLD + (ALPHA_HOT - ALPHA_COLD) * heat)).astype(np.uint8)  # rounded down
    return Image.composite(colour, picture.convert("RGB"), Image.fromarray(alpha))
