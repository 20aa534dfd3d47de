"""Checkpoints: safetensors round trip, and refusal to load on top of other backbones or labels."""

from __future__ import annotations

import json

import pytest
import torch

import experiments  # noqa: F401 (registers the interaction fusion)
from memesent import Predictor
from memesent.backbones import IMAGE_SPECS, TEXT_SPECS
from memesent.checkpoint import CheckpointError, check_backbones, load_checkpoint, save_checkpoint
from memesent.fusion import FusionConfig
from memesent.model import MemeHead, ModelConfig


@pytest.mark.parametrize("kind", ["concat", "gated", "interact"])
def test_round_trip_gives_identical_outputs(tmp_path, kind):
    torch.manual_seed(0)
    rates = (0.1, 0.2, 0.3, 0.25, 0.15)
    config = ModelConfig(fusion=FusionConfig(kind=kind), members=3, calibration="valence")
    config.base_rates = rates
    head = MemeHead(config).eval()
    head.calibration_scale.copy_(torch.tensor([0.3, 0.6, 0.9]))
    head.calibration_bias[2] = torch.tensor([0.5, 0.2, 0.0, -0.1, 0.3])
    head.set_feature_stats(torch.randn(50, 384), torch.randn(50, 1280))
    save_checkpoint(head, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    loaded = load_checkpoint(tmp_path)
    t, i = torch.randn(4, 384), torch.randn(4, 1280)
    with torch.no_grad():
        assert torch.equal(head(t, i), loaded(t, i))
        for reading, logp in head.readings(t, i).items():
            assert torch.equal(logp, loaded.readings(t, i)[reading]), reading
    assert loaded.config.fusion.kind == kind and loaded.config.members == 3
    assert loaded.config.calibration == "valence" and loaded.config.base_rates == rates


def test_heads_follow_the_backbone_sizes():
    cfg = ModelConfig(
        text=TEXT_SPECS["bert-base-uncased"],
        image=IMAGE_SPECS["resnet18"],
        fusion=FusionConfig(text_dim=768, image_dim=512),
    )
    out = MemeHead(cfg)(torch.randn(2, 768), torch.randn(2, 512))
    assert out.shape == (2, 5)
    assert torch.allclose(out.exp().sum(-1), torch.ones(2, dtype=out.dtype))


def test_other_backbones_are_refused(tmp_path, text_encoder, image_encoder):
    save_checkpoint(MemeHead(ModelConfig()), tmp_path)
    config = load_checkpoint(tmp_path).config
    with pytest.raises(CheckpointError, match=r"efficientnet-lite0.*not on resnet18"):
        check_backbones(config, text_encoder.spec, IMAGE_SPECS["resnet18"])
    with pytest.raises(CheckpointError, match=r"all-MiniLM-L6-v2.*not on bert-base-uncased"):
        check_backbones(config, TEXT_SPECS["bert-base-uncased"], image_encoder.spec)


def test_changed_preprocessing_is_refused(tmp_path, text_encoder, image_encoder):
    save_checkpoint(MemeHead(ModelConfig()), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["image_backbone"]["size"] = 224  # the shipped pipeline reads 256
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="image backbone"):
        Predictor(load_checkpoint(tmp_path), text_encoder, image_encoder)


def test_other_labels_are_refused(tmp_path):
    save_checkpoint(MemeHead(ModelConfig()), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["labels"] = ["negative", "neutral", "positive", "a", "b"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"trained for labels.*predicts"):
        load_checkpoint(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a memesent model folder"):
        load_checkpoint(tmp_path / "nope")


def test_other_format_versions_and_damaged_files_are_clear_errors(tmp_path):
    save_checkpoint(MemeHead(ModelConfig()), tmp_path)
    weights = tmp_path / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="damaged or not a safetensors file"):
        load_checkpoint(tmp_path)
    weights.write_bytes(good)
    config = json.loads((tmp_path / "config.json").read_text())
    newer = {"format": "memesent-head/99", "labels": config["labels"]}
    (tmp_path / "config.json").write_text(json.dumps(newer))
    with pytest.raises(CheckpointError, match="has format 'memesent-head/99'"):
        load_checkpoint(tmp_path)
    for old in ("memesent-head/1", "memesent-head/2"):
        (tmp_path / "config.json").write_text(json.dumps({**config, "format": old}))
        with pytest.raises(CheckpointError, match=r"before models read memes three ways.*retrain"):
            load_checkpoint(tmp_path)
    rates = dict(config["base_rates"], neutral=0.9)
    (tmp_path / "config.json").write_text(json.dumps({**config, "base_rates": rates}))
    with pytest.raises(CheckpointError, match=r"base rates .* summing to 1"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "calibration": "platt"}))
    with pytest.raises(CheckpointError, match="unknown calibration 'platt'"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "members": "two"}))
    with pytest.raises(CheckpointError, match="not a valid memesent config"):
        load_checkpoint(tmp_path)


def test_fusion_sizes_must_match_the_backbones(text_encoder, image_encoder):
    head = MemeHead(ModelConfig(text=TEXT_SPECS["bert-base-uncased"]))  # fusion still 384-d text
    with pytest.raises(CheckpointError, match=r"384-d text.*give 768"):
        check_backbones(head.config, TEXT_SPECS["bert-base-uncased"], image_encoder.spec)
