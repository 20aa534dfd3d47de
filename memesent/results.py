"""Results files of batch scoring: CSV, JSON lines or Parquet, one row per meme, resumable.

Every row holds `RESULT_COLUMNS`: the meme's key (`image`), the caption scored, the most likely
level and class, each level's probability, `error` (empty when scored) and `model`, the digest of
the model folder that answered (`memesent.model_files.model_version`), so that rows of two models
are never mixed in one file. Rows are flushed as they are written: a run that is stopped keeps
what it wrote, and a rerun with the same file skips the memes already there.

Parquet output is a folder of part files (as Ray and Spark write it; pandas and pyarrow read it
whole), one part per `PARQUET_ROWS` rows and one at the end, each written to a temporary name
and renamed, so a part is either complete or absent.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TextIO

from .errors import MemesentError
from .labels import LABELS

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
        temporary = part.with_suffix(".tmp")
        pq.write_table(table, temporary)
        temporary.replace(part)
        self._buffer = []
