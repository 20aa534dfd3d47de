"""`/collection` through `gradio_client`, as a program sends a folder of memes: the results file
first, bad uploads as messages or error rows, and the app serving normally afterwards."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import draw_meme, photo

from memesent.results import RESULT_COLUMNS
from webapp.server import ROOT, AppServer

pytestmark = pytest.mark.slow  # the app in a subprocess

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

ROCKET = ROOT / "assets" / "examples" / "rocket.jpg"
LIMIT = 5


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with AppServer("--collection-limit", str(LIMIT)) as server:
        c = Client(server.url, verbose=False)
        yield c
        c.close()


@pytest.fixture(scope="module")
def memes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("memes")
    for i, caption in enumerate(["BEST DAY EVER", "WORST DAY EVER"]):
        draw_meme(photo(["chelsea", "coffee"][i], (200, 200)), caption).save(folder / f"m{i}.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "captions.csv").write_text(
        "image,caption\nm0.jpg,BEST DAY EVER\nm1.jpg,WORST DAY EVER\n"
    )
    return folder


def collection(client: Client, files: list[Path], captions: Path | None = None, fmt: str = "csv"):
    return client.predict(
        [handle_file(str(f)) for f in files],
        None if captions is None else handle_file(str(captions)),
        True,
        fmt,
        api_name="/collection",
    )


def assert_serving(client: Client) -> None:
    levels, *_ = client.predict(handle_file(str(ROCKET)), "TO THE MOON", api_name="/predict")
    assert levels["label"]


def test_the_results_file_comes_first_in_the_command_lines_columns(client, memes):
    results, table, _, shares, status, *_ = collection(
        client, [memes / "m0.jpg", memes / "m1.jpg", memes / "empty.jpg"], memes / "captions.csv"
    )
    frame = pd.read_csv(results, keep_default_na=False)
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert frame["image"].tolist() == ["m0.jpg", "m1.jpg", "empty.jpg"]
    assert frame["caption"].tolist()[:2] == ["BEST DAY EVER", "WORST DAY EVER"]
    assert frame.loc[2, "error"] and not frame.loc[0, "error"]
    assert "Done: 3 of 3" in status and "90 % interval" in shares
    assert len(table["data"]) == 3


def test_parquet_is_one_file_with_the_same_rows(client, memes):
    results, *_ = collection(
        client, [memes / "m0.jpg", memes / "m1.jpg"], memes / "captions.csv", "parquet"
    )
    assert results.endswith(".parquet")
    frame = pd.read_parquet(results)
    assert tuple(frame.columns) == RESULT_COLUMNS and len(frame) == 2


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("name", "entries", "message"),
    [
        ("bomb.zip", {f"{i}.jpg": bytes(9 * 2**20) for i in range(3)}, "zip bomb"),
        ("many.zip", {f"{i}.jpg": b"x" for i in range(10_000)}, "at most 2,000"),
        ("slip.zip", {"../../escape.jpg": b"x"}, "leave the zip's folder"),
    ],
)
def test_bad_zips_get_their_message_and_the_app_serves_on(client, tmp_path, name, entries, message):
    with pytest.raises(AppError, match=message):
        collection(client, [zip_of(tmp_path / name, entries)])
    assert_serving(client)


def test_an_empty_file_is_an_error_row(client, memes):
    results, *_ = collection(client, [memes / "empty.jpg"])
    assert pd.read_csv(results, keep_default_na=False).loc[0, "error"]
    assert_serving(client)


def test_more_memes_than_the_limit_name_the_command_line(client, memes):
    with pytest.raises(AppError, match=r"at most 5 a run.*memesent predict"):
        collection(client, [memes / "m0.jpg"] * (LIMIT + 1))
    assert_serving(client)
