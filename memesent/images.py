"""Opening memes: any file or mode Pillow reads becomes one RGB picture, or a clear error.

Pictures over `MAX_PIXELS` are refused from their header, before any pixel is decoded, so a
decompression bomb (a small file claiming a huge picture) costs nothing.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MemesentError

ImageInput = Image.Image | str | Path | bytes
MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit (about 89 megapixels)


class NotAnImageError(MemesentError, ValueError):
    """The input could not be read as a picture."""


class TooLargeError(NotAnImageError):
    """The picture has more than `MAX_PIXELS` pixels; it was not decoded."""


def load_image(image: ImageInput, reduce_to: int | None = None) -> Image.Image:
    """Return `image` as an RGB PIL image: first frame of animations, EXIF rotation applied,
    transparency flattened onto white, 16-bit, CMYK, palette and grey modes converted.

    With `reduce_to`, a JPEG much larger than that many pixels a side is decoded at a reduced
    scale (Pillow's `draft`: 1/2, 1/4 or 1/8, keeping both sides at least `reduce_to`), which
    saves most of the time and memory a large photo takes for a caller that will shrink it.
    """
    if isinstance(image, Image.Image):
        frame = image.tell()
        try:
            return _first_frame_rgb(image, "the image")
        finally:
            image.seek(frame)  # the caller's image stays on its frame
    name = "the bytes given" if isinstance(image, bytes) else str(image)
    source = io.BytesIO(image) if isinstance(image, bytes) else image
    try:
        with warnings.catch_warnings():  # pictures over the limit are refused just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(source)
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as err:
        raise TooLargeError(_too_large(name, None)) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise NotAnImageError(
            f"{name} is not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP, TIFF): {err}"
        ) from err
    with opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise TooLargeError(_too_large(name, opened.size))
        if reduce_to and opened.format == "JPEG":
            opened.draft("RGB", (reduce_to, reduce_to))
        return _first_frame_rgb(opened, name)


def _too_large(name: str, size: tuple[int, int] | None) -> str:
    pixels = f" ({size[0]:,}×{size[1]:,} pixels)" if size else ""
    return (
        f"{name} is too large to open safely{pixels}: memesent reads pictures of up to "
        f"{MAX_PIXELS / 1e6:.0f} million pixels; scale it down first"
    )


def _first_frame_rgb(img: Image.Image, name: str) -> Image.Image:
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        img.load()
        return _to_rgb(ImageOps.exif_transpose(img))
    except (OSError, ValueError, SyntaxError) as err:
        raise NotAnImageError(f"{name} could not be decoded: {err}") from err


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.min(a)), float(np.max(a))
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        return Image.fromarray(a.astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def squeeze(image: Image.Image, side: int) -> Image.Image:
    """`image` resized to `side` x `side` if either side is larger, else as it is: the first step
    of the image backbones' preprocessing (Memotion's memes, which the heads learn from, are
    squeezed that way), which batch scoring runs where it decodes the pictures."""
    if side and max(image.size) > side:
        return image.resize((side, side), Image.Resampling.BILINEAR)
    return image
