"""Batch scoring as users run it: `memesent predict` on folders and manifests into resumable
results files, every bad input answered with a message, and the Ray engine."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import bomb_png, draw_meme, photo

from memesent.labels import LABELS
from memesent.results import RESULT_COLUMNS

pytestmark = pytest.mark.slow  # worker processes, and the CLI in subprocesses

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("chelsea", "coffee", "astronaut", "rocket", "camera")


SAYS_IF_TORCH_CAME = (
    "import sys; from memesent.cli import main; code = main(['predict', *sys.argv[1:]]); "
    "print('torch imported:', 'torch' in sys.modules); sys.exit(code)"
)


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memesent", "predict", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def predict(memesent_cli):
    """`memesent predict ARGS`, run in this process (conftest's `memesent_cli`)."""
    return lambda *args: memesent_cli("predict", *args)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def memes(tmp_path_factory) -> Path:
    """A folder of five drawn memes, one of them two folders down and named without a picture
    suffix, beside files that are not pictures (one of them named like one)."""
    root = tmp_path_factory.mktemp("memes")
    (root / "deep" / "er").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        meme = draw_meme(photo(name, (160, 120)), name.upper(), "BOTTOM TEXT")
        target = root / "deep" / "er" / f"{name}.dat" if i == 4 else root / f"{name}.png"
        meme.save(target, format="PNG")
    (root / "notes.txt").write_text("not a meme")
    (root / "fake.jpg").write_text("not a picture either, whatever its name says")
    return root


def _manifest(folder: Path, rows: list[list[str]], header=("image", "caption")) -> Path:
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_folders_are_walked_and_pictures_kept_by_content(
    predict, memes, tmp_path, shipped_model, predictor
):
    out = tmp_path / "results.csv"
    proc = predict(
        str(memes), "--caption", "top text", "--out", str(out), "--model", str(shipped_model)
    )
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    found = sorted(Path(r["image"]).name for r in rows)
    assert found == sorted(
        ["chelsea.png", "coffee.png", "astronaut.png", "rocket.png", "camera.dat"]
    )
    assert list(rows[0]) == list(RESULT_COLUMNS)
    for row in rows:
        want = predictor.predict(row["image"], "top text")
        assert row["label"] == want.label and row["caption"] == "top text" and row["error"] == ""
        assert row["label3"] == want.label3
        assert float(row["prob_neutral"]) == pytest.approx(want.probs["neutral"], abs=1e-6)
        for reading in ("text", "image"):
            got = float(row[f"{reading}_prob_positive"])
            assert got == pytest.approx(want.readings[reading]["positive"], abs=1e-6)
    # a normal run says one line: no progress bar off a terminal, no third-party output
    assert proc.stderr.strip().splitlines() == [f"memesent: scored 5 memes into {out}"]


def test_manifest_captions_and_bad_rows(predict, memes, tmp_path, shipped_model, predictor):
    folder = tmp_path / "collection"
    (folder / "pics").mkdir(parents=True)
    for name in NAMES[:2]:
        shutil.copy(memes / f"{name}.png", folder / "pics" / f"{name}.png")
    outside = tmp_path / "secret.png"
    shutil.copy(memes / "rocket.png", outside)
    manifest = _manifest(
        folder,
        [
            ["pics/chelsea.png", "the sunny spot"],
            ["pics/coffee.png", "monday again"],
            ["pics/missing.png", "gone"],
            ["../secret.png", "not yours"],
            [str(outside), "not yours either"],
        ],
    )
    out = tmp_path / "results.jsonl"
    proc = predict("--manifest", str(manifest), "--out", str(out), "--model", str(shipped_model))
    assert proc.returncode == 1, proc.stderr  # some memes could not be scored
    assert "scored 2 memes" in proc.stderr and "3 could not be scored" in proc.stderr
    rows = {r["image"]: r for r in map(json.loads, out.read_text().splitlines())}
    for name, caption in (("chelsea", "the sunny spot"), ("coffee", "monday again")):
        row = rows[f"pics/{name}.png"]
        want = predictor.predict(folder / "pics" / f"{name}.png", caption)
        assert row["caption"] == caption and row["prob_positive"] == pytest.approx(
            want.probs["positive"], abs=1e-6
        )
    assert rows["pics/missing.png"]["error"] == "picture missing"
    assert rows["pics/missing.png"]["prob_positive"] is None
    assert rows["pics/missing.png"]["text_prob_positive"] is None
    for key in ("../secret.png", str(outside)):
        assert rows[key]["error"] == "refused: the path leaves the manifest's folder"


def test_memotion_layout_is_read_as_it_is(predict, memes, tmp_path):
    folder = tmp_path / "memotion"
    (folder / "images").mkdir(parents=True)
    shutil.copy(memes / "coffee.png", folder / "images" / "a.png")
    shutil.copy(memes / "rocket.png", folder / "images" / "b.png")
    manifest = _manifest(
        folder,
        [["a.png", "ocr text", "corrected text", "neutral"], ["b.png", "only ocr", "", "positive"]],
        header=("image_name", "text_ocr", "text_corrected", "overall_sentiment"),
    )
    out = tmp_path / "results.csv"
    assert predict("--manifest", str(manifest), "--out", str(out)).returncode == 0
    rows = {r["image"]: r["caption"] for r in read_csv(out)}
    assert rows == {"images/a.png": "corrected text", "images/b.png": "only ocr"}


def test_manifest_without_the_columns_is_named(predict, tmp_path):
    manifest = _manifest(tmp_path, [["a.png", "x"]], header=("picture", "text"))
    proc = predict("--manifest", str(manifest))
    assert proc.returncode == 2
    assert "lacks an image column" in proc.stderr and "Traceback" not in proc.stderr
    manifest = _manifest(tmp_path, [["a.png"]], header=("image",))  # captions read by OCR
    proc = predict("--manifest", str(manifest))
    assert proc.returncode == 1 and "a.png: picture missing" in proc.stderr


def test_empty_folder_and_unknown_out_type(predict, tmp_path, memes):
    (tmp_path / "empty").mkdir()
    proc = predict(str(tmp_path / "empty"))
    assert proc.returncode == 2 and "no pictures found in" in proc.stderr
    proc = predict(str(memes), "--out", str(tmp_path / "results.xlsx"))
    assert proc.returncode == 2 and "unknown results type '.xlsx'" in proc.stderr
    assert not (tmp_path / "results.xlsx").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_rerun_completes_a_stopped_run_without_duplicates(predict, memes, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    first = predict(str(memes), "--no-ocr", "--out", str(out))  # one line a meme
    assert first.returncode == 0, first.stderr
    if suffix == ".parquet":
        import pandas as pd

        parts = sorted(out.glob("*.parquet"))
        assert len(parts) == 1
        table = pd.read_parquet(parts[0])
        table.iloc[:2].to_parquet(parts[0])  # as if stopped after two memes
        read = lambda: pd.read_parquet(out).to_dict("records")  # noqa: E731
    else:
        lines = out.read_text().splitlines(keepends=True)
        keep = 3 if suffix == ".csv" else 2  # the header and two memes
        out.write_text("".join(lines[:keep]) + lines[keep][:15])  # and half a line
        read = (
            (lambda: read_csv(out))
            if suffix == ".csv"
            else (lambda: [json.loads(line) for line in out.read_text().splitlines()])
        )
    again = predict(str(memes), "--no-ocr", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "scored 3 memes" in again.stderr and "2 were there already" in again.stderr
    rows = read()
    assert sorted(r["image"] for r in rows) == sorted(
        str(p) for p in [*memes.glob("*.png"), memes / "deep" / "er" / "camera.dat"]
    )
    done = subprocess.run(  # nothing to do: the model is not loaded, torch not even imported
        [sys.executable, "-c", SAYS_IF_TORCH_CAME, str(memes), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "all 5 memes are in" in done.stderr
    assert done.stdout.strip() == "torch imported: False"


def test_results_of_another_model_are_never_mixed(predict, memes, tmp_path, shipped_model):
    other = tmp_path / "other-model"
    shutil.copytree(shipped_model, other)
    config = json.loads((other / "config.json").read_text())
    config["training"]["seed"] = 99  # another model, to its version digest
    (other / "config.json").write_text(json.dumps(config))
    out = tmp_path / "results.csv"
    assert predict(str(memes), "--out", str(out)).returncode == 0
    before = out.read_text()
    proc = predict(str(memes), "--out", str(out), "--model", str(other))
    assert proc.returncode == 2
    assert (
        "holds answers of another model" in proc.stderr and "write to another file" in proc.stderr
    )
    assert out.read_text() == before


def test_decompression_bombs_and_broken_files_get_their_row(predict, tmp_path, memes):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(11_000, 11_000))  # 121 megapixels
    cut = tmp_path / "cut.png"
    buf = io.BytesIO()
    photo("coffee").save(buf, "PNG")
    cut.write_bytes(buf.getvalue()[:3000])
    out = tmp_path / "results.csv"
    proc = predict(str(bomb), str(cut), str(memes / "coffee.png"), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    rows = {Path(r["image"]).name: r for r in read_csv(out)}
    assert "too large to open safely" in rows["bomb.png"]["error"]
    assert "could not be decoded" in rows["cut.png"]["error"]
    assert rows["coffee.png"]["error"] == "" and rows["coffee.png"]["label"] in LABELS


def test_workers_and_batches_do_not_change_the_answers(predict, memes, tmp_path, shipped_model):
    outs = []
    for workers, batch in (("0", "32"), ("2", "2")):
        out = tmp_path / f"w{workers}.csv"
        proc = predict(
            str(memes),
            "--out",
            str(out),
            "--model",
            str(shipped_model),
            "--workers",
            workers,
            "--batch-size",
            batch,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append({r["image"]: r for r in read_csv(out)})
    assert outs[0].keys() == outs[1].keys()
    for key, row in outs[0].items():
        for level in LABELS:
            column = f"prob_{level}"
            assert float(row[column]) == pytest.approx(float(outs[1][key][column]), abs=1e-6)


def test_ctrl_c_keeps_what_was_written_and_the_rerun_finishes(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    base = photo("chelsea", (96, 96))
    for i in range(240):
        base.rotate(i * 1.5).save(folder / f"m{i:03d}.png")
    out = tmp_path / "results.csv"
    args = [sys.executable, "-m", "memesent", "predict", str(folder), "--out", str(out)]
    proc = subprocess.Popen(
        [*args, "--workers", "1", "--batch-size", "4"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C at its default, as in a person's terminal: tests started in the background
        # (`pytest &` in a script, some CI runners) ignore SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(read_csv(out)) < 16):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped; the memes scored so far are in" in err and "Traceback" not in err
    written = read_csv(out)
    assert 16 <= len(written) < 240
    finish = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    rows = read_csv(out)
    assert len(rows) == len({r["image"] for r in rows}) == 240


def test_ray_missing_is_one_line(memes, monkeypatch, capsys, tmp_path):
    from memesent.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    code = main(["predict", str(memes), "--engine", "ray", "--out", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "memesent: --engine ray needs Ray: pip install -r requirements-ray.txt "
        "(or: pip install 'ray[data]')"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (requirements-ray.txt)"
)
def test_ray_engine_gives_the_local_answers(memes, tmp_path, shipped_model):
    outs = {}
    for engine in ("ray", "local"):
        out = tmp_path / f"{engine}.csv"
        proc = run(
            str(memes),
            "--caption",
            "monday again",
            "--out",
            str(out),
            "--engine",
            engine,
            "--workers",
            "2",
            "--model",
            str(shipped_model),
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        assert " E " not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr  # a clean run
        assert "Warning" not in proc.stderr, proc.stderr
        outs[engine] = {r["image"]: r for r in read_csv(out)}
    assert outs["ray"].keys() == outs["local"].keys() and len(outs["ray"]) == 5
    for key, row in outs["ray"].items():
        assert row["label"] == outs["local"][key]["label"]
        for level in LABELS:
            column = f"prob_{level}"
            assert float(row[column]) == pytest.approx(float(outs["local"][key][column]), abs=1e-5)
