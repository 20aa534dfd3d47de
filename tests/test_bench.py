"""The benchmarks: their timing helpers measure what they time, and each benchmark runs end to
end with numbers that agree with each other."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.timing import alternating, timed

pytestmark = pytest.mark.slow  # the benchmarks, the app among them

ROOT = Path(__file__).resolve().parents[1]


def test_timing_helpers_measure_what_they_time():
    samples = timed(lambda: time.sleep(0.02), repeats=3, warmup=1)
    assert len(samples) == 3 and all(0.019 <= s < 0.5 for s in samples)
    turns = alternating(
        {"short": lambda: time.sleep(0.01), "long": lambda: time.sleep(0.03)}, repeats=5, warmup=0
    )
    # the shortest of each: a busy machine only ever makes a sleep longer
    ratio = min(turns["long"]) / min(turns["short"])
    assert 2.0 < ratio < 4.0


def test_speed_benchmark_small_run(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--n", "8", "--batch-size", "4", "--repeats", "3", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["speedup_single"] == pytest.approx(
        r["writeup_predict_ms_median"] / r["predict_ms_median"]
    )
    assert r["speedup_batch"] == pytest.approx(r["throughput_default"] / r["throughput_writeup"])
    assert r["peak_rss_mb"] > 300  # both backbones were loaded in this process
    stages = r["stages_ms"]
    # each clock holds its own stage: BERT-base is the write-up's, six times MiniLM's layers
    assert stages["writeup"]["text backbone"] > 2 * stages["default"]["text backbone"] > 0
    assert (
        stages["default"]["image backbone"] > stages["default"]["head: three readings, calibrated"]
    )
    assert "Where the batched run's time goes" in proc.stdout
    assert f"{r['throughput_default']:.1f} memes/s" in proc.stdout
    assert f"{r['speedup_single']:.1f}x" in proc.stdout


def test_explain_benchmark_small_run(tmp_path, capsys):
    from datasets import make_memes

    from benchmarks.explain_faithfulness import MIN_WORDS, main, read_memes

    data = make_memes(tmp_path / "memes", per_class=2)
    with pytest.raises(SystemExit):
        main(["--data", str(data), "--split", str(tmp_path / "no-split.json")])
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "explain.json"
    assert main(["--data", str(data), "--n", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    drawn = read_memes("memotion", data, 4)
    assert [m["image"] for m in result["memes"]] == [path.name for path, _ in drawn]
    long_enough = sum(len(caption.split()) >= MIN_WORDS for _, caption in drawn)
    assert result["summary"]["words"]["memes"] == long_enough  # short captions are skipped
    assert "pushing hardest toward the answer's side" in capsys.readouterr().out


def test_speed_benchmark_says_why_ocr_was_not_timed(tmp_path, monkeypatch):
    import stat

    import pytesseract
    from PIL import Image

    from benchmarks.speed import ocr_ms

    meme = Image.new("RGB", (200, 100), "white")
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "none"))
    assert ocr_ms(meme, 1, engine="tesseract") == "n/a: tesseract is not installed"
    broken = tmp_path / "tesseract"  # answers --version, then fails on any page
    broken.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "tesseract 5.3.0"; exit 0; fi\n'
        "echo 'Error: cannot read the page' >&2; exit 1\n"
    )
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(broken))
    assert ocr_ms(meme, 1, engine="tesseract").startswith("n/a: OCR failed (")


def test_ig_steps_benchmark_compares_against_its_reference(tmp_path):
    from datasets import make_memes

    from benchmarks.ig_steps import REFERENCE, main
    from memesent import explain

    data = make_memes(tmp_path / "memes", per_class=1)
    out = tmp_path / "steps.json"
    kept = explain.IG_STEPS
    assert (
        main(["--data", str(data), "--n", "3", "--steps", str(REFERENCE), "2", "--json", str(out)])
        == 0
    )
    assert explain.IG_STEPS == kept  # the library's setting is left as it was
    r = json.loads(out.read_text())
    same, fewer = r["steps"][str(REFERENCE)], r["steps"]["2"]
    assert r["memes"] == 3
    assert same["largest_change_median"] == 0 and same["same_top_word"] == 1
    assert fewer["largest_change_p95"] > 0  # two steps cannot match sixty-four


@pytest.mark.parametrize("mix", ["page", "predict"])
def test_soak_benchmark_short_run(tmp_path, mix):
    """Two users for a few seconds: every request is accounted for, bad files are refused with
    their messages, and the app still serves afterwards; the predict mix calls /predict alone."""
    from benchmarks.soak import run

    r = run(2, 4.0, mix, ROOT / "assets" / "examples", tmp_path)
    requests = sum(s["n"] for s in r["latency"].values())
    if mix == "predict":
        assert set(r["latency"]) == {"/predict"}
    assert requests == sum(r["outcomes"].values()) > 0
    # the warm-up: each user does every action once (typing is five live updates), and sends
    # one bad file
    assert r["warm_up_outcomes"] == {"served": 18, "refused as expected": 2}, r["warm_up_failures"]
    assert "failed" not in r["outcomes"], r["failures"]
    assert r["serves_afterwards"]
    assert r["rss_mb"]["after_warm_up"] > 300  # the app's process, with its model loaded
    assert r["cpu_busy"]["app"] > 0


def test_analyze_benchmark_calls_each_app_its_way(tmp_path):
    """An app with /analyze is called through it; against itself the ratio is near 1."""
    from benchmarks.analyze import run

    r = run(ROOT, ROOT / "assets" / "examples", rounds=1)
    assert r["endpoints"] == {"before": ("/analyze",), "now": ("/analyze",)}
    examples = len(list((ROOT / "assets" / "examples").glob("*.jpg")))
    assert len(r["seconds"]["before"]) == len(r["seconds"]["now"]) == r["memes"] == examples
    assert 0.5 < r["ratio"] < 2


def test_tuning_speed_benchmark_small_run(tmp_path):
    """Timing the tuning on fixture texts: a step's time, and the recipe's tuning from it."""
    from datasets import make_metmeme, make_sst5

    from benchmarks.tuning_speed import main

    metmeme = make_metmeme(tmp_path / "metmeme", per_side=20)
    sst5 = make_sst5(tmp_path / "sst5")
    out = tmp_path / "tuning.json"
    args = ["--data", f"sst5={sst5}", "--data", f"metmeme={metmeme}", "--steps", "3"]
    assert main([*args, "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["steps_timed"] == 3 and r["recipe_steps"] == 1500
    assert r["recipe_validation_passes"] == 16  # steps 0, 100, …, 1500
    assert 0 < r["seconds_per_step"] < 60 and 0 < r["validation_pass_seconds"] < 60
    assert r["recipe_tuning_minutes"] == pytest.approx(
        (1500 * r["seconds_per_step"] + 16 * r["validation_pass_seconds"]) / 60
    )


def test_memotion_benchmark_scores_every_row_on_the_writeup_runs_test_memes(tmp_path, capsys):
    """On a drawn Memotion-layout set and a write-up model trained on it: every row scores the
    run's test memes, the shift uses the train part's shares, and the table has each row."""
    from datasets import make_memes

    from benchmarks.memotion import main
    from memesent.labels import LABELS3
    from train.__main__ import main as train_main

    data, run = make_memes(tmp_path / "memes", per_class=12), tmp_path / "writeup"
    rows = (data / "labels.csv").read_text().splitlines()  # fewer negative and neutral memes
    drop = tuple(
        f"{c}_{i}.png" for c, start in (("negative", 4), ("neutral", 8)) for i in range(start, 12)
    )
    (data / "labels.csv").write_text("\n".join(r for r in rows if not r.startswith(drop)) + "\n")
    args = ["--data", str(data), "--out", str(run), "--cache", str(tmp_path / "cache")]
    assert train_main([*args, "--recipe", "writeup"]) == 0  # its own epochs: a flag would conflict
    out = tmp_path / "memotion.json"
    assert main(["--data", str(data), "--writeup", str(run), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    split = json.loads((run / "split.json").read_text())["memotion"]
    counted = {c: sum(n.startswith(c) for n in split["train"]) for c in LABELS3}
    assert result["train_shares_3"] == {
        c: pytest.approx(k / len(split["train"]), abs=5e-4) for c, k in counted.items()
    }
    assert [r["n"] for r in result["rows"]] == [len(split["test"])] * 4
    shifted = result["rows"][1]
    assert "--label-shares negative=" in shifted["row"]
    assert result["rows"][3]["answers_3"]["positive"] == 1.0  # the train part's commonest
    table = capsys.readouterr().out
    assert all(r["row"] in table for r in result["rows"])
    assert "| the original write-up, its own test set | – | 0.51 | 0.32 |" in table


def test_stage_clocks_time_the_real_call_and_leave_nothing_behind(predictor):
    from benchmarks.speed import CAPTION, STAGES, sample_meme, stage_ms

    memes = [sample_meme(seed=i, size=300) for i in range(4)]
    want = predictor.predict_batch(memes, [CAPTION] * 4, batch_size=2)
    ms = stage_ms(predictor, memes, [CAPTION] * 4, batch_size=2)
    assert set(ms) == {stage for stage, _, _ in STAGES} | {
        "other",
        "total",
        "results: CSV rows written",
    }
    assert all(ms[stage] > 0 for stage, _, _ in STAGES)
    assert 0 <= ms["other"] < ms["total"]
    from memesent import images
    from memesent import predictor as predictor_module

    assert predictor_module.load_image is images.load_image
    for owner in (predictor, predictor.image_encoder, predictor.text_encoder, predictor.head):
        assert not {"forward", "pixels", "tokenize", "readings", "_prediction"} & set(vars(owner))
    assert predictor.predict_batch(memes, [CAPTION] * 4, batch_size=2) == want


def test_corrections_benchmark_small_run(tmp_path):
    """Simulated corrections on a drawn Memotion-layout set: the update trains twice into one
    folder (the second from the cache), and both models are scored on the held-out ones."""
    from datasets import make_memes

    from benchmarks.corrections import run

    data, work = make_memes(tmp_path / "memes", per_class=12), tmp_path / "work"
    r = run(data, 18, 12, work)

    def stored(folder: str) -> int:  # the store keeps one of a repeated picture and caption
        return len((work / folder / "labels.csv").read_text().splitlines()) - 1

    assert r["update"] == stored("update") > 10
    assert r["train_seconds_first"] > 0 and r["train_seconds_cached"] > 0
    for model in ("shipped", "updated"):
        assert r[model]["n"] == stored("held_out") > 5, r[model]


def test_session_memory_benchmark_measures_a_sessions_copy_of_the_page():
    """A few sessions of the real page: each holds tens of KB or more (Gradio's copy of the
    page's settings), and the capacities' costs follow from it."""
    from benchmarks.session_memory import GRADIO_DEFAULT, run

    r = run(5)
    assert r["blocks"] > 20
    assert 20 < r["kb_per_session"] < 5_000, r
    assert r["mb_at"][str(GRADIO_DEFAULT)] == pytest.approx(
        r["kb_per_session"] * GRADIO_DEFAULT / 1024, rel=0.01, abs=1
    )
