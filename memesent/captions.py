"""Captions as the model reads them."""

from __future__ import annotations


def clean_caption(caption: str | None) -> str:
    """The caption as the model reads it: surrounding white space removed, None as ""."""
    if caption is None:
        return ""
    if not isinstance(caption, str):
        raise TypeError(f"a caption must be a string, not {type(caption).__name__}")
    return caption.strip()
