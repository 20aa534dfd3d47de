"""What every data set adapter shares: the error a user can act on (`DataError`), the check of
a picture named in a labels file (`image_problem`) and the seeded, stratified split
(`stratified_split`) of a data set without a split of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from memesent.collection import leaves_folder
from memesent.images import NotAnImageError, load_image


class DataError(ValueError):
    """The data folder cannot be used as it is; the message says what to fix."""


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
    """Indices into a data set: `train` fits the head, `val` chooses its epoch, `calib` fits its
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
    if np.min(counts) >= 4:
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
