"""What the page's events and the API endpoints return, in Gradio's terms: `PageEvents`.

`webapp.service` does the work as plain values; these methods turn it into what the page's
components take (HTML, `gr.update`s, `gr.skip()` for what must stay as it is, `gr.Error` for
input the model cannot use) and keep the page's record of which picture and caption its
explanation is of. `app.py` only wires them to the page. They are plain methods of one object,
so each event, and the race between Analyze and a late live update, is tested without a server
(tests/test_events.py).

The parameter names (`image`, `caption`, `level`) and the docstrings of the methods behind
named endpoints are what Gradio's API page shows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import gradio as gr
from PIL import Image

from memesent.ocr import DEFAULT_ENGINE

from . import service, views
from .inputs import InputError
from .workspace import Workspace

Fn = TypeVar("Fn", bound=Callable[..., Any])
# Which picture (its server-side path) and caption the explanation on the page is of, as a
# `gr.State` holds it; None: the page shows no explanation.
ExplainedFor = list[str | None] | None


def user_errors(fn: Fn) -> Fn:
    """Show `InputError`s to the person as a `gr.Error`; the app keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            raise gr.Error(str(err), print_exception=False) from err

    return wrapper  # type: ignore[return-value]


def image_path(payload: Mapping[str, Any] | None) -> str | None:
    """The server-side path of an uploaded image.

    The events take Gradio's raw file payload (`preprocess=False`), so that memesent, not
    Gradio's image preprocessing, opens the file and explains what is wrong with a bad one.
    """
    return None if payload is None else payload.get("path")


def card_file(picture: Image.Image, workspace: Workspace) -> str:
    """A PNG of the result card in the app's own folder, deleted on the uploads' schedule."""
    path = workspace.file("card-", ".png")
    picture.save(path, format="PNG", optimize=True)
    return str(path)


def stale() -> tuple[dict, str, None, dict]:
    """The explanation's outputs while there is none of this picture and caption: cleared, and
    the words say to press Analyze."""
    return (
        gr.update(value=None, label=views.HEAT_MAP_LABEL),
        views.STALE_WORDS,
        None,
        gr.update(value=None, visible=False),
    )


class PageEvents:
    """The page's events and the API endpoints over one loaded `MemeService`; captions are read
    by `ocr_engine`; result cards are written to `workspace`. The page's outputs come in this
    order: the answer, the readings, the note on how far the meme moves the answer (`answer`),
    then the explanation: the heat map, the tinted words, the shares and the result card
    (`explained`)."""

    def __init__(
        self,
        memes: service.MemeService,
        workspace: Workspace,
        ocr_engine: str = DEFAULT_ENGINE,
    ) -> None:
        self.memes, self.workspace, self.ocr_engine = memes, workspace, ocr_engine

    @user_errors
    def read_caption(self, image: Mapping | None) -> tuple[str, str]:
        """Read a meme's caption with OCR (returns "" when there is none or OCR is missing)."""
        guess = service.read_caption(image_path(image), engine=self.ocr_engine)
        return guess.caption, guess.note

    def read_caption_on_upload(self, image: Mapping | None, enabled: bool) -> tuple[Any, str]:
        """OCR of a new picture when the person left it on; else the caption stays theirs."""
        return self.read_caption(image) if enabled else (gr.skip(), "")

    @user_errors
    def predict(self, image: Mapping | None, caption: str) -> tuple[dict, dict, dict, dict, str]:
        """Sentiment of a meme: the five levels' probabilities, the three-way summary, a
        typical meme's five levels (the base rates) to compare them with, the three readings
        ({"text", "image", "both"}: the words alone, the picture alone, both), and which memes
        the probabilities are for."""
        view = self.memes.predict(image_path(image), caption)
        return view.levels, view.summary, view.typical, view.readings, view.population

    @user_errors
    def explain(self, image: Mapping | None, caption: str) -> tuple[Any, list, dict | str]:
        """Why: heat map over the meme, the caption's word scores (positive: toward the positive
        side), caption vs picture shares."""
        view = self.memes.explain(image_path(image), caption)
        return view.overlay, view.words, view.modality

    @user_errors
    def correct(self, image: Mapping | None, caption: str, level: str | None) -> str:
        """Store the level you would give this meme (five levels); returns a confirmation."""
        return self.memes.correct(image_path(image), caption, level)

    @user_errors
    def answer(self, image: Mapping | None, caption: str) -> tuple[str, str, str]:
        """The answer and the readings as HTML, and the note on how far the meme moves it."""
        view = self.memes.predict(image_path(image), caption)
        return view.answer_html, view.readings_html, view.shift_note

    def rescore(self, image: Mapping | None, caption: str, explained_for: ExplainedFor) -> tuple:
        """The answer and the three readings for the caption as it is now, from the picture's
        cached features (only the words go through the text backbone); the explanation waits
        for Analyze, and stays when it is of this very picture and caption (`explained_for`: a
        live update that reaches the queue after Analyze leaves Analyze's explanation alone)."""
        why = (gr.skip(),) * 4 if explained_for == [image_path(image), caption] else stale()
        if image is None and not (caption or "").strip():
            return (views.EMPTY, "", "", *why)
        try:
            view = self.memes.predict(image_path(image), caption)
        except InputError as err:
            return (views.EMPTY, "", f"*{err}*", *why)
        return (view.answer_html, view.readings_html, view.shift_note, *why)

    @staticmethod
    def show(text: str) -> str:
        """`text` as it is: how a note kept in a `gr.State` reaches the page."""
        return text

    @staticmethod
    def new_picture() -> tuple:
        """A new picture's start: no answer, no explanation, and no record of one."""
        return (views.EMPTY, "", "", *stale(), None)

    @user_errors
    def explained(self, image: Mapping | None, caption: str) -> tuple[dict, str, Any, dict]:
        """The explanation as Analyze shows it: the heat map titled with the level it explains,
        the tinted words, the shares, and the result card to download."""
        view = self.memes.explain(image_path(image), caption)
        card = card_file(self.memes.card(image_path(image), caption, view), self.workspace)
        return (
            gr.update(value=view.overlay, label=views.heat_map_title(view.target)),
            view.words_html,
            view.modality,
            gr.update(value=card, visible=True),
        )

    def analyze(self, image: Mapping | None, caption: str) -> Iterator[tuple]:
        """Sentiment, then why: the answer as soon as it is ready, then the explanation, from
        one pass through the model and one place in the queue; and which picture and caption
        the explanation is of."""
        first = self.answer(image, caption)
        yield (*first, *(gr.skip(),) * 5)
        yield (*first, *self.explained(image, caption), [image_path(image), caption])

    @user_errors
    def analyze_example(self, image: Mapping | None, caption: str) -> tuple:
        """An example meme's answer and explanation, for Gradio's example cache. The cache can
        store no update of a `gr.Image` (its config lookup fails on it) and no empty file: the
        heat map keeps its general title, and the card comes with Analyze."""
        first = self.answer(image, caption)
        view = self.memes.explain(image_path(image), caption)
        return (*first, view.overlay, view.words_html, view.modality)
