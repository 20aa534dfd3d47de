"""Scoring a collection of memes on one machine: pictures decoded (and captions read with OCR)
in worker processes, the model run in batches in this one, rows written as they come.

Workers are started with `spawn` and import only the light modules (Pillow, NumPy, the OCR
engines), never torch; each picture is decoded, its caption read if asked, and squeezed to the
image backbone's source size there, so what crosses between processes is small. At most
`WINDOW_BATCHES` batches are in flight, so memory stays flat however long the collection is.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from PIL import Image

from .collection import Job
from .images import NotAnImageError, load_image, squeeze
from .labels import LABELS
from .results import Results

if TYPE_CHECKING:
    from .predictor import Prediction, Predictor

WINDOW_BATCHES = 4  # batches decoded ahead of the model, and scored together


OCRWhen = Literal["never", "missing", "always"]


@dataclass(frozen=True)
class CaptionSource:
    """Where captions come from: `text` for every meme when given; else each job's own (from a
    manifest), "" where it has none. `ocr` reads captions from the pictures: of no meme
    ("never"), of those without a caption of their own ("missing"), or of every meme
    ("always", a manifest's captions included)."""

    ocr: OCRWhen = "never"
    text: str | None = None

    def reads(self, job: Job) -> bool:
        """Whether `job`'s caption is read from its picture."""
        if self.ocr == "always":
            return True
        return self.ocr == "missing" and self.text is None and not job.caption


@dataclass(frozen=True)
class Prepared:
    """A job after decoding: its picture (squeezed) and caption, or the error that stopped it."""

    job: Job
    picture: Image.Image | None
    caption: str
    error: str = ""


def prepare(job: Job, captions: CaptionSource, source_size: int) -> Prepared:
    """Decode one job's picture and settle its caption; problems with this meme's input become
    its `error` (a missing or unreadable picture, OCR that failed on it)."""
    caption = captions.text if captions.text is not None else (job.caption or "")
    if job.error:
        return Prepared(job, None, caption, job.error)
    if job.path is None:  # the words alone
        return Prepared(job, None, caption, "" if caption.strip() else "no picture and no caption")
    try:
        picture = load_image(job.path)
    except (OSError, NotAnImageError) as err:
        return Prepared(job, None, caption, str(err))
    if captions.reads(job):
        from .ocr import EngineMissingError, OCRError, extract_caption

        try:
            caption = extract_caption(picture).text
        except EngineMissingError:  # not this meme's problem: the whole run stops
            raise
        except OCRError as err:
            return Prepared(job, None, "", f"OCR failed: {err}")
    return Prepared(job, squeeze(picture, source_size), caption)


WORKER_NICENESS = 10  # workers run behind the process that runs the model (and serves, in the app)


def _quiet_worker() -> None:
    """Workers leave Ctrl-C to the main process (which stops them), run OCR on one thread
    (PP-OCR's settings say one; `OMP_THREAD_LIMIT` holds tesseract to one): each worker is one
    core's worth of work; and yield the processor to the main process (`WORKER_NICENESS`), so
    that the model, and in the app a single meme's answer, never wait behind decoding and OCR."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.nice(WORKER_NICENESS)


def prepared_in_order(
    jobs: Iterable[Job], captions: CaptionSource, source_size: int, workers: int, window: int
) -> Iterator[Prepared]:
    """`prepare` of every job, in order; in `workers` processes (0: in this one), with at most
    `window` jobs in flight."""
    if workers == 0:
        for job in jobs:
            yield prepare(job, captions, source_size)
        return
    context = multiprocessing.get_context("spawn")
    pending: deque[Future] = deque()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker) as pool:
        try:
            for job in jobs:
                pending.append(pool.submit(prepare, job, captions, source_size))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def result_row(prepared: Prepared, answer: Prediction | None, model: str) -> dict:
    """One row of `memesent.results.RESULT_COLUMNS`: the meme's answer, or its error."""
    row: dict[str, str | float | None] = {
        "image": prepared.job.image,
        "caption": prepared.caption,
        "error": prepared.error,
    }
    row["model"] = model
    readings = {} if answer is None else answer.readings
    row.update(
        {"label": "", "label3": ""}
        if answer is None
        else {"label": answer.label, "label3": answer.label3}
    )
    for level in LABELS:
        row[f"prob_{level}"] = None if answer is None else answer.probs[level]
        for reading in ("text", "image"):
            dist = readings.get(reading)
            row[f"{reading}_prob_{level}"] = None if dist is None else dist[level]
    return row


def score_prepared(
    prepared: list[Prepared], predictor: Predictor, model: str, batch_size: int
) -> list[dict]:
    """The rows of `prepared`, in order: the memes without an error scored by `predictor` in
    batches of `batch_size`, the others with their error."""
    ready = [p for p in prepared if not p.error]
    answers = iter(
        predictor.predict_batch(
            [p.picture for p in ready], [p.caption for p in ready], batch_size=batch_size
        )
    )
    return [result_row(p, None if p.error else next(answers), model) for p in prepared]


@dataclass
class Tally:
    """What a run did: memes scored, memes that failed (their rows say why), and the memes
    scored without a caption (`uncaptioned`: read by their picture alone)."""

    scored: int = 0
    failed: int = 0
    uncaptioned: list[str] = field(default_factory=list)

    def count(self, rows: list[dict]) -> None:
        """Add a batch's rows."""
        failed = sum(1 for row in rows if row["error"])
        self.scored += len(rows) - failed
        self.failed += failed
        self.uncaptioned += [
            row["image"] for row in rows if not row["error"] and not row["caption"]
        ]


def pending(jobs: list[Job], results: Results) -> list[Job]:
    """The jobs whose memes `results` does not hold yet (what a rerun still has to do)."""
    done = results.done()
    return [job for job in jobs if job.image not in done]


def score_collection(
    jobs: list[Job],
    predictor: Predictor,
    results: Results,
    model: str,
    captions: CaptionSource = CaptionSource(),
    workers: int = 2,
    batch_size: int = 32,
    progress: Callable[[int], None] = lambda n: None,
) -> Tally:
    """Score every job and write its row to `results`, batch by batch (`pending` first leaves
    out the memes a results file already holds).

    `predictor` is a `memesent.Predictor`; `model` its folder's version, recorded in each row;
    `progress(n)` is called after every batch with the memes it finished.
    """
    tally = Tally()
    source_size = predictor.image_encoder.spec.source_size
    group = WINDOW_BATCHES * batch_size  # scored together: captions sorted by length within it
    stream = prepared_in_order(jobs, captions, source_size, workers, group)
    batch: list[Prepared] = []
    for item in stream:
        batch.append(item)
        if len(batch) == group:
            _score_batch(batch, predictor, results, model, tally, batch_size)
            progress(len(batch))
            batch = []
    if batch:
        _score_batch(batch, predictor, results, model, tally, batch_size)
        progress(len(batch))
    return tally


def _score_batch(
    batch: list[Prepared],
    predictor: Predictor,
    results: Results,
    model: str,
    tally: Tally,
    batch_size: int,
) -> None:
    rows = score_prepared(batch, predictor, model, batch_size)
    results.write(rows)
    tally.count(rows)
