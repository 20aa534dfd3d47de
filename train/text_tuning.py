"""Teaching the text encoder sentiment: LoRA adapters trained on every source with words.

The encoder (with `memesent.tuning` adapters) and a linear layer over the five levels learn
from captions, sentences and tweets together, each batch drawn from the sources in proportion
to their weights, by the marginal likelihood of each label's allowed levels (`train.losses`).
AdamW with a linear warm-up and decay; every `eval_every` steps the marginal log-loss on the
validation memes' captions is measured and the best adapters are kept. The linear layer is
thrown away: the fusion head learns on the tuned encoder's features afterwards.

The result is cached by a digest of everything that shaped it (backbone, settings, seed, every
training text with its label), so a second `python -m train` with other head settings reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from memesent.backbones import TextEncoder
from memesent.labels import LABELS
from memesent.tuning import LoraSpec, add_lora, lora_state

from .features import cached_or_trained
from .losses import marginal_nll
from .sources import SOURCES, Examples

log = logging.getLogger("train")
TUNING_VERSION = 1


@dataclass(frozen=True)
class TuningSettings:
    """How the text encoder is tuned (see the module): `steps` of `batch_size` texts, drawn
    from the sources by their tuning weights (`Source.tuning_weight`)."""

    steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 64
    eval_every: int = 100
    lora: LoraSpec = field(default_factory=LoraSpec)

    def to_dict(self) -> dict:
        """The settings that shape the adapters (the weights are recorded with the data)."""
        d = asdict(self)
        d["lora"] = self.lora.to_dict()
        return d


@dataclass
class TextSet:
    """Texts of one source with their allowed levels (n, 5), and its share of every batch."""

    source: str
    texts: list[str]
    allowed: np.ndarray
    weight: float


def text_sets(sets: list[Examples], part: str) -> list[TextSet]:
    """The labelled captions, sentences and tweets of `part` of each source, each at its
    source's tuning weight (validation sets are named `SOURCE-val`)."""
    out = []
    for ex in sets:
        idx = [i for i in ex.part(part) if ex.captions[i] and not ex.allowed[i].all()]
        if idx:
            texts = [ex.captions[i] or "" for i in idx]
            name = ex.source if part == "train" else f"{ex.source}-{part}"
            out.append(TextSet(name, texts, ex.allowed[idx], SOURCES[ex.source].tuning_weight))
    return out


@dataclass
class TuningResult:
    """The adapter weights kept, the validation log-loss every `eval_every` steps, and how long
    the tuning took when it ran (kept with the cached adapters; 0: cached before it was kept)."""

    state: dict[str, torch.Tensor]
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    seconds: float = 0.0


def level_logits(
    encoder: TextEncoder, out: torch.nn.Module, texts: list[str], max_length: int
) -> torch.Tensor:
    """The tuning's five-level logits of `texts` (each cut at `max_length` tokens)."""
    enc = encoder.tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return out(encoder(enc["input_ids"], enc["attention_mask"]))


@torch.no_grad()
def validation_log_loss(
    encoder: TextEncoder, out: torch.nn.Module, val: TextSet, max_length: int
) -> float:
    """Marginal log-loss of `val` (in batches of 128, the encoder in eval mode): the number
    tuning keeps its best step by."""
    encoder.eval()
    losses = [
        marginal_nll(
            level_logits(encoder, out, val.texts[i : i + 128], max_length),
            torch.from_numpy(val.allowed[i : i + 128]),
        )
        for i in range(0, len(val.texts), 128)
    ]
    return float(torch.cat(losses).mean())


def _digest(encoder: TextEncoder, sets: list[TextSet], val: TextSet, settings, seed) -> str:
    h = hashlib.sha256(
        json.dumps(
            {
                "version": TUNING_VERSION,
                "spec": encoder.spec.to_dict(),
                "settings": settings.to_dict(),
                "seed": seed,
                "weights": {s.source: s.weight for s in sets},
            },
            sort_keys=True,
        ).encode()
    )
    for s in [*sets, val]:
        h.update(s.source.encode())
        for text, row in zip(s.texts, s.allowed, strict=True):
            h.update(text.encode("utf-8", "surrogatepass") + b"\0" + row.tobytes())
    return h.hexdigest()[:20]


def tune(
    encoder: TextEncoder,
    sets: list[TextSet],
    val: TextSet,
    settings: TuningSettings,
    seed: int,
    cache: Path,
) -> TuningResult:
    """Adapters for `encoder` trained on `sets`, chosen on `val` (see the module), from the
    cache in `cache` when this exact run was done before. `encoder` itself is left as it was."""
    path = Path(cache) / f"lora-{encoder.spec.name}-{_digest(encoder, sets, val, settings, seed)}"

    def train() -> tuple[dict[str, torch.Tensor], dict]:
        r = _train(encoder, sets, val, settings, seed)
        return r.state, {"history": r.history, "best_step": r.best_step, "seconds": r.seconds}

    state, info = cached_or_trained(path, "text encoder tuning", train)
    return TuningResult(state, info["history"], info["best_step"], info.get("seconds", 0.0))


def _train(
    base: TextEncoder, sets: list[TextSet], val: TextSet, settings: TuningSettings, seed: int
) -> TuningResult:
    import copy

    from transformers import get_linear_schedule_with_warmup

    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = copy.deepcopy(base)
    add_lora(encoder, settings.lora)
    out = torch.nn.Linear(encoder.dim, len(LABELS))
    adapters = [p for p in encoder.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": adapters, "lr": settings.lr},
            {"params": out.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    schedule = get_linear_schedule_with_warmup(
        opt, int(settings.warmup * settings.steps), settings.steps
    )
    shares = np.array([s.weight for s in sets], dtype=np.float64)
    shares /= shares.sum()

    def logits(texts: list[str]) -> torch.Tensor:
        return level_logits(encoder, out, texts, settings.max_length)

    def val_loss() -> float:
        score = validation_log_loss(encoder, out, val, settings.max_length)
        encoder.train()
        return score

    result = TuningResult(state=lora_state(encoder))
    best = val_loss()
    result.history.append({"step": 0, "val_log_loss": best})
    encoder.train()
    running = []
    steps = range(1, settings.steps + 1)
    for step in tqdm(steps, desc="tuning the text encoder", unit="step", disable=None):
        counts = rng.multinomial(settings.batch_size, shares)
        texts, allowed = [], []
        for s, count in zip(sets, counts, strict=True):
            idx = rng.integers(0, len(s.texts), count)
            texts += [s.texts[i] for i in idx]
            allowed.append(s.allowed[idx])
        loss = marginal_nll(logits(texts), torch.from_numpy(np.concatenate(allowed))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        running.append(loss.item())
        if step % settings.eval_every == 0 or step == settings.steps:
            score = val_loss()
            result.history.append(
                {"step": step, "train_loss": float(np.mean(running)), "val_log_loss": score}
            )
            running = []
            log.info("tuning step %d: validation log-loss %.4f", step, score)
            if score < best:
                best, result.best_step, result.state = score, step, lora_state(encoder)
    result.seconds = time.perf_counter() - start
    return result
