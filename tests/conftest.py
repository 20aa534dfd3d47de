"""Shared fixtures: real backbones (loaded once), the shipped model, where real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MEMOTION = SHARED_DATA / "memotion7k"
MULTIOFF = SHARED_DATA / "multioff-ocr"


def require(path: Path) -> Path:
    """Skip the calling test when a real data set is not beside the repository."""
    if not (path / "labels.csv").is_file():
        pytest.skip(f"real data not found at {path} (../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def text_encoder():
    from memesent.backbones import load_text_encoder

    return load_text_encoder()


@pytest.fixture(scope="session")
def image_encoder():
    from memesent.backbones import load_image_encoder

    return load_image_encoder()


@pytest.fixture(scope="session")
def predictor(text_encoder, image_encoder):
    from memesent import Predictor
    from memesent.checkpoint import load_checkpoint

    return Predictor(load_checkpoint(), text_encoder, image_encoder)


@pytest.fixture(scope="session")
def raw_predictor(text_encoder, image_encoder):
    """The shipped network without its calibration: the shipped model's calibration all but
    flattens its answers to the base rates, so tests of what flows through the network (a
    caption, a picture's frame) use the network's own probabilities."""
    from memesent import Predictor
    from memesent.checkpoint import load_checkpoint

    head = load_checkpoint()
    head.calibration_scale.fill_(1.0)
    head.calibration_bias.zero_()
    return Predictor(head, text_encoder, image_encoder)


@pytest.fixture(scope="session")
def raw_model(tmp_path_factory) -> Path:
    """The shipped network saved without its calibration, as a model folder whose answers move
    with the meme (the shipped calibration all but flattens them to the base rates)."""
    from memesent.checkpoint import load_checkpoint, save_checkpoint

    head = load_checkpoint()
    head.calibration_scale.fill_(1.0)
    head.calibration_bias.zero_()
    return save_checkpoint(head, tmp_path_factory.mktemp("raw-model"))
