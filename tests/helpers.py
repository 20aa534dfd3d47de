"""Pictures made for tests: memes (sample photos or flat colours with outlined captions), and
decompression bombs."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
ROOT = Path(__file__).resolve().parents[1]


def run_memesent(*args: str) -> subprocess.CompletedProcess:
    """`python -m memesent ARGS` from the checkout, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "memesent", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size) if FONT.is_file() else ImageFont.load_default(size)


def photo(name: str = "chelsea", size: tuple[int, int] = (500, 500)) -> Image.Image:
    """One of scikit-image's sample photos (shipped in its wheel), resized."""
    from skimage import data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr[..., :3]).resize(size)


def draw_meme(picture: Image.Image, top: str = "", bottom: str = "") -> Image.Image:
    """White Impact-style caption with a black outline at the top and bottom of `picture`."""
    img = picture.convert("RGB").copy()
    draw = ImageDraw.Draw(img)
    f = font(max(12, img.height // 12))
    for text, y in ((top, img.height // 30), (bottom, img.height - img.height // 7)):
        if text:
            w = draw.textlength(text, font=f)
            draw.text(
                ((img.width - w) / 2, y),
                text,
                font=f,
                fill="white",
                stroke_width=max(1, img.height // 150),
                stroke_fill="black",
            )
    return img


def bomb_png(width: int, height: int) -> bytes:
    """A small PNG file that claims `width` x `height` 1-bit pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
