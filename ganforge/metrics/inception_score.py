"""The Inception Score (Salimans et al. 2016) from a classifier's logits.

IS = exp(E_x KL(p(y|x) || p(y))), where p(y|x) is the softmax of a sample's
logits and p(y) their mean over the split. The samples are cut into 10
equal consecutive splits (the last ones one sample shorter when N is not a
multiple), the score is computed per split, and the mean and (population)
standard deviation over the splits are reported, as in the original code
and torch-fidelity. Higher is better; it lies between 1 and the number of
classes. Only the standard FID Inception (feature ``inception``) gives
numbers comparable with papers: they report it on its 1008 logits without
the bias (torch-fidelity's ``logits_unbiased``), which is what ganforge uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import DataError

#: Splits of the original protocol.
DEFAULT_SPLITS = 10


def inception_score(logits: Tensor | np.ndarray, splits: int = DEFAULT_SPLITS) -> tuple[float, float]:
    """Mean and population standard deviation of the Inception Score over ``splits`` splits.

    Args:
        logits: Class logits ``(N, K)`` of the generated samples, in the order drawn.
        splits: Number of consecutive splits, default 10 (at most N).
    """
    x = torch.as_tensor(logits).detach().cpu().double()
    if x.ndim != 2 or x.shape[0] < 1:
        raise DataError(f"inception_score needs logits of shape (N, K); got {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= splits <= n:
        raise DataError(f"inception_score needs 1 <= splits <= N = {n} (got {splits})")
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = part.exp().mean(dim=0).log()
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    arr = np.asarray(scores)
    return float(arr.mean()), float(arr.std())


__all__ = ["DEFAULT_SPLITS", "inception_score"]
