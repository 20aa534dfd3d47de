"""The likelihood of a label that allows a set of levels.

A label coarser than five levels (a tweet's "positive", a photo's "negative", a meme that is
"moderately" happy) says only that the level is one of a set. Its likelihood is the probability
of the set, the sum over its levels (the marginal likelihood), so the model is free to split
that mass as the finer-grained data sets teach it. For a label allowing one level this is
exactly the cross-entropy; a label allowing every level costs nothing and teaches nothing.
"""

from __future__ import annotations

import torch


def marginal_nll(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """−log P(level in the allowed set) per example: `logits` (n, levels) before the softmax
    (or log-probabilities), `allowed` (n, levels) bool."""
    inside = logits.masked_fill(~allowed, float("-inf")).logsumexp(-1)
    return logits.logsumexp(-1) - inside
