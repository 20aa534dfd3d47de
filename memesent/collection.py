"""Which memes a batch run scores: pictures and folders given on the command line, and manifests.

A `Job` is one meme: the key it is recorded under in the results (`image`), where its picture
is, and its caption when the input names one. Folders are walked recursively and their files
kept by content (what Pillow recognises from the first bytes), not by name. A manifest is a CSV
with `image` (relative to the CSV's folder) and optionally `caption` (without one, captions are
read by OCR), or Memotion's `labels.csv` as it is
(`image_name` under `images/`, `text_corrected` falling back to `text_ocr`). A manifest row
whose path leaves the manifest's folder (absolute, or with `..`) is refused in its own row and
never read; links already inside the folder are the folder owner's and are followed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .errors import MemesentError


def leaves_folder(name: str) -> bool:
    """Whether a picture name from a CSV would leave the folder it is read in (an absolute path,
    or `..`): such names are refused, never read."""
    relative = Path(name)
    return relative.is_absolute() or ".." in relative.parts


WORDS_ALONE = "(the words alone)"  # the key of `memesent predict --caption TEXT` with no picture


class ManifestError(MemesentError, ValueError):
    """A manifest that cannot be read as a whole; the message names what is wrong."""


@dataclass(frozen=True)
class Job:
    """One meme to score. `error` is set when the input already says it cannot be (a missing
    picture, a refused path); such a job is recorded with its error, not scored. A job with no
    `path` and no error is a caption read alone (`WORDS_ALONE`)."""

    image: str
    path: Path | None
    caption: str | None = None
    error: str = ""


def is_picture(path: Path) -> bool:
    """Whether Pillow recognises the file's content as a picture (the header only is read)."""
    try:
        with Image.open(path):
            return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def jobs_from_inputs(inputs: Sequence[str]) -> Iterator[Job]:
    """A job per picture file given, and per picture file found in the folders given (walked
    recursively in name order; other files skipped). A file given by name is always a job: if
    it is not a picture, scoring says so in its row."""
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    found = Path(root) / name
                    if is_picture(found):
                        yield Job(image=str(found), path=found)
        elif path.exists():
            yield Job(image=given, path=path)
        else:
            yield Job(image=given, path=None, error="no such file or folder")


@dataclass(frozen=True)
class Manifest:
    """A manifest's rows, (picture name, caption) each, with `under` the folder its names are
    relative to within the manifest's own (`images/` for Memotion's layout), and the columns
    it has that memesent does not read (`unused`)."""

    rows: list[tuple[str, str]]
    under: Path
    unused: tuple[str, ...]


def read_manifest(manifest: Path) -> Manifest:
    """The rows of a manifest CSV (see the module); `ManifestError` when it cannot be read or
    lacks the columns it needs."""
    try:
        handle = open(manifest, newline="", encoding="utf-8")
    except OSError as err:
        raise ManifestError(f"cannot read the manifest {manifest}: {err}") from err
    with handle:
        reader = csv.DictReader(handle)
        try:
            columns = tuple(reader.fieldnames or ())
        except (csv.Error, UnicodeDecodeError) as err:
            raise ManifestError(f"{manifest} is not a CSV file ({err})") from err
        captions: tuple[str, ...]
        if "image" in columns:
            image_column, under, captions = "image", Path(), ("caption",)
        elif "image_name" in columns:  # Memotion's labels.csv
            image_column, under = "image_name", Path("images")
            captions = ("text_corrected", "text_ocr")
        else:
            raise ManifestError(
                f"{manifest} lacks an image column: give `image` (a path relative to the "
                "manifest's folder) and `caption`, or Memotion's `image_name` and "
                "`text_corrected`"
            )
        try:
            rows = [
                (
                    (row.get(image_column) or "").strip(),
                    next((row[c].strip() for c in captions if (row.get(c) or "").strip()), ""),
                )
                for row in reader
            ]
        except (csv.Error, UnicodeDecodeError) as err:
            raise ManifestError(f"{manifest}, line {reader.line_num}: {err}") from err
    read = {image_column, *captions}
    return Manifest(rows, under, tuple(c for c in columns if c not in read))


def jobs_from_manifest(manifest: Path) -> Iterator[Job]:
    """A job per row of a manifest CSV (see the module)."""
    found = read_manifest(manifest)
    for name, caption in found.rows:
        yield _manifest_job(manifest.parent, found.under / name if name else Path(), name, caption)


def _manifest_job(folder: Path, relative: Path, name: str, caption: str) -> Job:
    key = str(relative)
    if not name:
        return Job(image=key, path=None, caption=caption, error="the row names no picture")
    if leaves_folder(key):
        return Job(
            image=key,
            path=None,
            caption=caption,
            error="refused: the path leaves the manifest's folder",
        )
    path = folder / relative
    if not path.is_file():
        return Job(image=key, path=None, caption=caption, error="picture missing")
    return Job(image=key, path=path, caption=caption)
