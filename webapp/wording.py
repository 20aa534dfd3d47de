"""What the page says about the model it serves, taken from the model folder: a summary with
how far to trust it (worded by `memesent.quality` from `metrics.json`) and the model card."""

from __future__ import annotations

from pathlib import Path

from memesent.checkpoint import DEFAULT_MODEL_DIR
from memesent.labels import LABELS
from memesent.quality import METRICS_FILE, load_quality, training_examples

MODEL_CARD_FILE = "MODEL_CARD.md"


def model_summary(model_dir: str | Path | None = None) -> str:
    """One paragraph (Markdown) on what the model is and how far to trust it, every claim about
    this model taken from its folder's own `metrics.json`."""
    folder = Path(model_dir or DEFAULT_MODEL_DIR)
    intro = (
        "memesent guesses the overall sentiment of a meme from its picture and its caption, on "
        f"five levels ({', '.join(LABELS)}), reads the words alone and the picture alone too, "
        "and shows why."
    )
    quality = load_quality(folder)
    if quality is None:
        return (
            f"{intro} This model has no held-out measurements (`{METRICS_FILE}` in its folder), "
            "so nothing is known about how far to trust its answers."
        )
    return (
        f"{intro} {_training_data(folder)}\n\n**How far to trust it.** "
        f"{quality.trust_sentence()} See the [model card](#model-card) for its training and "
        "limits."
    )


def _training_data(folder: Path) -> str:
    examples = training_examples(folder)
    if not examples:
        return ""
    parts = ", ".join(f"{n:,} {name}" for name, n in examples.items())
    return f"This model learnt from {sum(examples.values()):,} labelled examples ({parts})."


def model_card(model_dir: str | Path | None = None) -> str:
    """The model folder's `MODEL_CARD.md`, or a line saying it is not written yet."""
    path = Path(model_dir or DEFAULT_MODEL_DIR) / MODEL_CARD_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return f"This model has no model card yet (`{MODEL_CARD_FILE}` in its folder)."
