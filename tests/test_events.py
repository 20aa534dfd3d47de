"""The page's events (`webapp.events.PageEvents`) called as Gradio calls them, without a server:
what each returns to the page, and the race between Analyze and a late live update."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from memesent.quality import ReadingMargins
from webapp import service, views
from webapp.events import PageEvents
from webapp.server import ROOT
from webapp.workspace import Workspace

EXAMPLES_DIR = ROOT / "assets" / "examples"
ROCKET, COFFEE = EXAMPLES_DIR / "rocket.jpg", EXAMPLES_DIR / "coffee.jpg"
CAPTION = "FINALLY PASSED MY EXAM TO THE MOON"
SKIP = gr.skip()


def upload(path: Path) -> dict:
    """A picture as the events get it: Gradio's raw file payload (`preprocess=False`)."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The app's own folder, in the test's: result cards go there."""
    return Workspace(max_age=3600, every=3600, root=tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="module")
def events(predictor, shipped_model, workspace: Workspace) -> PageEvents:
    memes = service.MemeService(predictor, margins=ReadingMargins.load(shipped_model))
    return PageEvents(memes, workspace)


def assert_stale(outputs: tuple) -> None:
    """The explanation's four outputs are cleared: Analyze must be pressed again."""
    overlay, words, shares, card = outputs[3:7]
    assert overlay == gr.update(value=None, label=views.HEAT_MAP_LABEL)
    assert words == views.STALE_WORDS and shares is None
    assert card == gr.update(value=None, visible=False)


def analyze(events: PageEvents, image: dict | None, caption: str) -> tuple[tuple, tuple]:
    """Analyze's two steps: the answer at once, then the answer with the explanation."""
    steps = list(events.analyze(image, caption))
    assert len(steps) == 2
    return steps[0], steps[1]


def test_a_late_live_update_keeps_analyzes_explanation_of_its_picture_and_caption(events):
    """Typing queues live updates; one that reaches the queue after Analyze, for the picture
    and caption Analyze explained, leaves the explanation alone; for another caption, another
    picture or a page that has explained nothing (another session), it clears it."""
    meme = upload(ROCKET)
    answer, explained = analyze(events, meme, CAPTION)
    assert answer[3:] == (SKIP,) * 5  # the explanation, the card and the record wait
    explained_for = explained[-1]
    assert explained_for == [str(ROCKET), CAPTION]
    assert explained[4] != views.STALE_WORDS and explained[6]["visible"] is True

    late = events.rescore(meme, CAPTION, explained_for)
    assert late[:3] == explained[:3]
    assert late[3:] == (SKIP,) * 4  # every output of the explanation left as Analyze left it

    assert_stale(events.rescore(meme, CAPTION + "!", explained_for))
    assert_stale(events.rescore(upload(COFFEE), CAPTION, explained_for))
    assert_stale(events.rescore(meme, CAPTION, None))


def test_analyze_names_the_level_its_heat_map_explains_and_offers_the_card(events, workspace):
    _, (*_, overlay, words, shares, card, _) = analyze(events, upload(ROCKET), CAPTION)
    explained = events.memes.explain(str(ROCKET), CAPTION)
    assert overlay["label"] == views.heat_map_title(explained.target)
    assert overlay["value"].size == explained.overlay.size
    assert words == explained.words_html and shares == explained.modality
    assert Path(card["value"]).parent == workspace.root  # the app's own folder, swept
    with Image.open(card["value"]) as png:
        assert png.format == "PNG" and png.size == (1200, 675)


def test_a_new_picture_clears_the_answer_the_explanation_and_its_record(events):
    cleared = events.new_picture()
    assert cleared[:3] == (views.EMPTY, "", "")
    assert_stale(cleared)
    assert cleared[7] is None  # no record: a live update after it clears, never keeps


def test_live_updates_say_what_is_wrong_instead_of_failing(events, tmp_path):
    nothing = events.rescore(None, "  ", None)
    assert nothing[:3] == (views.EMPTY, "", "")
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture at all\n" * 10)
    answer, readings, note, *_ = events.rescore(upload(bad), CAPTION, None)
    assert (answer, readings) == (views.EMPTY, "")
    assert note.startswith("*This file is not a picture memesent can read")


