"""Opening memes: any file or mode Pillow reads becomes one RGB picture, or a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageInput = Image.Image | str | Path | bytes


class NotAnImageError(ValueError):
    """The input could not be read as a picture."""


def load_image(image: ImageInput) -> Image.Image:
    """Return `image` as an RGB PIL image: first frame of animations, EXIF rotation applied,
    transparency flattened onto white, 16-bit, CMYK, palette and grey modes converted."""
    if isinstance(image, Image.Image):
        img = image
        name = "the image"
    else:
        name = "the bytes given" if isinstance(image, bytes) else str(image)
        source = io.BytesIO(image) if isinstance(image, bytes) else image
        try:
            img = Image.open(source)
            img.load()
        except FileNotFoundError:
            raise
        except Image.DecompressionBombError as err:
            raise NotAnImageError(f"{name} is too large to open safely ({err})") from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise NotAnImageError(
                f"{name} is not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP, TIFF): {err}"
            ) from err
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        img = ImageOps.exif_transpose(img) or img
        return _to_rgb(img)
    except (OSError, ValueError, SyntaxError) as err:
        raise NotAnImageError(f"{name} could not be decoded: {err}") from err


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        return Image.fromarray(a.astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
