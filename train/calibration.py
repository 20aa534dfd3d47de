"""Fitting a reading's calibration on memes that neither trained the head nor chose its epoch.

`memesent.model.apply_calibration` defines the methods. `valence` is fitted by maximum
likelihood of the labels' allowed levels (the marginal likelihood, `train.losses`), with L-BFGS
(Platt, 1999, on the sides' log-odds); `none` has nothing to fit. A head whose scores carry no
information gets a scale near 0 and a shift that reproduces the calibration memes' share of
positive memes.

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
    bias = torch.zeros(levels, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([raw, bias], lr=0.5, max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        scale = F.softplus(raw)
        calibrated = apply_calibration(method, x, scale.expand(n, 1), bias.expand(n, levels))
        value = marginal_nll(calibrated, allowed_t).mean() + (scale - 1).pow(2).sum() / (2 * n)
        value.backward()
        return value

    opt.step(loss)
    scale = F.softplus(raw).detach()[0]
    shift = bias.detach()[:1]  # the valence reads the first entry only
    return scale.float(), torch.cat([shift, torch.zeros(levels - 1, dtype=shift.dtype)]).float()