def test_bad_input_is_a_message_for_the_person(events, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture at all\n" * 10)
    with pytest.raises(gr.Error, match="not a picture memesent can read"):
        list(events.analyze(upload(bad), CAPTION))
    for call in (events.predict, events.explain, events.analyze_example):
        with pytest.raises(gr.Error, match="Add a meme first"):
            call(None, "")
    with pytest.raises(gr.Error, match="Corrections are not switched on"):
        events.correct(upload(ROCKET), CAPTION, "positive")


def test_upload_reads_the_caption_only_when_asked(events):
    assert events.read_caption_on_upload(upload(ROCKET), False) == (SKIP, "")
    assert events.show("a note") == "a note"


def test_examples_are_cached_as_plain_values(events):
    """Gradio's example cache stores no update of a `gr.Image`: an example's outputs are the
    values themselves, and no card."""
    answer, readings, note, overlay, words, shares = events.analyze_example(upload(ROCKET), CAPTION)
    want = events.memes.predict(str(ROCKET), CAPTION)
    assert (answer, readings, note) == (want.answer_html, want.readings_html, want.shift_note)
    assert isinstance(overlay, Image.Image)
    assert words == events.memes.explain(str(ROCKET), CAPTION).words_html
    assert isinstance(shares, dict) and set(shares) == {"text", "image"}


def test_the_answer_says_which_memes_its_probabilities_are_for(events, predictor):
    """The page's answer ends with the line naming the memes the model is calibrated on, and
    `/predict` gives the same words."""
    population = predictor.population
    assert population.startswith("the 416 MET-Meme memes the model was calibrated on")
    line = f'<div class="ms-key" id="population">{views.population_line(population)}</div>'
    answer, *_ = events.answer(upload(ROCKET), CAPTION)
    assert line in answer
    live, *_ = events.rescore(upload(ROCKET), CAPTION, None)
    assert line in live
    *_, said = events.predict(upload(ROCKET), CAPTION)
    assert said == population


def test_the_workspace_keeps_what_is_in_use_and_sweeps_the_rest(tmp_path):
    import os
    import time

    space = Workspace(max_age=60, every=3600, root=tmp_path / "work")
    old, fresh = space.file("card-", ".png"), space.file("card-", ".png")
    run = space.folder("collection-")
    (run / "results.csv").write_text("image\n")
    hour_ago = time.time() - 3600
    for path in (old, run, run / "results.csv"):
        os.utime(path, (hour_ago, hour_ago))
    busy = space.folder("collection-")
    (busy / "results.csv").write_text("image\n")  # written just now, inside an old folder
    os.utime(busy, (hour_ago, hour_ago))
    assert space.sweep() == 2
    assert not old.exists() and not run.exists() and fresh.exists() and busy.exists()


def test_the_workspace_sweeps_gradios_folder_by_age_whoever_wrote_the_files(tmp_path):
    """Gradio's own deletion can end for good (it walks a set that uploads grow); the workspace
    deletes what is old in Gradio's folder, tracked or not, but the files Gradio keeps, and never
    sweeps a folder that holds others' files."""
    import time

    space = Workspace(max_age=60, every=3600, root=tmp_path / "work")
    gradio, other = tmp_path / "gradio", tmp_path / "someone-else.txt"
    (gradio / "abc123").mkdir(parents=True)
    upload, example = gradio / "abc123" / "up.png", gradio / "abc123" / "ex.png"
    for path in (upload, example, other):
        path.write_bytes(b"x")
    space.watch(gradio, lambda: {str(example)})
    space.watch(tmp_path, frozenset)  # holds the workspace: refused
    assert space.sweep() == 0  # all new
    # a file's change time cannot be set back, so the sweep is asked about a minute from now
    assert space.sweep(now=time.time() + 61) == 1
    assert not upload.exists() and example.exists() and other.exists()
    assert (gradio / "abc123").is_dir()  # folders stay: one may be about to receive a file
