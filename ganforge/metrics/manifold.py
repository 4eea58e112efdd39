"""Improved precision and recall with k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019).

Each feature set approximates its distribution's support by the union of
balls centred on its samples, each ball's radius being the distance to the
sample's k-th nearest neighbour within the same set (the sample itself not
counted). Then

* precision = fraction of generated samples inside the real manifold
  (quality: are the fakes realistic?);
* recall = fraction of real samples inside the generated manifold
  (diversity: is every part of the data produced?).

Both lie in [0, 1]; higher is better. The paper uses k = 3.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError

DEFAULT_K = 3


def _as_features(x: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.as_tensor(x).detach().cpu().float()
    if t.ndim != 2:
        raise DataError(f"{name} must be a feature matrix (N, D); got shape {tuple(t.shape)}")
    return t


def knn_radii(features: Tensor, k: int = DEFAULT_K, chunk: int = 1024) -> Tensor:
    """Distance of each row of ``features`` ``(N, D)`` to its k-th nearest other row, ``(N,)``."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ConfigError(f"k must be between 1 and N-1 = {n - 1} for {n} samples (got {k})")
    out = torch.empty(n)
    for start in range(0, n, chunk):
        d = torch.cdist(features[start : start + chunk], features)
        # The smallest distance is the sample to itself (0); the k-th neighbour is at index k.
        out[start : start + chunk] = d.kthvalue(k + 1, dim=1).values
    return out


def inside_manifold(queries: Tensor, support: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """Boolean ``(M,)``: whether each query lies within some support sample's ball."""
    flags = torch.empty(queries.shape[0], dtype=torch.bool)
    for start in range(0, queries.shape[0], chunk):
        d = torch.cdist(queries[start : start + chunk], support)
        flags[start : start + chunk] = (d <= radii[None, :]).any(dim=1)
    return flags


def precision_recall(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int = DEFAULT_K) -> dict[str, float]:
    """``{"precision": ..., "recall": ...}`` of ``fake`` against ``real`` feature sets (both ``(N, D)``)."""
    r, f = _as_features(real, "real features"), _as_features(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise DataError(f"real and fake features differ in width: {r.shape[1]} vs {f.shape[1]}")
    precision = inside_manifold(f, r, knn_radii(r, k)).float().mean()
    recall = inside_manifold(r, f, knn_radii(f, k)).float().mean()
    return {"precision": float(precision), "recall": float(recall)}
