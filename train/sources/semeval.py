"""SemEval 2013–2017 Task 4, subtask A (Rosenthal et al. 2017): English tweets, negative /
neutral / positive. Words only.

Layout: `task-a/twitter-YEARPART.tsv`, tab-separated `id, label, text` without a header.
`twitter-2017test.tsv` is the test part (SemEval-2017's test set, the same tweets as
TweetEval's sentiment test; the field's measure is macro-averaged recall over the three
classes); `twitter-2016dev.tsv` is the validation part; every other file trains (there is no
calibration part: it never calibrates a run). A tweet of the test set (by id or by text) is
never trained on, and repeats across years are kept once. Texts are cleaned as TweetEval does:
the release's `\\uXXXX` escapes and HTML entities decoded, user names replaced by `@user` and
links by `http`. A positive tweet allows both positive levels, a negative one both negative
levels, a neutral one neutral.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from memesent.labels import level_set

from ..data import DataError
from ..metrics import three_class_measures
from .base import Examples, Source, Splitting, register

LEVELS = {
    "negative": ("very_negative", "negative"),
    "neutral": ("neutral",),
    "positive": ("positive", "very_positive"),
}
TEST, VAL = "twitter-2017test.tsv", "twitter-2016dev.tsv"
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def clean(text: str) -> str:
    """A tweet as the model reads it (see the module)."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text.strip())
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    text = html.unescape(text)
    text = re.sub(r"@\w+", "@user", text)
    return re.sub(r"https?://\S+", "http", text).strip()


def _read(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if len(fields) < 3 or fields[1] not in LEVELS:
            raise DataError(f"semeval: {path}:{number} is not `id<TAB>label<TAB>text`")
        rows.append((fields[0], fields[1], clean(fields[2])))
    return rows


def load(root: Path, splitting: Splitting) -> Examples:
    folder = root / "task-a" if (root / "task-a").is_dir() else root
    files = sorted(folder.glob("twitter-*.tsv"))
    if not (folder / TEST).is_file():
        raise DataError(f"semeval: {folder} has no {TEST} (SemEval Task 4 subtask A's layout)")
    test = _read(folder / TEST)
    seen_ids, seen_texts = {r[0] for r in test}, {r[2].lower() for r in test}
    rows: list[tuple[str, str, str, str]] = [(i, y, t, "test") for i, y, t in test]
    for path in sorted(files, key=lambda p: (p.name != VAL, p.name)):
        if path.name == TEST:
            continue
        part = "val" if path.name == VAL else "train"
        for i, y, t in _read(path):
            if i in seen_ids or t.lower() in seen_texts or not t:
                continue
            seen_ids.add(i)
            seen_texts.add(t.lower())
            rows.append((i, y, t, part))
    return Examples(
        source="semeval",
        names=[r[0] for r in rows],
        captions=[r[2] for r in rows],
        images=[None] * len(rows),
        allowed=np.array([level_set(*LEVELS[r[1]]) for r in rows]),
        parts=np.array([r[3] for r in rows], dtype=object),
        extra={"label3": np.array([r[1] for r in rows], dtype=object)},
    )


SOURCE = register(
    Source(
        name="semeval",
        description="SemEval 2013–2017 Task 4A tweets, negative / neutral / positive (words only)",
        noun="SemEval tweets",
        modalities=("text",),
        load=load,
        mapping=LEVELS,
        score=lambda ex, probs, rates, intervals: three_class_measures(ex.extra["label3"], probs),
        headline="macro_recall_3",
        measure="SemEval-2017 test macro-averaged recall (= TweetEval sentiment)",
        folder="semeval-tweets",
        published=(("RoBERTa-base (TweetEval)", 0.713), ("best in TweetEval", 0.737)),
        # the tweets tune the text encoder and train no part of the head: the ablation
        # (docs/results.md) read MET-Meme's validation memes best with them left out of it
        head_weight=0.0,
        tuning_weight=0.4,
        shipped=2,
    )
)
