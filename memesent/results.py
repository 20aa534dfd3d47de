"""Results files of batch scoring: CSV, JSON lines or Parquet, one row per meme, resumable.

Every row holds `RESULT_COLUMNS`: the meme's key (`image`), the caption scored, the most likely
level and class, each level's probability, `error` (empty when scored) and `model`, the digest of
the model folder that answered (`memesent.model_files.model_version`), so that rows of two models
are never mixed in one file. Rows are flushed as they are written: a run that is stopped keeps
what it wrote, and a rerun with the same file skips the memes already there.

Parquet output is a folder of part files (as Ray and Spark write it; pandas and pyarrow read it
whole), one part per `PARQUET_ROWS` rows and one at the end, each written to a temporary name
and renamed, so a part is either complete or absent. `drop_failed` removes the rows of memes that
could not be scored, so that a rerun tries them again.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from .atomic import replacing
from .errors import MemesentError
from .labels import LABELS, LABELS3, collapse

RESULT_COLUMNS = (
    "image",
    "caption",
    "label",
    "label3",
    *(f"prob_{level}" for level in LABELS),
    *(f"{reading}_prob_{level}" for reading in ("text", "image") for level in LABELS),
    "error",
    "model",
)
PARQUET_ROWS = 1_000


class ResultsError(MemesentError, ValueError):
    """A results file that cannot be used for this run; the message says what to do."""


class Results(Protocol):
    """Where a batch run's rows go."""

    def done(self) -> set[str]: ...

    def write(self, rows: list[dict]) -> None: ...

    def close(self) -> None: ...


