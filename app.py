"""memesent's Gradio app: a meme in, its sentiment and the reasons out; also the Space's entry.

    python app.py [--host H] [--port P] [--model DIR] [--corrections DIR]
                  [--corrections-limit N] [--delete-uploads-after SECONDS] [--ocr-engine E]
    gradio app.py                                        # the same, reloading on edits

The page calls the functions of `webapp.service`; so do the named API endpoints `/ocr`,
`/rescore` (what the page does as the caption is typed: the answer and the three readings, as
HTML), `/analyze` (what the page's Analyze does: that, then the explanation and the result
card), `/predict` and `/explain` (the same as numbers, for programs) and, with corrections on,
`/correct`. The model loads once, before the server starts.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict, TypeVar

import gradio as gr

from memesent.labels import LABELS
from memesent.model_files import DEFAULT_MODEL_DIR
from memesent.ocr import DEFAULT_ENGINE, ENGINES
from webapp import service, views, wording
from webapp.corrections import DEFAULT_LIMIT, CorrectionStore
from webapp.inputs import MAX_CAPTION_CHARS, InputError

EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
MAX_FILE_SIZE = "10mb"  # uploads; memes are rarely over 1 MB
UPLOAD_MAX_AGE = 86_400  # seconds: uploads (and the app's other temporary files) older than this go
CLEANUP_EVERY = 3_600  # seconds between two clean-ups (or the age, when that is shorter)
QUEUE_SIZE = 64  # waiting requests; more get "queue full" rather than waiting minutes
CONCURRENCY = 2  # events running at once, for 2 cores; the model's events share one slot
Fn = TypeVar("Fn", bound=Callable[..., Any])


EMPTY = '<div class="ms-empty">Upload a meme or type a caption: the answer appears here.</div>'
HEAT_MAP_LABEL = "Where the picture drove the answer"
STALE_WORDS = (
    '<div class="ms-words" id="word-scores"><i>Press Analyze to see which words and which '
    "parts of the picture drove this answer.</i></div>"
)


class _Quietly(TypedDict):
    """Options of events that only the page uses: no queue, no API endpoint, no spinner."""

    queue: bool
    api_visibility: Literal["public", "private", "undocumented"]
    show_progress: Literal["full", "minimal", "hidden"]


class _ModelEvent(TypedDict):
    """Options of events that run the model: the raw payload, one at a time in one slot."""

    preprocess: bool
    concurrency_id: str
    concurrency_limit: int


def _name(level: str) -> str:
    return level.replace("_", " ")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
        "--delete-uploads-after",
        type=int,
        default=int(os.environ.get("MEMESENT_UPLOAD_MAX_AGE", UPLOAD_MAX_AGE)),
        metavar="SECONDS",
        help="delete uploaded files this old (default: $MEMESENT_UPLOAD_MAX_AGE, else a day)",
    )
    parser.add_argument(
        "--ocr-engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="caption OCR engine (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.corrections_limit < 1 or args.delete_uploads_after < 1:
        parser.error("--corrections-limit and --delete-uploads-after must be at least 1")
    return args


def user_errors(fn: Fn) -> Fn:
    """Show `InputError`s to the person as a `gr.Error`; the app keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except InputError as err:
            raise gr.Error(str(err), print_exception=False) from err

    return wrapper  # type: ignore[return-value]


def image_path(payload: Mapping[str, Any] | None) -> str | None:
    """The server-side path of an uploaded image.

    The events take Gradio's raw file payload (`preprocess=False`), so that memesent, not
    Gradio's image preprocessing, opens the file and explains what is wrong with a bad one.
    """
    return None if payload is None else payload.get("path")


def examples() -> list[list[str]]:
    """[image path, caption] for each example meme drawn by `assets/examples/make_examples.py`."""
    manifest = json.loads((EXAMPLES_DIR / "examples.json").read_text())
    return [[str(EXAMPLES_DIR / item["file"]), item["caption"]] for item in manifest]


def card_file(picture: Any) -> str:
    """A PNG of the result card in a temporary file the app may serve (deleted with uploads)."""
    handle = tempfile.NamedTemporaryFile(prefix="memesent-card-", suffix=".png", delete=False)
    with handle:
        picture.save(handle, format="PNG", optimize=True)
    return handle.name


