"""python -m benchmarks.speed: speed and memory of the default pipeline against the write-up's.

One process, one run: load the shipped model, time batched scoring, `explain` (on a 500x500
meme with a 19-word caption), encoding its heat map for the page (JPEG, the app's choice, and
Gradio's default WebP) and OCR, and read the peak resident memory; then build the
write-up's pipeline (bert-base-uncased + torchvision resnet18, random weights: speed does not
depend on them) under the same fusion head and time batched scoring and `predict` on that meme
with both pipelines, in turns, on the same inputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch

import torch
from PIL import Image, ImageDraw, ImageFont

from memesent import predictor as predictor_module
from memesent.backbones import IMAGE_SPECS, TEXT_SPECS, load_image_encoder, load_text_encoder
from memesent.batch import Prepared, result_row
from memesent.collection import Job
from memesent.fusion import FusionConfig
from memesent.model import MemeHead, ModelConfig
from memesent.ocr import DEFAULT_ENGINE
from memesent.predictor import Predictor
from memesent.results import CsvResults

from .timing import alternating, cpu_name, measured, p95, peak_rss_mb, timed

CAPTION = (
    "when you finally finish the project at three in the morning and "
    "realise you never saved a single file"
)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def sample_meme(seed: int = 0, size: int = 500) -> Image.Image:
    """A 500x500 meme: a smooth colour field with a white outlined caption, top and bottom."""
    g = torch.Generator().manual_seed(seed)
    field = torch.nn.functional.interpolate(
        torch.rand(1, 3, 8, 8, generator=g), size=(size, size), mode="bicubic"
    )
    arr = (field[0].clamp(0, 1).permute(1, 2, 0) * 255).byte().numpy()
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 34) if FONT.is_file() else ImageFont.load_default(34)
    words = CAPTION.upper().split()
    for text, y in ((" ".join(words[:6]), 20), (" ".join(words[6:12]), size - 60)):
        w = draw.textlength(text, font=font)
        draw.text(
            ((size - w) / 2, y), text, font=font, fill="white", stroke_width=3, stroke_fill="black"
        )
    return img


def throughput(
    p: Predictor, memes: list[Image.Image], captions: list[str], batch_size: int
) -> float:
    """Memes per second of `predict_batch` over all of `memes`."""
    start = time.perf_counter()
    p.predict_batch(memes, captions, batch_size=batch_size)
    return len(memes) / (time.perf_counter() - start)


# Where a batch's time goes: each stage of `Predictor.predict_batch` is the method below, timed
# in place (the object's own method wrapped in a clock for the run); what none of them holds is
# `other` (Python between the stages, copying features into the batch).
STAGES = (
    ("pictures: decode", "predictor", "load_image"),
    ("pictures: resize, to tensor", "image_encoder", "pixels"),
    ("captions: tokenize", "text_encoder", "tokenize"),
    ("text backbone", "text_encoder", "forward"),
    ("image backbone", "image_encoder", "forward"),
    ("head: three readings, calibrated", "head", "readings"),
    ("answers: Prediction objects", "self", "_prediction"),
)


def _clocked(obj: object, name: str, stage: str, clock: dict[str, float]) -> ContextManager:
    """`obj.name` wrapped, for the duration, in a clock adding its seconds to `clock[stage]`
    (`unittest.mock.patch.object`: afterwards the object is as it was)."""
    inner = getattr(obj, name)

    def timed_call(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            clock[stage] += time.perf_counter() - start

    return patch.object(obj, name, timed_call)


def stage_ms(
    p: Predictor, memes: list[Image.Image], captions: list[str], batch_size: int
) -> dict[str, float]:
    """Milliseconds per meme of each of `STAGES` in one `predict_batch` over `memes`, of the
    rest (`other`), of the whole call (`total`), and of writing the answers as rows of a results
    CSV (what `memesent batch` adds; not in `total`)."""
    owners = {
        "predictor": predictor_module,
        "self": p,
        "image_encoder": p.image_encoder,
        "text_encoder": p.text_encoder,
        "head": p.head,
    }
    clock: dict[str, float] = defaultdict(float)
    with ExitStack() as clocks:
        for stage, owner, name in STAGES:
            clocks.enter_context(_clocked(owners[owner], name, stage, clock))
        start = time.perf_counter()
        answers = p.predict_batch(memes, captions, batch_size=batch_size)
        total = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        results = CsvResults(Path(tmp) / "results.csv", "speed")
        start = time.perf_counter()
        rows = [
            result_row(Prepared(Job(f"{i}.jpg", None), None, c), a, "speed")
            for i, (c, a) in enumerate(zip(captions, answers, strict=True))
        ]
        results.write(rows)
        results.close()
        written = time.perf_counter() - start
    out = {stage: clock[stage] for stage, _, _ in STAGES}
    out["other"] = total - sum(out.values())
    out["total"] = total
    out["results: CSV rows written"] = written
    return {stage: 1000 * seconds / len(memes) for stage, seconds in out.items()}


STAGE_ROUNDS = 3  # stage profiles of each pipeline, in turns; each stage's median is kept


def writeup_predictor() -> Predictor:
    """bert-base-uncased + resnet18 architectures (random weights) under the same kind of head."""
    text, image = TEXT_SPECS["bert-base-uncased"], IMAGE_SPECS["resnet18"]
    config = ModelConfig(
        text=text, image=image, fusion=FusionConfig(text_dim=text.dim, image_dim=image.dim)
    )
    return Predictor(
        MemeHead(config).eval(),
        load_text_encoder(text.name, pretrained=False),
        load_image_encoder(image.name, pretrained=False),
    )


def run(n: int, batch_size: int, repeats: int, model: Path | None) -> dict:
    """All measures, in one process: the default pipeline alone first (load time, batch, explain,
    OCR, peak memory), then both pipelines side by side on the same inputs; batched throughput
    is the better of two runs for each."""
    meme = sample_meme()
    distinct = [sample_meme(seed=i) for i in range(8)]
    memes = [distinct[i % len(distinct)] for i in range(n)]
    captions = [CAPTION] * n
    start = time.perf_counter()
    default = Predictor.load(model)
    load_s = time.perf_counter() - start
    throughput(default, memes[:batch_size], captions[:batch_size], batch_size)  # warm-up
    batch_default = [throughput(default, memes, captions, batch_size)]
    explain = timed(lambda: default.explain(meme, CAPTION), max(5, repeats // 4), warmup=1)
    rss = peak_rss_mb()
    overlay = overlay_ms(default.explain(meme, CAPTION).overlay, repeats)  # imports gradio
    ocr = ocr_ms(meme, max(5, repeats // 4))

    writeup = writeup_predictor()
    throughput(writeup, memes[:batch_size], captions[:batch_size], batch_size)  # warm-up
    batch_writeup = [throughput(writeup, memes, captions, batch_size)]
    batch_default.append(throughput(default, memes, captions, batch_size))
    batch_writeup.append(throughput(writeup, memes, captions, batch_size))
    single = alternating(
        {
            "default": lambda: default.predict(meme, CAPTION),
            "writeup": lambda: writeup.predict(meme, CAPTION),
        },
        repeats,
    )
    stages: dict[str, list[dict[str, float]]] = {"default": [], "writeup": []}
    for _ in range(STAGE_ROUNDS):
        stages["default"].append(stage_ms(default, memes, captions, batch_size))
        stages["writeup"].append(stage_ms(writeup, memes, captions, batch_size))
    d, w = single["default"], single["writeup"]
    t_default, t_writeup = max(batch_default), max(batch_writeup)
    return {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}",
        "memes_batched": n,
        "batch_size": batch_size,
        "load_s": load_s,
        "predict_ms_median": 1000 * statistics.median(d),
        "predict_ms_p95": 1000 * p95(d),
        "throughput_default": t_default,
        "explain_ms_median": 1000 * statistics.median(explain),
        "ocr_ms_median": ocr,
        "overlay_jpeg_ms_median": overlay["jpeg"],
        "overlay_webp_ms_median": overlay["webp"],
        "peak_rss_mb": rss,
        "writeup_predict_ms_median": 1000 * statistics.median(w),
        "writeup_predict_ms_p95": 1000 * p95(w),
        "throughput_writeup": t_writeup,
        "speedup_single": statistics.median(w) / statistics.median(d),
        "speedup_batch": t_default / t_writeup,
        "stage_rounds": STAGE_ROUNDS,
        "stages_ms": {
            name: {stage: statistics.median(r[stage] for r in rounds) for stage in rounds[0]}
            for name, rounds in stages.items()
        },
    }


def overlay_ms(overlay: Image.Image, repeats: int) -> dict[str, float]:
    """Median milliseconds of encoding `overlay` for the page the way Gradio does, as JPEG (the
    app's choice) and as WebP (Gradio's default), in turns."""
    from gradio.processing_utils import encode_pil_to_bytes

    times = alternating(
        {fmt: lambda fmt=fmt: encode_pil_to_bytes(overlay, fmt) for fmt in ("jpeg", "webp")},
        repeats,
    )
    return {fmt: 1000 * statistics.median(xs) for fmt, xs in times.items()}


def ocr_ms(meme: Image.Image, repeats: int, engine: str = DEFAULT_ENGINE) -> float | str:
    """Median milliseconds of `extract_caption` with `engine` on `meme`, or why it was not timed."""
    from memesent.ocr import EngineMissingError, OCRError, extract_caption

    try:

        def read() -> object:
            return extract_caption(meme, engine=engine)

        return 1000 * statistics.median(timed(read, repeats, warmup=1))
    except EngineMissingError:
        return f"n/a: {engine} is not installed"
    except OCRError as err:
        return f"n/a: OCR failed ({err})"


def table(r: dict) -> str:
    ocr = r["ocr_ms_median"]
    ocr = ocr if isinstance(ocr, str) else f"{ocr:.0f} ms"
    rows = [
        (
            "predict, one meme: median / p95",
            f"{r['predict_ms_median']:.0f} / {r['predict_ms_p95']:.0f} ms",
            f"{r['writeup_predict_ms_median']:.0f} / {r['writeup_predict_ms_p95']:.0f} ms",
            f"{r['speedup_single']:.1f}x",
        ),
        (
            f"batched scoring ({r['memes_batched']} memes, batch {r['batch_size']})",
            f"{r['throughput_default']:.1f} memes/s",
            f"{r['throughput_writeup']:.1f} memes/s",
            f"{r['speedup_batch']:.1f}x",
        ),
        ("explain, one meme: median", f"{r['explain_ms_median']:.0f} ms", "", ""),
        ("OCR, one meme: median", ocr, "", ""),
        (
            "heat map encoded for the page (500x500): JPEG / WebP, median",
            f"{r['overlay_jpeg_ms_median']:.1f} / {r['overlay_webp_ms_median']:.1f} ms",
            "",
            "",
        ),
        ("model load", f"{r['load_s']:.1f} s", "", ""),
        ("peak memory (loaded, batch scored, explained)", f"{r['peak_rss_mb']:.0f} MB", "", ""),
    ]
    lines = [
        "| measure | default (MiniLM + EfficientNet-Lite0) | write-up (BERT-base + ResNet18) "
        "| write-up time / default time |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + f"\n\n{stages_table(r)}\n\nMachine: {r['machine']}."


def stages_table(r: dict) -> str:
    """Where a batch's time goes, per meme, in both pipelines (`stage_ms`)."""
    d, w = r["stages_ms"]["default"], r["stages_ms"]["writeup"]
    lines = [
        f"Where the batched run's time goes (`predict_batch` on {r['memes_batched']} memes, "
        f"batch {r['batch_size']}; medians of {r['stage_rounds']} runs of each, in turns):",
        "",
        "| stage | default, ms a meme | share of its time | write-up, ms a meme "
        "| write-up / default |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for stage in d:
        share = "" if stage.startswith("results") else f"{d[stage] / d['total']:.0%}"
        ratio = f"{w[stage] / d[stage]:.1f}x" if d[stage] > 0.05 else ""
        lines.append(f"| {stage} | {d[stage]:.2f} | {share} | {w[stage]:.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, default=256, help="memes scored in the batched run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=30, help="timed single-meme calls")
    p.add_argument("--model", type=Path, default=None, help="model folder (default: shipped)")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    return measured(lambda: run(a.n, a.batch_size, a.repeats, a.model), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
