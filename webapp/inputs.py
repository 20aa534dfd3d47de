"""What the app accepts: a picture it can use and a caption it can read, or an `InputError`
whose message tells the person what to do (the page shows it as it is)."""

from __future__ import annotations

from PIL import Image, UnidentifiedImageError

from memesent.images import MAX_PIXELS, ImageInput, NotAnImageError, TooLargeError, load_image
from memesent.ocr import OCRSettings

MAX_CAPTION_CHARS = 1_000  # the text backbone reads 128 word pieces, about 500 characters
MIN_SIDE = 32  # pixels: below this a picture carries nothing the image backbone can see
# Pixels a side that pictures are scaled down to first. Analysis: the model reads a meme at 256
# pixels and the page shows the heat map at most 260 pixels high (520 device pixels on a
# high-density screen), so 512 loses nothing either uses and keeps explanations small. OCR needs
# more, small caption text must stay legible: it reads pictures scaled to OCRSettings.long_side,
# so a large upload goes straight to that size (one resize, and what the OCR benchmark measured).
ANALYSIS_SIDE = 512
OCR_SIDE = OCRSettings().long_side


class InputError(ValueError):
    """Input the app cannot use; the message says what to do about it."""


def open_meme(image: ImageInput | None, max_side: int = ANALYSIS_SIDE) -> Image.Image:
    """The meme as an RGB picture of at most `max_side` pixels a side, or an `InputError`."""
    if image is None:
        raise InputError("Add a meme first: upload, drop or paste a picture.")
    try:
        picture = load_image(image, max_side)
    except FileNotFoundError as err:
        raise InputError("The uploaded file is gone from the server; upload it again.") from err
    except TooLargeError as err:
        raise InputError(
            f"This picture is too large to open safely (over {MAX_PIXELS / 1e6:.0f} million "
            "pixels): scale it down and upload it again."
        ) from err
    except NotAnImageError as err:
        if isinstance(err.__cause__, UnidentifiedImageError):
            raise InputError(
                "This file is not a picture memesent can read: "
                "use a PNG, JPEG, GIF, BMP, WebP or TIFF image."
            ) from err
        raise InputError(
            "This picture is damaged or incomplete (perhaps cut off while saving or uploading): "
            "open it in an image viewer, save it again and upload that."
        ) from err
    if min(picture.size) < MIN_SIDE:
        raise InputError(
            f"This picture is only {picture.width}×{picture.height} pixels; memesent needs at "
            f"least {MIN_SIDE}×{MIN_SIDE} to see anything in it."
        )
    picture.thumbnail((max_side, max_side))
    return picture


def check_caption(caption: str | None) -> str:
    """The caption without surrounding white space ("" allowed), or an `InputError` if too long."""
    text = (caption or "").strip()
    if len(text) > MAX_CAPTION_CHARS:
        raise InputError(
            f"The caption has {len(text):,} characters; memesent reads at most "
            f"{MAX_CAPTION_CHARS:,}. Keep the meme's own text and cut the rest."
        )
    return text
