"""People's corrections, stored in the training layout: `DIR/labels.csv` + `DIR/images/`.

`labels.csv` has `image_name, text_corrected, overall_sentiment, model_label, model_version,
saved_at`, so `python -m train --data DIR` and `python -m train.evaluate --data DIR` read the
folder as they read Memotion. Pictures are stored under a digest of their bytes (and the
extension of the format Pillow finds in them): a name from the request is never used as a file
name. The same picture with the same caption corrected again replaces its row.

Writes are atomic (a temporary file, then a rename) and take turns through an advisory lock on
`DIR/.lock` (`fcntl.flock`), which serialises threads and processes alike. Gradio's `CSVLogger`
does not fit: it only appends, so a second correction of a meme could not replace the first,
and it names files after the upload, not after their content.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from memesent.atomic import keep_bytes
from memesent.labels import LABELS

COLUMNS = (
    "image_name",
    "text_corrected",
    "overall_sentiment",
    "model_label",
    "model_version",
    "saved_at",
)
DEFAULT_LIMIT = 10_000
EXTENSIONS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
}


class CorrectionError(ValueError):
    """A correction that cannot be stored; the message says why and what to do."""


@dataclass(frozen=True)
class Saved:
    """What `CorrectionStore.save` did: the row's picture name, whether it replaced an earlier
    correction of the same meme, and how many corrections the folder now holds."""

    image_name: str
    replaced: bool
    count: int


class CorrectionStore:
    """A corrections folder, at most `limit` corrections."""

    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the corrections limit must be at least 1, not {limit}")
        self.folder, self.limit = Path(folder), limit
        (self.folder / "images").mkdir(parents=True, exist_ok=True)

    @property
    def labels(self) -> Path:
        return self.folder / "labels.csv"

    def rows(self) -> list[dict[str, str]]:
        """The stored corrections, in the order they were first saved."""
        if not self.labels.is_file():
            return []
        with open(self.labels, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def save(
        self, picture: bytes, caption: str, level: str, model_label: str, model_version: str
    ) -> Saved:
        """Store `picture` (the file's bytes, already checked to be a usable picture) with its
        caption and the `level` a person gave it, beside what the model said."""
        if level not in LABELS:
            raise CorrectionError(f"Pick one of the five levels: {', '.join(LABELS)}.")
        name = _picture_name(picture)
        row = {
            "image_name": name,
            "text_corrected": caption,
            "overall_sentiment": level,
            "model_label": model_label,
            "model_version": model_version,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self._locked():
            rows = self.rows()
            key = (name, caption)
            same = [i for i, r in enumerate(rows) if (r["image_name"], r["text_corrected"]) == key]
            if same:
                rows[same[0]] = row
            elif len(rows) >= self.limit:
                raise CorrectionError(
                    f"This server stores at most {self.limit:,} corrections and is full: "
                    "its owner can train on them, move them elsewhere and start a new folder."
                )
            else:
                rows.append(row)
            target = self.folder / "images" / name
            if not target.exists():
                keep_bytes(target, picture)
            keep_bytes(self.labels, _csv(rows))
            return Saved(name, bool(same), len(rows))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _picture_name(picture: bytes) -> str:
    """A digest of the bytes, with the extension of the format Pillow reads in them."""
    with Image.open(io.BytesIO(picture)) as header:
        extension = EXTENSIONS.get(header.format or "", ".img")
    return hashlib.sha256(picture).hexdigest()[:24] + extension


def _csv(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")
