"""Fitting a reading's calibration on memes that neither trained the head nor chose its epoch.

`memesent.model.apply_calibration` defines the methods. All are fitted by maximum likelihood
of the labels' allowed levels (the marginal likelihood, `train.losses`), with L-BFGS (Guo et
al., 2017, for temperature and vector scaling; Platt, 1999, for the valence's log-odds). A head
whose scores carry no information gets a scale near 0: with `vector`, biases that reproduce the
calibration memes' base rates; with `valence`, their share of positive memes.

A weak Gaussian prior pulls the scale toward 1 (a penalty of (scale - 1)² / 2n, n memes): on a
small calibration part where the head happens to be always right, the likelihood alone would
drive the scale toward infinity and the probabilities to 0 and 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from memesent.model import CALIBRATIONS, apply_calibration

from .losses import marginal_nll


def fit_calibration(
    logp: torch.Tensor, allowed: np.ndarray, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale (), bias (levels,)) that maximise the likelihood of the `allowed` levels (n,
    levels) bool, or level indices (n,)) under `method`'s calibration of `logp`, the head's
    uncalibrated log-probabilities (n, levels)."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; choose one of {CALIBRATIONS}")
    levels = logp.shape[1]
    if method == "none":
        return torch.tensor(1.0), torch.zeros(levels)
    allowed_t = torch.as_tensor(allowed)
    if allowed_t.dim() == 1:
        allowed_t = F.one_hot(allowed_t.long(), levels).bool()
    x = logp.detach().double()
    n = len(x)
    # scale = softplus(raw) keeps it positive; raw starts where the scale is 1
    raw = torch.full((1,), math.log(math.e - 1), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(levels, dtype=torch.float64, requires_grad=method in ("vector", "valence"))
    params = [raw, bias] if bias.requires_grad else [raw]
    opt = torch.optim.LBFGS(params, lr=0.5, max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        scale = F.softplus(raw)
        calibrated = apply_calibration(method, x, scale.expand(n, 1), bias.expand(n, levels))
        value = marginal_nll(calibrated, allowed_t).mean() + (scale - 1).pow(2).sum() / (2 * n)
        value.backward()
        return value

    opt.step(loss)
    scale = F.softplus(raw).detach()[0]
    bias = bias.detach()
    if method == "vector":
        bias = bias - bias.mean()
    elif method == "valence":
        bias = torch.cat([bias[:1], torch.zeros(levels - 1, dtype=bias.dtype)])
    return scale.float(), bias.float()
