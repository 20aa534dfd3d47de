"""Checkpoint folders, Hugging Face style: `config.json` + `model.safetensors` (never pickle).

The folder's file names, the shipped model's place (`DEFAULT_MODEL_DIR`) and `CheckpointError`
live in `memesent.model_files`, which loads no torch; they are re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .backbones import ImageSpec, TextSpec
from .labels import LABELS
from .model import MemeHead, ModelConfig
from .model_files import CONFIG_FILE, DEFAULT_MODEL_DIR, WEIGHTS_FILE, CheckpointError

FORMAT = "memesent-head/3"  # 2: calibration and base rates; 3: readings, tuned text encoder
ADAPTER_PREFIX = "text_adapter."  # keys of the text encoder's adapter weights in the weights file

__all__ = [
    "DEFAULT_MODEL_DIR",
    "CheckpointError",
    "load_checkpoint",
    "load_model_weights",
    "read_config",
    "save_checkpoint",
]


def save_checkpoint(
    head: MemeHead, out_dir: str | Path, text_adapter: dict[str, torch.Tensor] | None = None
) -> Path:
    """Write `head`, its config and the text encoder's adapter weights (when its config names
    a tuning) into `out_dir` (created if needed)."""
    if head.prior_log_weights is not None:
        raise ValueError(
            "a head shifted to label shares is for scoring only: save the head it came from"
        )
    if (text_adapter is None) != (head.config.text_tuning is None):
        raise ValueError("a head of a tuned text encoder is saved with its adapter, and only then")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, **head.config.to_dict()}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    for k, v in (text_adapter or {}).items():
        state[ADAPTER_PREFIX + k] = v.detach().contiguous().cpu()
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": FORMAT})
    return out


def read_config(model_dir: str | Path) -> ModelConfig:
    """The `ModelConfig` recorded in a checkpoint folder."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{model_dir} is not a memesent model folder: {CONFIG_FILE} is missing"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not a valid memesent config: {err}") from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        hint = (
            " (written before models read memes three ways and tuned their text encoder: "
            "retrain it with python -m train)"
            if found in ("memesent-head/1", "memesent-head/2")
            else ""
        )
        raise CheckpointError(f"{path} has format {found!r}; this memesent reads {FORMAT!r}{hint}")
    if tuple(raw.get("labels", ())) != LABELS:
        raise CheckpointError(
            f"{model_dir} was trained for labels {raw.get('labels')}, "
            f"but this memesent predicts {list(LABELS)}"
        )
    try:
        return ModelConfig.from_dict(raw)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} is not a valid memesent config: {err}") from err


def load_checkpoint(model_dir: str | Path = DEFAULT_MODEL_DIR) -> MemeHead:
    """Rebuild the head stored in `model_dir`, weights included, in eval mode."""
    head, _ = load_model_weights(model_dir)
    return head


def load_model_weights(
    model_dir: str | Path = DEFAULT_MODEL_DIR,
) -> tuple[MemeHead, dict[str, torch.Tensor] | None]:
    """The head stored in `model_dir` (eval mode) and its text encoder's adapter weights (None
    when the text encoder was not tuned)."""
    config = read_config(model_dir)
    weights = Path(model_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{model_dir} has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights} is damaged or not a safetensors file: {err}") from err
    adapter = {
        k.removeprefix(ADAPTER_PREFIX): state.pop(k)
        for k in [k for k in state if k.startswith(ADAPTER_PREFIX)]
    }
    if bool(adapter) != (config.text_tuning is not None):
        raise CheckpointError(
            f"{weights} does not match its {CONFIG_FILE}: the config "
            f"{'names' if config.text_tuning else 'names no'} text-encoder tuning, the weights "
            f"{'hold' if adapter else 'hold no'} adapter"
        )
    head = MemeHead(config)
    try:
        head.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{weights} does not match its {CONFIG_FILE}: {err}") from err
    return head.eval(), adapter or None


def check_backbones(config: ModelConfig, text: TextSpec, image: ImageSpec) -> None:
    """Refuse to run a head on top of backbones or preprocessing other than its own, or whose
    fusion was built for other feature sizes than its backbones give."""
    sizes = (config.fusion.text_dim, config.fusion.image_dim)
    if sizes != (config.text.dim, config.image.dim):
        raise CheckpointError(
            f"this model's fusion takes {sizes[0]}-d text and {sizes[1]}-d image features, but "
            f"its backbones give {config.text.dim} and {config.image.dim}"
        )
    for kind, recorded, given in (("text", config.text, text), ("image", config.image, image)):
        if recorded != given:
            raise CheckpointError(
                f"this model was trained on the {kind} backbone {recorded.name} "
                f"({recorded.to_dict()}), not on {given.name} ({given.to_dict()}); "
                f"run it with the memesent version that trained it, or retrain it with this one"
            )
