"""Scoring caption OCR against people's transcriptions: words normalised, bags of words compared.

Used by the OCR benchmark (`python -m benchmarks.ocr_accuracy`) and the OCR tests; the MultiOFF
layout (`labels.csv` with `image_name, sentence`, pictures in `images/`) is read here too.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_CLITIC = re.compile(r"\s+(n't|'s|'m|'re|'ll|'ve|'d)\b", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise_words(text: str) -> list[str]:
    """Words of `text` for comparison: lower case, tokenised clitics re-attached (`do n't` and
    `don't` both become `dont`), apostrophes dropped, any other punctuation treated as space."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _CLITIC.sub(r"\1", text).replace("'", "")
    return _NOT_WORD.sub(" ", text).split()


def overlap(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Number of words the two bags share: the sum over words of the smaller count."""
    return sum((Counter(reference) & Counter(hypothesis)).values())


def read_transcriptions(folder: Path) -> list[tuple[str, str]]:
    """(image name, transcription) pairs from `folder/labels.csv` (the MultiOFF layout)."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"image_name", "sentence"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{folder / 'labels.csv'} lacks the column(s) {sorted(missing)}")
        return [(row["image_name"], row["sentence"]) for row in reader]
