"""Labelled memes in the Memotion layout: `DIR/labels.csv` + `DIR/images/`, checked and split.

Several folders (Memotion and a folder of people's corrections, say) load as one set; their
memes are then named `folder/image_name`, so the names stay unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from memesent.collection import leaves_folder
from memesent.images import NotAnImageError, load_image
from memesent.labels import LABELS

REQUIRED = ("image_name", "overall_sentiment")


class DataError(ValueError):
    """The data folder cannot be used as it is; the message says what to fix."""


@dataclass
class MemeSet:
    """Memes that passed the checks: names, picture paths, captions and level indices;
    `skipped` lists (name, reason) for the rows left out."""

    names: list[str]
    image_paths: list[Path]
    captions: list[str]
    labels: np.ndarray
    skipped: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.names)


def load_memes(data: str | Path | Sequence[str | Path]) -> MemeSet:
    """Read and validate one Memotion-layout folder, or several as one set (see the module)."""
    folders = [Path(data)] if isinstance(data, str | Path) else [Path(d) for d in data]
    if not folders:
        raise DataError("no data folder given")
    if len(folders) == 1:
        return _load_folder(folders[0], prefix="")
    names = [f.resolve().name for f in folders]
    if len(set(names)) < len(names):
        raise DataError(
            f"the data folders {', '.join(map(str, folders))} share a name; their memes would "
            "be named alike: give folders with different names"
        )
    parts = [_load_folder(f, prefix=f"{n}/") for f, n in zip(folders, names, strict=True)]
    return MemeSet(
        names=[n for p in parts for n in p.names],
        image_paths=[x for p in parts for x in p.image_paths],
        captions=[c for p in parts for c in p.captions],
        labels=np.concatenate([p.labels for p in parts]),
        skipped=[s for p in parts for s in p.skipped],
    )


def _load_folder(data_dir: Path, prefix: str) -> MemeSet:
    """Read and validate a Memotion-layout folder; its memes are named `prefix + image_name`.

    Missing columns, unknown labels and an empty folder stop with a `DataError`; rows whose image
    is missing or unreadable are skipped and listed in `skipped` as (image_name, reason).
    """
    root = Path(data_dir)
    csv = root / "labels.csv"
    if not csv.is_file():
        raise DataError(
            f"{root} has no labels.csv (expected the Memotion layout: labels.csv + images/)"
        )
    try:
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{csv} is empty") from err
    missing = [c for c in REQUIRED if c not in df.columns]
    if "text_corrected" not in df.columns and "text_ocr" not in df.columns:
        missing.append("text_corrected (or text_ocr)")
    if missing:
        raise DataError(f"{csv} lacks the column(s): {', '.join(missing)}")
    if df.empty:
        raise DataError(f"{csv} has no rows")
    labels = df["overall_sentiment"].str.strip()
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise DataError(
            f"{csv}: unknown overall_sentiment value(s) {unknown}; expected one of {list(LABELS)}"
        )
    captions = _captions(df)
    keep, skipped = [], []
    for i, name in enumerate(df["image_name"]):
        reason = image_problem(root / "images", name)
        if reason:
            skipped.append((name, reason))
        else:
            keep.append(i)
    if not keep:
        raise DataError(
            f"none of the {len(df)} rows of {csv} has a readable image in {root / 'images'}"
        )
    index = {label: i for i, label in enumerate(LABELS)}
    return MemeSet(
        names=[prefix + df["image_name"].iloc[i] for i in keep],
        image_paths=[root / "images" / df["image_name"].iloc[i] for i in keep],
        captions=[captions[i] for i in keep],
        labels=np.array([index[labels.iloc[i]] for i in keep], dtype=np.int64),
        skipped=[(prefix + name, reason) for name, reason in skipped],
    )


def _captions(df: pd.DataFrame) -> list[str]:
    corrected = (
        df["text_corrected"] if "text_corrected" in df.columns else pd.Series([""] * len(df))
    )
    ocr = df["text_ocr"] if "text_ocr" in df.columns else pd.Series([""] * len(df))
    return [(c if c.strip() else o).strip() for c, o in zip(corrected, ocr, strict=True)]


def image_problem(images: Path, name: str) -> str | None:
    """Why the picture `name` in `images` cannot be used, or None. A name that leaves the folder
    (absolute, or with `..`) is refused unread. The picture is decoded in full, as training will
    decode it: a header check alone lets truncated JPEGs through."""
    if not name or leaves_folder(name):
        return "refused: the image name leaves the images folder"
    path = images / name
    if not path.is_file():
        return "image file missing"
    try:
        load_image(path)
    except NotAnImageError as err:
        return f"unreadable image ({err.__cause__ or err})"
    return None


@dataclass
class Split:
    """Indices into a `MemeSet`: `train` fits the head, `val` chooses its epoch, `calib` fits its
    calibration, `test` measures it; no meme is in two parts."""

    train: np.ndarray
    val: np.ndarray
    calib: np.ndarray
    test: np.ndarray


def stratified_split(
    labels: np.ndarray, val: float, test: float, seed: int, calib: float = 0.15
) -> Split:
    """A train / validation / calibration / test split, stratified by level, the same for the
    same seed. The test part depends only on `test` and `seed`, so runs with other validation
    or calibration fractions are measured on the same memes."""
    idx = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() >= 4:
        try:
            return _split(idx, labels, val, test, calib, seed, stratify=True)
        except ValueError:  # a part too small to hold every level: split without strata
            pass
    try:
        return _split(idx, labels, val, test, calib, seed, stratify=False)
    except ValueError as err:
        raise DataError(
            f"{len(labels)} memes are too few for a train / validation / calibration / test "
            f"split ({err})"
        ) from err


def _split(
    idx: np.ndarray,
    labels: np.ndarray,
    val: float,
    test: float,
    calib: float,
    seed: int,
    stratify: bool,
) -> Split:
    def cut(part: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
        return train_test_split(
            part, test_size=share, stratify=labels[part] if stratify else None, random_state=seed
        )

    rest, test_idx = cut(idx, test)
    train_idx, held = cut(rest, (val + calib) / (1 - test))
    val_idx, calib_idx = cut(held, calib / (val + calib))
    return Split(*(np.sort(part) for part in (train_idx, val_idx, calib_idx, test_idx)))
