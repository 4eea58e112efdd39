"""Distances between two sets of features: Fréchet distance (FID) and kernel inception distance (KID).

Both take feature matrices ``(N, D)`` (rows are samples) from the same
feature extractor, usually real and generated images. Computation is in
float64 on the CPU.

* Fréchet distance (Heusel et al. 2017): fit a Gaussian to each set and
  return ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)``. The trace of the
  matrix square root uses symmetric decompositions only: with ``F F^T = S1``
  (Cholesky, or ``S1^1/2`` from ``eigh(S1)`` when ``S1`` is singular),
  ``F^T S2 F`` is symmetric PSD with the eigenvalues of ``S1 S2``, so the
  trace is the sum of the square roots of its eigenvalues. No general
  (non-symmetric) square root is needed.
* KID (Bińkowski et al. 2018): the unbiased estimate of the squared MMD with
  the cubic polynomial kernel ``k(x, y) = (x.y / D + 1)^3``, averaged over
  random subsets. Unbiased: its expectation is 0 when both sets come from the
  same distribution, so it can be slightly negative.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from ganforge.errors import DataError


#: Rows converted to float64 at a time when summing statistics (bounds the memory of 50,000 x 2048 features).
CHUNK = 4096


def _features(x: Tensor | np.ndarray, name: str) -> Tensor:
    """``x`` as a CPU tensor of its own float type (no float64 copy of the whole matrix), checked."""
    t = torch.as_tensor(x).detach().cpu()
    if not t.is_floating_point():
        t = t.double()
    if t.ndim != 2:
        raise DataError(f"{name} must be a feature matrix (N, D); got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise DataError(f"{name} needs at least 2 samples to estimate a covariance (got {t.shape[0]})")
    if not bool(torch.isfinite(t).all()):
        raise DataError(f"{name} holds NaN or infinite values; the generator's samples are probably not finite")
    return t


def gaussian_stats(features: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``features`` ``(N, D)``, float64.

    Two passes over chunks of rows in float64 (mean, then the centred
    products), so the whole matrix is never copied to float64.
    """
    f = _features(features, "features")
    n = f.shape[0]
    mu = sum((f[s : s + CHUNK].double().sum(dim=0) for s in range(0, n, CHUNK)), torch.zeros(f.shape[1],
                                                                                            dtype=torch.float64))
    mu = mu / n
    cov = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64)
    for s in range(0, n, CHUNK):
        centred = f[s : s + CHUNK].double() - mu
        cov += centred.T @ centred
    return mu, cov / (n - 1)


def psd_sqrt(matrix: Tensor) -> Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped to 0)."""
    m = (matrix + matrix.T) / 2
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def trace_sqrt_product(s1: Tensor, s2: Tensor) -> float:
    """``tr((S1 S2)^1/2)`` for symmetric PSD ``S1``, ``S2``: the sum of the square roots of the eigenvalues of
    ``F^T S2 F``, a symmetric PSD matrix with the eigenvalues of ``S1 S2``, for any ``F`` with ``F F^T = S1``.

    ``F`` is the Cholesky factor of ``S1`` when ``S1`` is positive definite
    (a fraction of the cost of an eigen-decomposition: 2048-d FID twice as
    fast), else its symmetric square root (:func:`psd_sqrt`).
    """
    s1, s2 = s1.double(), s2.double()
    factor, info = torch.linalg.cholesky_ex((s1 + s1.T) / 2)
    if int(info) != 0:  # singular (fewer samples than dimensions): the eigen-decomposition copes
        factor = psd_sqrt(s1)
    inner = factor.T @ s2 @ factor
    vals = torch.linalg.eigvalsh((inner + inner.T) / 2)
    return float(vals.clamp_min(0).sqrt().sum())


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2). 0 when equal."""
    mu1, mu2 = torch.as_tensor(mu1).double(), torch.as_tensor(mu2).double()
    s1, s2 = torch.as_tensor(sigma1).double(), torch.as_tensor(sigma2).double()
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.numel(), mu1.numel()):
        raise DataError(f"Gaussian statistics do not match: means {tuple(mu1.shape)}/{tuple(mu2.shape)}, "
                        f"covariances {tuple(s1.shape)}/{tuple(s2.shape)}")
    value = float(((mu1 - mu2) ** 2).sum()) + float(torch.trace(s1) + torch.trace(s2)) - 2 * trace_sqrt_product(s1, s2)
    return max(value, 0.0)


def fid_from_features(real: Tensor | np.ndarray, fake: Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (lower is better, 0 = same statistics)."""
    return frechet_distance(*gaussian_stats(_features(real, "real features")),
                            *gaussian_stats(_features(fake, "fake features")))


def _poly_kernel(a: Tensor, b: Tensor) -> Tensor:
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """Unbiased squared MMD between samples ``x`` ``(m, D)`` and ``y`` ``(n, D)`` with the cubic polynomial kernel."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid_from_features(
    real: Tensor | np.ndarray, fake: Tensor | np.ndarray, subsets: int = 50, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and (population) standard deviation of the unbiased MMD^2 over random subsets.

    Lower is better; about 0 when both sets come from the same distribution.

    Args:
        real, fake: Feature matrices ``(N, D)``.
        subsets: Number of random subsets, default 50.
        subset_size: Samples per subset from each set, default 1000 (capped at the smaller set's size).
        seed: Seeds the subset choice, so a repeated evaluation gives the same number.
    """
    r, f = _features(real, "real features"), _features(fake, "fake features")
    size = min(subset_size, r.shape[0], f.shape[0])
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(max(1, subsets)):
        ri = torch.randperm(r.shape[0], generator=gen)[:size]
        fi = torch.randperm(f.shape[0], generator=gen)[:size]
        values.append(mmd2_unbiased(r[ri].double(), f[fi].double()))
    arr = np.asarray(values)
    return float(arr.mean()), float(arr.std())  # population std over subsets, as torch-fidelity and torchmetrics


def gaussian_fid_closed_form(mu1: Tensor, var1: Tensor, mu2: Tensor, var2: Tensor) -> float:
    """Fréchet distance of two Gaussians with *diagonal* covariances: ``|mu1-mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2``."""
    mu1, mu2, var1, var2 = (torch.as_tensor(t).double() for t in (mu1, mu2, var1, var2))
    return float(((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum())


__all__ = [
    "fid_from_features",
    "frechet_distance",
    "gaussian_fid_closed_form",
    "gaussian_stats",
    "kid_from_features",
    "mmd2_unbiased",
    "psd_sqrt",
    "trace_sqrt_product",
]

