"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) on k-NN manifolds.

Each feature set approximates its distribution's support by the union of
balls centred on its samples, each ball's radius being the distance to the
sample's k-th nearest neighbour within the same set (the sample itself not
counted). Then

* precision = fraction of generated samples inside the real manifold
  (quality: are the fakes realistic?);
* recall = fraction of real samples inside the generated manifold
  (diversity: is every part of the data produced?).

Both lie in [0, 1]; higher is better. The paper uses k = 3; a point on a
ball's boundary counts as inside (``<=``), as in the paper's code and
torch-fidelity's.

Density and coverage (Naeem et al. 2020) use only the real samples' balls
(radius: distance to the k-th nearest other real sample, k = 5 in the paper):

* density = (1 / (k M)) * sum over the M fakes of the number of real balls
  holding the fake: near 1 when fakes are distributed like the reals, above 1
  when they crowd into dense real regions, below 1 when they stray;
* coverage = fraction of real samples whose ball holds at least one fake, in
  [0, 1]: near 1 - 2^-k (0.97 for k = 5) for identical distributions.

As in the authors' code, "holds" is strict (``<``). Higher is better for both.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError

DEFAULT_K = 3
#: Neighbours for density and coverage (Naeem et al. 2020).
DENSITY_K = 5


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


def density_coverage(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int = DENSITY_K,
                     chunk: int = 1024) -> dict[str, float]:
    """``{"density": ..., "coverage": ...}`` of ``fake`` against ``real`` feature sets (both ``(N, D)``).

    Args:
        real, fake: Feature matrices; rows are samples.
        k: Neighbours defining each real ball's radius, default 5 (the paper's).
        chunk: Fakes compared at a time (bounds memory).
    """
    r, f = _as_features(real, "real features"), _as_features(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise DataError(f"real and fake features differ in width: {r.shape[1]} vs {f.shape[1]}")
    radii = knn_radii(r, k)
    inside_count = torch.zeros(f.shape[0])
    covered = torch.zeros(r.shape[0], dtype=torch.bool)
    for start in range(0, f.shape[0], chunk):
        within = torch.cdist(f[start : start + chunk], r) < radii[None, :]  # (fakes, reals)
        inside_count[start : start + chunk] = within.sum(dim=1).float()
        covered |= within.any(dim=0)
    return {"density": float(inside_count.sum()) / (k * f.shape[0]), "coverage": float(covered.float().mean())}
