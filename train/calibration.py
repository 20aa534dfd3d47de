"""Fitting a head's calibration on memes that neither trained it nor chose its epoch.

`MemeHead.calibrate` applies `scale * log p + bias`, renormalised. `vector` fits the scale (an
inverse temperature) and a bias per level; `temperature` only the scale; both minimise the
negative log-likelihood (Guo et al., 2017). A head whose scores carry no information gets a
scale near 0 and, with `vector`, biases that reproduce the calibration memes' base rates.

A weak Gaussian prior pulls the scale toward 1 (a penalty of (scale - 1)² / 2n, n memes): on a
small calibration part where the head happens to be always right, the likelihood alone would
drive the scale toward infinity and the probabilities to 0 and 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from memesent.model import CALIBRATIONS


def fit_calibration(
    logp: torch.Tensor, labels: np.ndarray, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale (1,), bias (levels,)) that minimise the log-loss of `labels` under
    `scale * logp + bias`; `logp` are the head's uncalibrated log-probabilities, (n, levels)."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; choose one of {CALIBRATIONS}")
    levels = logp.shape[1]
    if method == "none":
        return torch.ones(1), torch.zeros(levels)
    x = logp.detach().double()
    y = torch.as_tensor(labels, dtype=torch.long)
    # scale = softplus(raw) keeps it positive; raw starts where the scale is 1
    raw = torch.full((1,), math.log(math.e - 1), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(levels, dtype=torch.float64, requires_grad=method == "vector")
    params = [raw, bias] if method == "vector" else [raw]
    opt = torch.optim.LBFGS(params, lr=0.5, max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        scale = F.softplus(raw)
        value = F.cross_entropy(scale * x + bias, y) + (scale - 1).pow(2).sum() / (2 * len(y))
        value.backward()
        return value

    opt.step(loss)
    scale = F.softplus(raw).detach()
    return scale.float(), (bias.detach() - bias.detach().mean()).float()
