"""The security review's findings, each with a test that fails if the hole reopens: files the
server must not hand out, picture names that leave their folder, pinned downloads, and uploads
that are really deleted. (Decompression bombs: tests/test_images.py and tests/test_batch.py.)"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import photo
from PIL import Image

from webapp.server import ROOT, AppServer

SECRET_MARKERS = (b"root:x:0", b"import gradio as gr", b"__metadata__", b'"dtype"', b"PATH=")


@pytest.fixture(scope="module")
def app():
    with AppServer(env={"GRADIO_SERVER_NAME": None}) as server:  # the default address
        yield server


def _get(app: AppServer, target: str) -> httpx.Response:
    return httpx.get(f"{app.url}gradio_api/file={target}", timeout=30)


def _upload(app: AppServer, data: bytes, name: str = "meme.png") -> str:
    response = httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, data)}, timeout=30)
    response.raise_for_status()
    return response.json()[0]


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_the_file_route_serves_uploads_and_examples(app):
    """The positive control: the route works, so the refusals below are refusals."""
    data = _png((1, 2, 3))
    assert _get(app, _upload(app, data)).content == data
    example = ROOT / "assets" / "examples" / "rocket.jpg"
    assert _get(app, str(example)).content == example.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "app.py",
        str(ROOT / "app.py"),
        "assets/model/model.safetensors",
        str(ROOT / "assets" / "model" / "model.safetensors"),
        str(ROOT / "assets" / "examples" / ".." / "model" / "config.json"),
        "../../../../etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/proc/self/environ",
    ],
)
def test_files_the_server_must_not_hand_out(app, target):
    response = _get(app, target)
    assert response.status_code in (403, 404), (target, response.status_code)
    assert not any(marker in response.content for marker in SECRET_MARKERS)


@pytest.mark.slow
def test_traversal_out_of_the_upload_folder_and_links_in_it(app):
    uploads = app.folder / "uploads"
    upload = Path(_upload(app, _png((4, 5, 6))))
    assert upload.is_relative_to(uploads)
    for target in (
        f"{upload.parent}/../../../../etc/passwd",
        f"{upload.parent}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ):
        response = _get(app, target)
        assert response.status_code in (403, 404) and b"root:" not in response.content
    links = uploads / "links"
    links.mkdir(exist_ok=True)
    (links / "passwd.png").symlink_to("/etc/passwd")
    (links / "weights.png").symlink_to(ROOT / "assets" / "model" / "model.safetensors")
    for name in ("passwd.png", "weights.png"):
        response = _get(app, str(links / name))
        assert response.status_code in (403, 404), name
        assert not any(marker in response.content for marker in SECRET_MARKERS)


@pytest.mark.slow
def test_uploads_older_than_the_cleanup_age_are_deleted():
    with AppServer("--delete-uploads-after", "2") as server:
        path = Path(_upload(server, _png((7, 8, 9))))
        assert path.exists()
        deadline = time.monotonic() + 20
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not path.exists(), "an upload older than the cleanup age is still on disk"
        fresh = Path(_upload(server, _png((10, 11, 12))))
        assert fresh.exists()  # younger ones stay


def _memotion_folder(root: Path, names: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    photo("coffee", (64, 64)).save(root / "images" / "ok.png")
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_name", "text_corrected", "overall_sentiment"])
        for name in ["ok.png", *names]:
            writer.writerow([name, "a caption", "neutral"])
    return root


def test_picture_names_that_leave_their_folder_are_refused_unread(tmp_path, monkeypatch):
    """train, train.evaluate and the benchmarks read pictures named in CSV files; names that
    leave the folder are refused, and never opened."""
    outside = tmp_path / "secret.png"
    photo("rocket", (64, 64)).save(outside)
    names = ["../secret.png", str(outside), "images/../../secret.png"]
    data = _memotion_folder(tmp_path / "data", names)
    opened: list[str] = []
    real_open = Image.open

    def spy(fp, *args, **kwargs):
        opened.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)

    from train.sources.memotion import load_memes

    memes = load_memes(data)
    assert memes.names == ["ok.png"]
    assert {name for name, _ in memes.skipped} == set(names)
    assert all("leaves the images folder" in reason for _, reason in memes.skipped)

    from benchmarks.explain_faithfulness import read_memes

    assert [path.name for path, _ in read_memes("memotion", data, 10)] == ["ok.png"]

    from benchmarks.ocr_accuracy import run as ocr_run

    with open(data / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_name", "sentence"])
        for name in ["ok.png", *names]:
            writer.writerow([name, "a caption"])
    if __import__("shutil").which("tesseract"):
        result = ocr_run(data, log=False)
        assert {row["image"] for row in result["skipped"]} == set(names)
    assert not any("secret" in path for path in opened)


def test_the_write_ups_backbones_download_pinned(monkeypatch):
    """bert-base-uncased loads from one Hub commit; torchvision checks ResNet18's hash."""
    calls: dict[str, dict] = {}

    class Refuse(Exception):
        pass

    def record(kind):
        def fake(name, **kwargs):
            calls[kind] = {"name": name, **kwargs}
            raise Refuse

        return fake

    import transformers

    from memesent.backbones import HUB_REVISIONS, load_image_encoder, load_text_encoder

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record("tokenizer"))
    with pytest.raises(Refuse):
        load_text_encoder("bert-base-uncased")
    pin = HUB_REVISIONS["bert-base-uncased"]
    assert len(pin.revision) == 40 and all(c in "0123456789abcdef" for c in pin.revision)
    assert calls["tokenizer"] == {"name": pin.repo, "revision": pin.revision}
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: None)
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", record("model"))
    with pytest.raises(Refuse):
        load_text_encoder("bert-base-uncased")
    assert calls["model"]["revision"] == pin.revision

    import torchvision.models._api as tv_api

    def record_url(url, *args, **kwargs):
        calls["resnet18"] = {"url": url, **kwargs}
        raise Refuse

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", record_url)
    with pytest.raises(Refuse):
        load_image_encoder("resnet18")
    assert calls["resnet18"]["check_hash"] is True
    assert "resnet18-f37072fd" in calls["resnet18"]["url"]


def test_real_bugs_are_not_turned_into_per_file_errors(tmp_path, monkeypatch, capsys):
    """Only a meme's own problems (unreadable, missing, OCR) go into its row; a bug in the
    code or running out of memory stops the run loudly."""
    from memesent import predictor
    from memesent.cli import main

    photo("coffee", (64, 64)).save(tmp_path / "a.png")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, or out of memory")

    monkeypatch.setattr(predictor.Predictor, "predict_batch", broken)
    with pytest.raises(RuntimeError, match="a bug, or out of memory"):
        main(["predict", str(tmp_path / "a.png"), "--workers", "0", "--quiet"])


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="fcntl and /proc are Linux's")
def test_app_process_does_not_run_as_a_server_for_other_hosts(app):
    """Loopback unless told otherwise: the app listens on 127.0.0.1 by default."""
    listening = Path(f"/proc/{app.process.pid}/net/tcp").read_text()
    port = f"{app.port:04X}"
    rows = [line.split() for line in listening.splitlines()[1:]]
    local = [r[1] for r in rows if r[1].endswith(f":{port}") and r[3] == "0A"]  # LISTEN
    assert local and all(address.startswith("0100007F") for address in local), local
