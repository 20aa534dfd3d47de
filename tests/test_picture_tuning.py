"""The picture side tuned on pictures with a side (`experiments.picture_tuning`): on a toy set where
the picture decides the side (a red square positive, a blue one negative, on noise), tuning the
top of the image backbone makes its pooled features read the side better than the frozen
backbone's; the tuned blocks load back into the backbone; a second run reads the cache."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import make_sst5
from PIL import Image, ImageDraw

from experiments import picture_tuning
from experiments.picture_tuning import (
    PictureTuningSettings,
    backbone_parts,
    block_inputs,
    picture_sets,
    pooled,
    reading_gains,
    tune,
    tuned_encoder,
)
from memesent.backbones import load_image_encoder
from memesent.images import load_image
from train.sources import load_source

pytestmark = pytest.mark.slow  # tuning the picture side

SETTINGS = PictureTuningSettings(epochs=4, batch_size=16, lr=1e-4)
COLOURS = {"positive": (220, 30, 30), "negative": (30, 30, 220)}


def make_squares(root: Path, per_side: int = 60, size: int = 48, seed: int = 0) -> Path:
    """Twitter I's layout: noise with a red (positive) or blue (negative) square somewhere,
    every photo agreed on by all five workers."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for side, colour in COLOURS.items():
        for i in range(per_side):
            img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            s = int(rng.integers(size // 8, size // 4))
            x, y = rng.integers(0, size - s, 2)
            ImageDraw.Draw(img).rectangle((x, y, x + s, y + s), fill=colour)
            img.save(root / "images" / f"{side}_{i}.png")
            rows.append({"image_name": f"{side}_{i}.png", "sentiment": side, "agreement": "5/5"})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def toy(tmp_path_factory, image_encoder):
    """The toy set's parts, the backbone at 64 px (less work; the pictures are small), its
    tuning."""
    encoder = copy.copy(image_encoder)  # the session's encoder keeps its own spec
    encoder.spec = replace(encoder.spec, size=64, source_size=64)
    tmp = tmp_path_factory.mktemp("picture-tuning")
    sets = [load_source("twitter-images", make_squares(tmp / "squares"))]
    train = picture_sets(sets, "train")
    val, calib = (picture_sets(sets, part)[0] for part in ("val", "calib"))
    result = tune(encoder, train, val, SETTINGS, seed=0, cache=tmp / "cache")
    return encoder, train, val, calib, tmp / "cache", result


def test_tuning_teaches_the_top_blocks_which_colour_is_positive(toy):
    encoder, train, _, calib, cache, result = toy
    history = result.history
    assert [h["epoch"] for h in history] == list(range(SETTINGS.epochs + 1))
    assert result.best_epoch > 0  # epoch 0 is the frozen blocks under a probe
    assert history[result.best_epoch]["val_log_loss"] < 0.5 * history[0]["val_log_loss"]
    readings = reading_gains(encoder, result.state, SETTINGS, train, {"calib": calib}, cache)
    held_out = readings["calib"]  # chose nothing: neither the epoch nor a probe
    assert held_out["after"] >= 0.95
    assert held_out["log_loss"]["tuned"] < held_out["log_loss"]["frozen"]


def test_tuned_blocks_load_into_the_backbone_and_compute_what_tuning_computed(toy):
    encoder, _, _, calib, cache, result = toy
    names = {n for n, _ in encoder.net.named_parameters()}
    assert set(result.state) <= names
    assert {n.split(".")[0] for n in result.state} == {"blocks", "conv_head"}
    pretrained = dict(encoder.net.named_parameters())
    assert all(not torch.equal(v, pretrained[n]) for n, v in result.state.items())
    tuned = tuned_encoder(encoder, result.state)
    pictures = [load_image(p) for p in calib.images[:4]]
    _, tuned_top = backbone_parts(tuned, SETTINGS.blocks)
    cached = pooled(tuned_top, block_inputs(encoder, SETTINGS.blocks, calib.images[:4], cache))
    assert torch.allclose(tuned.encode(pictures), cached, atol=1e-4)
    assert not torch.allclose(encoder.encode(pictures), cached, atol=1e-2)  # left as it was
    assert all(p.requires_grad is False for p in encoder.net.parameters())


def test_a_second_run_takes_the_tuning_from_the_cache(toy, monkeypatch):
    encoder, train, val, _, cache, result = toy

    def no_training(*args, **kwargs):
        raise AssertionError("the picture side was tuned again instead of read from the cache")

    monkeypatch.setattr("experiments.picture_tuning._train", no_training)
    again = tune(encoder, train, val, SETTINGS, seed=0, cache=cache)
    assert again.best_epoch == result.best_epoch and again.history == result.history
    assert all(torch.equal(again.state[k], result.state[k]) for k in result.state)
    flipped = replace(train[0], positive=~train[0].positive)
    with pytest.raises(AssertionError, match="tuned again"):
        tune(encoder, [flipped], val, SETTINGS, seed=0, cache=cache)  # other sides: not cached


def test_the_command_reports_frozen_against_tuned_with_intervals(toy, tmp_path, monkeypatch):
    encoder, train, *_, cache, _ = toy
    monkeypatch.setattr(picture_tuning, "load_image_encoder", lambda name: encoder)
    root = train[0].images[0].parents[1]
    out = tmp_path / "result.json"
    args = ["--data", f"twitter-images={root}", "--cache", str(cache), "--epochs", "1"]
    assert picture_tuning.main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["chosen_on"] == "twitter-images" and result["settings"]["epochs"] == 1
    for part in ("val", "calib"):
        r = result["readings"][part]
        assert {"before", "after", "gain", "ci", "log_loss", "n"} <= set(r)
        assert r["gain"] == pytest.approx(r["after"] - r["before"])
    assert set(result["seconds"]) == {"caching", "tuning", "readings"}
    assert "| validation (chose the epoch) |" in picture_tuning.table(result)


def test_the_command_refuses_data_without_pictures_with_a_side(tmp_path, capsys):
    sst5 = make_sst5(tmp_path / "sst5")
    assert picture_tuning.main(["--data", f"sst5={sst5}", "--cache", str(tmp_path)]) == 2
    assert "validation pictures with a side" in capsys.readouterr().err


def test_only_efficientnet_blocks_are_cut():
    with pytest.raises(ValueError, match="EfficientNet"):
        backbone_parts(load_image_encoder("resnet18", pretrained=False), 2)
