"""Draw the app's example memes: scikit-image sample photos with captions in a meme font.

The photos ship inside the scikit-image wheel and carry no copyright restrictions (CC0 or public
domain, see README.md here); the captions are the project's own, so the memes carry no third-party
rights. Run from anywhere: `python assets/examples/make_examples.py`; it rewrites the JPEGs and
`examples.json` (file name, caption and what each is meant to show) next to this script.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

HERE = Path(__file__).resolve().parent
FONTS = (
    Path("/usr/share/fonts/opentype/bebas-neue/BebasNeue-Bold.otf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)
WIDTH = 480  # pixels; every example is scaled to this width
QUALITY = 85  # JPEG quality

# (photo in skimage.data, top line, bottom line, what the shipped model reads in it). The range a
# first visit should see: words and picture agreeing on each side, and a meme where they disagree.
# tests/test_examples.py checks that the shipped model still reads each as its `intent` says.
MEMES = (
    ("coffee", "first coffee of the day", "best feeling ever", "positive"),
    ("clock", "my dog died today", "and nobody noticed", "negative"),
    ("rocket", "finally passed my exam", "to the moon", "words and picture disagree"),
)


def meme_font(size: int) -> ImageFont.FreeTypeFont:
    """Bebas Neue Bold (OFL, Debian `fonts-bebas-neue`), else DejaVu Sans Bold."""
    for path in FONTS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    raise FileNotFoundError("no meme font found; install fonts-bebas-neue or fonts-dejavu-core")


def photo(name: str) -> Image.Image:
    """One of scikit-image's sample photos as RGB, scaled to `WIDTH`."""
    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    img = Image.fromarray(arr[..., :3])
    return img.resize((WIDTH, round(img.height * WIDTH / img.width)), Image.Resampling.LANCZOS)


def wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    """Greedy word wrap of `text` into lines no wider than `width` pixels."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def caption(img: Image.Image, text: str, top: bool) -> None:
    """Write `text` in white with a black outline, centred, at the top or bottom of `img`."""
    draw = ImageDraw.Draw(img)
    font = meme_font(img.height // 8)
    margin = img.width // 30
    lines = wrap(draw, text.upper(), font, img.width - 2 * margin)
    step = font.size * 1.05
    y = margin if top else img.height - margin - step * len(lines)
    for line in lines:
        draw.text(
            (img.width / 2, y),
            line,
            font=font,
            anchor="ma",
            fill="white",
            stroke_width=max(2, font.size // 14),
            stroke_fill="black",
        )
        y += step


def main() -> None:
    manifest = []
    for name, top, bottom, intent in MEMES:
        img = photo(name)
        caption(img, top, top=True)
        caption(img, bottom, top=False)
        path = HERE / f"{name}.jpg"
        img.save(path, quality=QUALITY, optimize=True)
        manifest.append({"file": path.name, "caption": f"{top} {bottom}".upper(), "intent": intent})
        print(f"{path.name}: {img.width}x{img.height}, {path.stat().st_size // 1024} KB")
    (HERE / "examples.json").write_text(json.dumps(manifest, indent=2) + "\n")
    rows = "".join(f"{m['file']},{m['caption']}\n" for m in manifest)  # `memesent --manifest`
    (HERE / "captions.csv").write_text("image,caption\n" + rows)


if __name__ == "__main__":
    main()
