"""The Collection tab's events and the `/collection` endpoint, in Gradio's terms:
`CollectionEvents`.

A run (`run`) gathers the uploaded memes (`webapp.collection.gather`), scores them batch by
batch and yields, after every batch, the results file so far first (CSV, or Parquet once done
when asked), then the table, the plots, the shares in words, a status line, the most positive
and most negative memes, and the tab's record of the run (`CollectionState`). Stop ends the run
after the batch in progress and keeps what is done. The answers can be shifted to the
estimated shares or to shares the person knows (`shift`), and a random sample of the memes can
be labelled one click each (`sample`, `label`) to estimate the shares from the labels and the
model together. Clicking a meme opens it in the single-meme tab (`open_row`, `open_positive`,
`open_negative`). Input the app cannot use is a `gr.Error`; the app keeps serving.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from memesent.population import parse_shares, prior_shift, shifted_population
from memesent.results import shifted_row
from memesent.shares import Reference, SharesEstimate, estimate_shares, readings_of_rows

from . import collection_views as views
from .collection import DEFAULT_LIMIT, gather, score
from .events import user_errors
from .inputs import InputError
from .service import MemeService
from .workspace import Workspace

SAMPLE = 40  # memes offered for labelling
SHOW_EVERY = 3.0  # seconds between two tables sent while a run goes on
# No scored collection in this page's state: none yet, or the server let it go (app.SESSIONS)
NOTHING_SCORED = (
    "Score a collection first (a page left alone while many others used the app starts afresh: "
    "score it again)."
)
FORMATS = ("csv", "parquet")
CLASSES = ("negative", "neutral", "positive")


@dataclass
class CollectionState:
    """What the tab keeps of its last run: the rows as scored (`rows`) and as shown (`shown`,
    shifted or not), each meme's picture (`paths`, by its key) and table thumbnail, the
    galleries' memes in order,
    the notes on what was left out, the folder of the run's files, the labelling in progress
    (`sample`: row indices; `labels`: row index -> class index; `at`: the next to label), and
    which memes the answers are for."""

    rows: list[dict] = field(default_factory=list)
    shown: list[dict] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    thumbnails: dict[str, str] = field(default_factory=dict)
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folder: str = ""
    sample: list[int] = field(default_factory=list)
    labels: dict[int, int] = field(default_factory=dict)
    at: int = 0
    population: str = ""


class CollectionEvents:
    """The tab's events over the app's loaded `MemeService`; the run's files go to
    `workspace`; at most `limit` memes a run."""

    def __init__(
        self,
        memes: MemeService,
        workspace: Workspace,
        model_dir: Path,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.memes, self.workspace, self.limit = memes, workspace, limit
        self.base_rates = np.array(memes.predictor.head.config.base_rates)
        self.reference = Reference.load(model_dir)
        self._stops: dict[str, threading.Event] = {}

    def run(
        self,
        files: list[str] | None,
        captions_file: str | None = None,
        read_captions: bool = True,
        results_format: str = "csv",
        request: gr.Request | None = None,
        progress_bar: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for one)
    ) -> Iterator[tuple]:
        """Score many memes: `files` are pictures or zips of them; `captions_file` an optional
        CSV of captions (`image`, `caption`, as `memesent predict --manifest` reads); memes
        without a caption have it read by OCR (unless `read_captions` is off). Returns the
        results file (`results_format`: csv or parquet) in `memesent predict --out`'s columns,
        then the table, the plots, the shares, a status line, the most positive and most
        negative memes and the tab's state."""
        if not files:
            raise gr.Error("Add memes first: pictures, or a zip of them.", print_exception=False)
        if results_format not in FORMATS:
            raise gr.Error(f"The results format is one of {', '.join(FORMATS)}.")
        folder = self.workspace.folder("collection-")
        try:
            gathered = gather(files, captions_file, folder, self.limit)
        except InputError as err:
            raise gr.Error(str(err), print_exception=False) from err
        key = _session(request)
        stop = self._stops[key] = threading.Event()
        state = CollectionState(
            paths={job.image: str(job.path) for job in gathered.jobs if job.path is not None},
            notes=gathered.notes,
            folder=str(folder),
            population=self.memes.predictor.population,
        )
        shown_at = 0.0
        try:
            progress_bar((0, len(gathered.jobs)), desc="memes", unit="memes")
            for progress in score(gathered, self.memes, folder, read_captions, stop):
                progress_bar((len(progress.rows), progress.total), desc="memes", unit="memes")
                if not progress.finished and time.monotonic() - shown_at < SHOW_EVERY:
                    continue  # the bar moves; the table is sent again every few seconds
                shown_at = time.monotonic()
                for row in progress.rows:
                    if row["image"] not in state.thumbnails:
                        path = state.paths.get(row["image"])
                        state.thumbnails[row["image"]] = views.thumbnail(
                            Path(path) if path else None
                        )
                state.rows = state.shown = progress.rows
                line = views.status(
                    len(progress.rows), progress.total, progress.stopped, progress.finished
                )
                results = progress.results
                if progress.finished and results_format == "parquet":
                    results = _parquet(progress.results)
                yield self._outputs(state, str(results), line, progress.finished)
        finally:
            self._stops.pop(key, None)

    def stop(self, request: gr.Request | None = None) -> str:
        """End this page's run after the batch in progress."""
        stop = self._stops.get(_session(request))
        if stop is None:
            return "No collection is being scored."
        stop.set()
        return "Stopping after the memes in progress…"

    def _outputs(
        self, state: CollectionState, results: str, line: str, finished: bool = True
    ) -> tuple:
        """The run's outputs; while it runs, the results file, the table and the status only
        (the plots, the shares and the galleries come once it is done: drawing them after every
        batch would cost the run time)."""
        if not finished:
            table = views.table(state.shown, state.thumbnails, self.base_rates)
            return (results, table, gr.skip(), gr.skip(), line, gr.skip(), gr.skip(), state)
        paths = {k: Path(v) for k, v in state.paths.items()}
        positive, negative = views.extremes(state.shown, paths)
        state.positive = [_key_of(item, state) for item in positive]
        state.negative = [_key_of(item, state) for item in negative]
        return (
            results,
            views.table(state.shown, state.thumbnails, self.base_rates),
            views.figure(state.shown, self.base_rates),
            self._shares_text(state),
            line,
            positive,
            negative,
            state,
        )

    def estimate(self, state: CollectionState) -> SharesEstimate | None:
        """The collection's shares from its unshifted rows (and the labels given so far)."""
        scored = [(i, row) for i, row in enumerate(state.rows) if not row["error"]]
        if not scored:
            return None
        labels = np.array([state.labels.get(i, -1) for i, _ in scored])
        return estimate_shares(
            readings_of_rows([row for _, row in scored]), self.base_rates, self.reference, labels
        )

    def _shares_text(self, state: CollectionState) -> str:
        return views.shares_markdown(self.estimate(state), state.population, state.notes)

    @user_errors
    def shift(self, state: CollectionState, shares_text: str) -> tuple:
        """Move every answer to label shares: those given (`negative=0.2,neutral=0.3,
        positive=0.5`, or the five levels), or, left empty, the collection's estimated shares.
        Returns the results file, the table, the plots and the shares text again."""
        if not state.rows:
            raise InputError(NOTHING_SCORED)
        estimate = self.estimate(state)
        text = (shares_text or "").strip()
        if text:
            try:
                shares = parse_shares(text)
                weights = prior_shift(shares, self.base_rates)
            except ValueError as err:
                raise InputError(f"Label shares: {err}") from err
        else:
            if estimate is None:
                raise InputError("No meme was scored: there are no shares to estimate.")
            shares = estimate.label_shares(self.base_rates)
            weights = prior_shift(shares, self.base_rates)
        model = f"{self.memes.model_version}+shifted"
        state.shown = [shifted_row(row, weights, model) for row in state.rows]
        state.population = shifted_population(
            self.memes.predictor.population, {k: round(v, 3) for k, v in shares.items()}
        )
        path = Path(state.folder) / "results-shifted.csv"
        _write_csv(state.shown, path)
        results, table, plot, shares, *_ = self._outputs(state, str(path), "")
        return results, table, plot, shares, state

    def sample(self, state: CollectionState) -> tuple:
        """Draw a random sample of the scored memes to label, and show the first."""
        scored = [i for i, row in enumerate(state.rows) if not row["error"]]
        if not scored:
            raise gr.Error(NOTHING_SCORED, print_exception=False)
        state = replace(
            state, sample=random.sample(scored, min(SAMPLE, len(scored))), labels={}, at=0
        )
        return (*self._to_label(state), state)

    def label(self, state: CollectionState, choice: str) -> tuple:
        """Record the class the person gave the meme shown (or skip it), show the next, and the
        shares with the labels so far."""
        if not state.sample or state.at >= len(state.sample):
            raise gr.Error("Draw a sample to label first.", print_exception=False)
        if choice in CLASSES:
            state.labels[state.sample[state.at]] = CLASSES.index(choice)
        state.at += 1
        return (*self._to_label(state), self._shares_text(state), state)

    def _to_label(self, state: CollectionState) -> tuple[Any, str, str]:
        labelled = len(state.labels)
        if state.at >= len(state.sample):
            return None, "", f"All {len(state.sample)} shown; {labelled} labelled."
        row = state.rows[state.sample[state.at]]
        count = f"Meme {state.at + 1} of {len(state.sample)}; {labelled} labelled so far."
        return state.paths.get(row["image"]), row["caption"] or "*(no caption)*", count

    def open_row(self, state: CollectionState, selected: gr.SelectData) -> tuple:
        """The meme of a clicked table row in the single-meme tab, with its caption."""
        key = (selected.row_value or [None, None])[1]
        return self._open(state, key)

    def open_positive(self, state: CollectionState, selected: gr.SelectData) -> tuple:
        return self._open(state, _at(state.positive, selected.index))

    def open_negative(self, state: CollectionState, selected: gr.SelectData) -> tuple:
        return self._open(state, _at(state.negative, selected.index))

    def _open(self, state: CollectionState, key: str | None) -> tuple:
        row = next((r for r in state.rows if r["image"] == key), None)
        if row is None or key not in state.paths:
            return gr.skip(), gr.skip(), gr.skip()
        return state.paths[key], row["caption"] or "", gr.Tabs(selected="meme")


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _at(keys: list[str], index: Any) -> str | None:
    return keys[index] if isinstance(index, int) and 0 <= index < len(keys) else None


def _key_of(item: tuple[str, str], state: CollectionState) -> str:
    """A gallery item's meme key, by its picture's path."""
    return next(k for k, v in state.paths.items() if v == item[0])


def _parquet(csv_path: Path) -> Path:
    """The results CSV as one Parquet file beside it, with the command line's column types."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from memesent.results import RESULT_COLUMNS

    types = {c: pa.float64() if "prob_" in c else pa.string() for c in RESULT_COLUMNS}
    table = pacsv.read_csv(
        csv_path,
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )
    out = csv_path.with_suffix(".parquet")
    pq.write_table(table, out)
    return out


def _write_csv(rows: list[dict], path: Path) -> None:
    from memesent.results import open_results

    path.unlink(missing_ok=True)
    results = open_results(path, rows[0]["model"] if rows else "")
    results.write(rows)
    results.close()
