"""Scoring a collection on a Ray cluster (`--engine ray`): the same rows as the local engine,
computed by a Ray Data pipeline.

The jobs become a dataset; `map_batches` runs `RayScorer`, a callable class, so each actor
loads the model once and then decodes, reads captions (OCR) and scores batch after batch; the
rows stream back to this process, which writes them to the same results file as the local
engine (so runs stay resumable whichever engine wrote them). Ray connects to the cluster that
`RAY_ADDRESS` names, or starts a local one on this machine's cores.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .batch import CaptionSource, Tally, prepare, score_prepared
from .collection import Job
from .errors import MemesentError
from .results import RESULT_COLUMNS, Results

if TYPE_CHECKING:
    import pandas as pd


class RayEngineError(MemesentError, RuntimeError):
    """The Ray engine cannot run; the message says what to do."""


class RayScorer:
    """Ray Data's callable class: one `Predictor` per actor (shifted to `label_shares` when
    given), a batch of jobs in, rows out. Each actor has one CPU (`num_cpus=1`), so torch runs
    on one thread there."""

    def __init__(
        self,
        model_dir: str | None,
        model: str,
        captions: CaptionSource,
        label_shares: dict[str, float] | None = None,
    ) -> None:
        import torch

        from .predictor import Predictor

        torch.set_num_threads(1)
        self.predictor = Predictor.load(model_dir)
        if label_shares is not None:
            self.predictor = self.predictor.with_label_shares(label_shares)
        self.model, self.captions = model, captions
        self.source_size = self.predictor.image_encoder.spec.source_size

    def __call__(self, batch: dict) -> dict[str, list]:
        jobs = [
            Job(
                image=str(image),
                path=Path(path) if path else None,
                caption=str(caption) if has_caption else None,
                error=str(error),
            )
            for image, path, caption, has_caption, error in zip(
                batch["image"],
                batch["path"],
                batch["caption"],
                batch["has_caption"],
                batch["error"],
                strict=True,
            )
        ]
        prepared = [prepare(job, self.captions, self.source_size) for job in jobs]
        rows = score_prepared(prepared, self.predictor, self.model, max(1, len(prepared)))
        return {column: [row[column] for row in rows] for column in RESULT_COLUMNS}


def _row(record: dict) -> dict:
    """A row as the local engine writes it: missing probabilities as None, not NaN."""
    return {
        c: None if isinstance(record[c], float) and math.isnan(record[c]) else record[c]
        for c in RESULT_COLUMNS
    }


def score_with_ray(
    jobs: list[Job],
    model_dir: str | None,
    results: Results,
    model: str,
    label_shares: dict[str, float] | None = None,
    captions: CaptionSource = CaptionSource(),  # noqa: B008 (frozen)
    workers: int = 2,
    batch_size: int = 32,
    progress: Callable[[int], None] = lambda n: None,
) -> Tally:
    """`memesent.batch.score_collection`'s work on Ray: `workers` actors of one CPU each, their
    model shifted to `label_shares` when given."""
    tally = Tally()
    if not jobs:
        return tally
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise RayEngineError(
            "--engine ray needs Ray: pip install -r requirements-ray.txt (or: pip install "
            "'ray[data]')"
        ) from err
    address = os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            ignore_reinit_error=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayEngineError(f"could not reach the Ray cluster at {address!r}: {err}") from err
    try:
        for name in ("ray", "ray.data"):  # memesent shows its own progress; Ray's notes go
            logging.getLogger(name).setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        items = [
            {
                "image": job.image,
                "path": str(job.path) if job.path else "",
                "caption": job.caption or "",
                "has_caption": job.caption is not None,
                "error": job.error,
            }
            for job in jobs
        ]
        with warnings.catch_warnings():  # `max_restarts` has no named parameter yet
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            scored = ray.data.from_items(items).map_batches(
                RayScorer,
                fn_constructor_kwargs={
                    "model_dir": model_dir,
                    "model": model,
                    "captions": captions,
                    "label_shares": label_shares,
                },
                batch_size=batch_size,
                concurrency=workers,
                num_cpus=1,
                # No actor restarts: with them Ray logs an ERROR on every run (its own arguments
                # sit in the object store, ray-project/ray#57733); a stopped run is resumed by
                # running it again
                max_restarts=0,
                batch_format="numpy",
            )
        for batch in scored.iter_batches(batch_size=batch_size, batch_format="pandas"):
            # Ray types a batch as any of its formats; batch_format="pandas" gives DataFrames
            rows = [_row(record) for record in cast("pd.DataFrame", batch).to_dict("records")]
            results.write(rows)
            tally.count(rows)
            progress(len(rows))
    finally:
        if started_here and address is None:
            ray.shutdown()
    return tally
