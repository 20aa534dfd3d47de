"""A model folder's files and its version digest, without loading the model (no torch): what
batch scoring needs to tell which model wrote a results file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import MemesentError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# The shipped model: copied into the package when it is built (setup.py), so an installed
# memesent finds it; in a checkout it is read from the repository's assets/model/.
_PACKAGED_MODEL = Path(__file__).resolve().parent / "model"
_CHECKOUT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "model"
DEFAULT_MODEL_DIR = (
    _PACKAGED_MODEL if (_PACKAGED_MODEL / CONFIG_FILE).is_file() else _CHECKOUT_MODEL
)


class CheckpointError(MemesentError, ValueError):
    """A model folder is missing, malformed, or does not fit the backbones or labels asked for."""


def model_version(model_dir: str | Path) -> str:
    """A short digest of a model folder's config and weights: which model wrote an answer."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        path = Path(model_dir) / name
        if not path.is_file():
            raise CheckpointError(f"{model_dir} is not a memesent model folder: {name} is missing")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
