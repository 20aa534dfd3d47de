"""memesent's Gradio app: a meme in, its sentiment and the reasons out; also the Space's entry.

    python app.py [--host H] [--port P] [--model DIR] [--corrections DIR]
                  [--corrections-limit N] [--collection-limit N]
                  [--delete-uploads-after SECONDS] [--max-sessions N] [--ocr-engine E]
    gradio app.py                                        # the same, reloading on edits

This file holds the page's layout and its wiring; what each event does is `webapp.events`, on
top of `webapp.service`. The named API endpoints are `/ocr`, `/rescore` (what the page does as
the caption is typed: the answer and the three readings, as HTML), `/analyze` (what the page's
Analyze does: that, then the explanation and the result card), `/predict` and `/explain` (the
same as numbers, for programs), `/collection` (the Collection tab: many memes in, a results
file and the collection's shares out) and, with corrections on, `/correct`. The model loads
once, before the server starts.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Literal, NamedTuple, TypedDict

import gradio as gr
from gradio.components import Component
from gradio.events import Dependency

from memesent.labels import LABELS
from memesent.model_files import DEFAULT_MODEL_DIR
from memesent.ocr import DEFAULT_ENGINE, ENGINES
from webapp import collection_views, service, views, wording
from webapp.collection import DEFAULT_LIMIT as COLLECTION_LIMIT
from webapp.collection_events import FORMATS, CollectionEvents, CollectionState
from webapp.corrections import DEFAULT_LIMIT, CorrectionStore
from webapp.events import PageEvents
from webapp.inputs import MAX_CAPTION_CHARS
from webapp.workspace import Workspace, gradio_keeps

EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
MAX_FILE_SIZE = "10mb"  # uploads; memes are rarely over 1 MB
UPLOAD_MAX_AGE = 86_400  # seconds: uploads (and the app's other temporary files) older than this go
CLEANUP_EVERY = 3_600  # seconds between two clean-ups (or the age, when that is shorter)
QUEUE_SIZE = 64  # waiting requests; more get "queue full" rather than waiting minutes
CONCURRENCY = 2  # events running at once, for 2 cores (see SCORING and EXPLAINING)
# Sessions whose state the app keeps (`--max-sessions`), the least recently used let go first.
# Gradio keeps a copy of the page's settings for each session (`benchmarks.session_memory`
# measures it), and a program's call over the raw HTTP API opens a session of its own: Gradio's
# default, 10,000, was the soak's climb (docs/performance.md, "Where the memory goes"). A page
# left alone while this many newer sessions came starts afresh (the tab says so).
SESSIONS = 1_000


class _Quietly(TypedDict):
    """Options of events that only the page uses: no queue, no API endpoint, no spinner."""

    queue: bool
    api_visibility: Literal["public", "private", "undocumented"]
    show_progress: Literal["full", "minimal", "hidden"]


class _ModelEvent(TypedDict):
    """Options of events that run the model: the raw payload, one at a time in their queue."""

    preprocess: bool
    concurrency_id: str
    concurrency_limit: int


QUIETLY: _Quietly = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
# Cheap calls (an answer: /rescore, /predict, /correct) and expensive ones (an explanation:
# /analyze, /explain) wait in queues of their own, so an answer never queues behind the
# explanations waiting; OCR has a third, a collection a fourth. The model's calls themselves take
# turns (`MemeService.model_turn`): an answer waits for at most the call in progress.
SCORING: _ModelEvent = {"preprocess": False, "concurrency_id": "score", "concurrency_limit": 1}
EXPLAINING: _ModelEvent = {"preprocess": False, "concurrency_id": "explain", "concurrency_limit": 1}


class Meme(NamedTuple):
    """The page's left side: the meme, its caption and what acts on them."""

    image: gr.Image
    caption: gr.Textbox
    analyze: gr.Button
    read_again: gr.Button
    note: gr.Markdown
    auto_ocr: gr.Checkbox


class Results(NamedTuple):
    """What the page shows of a meme, in the order `webapp.events.PageEvents` returns it."""

    answer: gr.HTML
    readings: gr.HTML
    shift_note: gr.Markdown
    overlay: gr.Image
    words: gr.HTML
    shares: gr.Label
    card: gr.DownloadButton


