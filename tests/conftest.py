"""Shared fixtures: real backbones (loaded once), the shipped model, where real data lives."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
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


@pytest.fixture
def memesent_cli(monkeypatch, capsys, predictor) -> Callable[..., subprocess.CompletedProcess]:
    """`memesent ARGS` run in this process (`memesent.cli.main`) as `helpers.run_memesent` runs
    it in a new one: the same parsing, worker processes, files, messages and exit status, without
    a new interpreter importing torch and loading the model for every command. The shipped
    model's folder answers with the session's loaded `predictor`; any other folder loads for
    real. What only a process of its own shows (Ctrl-C, what it imports, the shell's exit code)
    stays with the tests that start one."""
    from memesent import cli
    from memesent.model_files import DEFAULT_MODEL_DIR
    from memesent.predictor import Predictor

    load = Predictor.load
    shipped = Path(DEFAULT_MODEL_DIR).resolve()

    def loaded_once(cls, path=None):
        return predictor if Path(path or shipped).resolve() == shipped else load(path)

    monkeypatch.setattr(Predictor, "load", classmethod(loaded_once))

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as stop:  # argparse's usage errors
            code = stop.code if isinstance(stop.code, int) else 2
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["memesent", *args], code, out, err)

    return run
