"""A text encoder that has learnt sentiment: LoRA adapters (`peft`) on its linear layers.

Training adds low-rank adapters to every attention and feed-forward projection of the BERT
encoder (`add_lora`) and learns only those; a model folder stores just the adapters (`fp16` is
not needed: 0.7 M numbers, 2.7 MB). Loading merges them into the base weights (`merge_lora`),
so the tuned encoder is as fast as the pretrained one and everything downstream (scoring,
explanations, batch scoring, Ray) sees an ordinary encoder. `TextSpec.tuning` carries a digest
of the adapter weights, so features and heads of a tuned encoder never meet a frozen one's.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass, replace

import torch

from .backbones import TextEncoder

TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


@dataclass(frozen=True)
class LoraSpec:
    """The adapters' shape: rank, scaling (`alpha`), dropout while training, and the linear
    layers they sit on (module names as `peft` matches them: by their ending)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    targets: tuple[str, ...] = TARGETS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LoraSpec:
        return cls(**{**d, "targets": tuple(d["targets"])})

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.targets),
        )


def add_lora(encoder: TextEncoder, spec: LoraSpec) -> None:
    """Wrap `encoder`'s model with trainable adapters (the base weights stay frozen)."""
    from peft import get_peft_model

    for p in encoder.model.parameters():
        p.requires_grad_(False)
    encoder.model = get_peft_model(encoder.model, spec.peft_config())


def lora_state(encoder: TextEncoder) -> dict[str, torch.Tensor]:
    """The adapter weights of an encoder wrapped by `add_lora` (what a model folder keeps)."""
    from peft import get_peft_model_state_dict

    return {
        k: v.detach().clone().contiguous()
        for k, v in get_peft_model_state_dict(encoder.model).items()
    }


def adapter_digest(state: dict[str, torch.Tensor]) -> str:
    """A short digest of adapter weights: which tuning a feature or a head belongs to."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().contiguous().numpy().tobytes())
    return "lora-" + h.hexdigest()[:16]


def merge_lora(encoder: TextEncoder, spec: LoraSpec, state: dict[str, torch.Tensor]) -> None:
    """Load adapter weights into `encoder` and fold them into its base weights, in place;
    its spec then names the tuning (`TextSpec.tuning`)."""
    from peft import get_peft_model, set_peft_model_state_dict

    with warnings.catch_warnings():  # peft asks transformers about a setting it renamed
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(encoder.model, spec.peft_config())
    result = set_peft_model_state_dict(model, state)
    unexpected = getattr(result, "unexpected_keys", [])
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if unexpected or missing:
        raise ValueError(
            f"the adapter weights do not fit this text encoder (unexpected {unexpected[:3]}, "
            f"missing {missing[:3]})"
        )
    encoder.model = model.merge_and_unload().eval()
    for p in encoder.model.parameters():
        p.requires_grad_(False)
    encoder.spec = replace(encoder.spec, tuning=adapter_digest(state))
