"""Memotion 7k (SemEval-2020 Task 8), and any folder in its layout such as people's corrections:
`labels.csv` (`image_name`, `text_corrected` or `text_ocr`, `overall_sentiment`) and `images/`.

Its labels are our five levels. A bare `--data DIR` is in this layout. Several folders load as
one set, their memes named `folder/image_name` so the names stay unique; split here,
stratified by level. Its field's measure is the three-class macro-F1 of SemEval-2020 Task 8.
It is the data set of the original write-up (`--recipe writeup` trains on it alone); its labels
carry little learnable sentiment, so the shipped recipe leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report

from memesent.labels import LABELS, LABELS3, TO3_INDEX, collapse

from ..data import DataError, image_problem
from ..metrics import evaluate_probs, information_table
from ..plots import plot_confusions, plot_reliability
from .base import Examples, Source, Splitting, register

REQUIRED = ("image_name", "overall_sentiment")
# The original write-up's own numbers on its own Memotion test set, three classes
# (`benchmarks.memotion` sets them beside this model's on a test part of ours).
WRITEUP_PUBLISHED = {"accuracy_3": 0.51, "macro_f1_3": 0.32}


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


def load_folders(folders: Sequence[Path], splitting: Splitting) -> Examples:
    """One or more Memotion-layout folders as one source (see the module)."""
    memes = load_memes(list(folders))
    allowed = np.zeros((len(memes), len(LABELS)), dtype=bool)
    allowed[np.arange(len(memes)), memes.labels] = True
    return Examples(
        source=SOURCE_NAME,
        names=memes.names,
        captions=[c or None for c in memes.captions],
        images=list(memes.image_paths),
        allowed=allowed,
        parts=splitting.parts(memes.labels),
        extra={"level": memes.labels},
        skipped=memes.skipped,
    )


def load(root: Path, splitting: Splitting) -> Examples:
    return load_folders([root], splitting)


def classification_reports(ex: Examples, probs: np.ndarray) -> dict[str, str]:
    """Per-class precision, recall and F1 of the three-class and five-level answers."""
    levels = ex.extra["level"]
    report = {
        "report_3": (TO3_INDEX[levels], collapse(probs).argmax(1), LABELS3),
        "report_5": (levels, probs.argmax(1), LABELS),
    }
    return {
        key: classification_report(
            truth,
            answer,
            labels=list(range(len(names))),
            target_names=list(names),
            digits=3,
            zero_division=0,
        )
        for key, (truth, answer, names) in report.items()
    }


def _confusion(ex: Examples, probs: np.ndarray, measures: dict, path: Path, title: str) -> None:
    plot_confusions(measures, path, title)


def _reliability(ex: Examples, probs: np.ndarray, measures: dict, path: Path, title: str) -> None:
    plot_reliability(ex.extra["level"], probs, path, title)


SOURCE_NAME = "memotion"
SOURCE = register(
    Source(
        name=SOURCE_NAME,
        description="Memotion 7k memes (or a folder in its layout), five sentiment levels",
        noun="Memotion 7k memes",
        modalities=("text", "image"),
        load=load,
        load_folders=load_folders,
        bare_folders=True,
        folder="memotion7k",
        mapping={level: (level,) for level in LABELS},
        score=lambda ex, probs, rates, intervals: evaluate_probs(
            ex.extra["level"], probs, rates, intervals
        ),
        headline="macro_f1_3",
        measure="three-class macro-F1 (SemEval-2020 Task 8)",
        published=(
            ("SemEval-2020 Task 8 baseline", 0.218),
            ("best system", 0.355),
            ("the original write-up (its own test set)", WRITEUP_PUBLISHED["macro_f1_3"]),
        ),
        plots={"confusion": _confusion, "reliability": _reliability},
        details=classification_reports,
        summary=lambda m: "\n".join([m["report_3"], m["report_5"], information_table(m)]),
        calibration_priority=2,
        writeup=True,
    )
)
