"""`load_image`: every mode becomes the RGB picture a person would see, and pictures too large
to decode safely are refused from their header."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, bomb_png
from PIL import Image

from memesent.images import MAX_PIXELS, TooLargeError, load_image


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_transparency_is_flattened_onto_white():
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((255, 0, 0, 255), (0, 0, 20, 40))  # left half opaque red
    rgba.paste((0, 0, 255, 128), (20, 0, 40, 40))  # right half half-transparent blue
    out = np.asarray(load_image(_png(rgba)))
    assert tuple(out[5, 5]) == (255, 0, 0)
    assert np.abs(out[5, 30].astype(int) - (127, 127, 255)).max() <= 1  # blue over white
    grey_alpha = Image.new("LA", (10, 10), (0, 0))  # black, fully transparent
    assert tuple(np.asarray(load_image(_png(grey_alpha)))[0, 0]) == (255, 255, 255)
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([10, 20, 30] * 256)
    assert tuple(np.asarray(load_image(_png(palette, transparency=0)))[0, 0]) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_to_the_full_range():
    ramp = np.tile(np.linspace(1000, 5000, 64).astype(np.uint16), (8, 1))
    out = np.asarray(load_image(_png(Image.fromarray(ramp))))
    assert out.shape == (8, 64, 3) and (out[..., 0] == out[..., 2]).all()
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255  # darkest black, brightest white
    assert (np.diff(out[0, :, 0].astype(int)) >= 0).all()  # order kept
    assert abs(int(out[0, 32, 0]) - 130) <= 3  # linear in between


def test_cmyk_becomes_the_colours_it_prints():
    cyan = Image.new("CMYK", (8, 8), (255, 0, 0, 0))
    black = Image.new("CMYK", (8, 8), (0, 0, 0, 255))
    buf = io.BytesIO()
    cyan.save(buf, format="TIFF")
    assert tuple(np.asarray(load_image(buf.getvalue()))[0, 0]) == (0, 255, 255)
    buf = io.BytesIO()
    black.save(buf, format="TIFF")
    assert tuple(np.asarray(load_image(buf.getvalue()))[0, 0]) == (0, 0, 0)


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (60, 30), "white")
    img.paste((255, 0, 0), (0, 0, 10, 30))  # red stripe on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=95)
    out = load_image(buf.getvalue())
    assert out.size == (30, 60)
    pixels = np.asarray(out).astype(int)
    assert pixels[2, 15, 0] > 200 and pixels[2, 15, 1] < 60  # the stripe is now on top
    assert pixels[-3, 15].min() > 200  # and the bottom is white


GROWTH = """
import resource, sys, time
from memesent.images import TooLargeError, load_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_image(sys.argv[1])
except TooLargeError as err:
    refused = str(err)
else:
    refused = ""
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(grown, time.perf_counter() - start, refused, sep="\\n")
"""


@pytest.mark.parametrize("side", [10_000, 30_000])  # just over the limit, and far over it
def test_decompression_bombs_are_refused_before_decoding(tmp_path, side):
    """In a process of its own, so that its peak memory is this call's alone (an earlier test
    may have raised this process's high-water mark past anything the call does)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(side, side))
    assert side * side > MAX_PIXELS
    done = subprocess.run(
        [sys.executable, "-c", GROWTH, str(path)], capture_output=True, text=True, cwd=ROOT
    )
    grown_mb, seconds, refused = done.stdout.splitlines()
    assert "too large to open safely" in refused, done.stderr
    assert float(seconds) < 1.0
    assert float(grown_mb) < 50  # decoding 100 megapixels would take 300 MB as RGB


def test_the_limit_is_inclusive(monkeypatch):
    monkeypatch.setattr("memesent.images.MAX_PIXELS", 100 * 100)
    assert load_image(bomb_png(100, 100)).size == (100, 100)
    with pytest.raises(TooLargeError, match=r"101×100 pixels"):
        load_image(bomb_png(101, 100))
