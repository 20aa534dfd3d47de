"""The result card: one PNG to share, sized for social media (1200 x 675, as link previews crop
to 16:9): the meme, its caption, the verdict with the words' and the picture's readings, the
heat map, and memesent's name. Drawn with Pillow."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from memesent.labels import LABELS
from memesent.predictor import Prediction

from .views import LEVEL_COLOURS, READING_NAMES

SIZE = (1200, 675)
FONTS = Path("/usr/share/fonts/truetype/dejavu")
INK, SUBDUED, PAPER = (30, 30, 30), (100, 100, 100), (250, 250, 247)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


def _fit(picture: Image.Image, box: tuple[int, int]) -> Image.Image:
    fitted = picture.convert("RGB").copy()
    fitted.thumbnail(box, Image.Resampling.LANCZOS)
    return fitted


def _bar(draw: ImageDraw.ImageDraw, xy: tuple[int, int], width: int, probs: dict) -> None:
    x, y = xy
    for level in LABELS:
        w = round(width * probs[level])
        draw.rectangle((x, y, x + w, y + 16), fill=LEVEL_COLOURS[level])
        x += w


def result_card(
    picture: Image.Image,
    caption: str,
    prediction: Prediction,
    overlay: Image.Image | None = None,
    target: str | None = None,
) -> Image.Image:
    """The card for one meme's result (see the module); `overlay` is the explanation's heat map
    over the meme and `target` the level it explains."""
    card = Image.new("RGB", SIZE, PAPER)
    draw = ImageDraw.Draw(card)
    meme = _fit(picture, (560, 615))
    card.paste(meme, (30 + (560 - meme.width) // 2, 30 + (615 - meme.height) // 2))
    x = 630
    brand = _font(34, bold=True)
    draw.text((x, 28), "memesent", font=brand, fill=INK)
    subtitle_x = x + draw.textlength("memesent", font=brand) + 14
    draw.text((subtitle_x, 42), "what does this meme feel?", font=_font(18), fill=SUBDUED)
    lines = textwrap.wrap(caption or "(no caption)", 42)[:3]
    draw.multiline_text((x, 90), "\n".join(lines), font=_font(22), fill=INK, spacing=6)
    top = prediction.label
    y = 200
    draw.text((x, y), top.replace("_", " "), font=_font(44, bold=True), fill=LEVEL_COLOURS[top])
    draw.text(
        (x, y + 56),
        f"{prediction.probs[top]:.0%} likely · a typical meme: {prediction.base_rates[top]:.0%}",
        font=_font(18),
        fill=SUBDUED,
    )
    y += 100
    readings = [("The whole meme", prediction.probs)] + [
        (title, prediction.readings.get(reading)) for reading, title in READING_NAMES.items()
    ]
    for title, probs in readings:
        draw.text((x, y), title, font=_font(18, bold=True), fill=INK)
        if probs is None:
            draw.text((x + 200, y), "—", font=_font(18), fill=SUBDUED)
        else:
            level = max(LABELS, key=probs.__getitem__)
            draw.text((x + 200, y), level.replace("_", " "), font=_font(18), fill=INK)
            _bar(draw, (x + 360, y + 3), 180, probs)
        y += 34
    if overlay is not None:
        heat = _fit(overlay, (260, 190))
        card.paste(heat, (x, 445))
        label = f"where the picture drove\n“{(target or top).replace('_', ' ')}”"
        draw.multiline_text((x + heat.width + 16, 455), label, font=_font(17), fill=SUBDUED)
    draw.text(
        (x, SIZE[1] - 34),
        "levels: very negative … very positive · made with memesent",
        font=_font(15),
        fill=SUBDUED,
    )
    return card
