"""What the Collection tab and `/collection` do, as plain values: many memes in, their rows out
as they are scored, and the collection's shares.

Uploaded pictures and zips of them (`webapp.archive`) become the batch engine's jobs, with the
captions of an optional manifest CSV (`memesent.collection.read_manifest`); memes without one
have it read by OCR. They are scored by the library's own batch scoring
(`memesent.batch.score_collection`, the engine of `memesent predict`), so a row here is the
row the command line writes for the same file and caption. The model's calls take turns with
the rest of the app's (`MemeService`'s lock) a few memes at a time (`TURN`), so that a single
meme waits for at most one such turn while a collection runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from memesent.batch import CaptionSource, score_collection
from memesent.collection import Job, ManifestError, read_manifest
from memesent.results import open_results

from .archive import ZipLimits, unpack
from .inputs import InputError

if TYPE_CHECKING:
    from memesent.predictor import Prediction

    from .service import MemeService

ZIP_LIMITS = ZipLimits()
DEFAULT_LIMIT = 300  # memes per run on a shared Space
TURN = 8  # memes per model call: what a single meme may wait behind
WORKERS = 2  # processes decoding pictures and reading captions, behind the model in priority
MORE = (
    "For more, score them with the command line (`memesent predict FOLDER --out results.csv`), "
    "on a Ray cluster if need be (`--engine ray`): see docs/api.md."
)


@dataclass(frozen=True)
class Gathered:
    """A run's memes (`jobs`, in upload order) and what the person should know of what was
    left out or is odd (`notes`)."""

    jobs: list[Job]
    notes: list[str] = field(default_factory=list)


def gather(
    files: Sequence[str],
    manifest: str | None,
    folder: Path,
    limit: int = DEFAULT_LIMIT,
    zips: ZipLimits = ZIP_LIMITS,
) -> Gathered:
    """The memes of uploaded `files` (pictures, and zips of them unpacked into `folder`), each
    recorded under its file name (a zip's under its path inside the zip), with the captions of
    `manifest` (a CSV in the layout `memesent predict --manifest` reads) where it names them.
    An `InputError` says why when there is nothing to score or too much."""
    found: list[tuple[str, Path]] = []
    notes: list[str] = []
    for number, given in enumerate(files):
        path = Path(given)
        if path.suffix.lower() == ".zip":
            try:
                unpacked = unpack(path, folder / f"zip-{number}", zips)
            except InputError as err:
                notes.append(str(err))
                continue
            found += unpacked.pictures
            if unpacked.refused:
                listed = "; ".join(unpacked.refused[:5])
                more = f" and {len(unpacked.refused) - 5} more" if len(unpacked.refused) > 5 else ""
                notes.append(f"{path.name}: left out, never unpacked: {listed}{more}.")
            if unpacked.left_out:
                notes.append(
                    f"{path.name}: {unpacked.left_out} files that are not pictures were left out."
                )
        else:
            found.append((path.name, path))
    if not found:
        raise InputError(" ".join(["No memes to score: add pictures, or a zip of them.", *notes]))
    if len(found) > limit:
        raise InputError(f"{len(found):,} memes: this app scores at most {limit:,} a run. {MORE}")
    keys = _unique([name for name, _ in found])
    captions, caption_notes = _captions(manifest, keys)
    jobs = [
        Job(image=key, path=path, caption=captions.get(key))
        for key, (_, path) in zip(keys, found, strict=True)
    ]
    return Gathered(jobs, notes + caption_notes)


def _unique(names: list[str]) -> list[str]:
    """The names, a repeated one numbered ("a.jpg", "a.jpg (2)")."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _captions(manifest: str | None, keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """The manifest's caption of each meme it names (by its name, or its file name alone), and
    notes on what it names that was not uploaded and the columns it has that are not read."""
    if manifest is None:
        return {}, []
    try:
        read = read_manifest(Path(manifest))
    except ManifestError as err:
        raise InputError(f"The captions file cannot be used: {err}") from err
    names = {key: key for key in keys} | {Path(key).name: key for key in keys}
    captions, absent = {}, []
    for name, caption in read.rows:
        key = names.get(str(read.under / name)) or names.get(name) or names.get(Path(name).name)
        if key is None:
            absent.append(name or "(an empty image cell)")
        elif caption:
            captions[key] = caption
    notes = []
    if absent:
        listed = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        notes.append(
            f"The captions file names {len(absent)} memes that were not uploaded: {listed}."
        )
    if read.unused:
        notes.append(f"The captions file's columns {', '.join(read.unused)} are not read.")
    uncaptioned = len(keys) - len(captions)
    if uncaptioned:
        notes.append(f"{uncaptioned} memes have no caption in the captions file: OCR reads theirs.")
    return captions, notes


class Stopped(Exception):
    """The person pressed Stop: the run ends after the memes already scored."""


class TakingTurns:
    """A `Predictor` for the batch engine whose model calls take turns with the app's others
    (`MemeService.model_turn`), `TURN` memes at a time, and end the run once `stop` is set."""

    def __init__(self, memes: MemeService, stop: threading.Event) -> None:
        self.predictor, self.turn, self.stop = memes.predictor, memes.model_turn, stop
        self.image_encoder = memes.predictor.image_encoder

    def predict_batch(
        self, images: Sequence, captions: Sequence[str], batch_size: int = TURN
    ) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(images), TURN):
            if self.stop.is_set():
                raise Stopped
            with self.turn:
                out += self.predictor.predict_batch(
                    images[start : start + TURN], captions[start : start + TURN], TURN
                )
        return out


@dataclass
class Progress:
    """A run so far: every row scored (`memesent.results.RESULT_COLUMNS`), out of `total`,
    the CSV holding them, and whether it has ended (`finished`), stopped (`stopped`)."""

    rows: list[dict]
    total: int
    results: Path
    finished: bool = False
    stopped: bool = False


class _Rows:
    """Results that go to the CSV file and to the waiting page, batch by batch; an error names
    the meme as the person knows it, not where the server keeps it (`names`: key -> path)."""

    def __init__(self, path: Path, model: str, out: queue.Queue, names: dict[str, str]) -> None:
        self.file, self.out, self.names = open_results(path, model), out, names
        self.file.write([])  # the file exists, with its header, before any meme is scored

    def done(self) -> set[str]:
        return set()

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            where = self.names.get(row["image"])
            if row["error"] and where:
                row["error"] = row["error"].replace(where, row["image"])
        self.file.write(rows)
        self.out.put(rows)

    def close(self) -> None:
        self.file.close()


def score(
    gathered: Gathered,
    memes: MemeService,
    folder: Path,
    read_captions: bool,
    stop: threading.Event,
    workers: int = WORKERS,
) -> Iterator[Progress]:
    """Score the gathered memes, yielding the rows so far after every batch; `stop` set ends the
    run after the batch in progress. The rows are also written to `folder`/results.csv."""
    path = folder / "results.csv"
    arrived: queue.Queue = queue.Queue()
    rows: list[dict] = []
    failure: list[BaseException] = []
    total = len(gathered.jobs)
    captions = CaptionSource(ocr="missing" if read_captions else "never")

    def progress(_: int) -> None:
        if stop.is_set():
            raise Stopped

    def run() -> None:
        names = {job.image: str(job.path) for job in gathered.jobs if job.path is not None}
        results = _Rows(path, memes.model_version, arrived, names)
        try:
            score_collection(
                gathered.jobs,
                TakingTurns(memes, stop),  # type: ignore[arg-type]
                results,
                memes.model_version,
                captions,
                workers=workers,
                batch_size=TURN,
                progress=progress,
            )
        except Stopped:
            pass
        except Exception as err:  # noqa: BLE001 (handed to the page's thread, which raises it)
            failure.append(err)
        finally:
            results.close()
            arrived.put(None)

    worker = threading.Thread(target=run, daemon=True, name="collection")
    worker.start()
    try:
        while (batch := arrived.get()) is not None:
            rows += batch
            yield Progress(list(rows), total, path)
    finally:
        stop.set()
        worker.join()
    if failure:
        raise failure[0]
    yield Progress(list(rows), total, path, finished=True, stopped=len(rows) < total)
