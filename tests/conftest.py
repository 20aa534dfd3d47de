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
def predictor():
    """The shipped model, as `Predictor.load()` gives it (its tuned text encoder merged in)."""
    from memesent import Predictor

    return Predictor.load()


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The shipped model's folder."""
    from memesent.model_files import DEFAULT_MODEL_DIR

    return Path(DEFAULT_MODEL_DIR)