def build_demo(
    memes: service.MemeService,
    model_dir: Path,
    upload_max_age: int = UPLOAD_MAX_AGE,
    ocr_engine: str = DEFAULT_ENGINE,
) -> gr.Blocks:
    """The page and its API, on top of one loaded `MemeService`; uploads older than
    `upload_max_age` seconds are deleted; captions are read by `ocr_engine`."""

    @user_errors
    def read_caption(image: Mapping | None) -> tuple[str, str]:
        """Read a meme's caption with OCR (returns "" when there is none or OCR is missing)."""
        guess = service.read_caption(image_path(image), engine=ocr_engine)
        return guess.caption, guess.note

    def read_caption_on_upload(image: Mapping | None, enabled: bool) -> tuple[Any, str]:
        return read_caption(image) if enabled else (gr.skip(), "")

    @user_errors
    def predict(image: Mapping | None, caption: str) -> tuple[dict, dict, dict, dict]:
        """Sentiment of a meme: the five levels' probabilities, the three-way summary, a
        typical meme's five levels (the base rates) to compare them with, and the three
        readings ({"text", "image", "both"}: the words alone, the picture alone, both)."""
        view = memes.predict(image_path(image), caption)
        return view.levels, view.summary, view.typical, view.readings

    @user_errors
    def explain(image: Mapping | None, caption: str) -> tuple[Any, list, dict | str]:
        """Why: heat map over the meme, the caption's word scores (positive: toward the positive
        side), caption vs picture shares."""
        view = memes.explain(image_path(image), caption)
        return view.overlay, view.words, view.modality

    @user_errors
    def correct(image: Mapping | None, caption: str, level: str | None) -> str:
        """Store the level you would give this meme (five levels); returns a confirmation."""
        return memes.correct(image_path(image), caption, level)

    @user_errors
    def answer(image: Mapping | None, caption: str) -> tuple[str, str, str]:
        view = memes.predict(image_path(image), caption)
        return view.answer_html, view.readings_html, view.shift_note

    def stale() -> tuple:
        """The explanation's outputs while it is out of date: the caption changed since."""
        return (
            gr.update(value=None, label=HEAT_MAP_LABEL),
            STALE_WORDS,
            None,
            gr.update(value=None, visible=False),
        )

    def rescore(image: Mapping | None, caption: str, explained_for: list | None) -> tuple:
        """The answer and the three readings for the caption as it is now, from the picture's
        cached features (only the words go through the text backbone); the explanation waits
        for Analyze, and stays when it is of this very picture and caption (`explained_for`: a
        live update that reaches the queue after Analyze leaves Analyze's explanation alone)."""
        why = (gr.skip(),) * 4 if explained_for == [image_path(image), caption] else stale()
        if image is None and not (caption or "").strip():
            return (EMPTY, "", "", *why)
        try:
            view = memes.predict(image_path(image), caption)
        except InputError as err:
            return (EMPTY, "", f"*{err}*", *why)
        return (view.answer_html, view.readings_html, view.shift_note, *why)

    @user_errors
    def explained(image: Mapping | None, caption: str, example: bool = False) -> tuple:
        view = memes.explain(image_path(image), caption)
        title = f"Where the picture drove “{_name(view.target)}”"
        if example:
            # Gradio 6's example cache can store no update of a gr.Image (its config lookup
            # fails on it) and no empty file: an example's heat map keeps its general title,
            # and its card comes with Analyze.
            return (view.overlay, view.words_html, view.modality)
        card = card_file(memes.card(image_path(image), caption, view))
        return (
            gr.update(value=view.overlay, label=title),
            view.words_html,
            view.modality,
            gr.update(value=card, visible=True),
        )

    def analyze(image: Mapping | None, caption: str) -> Iterator[tuple]:
        """Sentiment, then why: the answer as soon as it is ready, then the explanation, from
        one pass through the model and one place in the queue; and which picture and caption
        the explanation is of."""
        first = answer(image, caption)
        yield (*first, *(gr.skip(),) * 5)
        yield (*first, *explained(image, caption), [image_path(image), caption])

    def analyze_example(image: Mapping | None, caption: str) -> tuple:
        return (*answer(image, caption), *explained(image, caption, True))

    def show(text: str) -> str:
        return text

    cleanup = (min(CLEANUP_EVERY, upload_max_age), upload_max_age)
    with gr.Blocks(title="memesent: meme sentiment", delete_cache=cleanup) as demo:
        gr.Markdown(f"# memesent: what does this meme feel?\n{wording.model_summary(model_dir)}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
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
                    analyze_button = gr.Button(
                        "Analyze", variant="primary", size="md", elem_id="analyze"
                    )
                    ocr_button = gr.Button("Read caption again", size="md", elem_id="read-caption")
                note = gr.Markdown(elem_id="ocr-note")
                auto_ocr = gr.Checkbox(True, label="Read the caption from the picture on upload")
            with gr.Column(scale=3, min_width=300):
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=280):
                        answer_view = gr.HTML(EMPTY, elem_id="answer")
                        readings_view = gr.HTML(elem_id="readings-view")
                        shift_note = gr.Markdown(elem_id="shift-note")
                    with gr.Column(min_width=260):
                        overlay = gr.Image(
                            label=HEAT_MAP_LABEL,
                            interactive=False,
                            height=220,
                            format="jpeg",  # quicker to encode than WebP: benchmarks.speed
                            elem_id="overlay",
                        )
                        words_view = gr.HTML(elem_id="words")
                        shares = gr.Label(
                            label="Share of the answer: caption (text) vs picture (image)",
                            show_heading=False,
                            elem_id="shares",
                        )
                with gr.Row():
                    gr.DeepLinkButton("Share a link to this result", size="sm")
                    download = gr.DownloadButton(
                        "Download result card", size="sm", visible=False, elem_id="card"
                    )
                if memes.corrections is not None:
                    with gr.Group(elem_id="correction"):
                        gr.Markdown(
                            "**Is this right?** Saving stores the picture, the caption "
                            "and the level you chose on this server."
                        )
                        level = gr.Radio(
                            list(LABELS), label="The level you would give", elem_id="correct-level"
                        )
                        save = gr.Button("Save correction", size="sm", elem_id="save-correction")
                        saved = gr.Markdown(elem_id="correction-status")
        results = [answer_view, readings_view, shift_note, overlay, words_view, shares, download]
        gr.Examples(
            examples(),
            inputs=[image, caption],
            outputs=results[:-1],  # all but the card (see `explained`)
            fn=analyze_example,
            cache_examples=True,
            cache_mode="lazy",
            preprocess=False,
            label="Example memes (made by the project from free sample photos)",
        )
        with gr.Accordion("Model card", open=False, elem_id="model-card"):
            gr.Markdown(wording.model_card(model_dir))

        # What programs get from `/predict` and `/explain`: numbers, in components the page
        # does not show (it draws them as HTML instead).
        with gr.Group(visible=False):
            levels = gr.Label(num_top_classes=5)
            summary, typical = gr.Label(), gr.Label(num_top_classes=5)
            readings = gr.JSON()
            words = gr.HighlightedText()
        # Notes reach the page through a State, so that `/ocr` returns just the caption.
        ocr_note = gr.State("")
        for_programs = gr.Button(visible=False)
        quietly: _Quietly = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
        model_event: _ModelEvent = {
            "preprocess": False,
            "concurrency_id": "model",
            "concurrency_limit": 1,
        }
        # A new picture empties the last one's answer, and in the browser itself the person's
        # own entries, so that no round trip can land after they picked a level for it.
        entries: list[gr.components.Component] = [note]
        if memes.corrections is not None:
            entries += [level, saved]
            save.click(correct, [image, caption, level], saved, api_name="correct", **model_event)
        # Which picture and caption the explanation on the page is of (None: none is).
        explained_for = gr.State(None)
        caption.input(
            rescore,
            [image, caption, explained_for],
            results,
            api_name="rescore",
            trigger_mode="always_last",
            show_progress="hidden",
            **model_event,
        )
        image.upload(None, None, entries, js=f"() => Array({len(entries)}).fill(null)")
        image.upload(
            lambda: (EMPTY, "", "", *stale(), None), None, [*results, explained_for], **quietly
        )
        image.upload(
            read_caption_on_upload,
            [image, auto_ocr],
            [caption, ocr_note],
            preprocess=False,
            concurrency_id="ocr",
            api_visibility="private",
        ).then(show, ocr_note, note, **quietly).then(
            rescore,
            [image, caption, explained_for],
            results,
            api_visibility="private",
            **model_event,
        )
        ocr_button.click(
            read_caption,
            image,
            [caption, ocr_note],
            api_name="ocr",
            preprocess=False,
            concurrency_id="ocr",
        ).then(show, ocr_note, note, **quietly).then(
            rescore,
            [image, caption, explained_for],
            results,
            api_visibility="private",
            **model_event,
        )
        gr.on(
            [analyze_button.click, caption.submit],
            analyze,
            [image, caption],
            [*results, explained_for],
            api_name="analyze",
            **model_event,
        )
        for_programs.click(
            predict,
            [image, caption],
            [levels, summary, typical, readings],
            api_name="predict",
            **model_event,
        )
        for_programs.click(
            explain, [image, caption], [overlay, words, shares], api_name="explain", **model_event
        )
    return demo


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
        allowed_paths=[str(EXAMPLES_DIR)],
        css=views.CSS,
    )


if __name__ == "__main__":
    # Tesseract's own threads would compete with the model for the same few cores.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    args = parse_args()
    if gr.NO_RELOAD:  # `gradio app.py` re-runs this file on every edit; the model loads once
        memes = start_service(args.model, args.corrections, args.corrections_limit)
    demo = build_demo(memes, args.model, args.delete_uploads_after, args.ocr_engine)
    launch(demo, args)