class MemoryResults:
    """Rows kept in memory, in the order they came (a run whose rows are used before they are
    written anywhere: `memesent predict --label-shares estimate`, the app's Collection tab)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def done(self) -> set[str]:
        return {row["image"] for row in self.rows}

    def write(self, rows: list[dict]) -> None:
        self.rows.extend(rows)

    def close(self) -> None:
        pass


def drop_failed(path: Path) -> int:
    """Remove the rows of memes that could not be scored from the results file at `path`, so
    that a rerun scores them again (each file or part rewritten whole); how many were removed.
    A file that does not exist has none."""
    if not path.exists():
        return 0
    if path.suffix == ".parquet":
        return _drop_failed_parts(path)
    rows = read_rows(path)
    kept = [row for row in rows if not row["error"]]
    if len(kept) == len(rows):
        return 0
    with replacing(path) as temporary:
        results = open_results(temporary, "")
        results.write(kept)
        results.close()
    return len(rows) - len(kept)


def _drop_failed_parts(folder: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dropped = 0
    for part in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(part)
        scored = pa.array([not error for error in table.column("error").to_pylist()])
        kept = table.filter(scored)
        if kept.num_rows == table.num_rows:
            continue
        dropped += table.num_rows - kept.num_rows
        with replacing(part) as temporary:
            pq.write_table(kept, temporary)
    return dropped


def read_rows(path: Path) -> list[dict]:
    """Every row of a results file that `memesent predict --out` wrote (CSV, JSON lines, or a
    Parquet folder or file), with the probabilities as floats (None where empty)."""
    if not path.exists():
        raise ResultsError(f"{path}: no such results file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError) as err:
            raise ResultsError(f"{path} is not a memesent results file ({err})") from err
    elif path.suffix == ".jsonl":
        try:
            with open(path, encoding="utf-8") as handle:
                rows = [json.loads(line) for line in handle if line.strip()]
        except (OSError, json.JSONDecodeError) as err:
            raise ResultsError(f"{path} is not a memesent results file ({err})") from err
    elif path.suffix == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, csv.Error, UnicodeDecodeError) as err:
            raise ResultsError(f"{path} is not a memesent results file ({err})") from err
    else:
        raise ResultsError(f"{path}: name a .csv, .jsonl or .parquet results file")
    missing = [c for c in RESULT_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise ResultsError(f"{path} is not a memesent results file: it lacks {', '.join(missing)}")
    return [_typed(row) for row in rows]


def scored_rows(rows: list[dict], model: str, path: Path) -> list[dict]:
    """The rows of `path` (`read_rows`) whose memes were scored, once each, checked to be the
    answers of `model` unshifted; `ResultsError` otherwise."""
    models = {row["model"] for row in rows}
    shifted = sorted(m for m in models if m and m.startswith(f"{model}+"))
    if shifted:
        raise ResultsError(
            f"{path} holds answers shifted to label shares (--label-shares): estimate shares "
            "from a run without --label-shares"
        )
    _check_models(path, models, model)
    latest = {row["image"]: row for row in rows}  # a retried meme's last row counts
    scored = [row for row in latest.values() if not row["error"]]
    if not scored:
        raise ResultsError(f"{path} holds no scored meme")
    return scored


def _typed(row: dict) -> dict:
    out = dict(row)
    for column in RESULT_COLUMNS:
        if "prob_" in column:
            value = out.get(column)
            out[column] = None if value is None or value == "" else float(value)
    return out


def shifted_row(row: dict, log_weights: np.ndarray, model: str) -> dict:
    """A results row's answers moved by a prior shift (`memesent.population.prior_shift`'s
    log-weights): each reading renormalised, the labels taken again, `model` recorded. The same
    numbers as scoring with `Predictor.with_label_shares` (to float rounding)."""
    out = {**row, "model": model}
    if row["error"]:
        return out
    for prefix in ("prob_", "text_prob_", "image_prob_"):
        values = [row[f"{prefix}{level}"] for level in LABELS]
        if any(v is None for v in values):
            continue
        with np.errstate(divide="ignore"):
            moved = np.log(np.asarray(values, dtype=np.float64)) + log_weights
        moved = np.exp(moved - moved.max())
        moved /= moved.sum()
        out.update({f"{prefix}{level}": float(v) for level, v in zip(LABELS, moved, strict=True)})
    probs = np.array([out[f"prob_{level}"] for level in LABELS])
    out["label"] = LABELS[int(np.argmax(probs))]
    out["label3"] = LABELS3[int(np.argmax(collapse(probs)))]
    return out


def open_results(path: Path, model: str) -> Results:
    """The results file at `path` for answers of `model`, by its suffix."""
    kinds: dict[str, Callable[[Path, str], Results]] = {
        ".csv": CsvResults,
        ".jsonl": JsonlResults,
        ".parquet": ParquetResults,
    }
    if path.suffix not in kinds:
        raise ResultsError(
            f"{path}: unknown results type {path.suffix or '(no suffix)'!r}; "
            f"name the file .csv, .jsonl or .parquet"
        )
    return kinds[path.suffix](path, model)


def _check_models(path: Path, found: Iterable[str | None], model: str) -> None:
    others = sorted({m for m in found if m and m != model})
    if others:
        raise ResultsError(
            f"{path} holds answers of another model ({', '.join(others)}), and this run's "
            f"model is {model}: write to another file, or delete this one to start over"
        )


def _cut_partial_last_line(path: Path) -> None:
    """Drop a last line that a stopped run left half-written (no line end)."""
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


class _TextResults:
    def __init__(self, path: Path, model: str) -> None:
        self.path, self.model = path, model
        if path.is_dir():
            raise ResultsError(f"{path} is a folder; name a file to write the results to")
        self._handle: TextIO | None = None

    def _open(self) -> TextIO:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", newline="", encoding="utf-8")
        return self._handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class CsvResults(_TextResults):
    """A CSV file with a header row."""

    def done(self) -> set[str]:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return set()
        _cut_partial_last_line(self.path)
        with open(self.path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
                raise ResultsError(
                    f"{self.path} is not a memesent results file (its columns are "
                    f"{reader.fieldnames}): write to another file"
                )
            keys, models = set(), set()
            try:
                for row in reader:
                    keys.add(row["image"])
                    models.add(row["model"])
            except csv.Error as err:
                raise ResultsError(
                    f"{self.path} has a damaged row (line {reader.line_num}: {err}); "
                    "remove it and run again"
                ) from err
        _check_models(self.path, models, self.model)
        return keys

    def write(self, rows: list[dict]) -> None:
        handle = self._open()
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()


class JsonlResults(_TextResults):
    """One JSON object per line."""

    def done(self) -> set[str]:
        if not self.path.is_file():
            return set()
        _cut_partial_last_line(self.path)
        keys, models = set(), set()
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    keys.add(row["image"])
                    models.add(row["model"])
                except (json.JSONDecodeError, KeyError, TypeError) as err:
                    raise ResultsError(
                        f"line {number} of {self.path} is not a memesent result ({err}); "
                        "remove it, or write to another file"
                    ) from err
        _check_models(self.path, models, self.model)
        return keys

    def write(self, rows: list[dict]) -> None:
        handle = self._open()
        handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        handle.flush()


class ParquetResults:
    """A folder of Parquet part files."""

    def __init__(self, path: Path, model: str) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise ResultsError("Parquet results need pyarrow: pip install pyarrow") from err
        if path.exists() and not path.is_dir():
            raise ResultsError(f"{path} is a file; Parquet results are a folder of part files")
        self.path, self.model = path, model
        self._buffer: list[dict] = []

    def _parts(self) -> list[Path]:
        return sorted(self.path.glob("*.parquet")) if self.path.is_dir() else []

    def done(self) -> set[str]:
        import pyarrow.parquet as pq

        keys: set[str] = set()
        models: set[str | None] = set()
        for part in self._parts():
            try:
                table = pq.read_table(part, columns=["image", "model"])
            except (OSError, ValueError) as err:
                raise ResultsError(
                    f"{part} is not a memesent results part ({err}); remove it and run again"
                ) from err
            keys.update(k for k in table.column("image").to_pylist() if k is not None)
            models.update(table.column("model").to_pylist())
        _check_models(self.path, models, self.model)
        return keys

    def write(self, rows: list[dict]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= PARQUET_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path.mkdir(parents=True, exist_ok=True)
        fields = [
            pa.field(c, pa.float64() if "prob_" in c else pa.string()) for c in RESULT_COLUMNS
        ]
        table = pa.Table.from_pylist(self._buffer, schema=pa.schema(fields))
        part = self.path / f"part-{len(self._parts()):06d}-{os.getpid()}.parquet"
        with replacing(part) as temporary:
            pq.write_table(table, temporary)
        self._buffer = []
