"""The text encoder that learns sentiment: LoRA adapters trained by `train.text_tuning`, kept in
a model folder, merged back into the encoder when it loads."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import SENTENCES

from memesent import Predictor
from memesent.backbones import load_text_encoder
from memesent.checkpoint import CheckpointError, save_checkpoint
from memesent.labels import LABELS, level_set
from memesent.model import MemeHead, ModelConfig
from memesent.tuning import LoraSpec, adapter_digest, add_lora, merge_lora
from train.text_tuning import TextSet, TuningSettings, tune

pytestmark = pytest.mark.slow  # tuning the text encoder

SETTINGS = TuningSettings(steps=6, batch_size=8, lr=5e-3, eval_every=3, lora=LoraSpec(rank=4))


def _sets() -> tuple[list[TextSet], TextSet]:
    texts = [s for level in LABELS for s in SENTENCES[level]]
    allowed = np.array([level_set(level) for level in LABELS for _ in SENTENCES[level]])
    return [TextSet("sst5", texts, allowed, 1.0)], TextSet("val", texts[:4], allowed[:4], 0.0)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, text_encoder):
    sets, val = _sets()
    cache = tmp_path_factory.mktemp("tuning")
    return tune(text_encoder, sets, val, SETTINGS, seed=0, cache=cache), cache


def test_tuning_trains_only_adapters_and_leaves_the_encoder_it_was_given(tuned, text_encoder):
    result, _ = tuned
    assert result.state and all("lora_" in k for k in result.state)
    assert any(float(v.abs().sum()) > 0 for k, v in result.state.items() if "lora_B" in k)
    assert text_encoder.spec.tuning == "" and not any(
        "lora" in n for n, _ in text_encoder.named_parameters()
    )
    assert [h["step"] for h in result.history] == [0, 3, 6]


def test_merged_adapters_compute_what_the_adapted_encoder_computes(tuned, text_encoder):
    result, _ = tuned
    captions = ["i love this so much", "worst day of my life"]
    adapted = copy.deepcopy(text_encoder)
    add_lora(adapted, SETTINGS.lora)
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(adapted.model, result.state)
    adapted.eval()
    merged = load_text_encoder()
    merge_lora(merged, SETTINGS.lora, result.state)
    with torch.inference_mode():
        want = adapted(**adapted.tokenize(captions))
    got, frozen = merged.encode(captions), text_encoder.encode(captions)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, frozen, atol=1e-3)  # the adapters change the features
    assert merged.spec.tuning == adapter_digest(result.state) != ""


def test_a_tuned_model_folder_loads_its_adapters(tuned, tmp_path):
    result, _ = tuned
    merged = load_text_encoder()
    merge_lora(merged, SETTINGS.lora, result.state)
    config = ModelConfig(text=merged.spec, text_tuning=SETTINGS.lora, calibration="none")
    head = MemeHead(config).eval()
    save_checkpoint(head, tmp_path / "model", result.state)
    p = Predictor.load(tmp_path / "model")
    assert p.text_encoder.spec == merged.spec
    caption = "so happy and proud of my friends"
    assert torch.allclose(p.text_encoder.encode([caption]), merged.encode([caption]), atol=1e-6)
    assert p.predict(None, caption).readings["image"] is None

    with pytest.raises(ValueError, match="saved with its adapter"):
        save_checkpoint(head, tmp_path / "no-adapter")
    raw = json.loads((tmp_path / "model" / "config.json").read_text())
    plain = tmp_path / "plain"
    save_checkpoint(MemeHead(ModelConfig(calibration="none")), plain)
    (plain / "config.json").write_text(json.dumps(raw))  # says tuned, holds no adapter
    with pytest.raises(CheckpointError, match="the weights hold no adapter"):
        Predictor.load(plain)


def test_a_second_run_takes_the_tuning_from_the_cache(tuned, text_encoder, monkeypatch):
    result, cache = tuned

    def no_training(*args, **kwargs):
        raise AssertionError("the text encoder was tuned again instead of read from the cache")

    monkeypatch.setattr("train.text_tuning._train", no_training)
    sets, val = _sets()
    again = tune(text_encoder, sets, val, SETTINGS, seed=0, cache=cache)
    assert again.best_step == result.best_step
    assert all(torch.equal(again.state[k], result.state[k]) for k in result.state)
    other = [TextSet("sst5", sets[0].texts[:-1], sets[0].allowed[:-1], 1.0)]
    with pytest.raises(AssertionError, match="tuned again"):
        tune(text_encoder, other, val, SETTINGS, seed=0, cache=cache)  # other data: not cached
    assert Path(cache).is_dir()