class Collection(NamedTuple):
    """The Collection tab: many memes in, their rows, plots and shares out."""

    files: gr.File
    captions: gr.File
    read_captions: gr.Checkbox
    results_format: gr.Radio
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    download: gr.DownloadButton
    shares: gr.Markdown
    plot: gr.Plot
    table: gr.Dataframe
    positive: gr.Gallery
    negative: gr.Gallery
    known_shares: gr.Textbox
    shift: gr.Button
    sample: gr.Button
    to_label: gr.Image
    to_label_caption: gr.Markdown
    labelled: gr.Markdown
    choices: tuple[gr.Button, ...]
    state: gr.State


class Correction(NamedTuple):
    """The form that stores the level a person would give the meme (with `--corrections`)."""

    level: gr.Radio
    save: gr.Button
    saved: gr.Markdown


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see above); each option's default is its environment variable's."""
    parser = argparse.ArgumentParser(description="memesent's web app and API (Gradio).")
    parser.add_argument(
        "--host", help="address to serve on (default: $GRADIO_SERVER_NAME, else 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, help="port (default: $GRADIO_SERVER_PORT, else 7860 or the next free)"
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: shipped)"
    )
    parser.add_argument(
        "--corrections",
        type=Path,
        default=os.environ.get("MEMESENT_CORRECTIONS_DIR") or None,
        help="store people's corrections in this folder (default: $MEMESENT_CORRECTIONS_DIR; "
        "unset: off)",
    )
    parser.add_argument(
        "--corrections-limit",
        type=int,
        default=int(os.environ.get("MEMESENT_CORRECTIONS_LIMIT", DEFAULT_LIMIT)),
        help="most corrections stored (default: $MEMESENT_CORRECTIONS_LIMIT, else %(default)s)",
    )
    parser.add_argument(
        "--collection-limit",
        type=int,
        default=int(os.environ.get("MEMESENT_COLLECTION_LIMIT", COLLECTION_LIMIT)),
        help="most memes a Collection run scores (default: $MEMESENT_COLLECTION_LIMIT, else "
        "%(default)s)",
    )
    parser.add_argument(
        "--delete-uploads-after",
        type=int,
        default=int(os.environ.get("MEMESENT_UPLOAD_MAX_AGE", UPLOAD_MAX_AGE)),
        metavar="SECONDS",
        help="delete uploaded files this old (default: $MEMESENT_UPLOAD_MAX_AGE, else a day)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        metavar="N",
        default=int(os.environ.get("MEMESENT_MAX_SESSIONS", SESSIONS)),
        help="page sessions whose state is kept, the least recently used let go first (default: "
        "$MEMESENT_MAX_SESSIONS, else %(default)s)",
    )
    parser.add_argument(
        "--ocr-engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="caption OCR engine (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    for name in ("corrections_limit", "collection_limit", "delete_uploads_after", "max_sessions"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def examples() -> list[list[str]]:
    """[image path, caption] for each example meme drawn by `assets/examples/make_examples.py`."""
    manifest = json.loads((EXAMPLES_DIR / "examples.json").read_text())
    return [[str(EXAMPLES_DIR / item["file"]), item["caption"]] for item in manifest]


def meme_side() -> Meme:
    """The meme's picture and caption, Analyze, Read caption again, and OCR's note."""
    image = gr.Image(
        type="filepath",
        sources=["upload", "clipboard"],
        label="Meme",
        height=300,
        elem_id="meme",
    )
    caption = gr.Textbox(
        label="Caption (the answer follows it as you type)",
        lines=2,
        max_length=MAX_CAPTION_CHARS,
        placeholder="The meme's text: read from the picture on upload, or type it",
        elem_id="caption",
    )
    with gr.Row():
        analyze = gr.Button("Analyze", variant="primary", size="md", elem_id="analyze")
        read_again = gr.Button("Read caption again", size="md", elem_id="read-caption")
    note = gr.Markdown(label="OCR note", elem_id="ocr-note")
    auto_ocr = gr.Checkbox(True, label="Read the caption from the picture on upload")
    return Meme(image, caption, analyze, read_again, note, auto_ocr)


def results_side() -> Results:
    """The answer and the readings beside the explanation; the share link and the card under."""
    with gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            answer = gr.HTML(views.EMPTY, label="answer", elem_id="answer")
            readings = gr.HTML(label="readings", elem_id="readings-view")
            shift_note = gr.Markdown(label="how far from a typical meme", elem_id="shift-note")
        with gr.Column(min_width=260):
            overlay = gr.Image(
                label=views.HEAT_MAP_LABEL,
                interactive=False,
                height=220,
                format="jpeg",  # quicker to encode than WebP: benchmarks.speed
                elem_id="overlay",
            )
            words = gr.HTML(label="word scores", elem_id="words")
            shares = gr.Label(
                label="Share of the answer: caption (text) vs picture (image)",
                show_heading=False,
                elem_id="shares",
            )
    with gr.Row():
        gr.DeepLinkButton("Share a link to this result", size="sm")
        card = gr.DownloadButton("Download result card", size="sm", visible=False, elem_id="card")
    return Results(answer, readings, shift_note, overlay, words, shares, card)


def collection_tab(limit: int) -> Collection:
    """The Collection tab's layout: files in, the run's controls, its results."""
    gr.Markdown(
        f"Drop many memes at once, or a zip of them (at most {limit:,} a run), and see what "
        "the collection feels like: each meme's answer, and the shares of negative and positive "
        "memes in the whole collection with a 90 % interval."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            files = gr.File(
                file_count="multiple",
                file_types=["image", ".zip"],
                label="Memes: pictures, or a zip of them",
                elem_id="collection-files",
            )
            captions = gr.File(
                file_types=[".csv"],
                label="Captions (optional): a CSV with image and caption columns",
                elem_id="collection-captions",
            )
            read_captions = gr.Checkbox(
                True, label="Read the captions the CSV does not give from the pictures (OCR)"
            )
            results_format = gr.Radio(list(FORMATS), value="csv", label="Results file")
            with gr.Row():
                run = gr.Button("Score the collection", variant="primary", elem_id="collection-run")
                stop = gr.Button("Stop", elem_id="collection-stop")
            status = gr.Markdown(label="status", elem_id="collection-status")
            download = gr.DownloadButton(
                "Download the results", elem_id="collection-download", size="sm"
            )
        with gr.Column(scale=3, min_width=300):
            shares = gr.Markdown(label="shares", elem_id="collection-shares")
            plot = gr.Plot(label="The collection", elem_id="collection-plot")
    table = gr.Dataframe(
        headers=list(collection_views.COLUMNS),
        datatype=collection_views.DATATYPES,
        interactive=False,
        wrap=True,
        max_height=480,
        label="Each meme (click one to open it in the One meme tab)",
        elem_id="collection-table",
    )
    with gr.Row():
        positive = gr.Gallery(
            label="Most positive", columns=6, height=180, elem_id="collection-positive"
        )
        negative = gr.Gallery(
            label="Most negative", columns=6, height=180, elem_id="collection-negative"
        )
    with gr.Accordion("Shift the answers to the collection's shares", open=False):
        known_shares = gr.Textbox(
            label="Label shares you know (leave empty for the estimated shares)",
            placeholder="negative=0.2,neutral=0.3,positive=0.5",
            elem_id="collection-known-shares",
        )
        shift = gr.Button("Shift the answers", size="sm", elem_id="collection-shift")
    with gr.Accordion("Check it with your own labels", open=False, elem_id="collection-labels"):
        gr.Markdown(
            "Label a random sample of the collection, one click each: with ten labels or "
            "more, the shares come from your labels and the model together, and hold whatever "
            "the memes are."
        )
        sample = gr.Button("Draw memes to label", size="sm", elem_id="collection-sample")
        with gr.Row(equal_height=False):
            to_label = gr.Image(
                label="Meme to label", interactive=False, height=220, elem_id="collection-to-label"
            )
            with gr.Column():
                to_label_caption = gr.Markdown()
                labelled = gr.Markdown(label="labelled", elem_id="collection-labelled")
                with gr.Row():
                    choices = tuple(
                        gr.Button(name.capitalize(), size="sm", elem_id=f"label-{name}")
                        for name in ("negative", "neutral", "positive", "skip")
                    )
    state = gr.State(CollectionState())
    return Collection(
        files, captions, read_captions, results_format, run, stop, status, download, shares,
        plot, table, positive, negative, known_shares, shift, sample, to_label,
        to_label_caption, labelled, choices, state,
    )  # fmt: skip


def correction_form() -> Correction:
    """Is this right? The level the person would give, and a button to store it."""
    with gr.Group(elem_id="correction"):
        gr.Markdown(
            "**Is this right?** Saving stores the picture, the caption "
            "and the level you chose on this server."
        )
        level = gr.Radio(list(LABELS), label="The level you would give", elem_id="correct-level")
        save = gr.Button("Save correction", size="sm", elem_id="save-correction")
        saved = gr.Markdown(label="confirmation", elem_id="correction-status")
    return Correction(level, save, saved)


def build_demo(
    memes: service.MemeService,
    model_dir: Path,
    upload_max_age: int = UPLOAD_MAX_AGE,
    ocr_engine: str = DEFAULT_ENGINE,
    collection_limit: int = COLLECTION_LIMIT,
) -> gr.Blocks:
    """The page and its API, on top of one loaded `MemeService`; uploads and the app's own files
    older than `upload_max_age` seconds are deleted; captions are read by `ocr_engine`; a
    Collection run scores at most `collection_limit` memes."""
    cleanup = (min(CLEANUP_EVERY, upload_max_age), upload_max_age)
    workspace = Workspace(max_age=upload_max_age, every=cleanup[0])
    workspace.start()
    events = PageEvents(memes, workspace, ocr_engine)
    collection = CollectionEvents(memes, workspace, model_dir, collection_limit)
    with gr.Blocks(title="memesent: meme sentiment", delete_cache=cleanup) as demo:
        gr.Markdown(f"# memesent: what does this meme feel?\n{wording.model_summary(model_dir)}")
        with gr.Tabs(selected="meme", elem_id="tabs") as tabs:
            with gr.Tab("One meme", id="meme", elem_id="tab-meme"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        meme = meme_side()
                    with gr.Column(scale=3, min_width=300):
                        results = results_side()
                        correction = correction_form() if memes.corrections is not None else None
                gr.Examples(
                    examples(),
                    inputs=[meme.image, meme.caption],
                    outputs=list(results[:-1]),  # all but the card (`PageEvents.analyze_example`)
                    fn=events.analyze_example,
                    cache_examples=True,
                    cache_mode="lazy",
                    preprocess=False,
                    label="Example memes (made by the project from free sample photos)",
                )
            with gr.Tab("Collection", id="collection", elem_id="tab-collection"):
                many = collection_tab(collection_limit)
        with gr.Accordion("Model card", open=False, elem_id="model-card"):
            gr.Markdown(wording.model_card(model_dir))
        api_for_programs(events, meme, results)
        if correction is not None:
            wire_correction(events, meme, correction)
        wire_page(events, meme, results, correction)
        wire_collection(collection, events, many, meme, results, tabs)
    workspace.watch(Path(demo.GRADIO_CACHE), lambda: gradio_keeps(demo))
    return demo


def wire_page(
    events: PageEvents, meme: Meme, results: Results, correction: Correction | None
) -> None:
    """The page's events: the answer follows the caption as it is typed (`/rescore`); a new
    picture clears the last one's answer and has its caption read; Read caption again
    (`/ocr`); Analyze (`/analyze`)."""
    shown = list(results)
    # Notes reach the page through a State, so that `/ocr` returns just the caption.
    ocr_note = gr.State("")
    # A new picture empties the last one's answer, and in the browser itself the person's
    # own entries, so that no round trip can land after they picked a level for it.
    entries: list[Component] = [meme.note]
    if correction is not None:
        entries += [correction.level, correction.saved]
    # Which picture and caption the explanation on the page is of (None: none is).
    explained_for = gr.State(None)
    live = [meme.image, meme.caption, explained_for]

    def then_show_note_and_rescore(reading: Dependency) -> None:
        """After OCR: its note on the page, then the answer for the caption it read."""
        reading.then(events.show, ocr_note, meme.note, **QUIETLY).then(
            events.rescore, live, shown, api_visibility="private", **SCORING
        )

    meme.caption.input(
        events.rescore,
        live,
        shown,
        api_name="rescore",
        trigger_mode="always_last",
        show_progress="hidden",
        **SCORING,
    )
    meme.image.upload(None, None, entries, js=f"() => Array({len(entries)}).fill(null)")
    meme.image.upload(events.new_picture, None, [*shown, explained_for], **QUIETLY)
    then_show_note_and_rescore(
        meme.image.upload(
            events.read_caption_on_upload,
            [meme.image, meme.auto_ocr],
            [meme.caption, ocr_note],
            preprocess=False,
            concurrency_id="ocr",
            api_visibility="private",
        )
    )
    then_show_note_and_rescore(
        meme.read_again.click(
            events.read_caption,
            meme.image,
            [meme.caption, ocr_note],
            api_name="ocr",
            preprocess=False,
            concurrency_id="ocr",
        )
    )
    gr.on(
        [meme.analyze.click, meme.caption.submit],
        events.analyze,
        [meme.image, meme.caption],
        [*shown, explained_for],
        api_name="analyze",
        **EXPLAINING,
    )


def wire_collection(
    collection: CollectionEvents,
    events: PageEvents,
    many: Collection,
    meme: Meme,
    results: Results,
    tabs: gr.Tabs,
) -> None:
    """The Collection tab's events: a run (`/collection`, in a queue of its own, one run at a
    time), Stop, the shift, labelling, and a clicked meme opened in the One meme tab."""
    outputs = [
        many.download, many.table, many.plot, many.shares, many.status,
        many.positive, many.negative, many.state,
    ]  # fmt: skip
    many.run.click(
        collection.run,
        [many.files, many.captions, many.read_captions, many.results_format],
        outputs,
        api_name="collection",
        concurrency_id="collection",
        concurrency_limit=1,
    )
    many.stop.click(collection.stop, None, many.status, **QUIETLY)
    many.shift.click(
        collection.shift,
        [many.state, many.known_shares],
        [many.download, many.table, many.plot, many.shares, many.state],
        api_visibility="private",
    )
    to_label = [many.to_label, many.to_label_caption, many.labelled]
    many.sample.click(collection.sample, many.state, [*to_label, many.state], **QUIETLY)
    for button in many.choices:
        button.click(
            collection.label,
            [many.state, button],
            [*to_label, many.shares, many.state],
            **QUIETLY,
        )
    live = [meme.image, meme.caption, gr.State(None)]
    for source, handler in (
        (many.table, collection.open_row),
        (many.positive, collection.open_positive),
        (many.negative, collection.open_negative),
    ):
        source.select(handler, many.state, [meme.image, meme.caption, tabs], **QUIETLY).then(
            events.rescore, live, list(results), api_visibility="private", **SCORING
        )


def wire_correction(events: PageEvents, meme: Meme, correction: Correction) -> None:
    """Save correction (`/correct`): the level the person chose, stored with the meme."""
    correction.save.click(
        events.correct,
        [meme.image, meme.caption, correction.level],
        correction.saved,
        api_name="correct",
        **SCORING,
    )


def api_for_programs(events: PageEvents, meme: Meme, results: Results) -> None:
    """`/predict` and `/explain`: what the page shows, as numbers for programs, in components
    the page does not show (it draws them as HTML instead)."""
    with gr.Group(visible=False):
        levels = gr.Label(num_top_classes=5, label="levels")
        summary = gr.Label(label="summary")
        typical = gr.Label(num_top_classes=5, label="typical meme")
        readings = gr.JSON(label="readings")
        population = gr.Textbox(label="population")
        words = gr.HighlightedText(label="word scores")
    for_programs = gr.Button(visible=False)
    for_programs.click(
        events.predict,
        [meme.image, meme.caption],
        [levels, summary, typical, readings, population],
        api_name="predict",
        **SCORING,
    )
    for_programs.click(
        events.explain,
        [meme.image, meme.caption],
        [results.overlay, words, results.shares],
        api_name="explain",
        **EXPLAINING,
    )


def start_service(model_dir: Path, corrections: Path | None, limit: int) -> service.MemeService:
    """Load the model once and warm it up in the background while the server starts; open the
    corrections folder when one is given."""
    # Cached example outputs go to a fresh folder per run: Gradio keys its cache by component id
    # only, so a folder kept from an earlier run could show another model's answers.
    if "GRADIO_EXAMPLES_CACHE" not in os.environ:
        cache = tempfile.mkdtemp(prefix="memesent-examples-")
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        os.environ["GRADIO_EXAMPLES_CACHE"] = cache
    store = CorrectionStore(corrections, limit) if corrections else None
    memes = service.MemeService.load(model_dir, store)
    threading.Thread(target=memes.warm_up, daemon=True).start()
    return memes


def launch(demo: gr.Blocks, args: argparse.Namespace) -> None:
    """Serve `demo` with a queue sized for a 2-core machine and an upload size limit."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=MAX_FILE_SIZE,
        state_session_capacity=args.max_sessions,
        allowed_paths=[str(EXAMPLES_DIR)],
        css=views.CSS,
    )


if __name__ == "__main__":
    # Tesseract's own threads would compete with the model for the same few cores.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    args = parse_args()
    if gr.NO_RELOAD:  # `gradio app.py` re-runs this file on every edit; the model loads once
        memes = start_service(args.model, args.corrections, args.corrections_limit)
    demo = build_demo(
        memes, args.model, args.delete_uploads_after, args.ocr_engine, args.collection_limit
    )
    launch(demo, args)
