"""Mode-collapse metrics for the 2-D Gaussian mixtures (VEEGAN; PacGAN, Lin et al. 2018).

Protocol (PacGAN section 5.1, after VEEGAN): draw 2,500 samples, assign each
to its nearest mode centre, and call it *high quality* when it lies strictly within
three standard deviations of that centre. Then report

* ``modes``: how many modes are nearest to at least one high-quality sample;
* ``hq_percent``: the percentage of samples that are high quality;
* ``reverse_kl``: KL(p || u) of the histogram ``p`` of high-quality samples
  over the modes to the uniform distribution ``u`` over the K modes.

Empty modes need no epsilon in this direction: KL(p || u) = sum_k p_k log(K p_k)
and a mode with p_k = 0 contributes 0, the limit of p log p. (Smoothing would
only be needed for the forward KL(u || p), which is infinite whenever a mode
is empty; it is not reported.) When no sample at all is high quality the
histogram is undefined; ``reverse_kl`` is then reported as log K, the value
of a total collapse onto one mode, so it stays finite and "lower is better".

All distances are in data units (the units of ``dataset.modes`` and
``dataset.std``); samples in model space are first mapped back with
``dataset.denormalize``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import DataError
from ganforge.io.viz import save_scatter

#: Samples drawn per evaluation in the PacGAN/VEEGAN protocol.
DEFAULT_SAMPLES = 2500
#: A sample is high quality within this many standard deviations of its mode.
DEFAULT_THRESHOLD = 3.0


def kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) in nats of the histogram ``counts`` (``(K,)``, non-negative).

    Empty bins contribute 0 (0 log 0 = 0); an all-zero histogram gives log K
    (see the module docstring).
    """
    counts = counts.double()
    k = counts.numel()
    total = float(counts.sum())
    if total <= 0:
        return math.log(k)
    p = counts / total
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] * k)).sum().clamp_min(0.0))


def assign_modes(points: Tensor, modes: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest mode of each point: ``(index (N,) int64, distance (N,) float)``, in the points' units."""
    dist = torch.cdist(points.double(), modes.double())
    d, idx = dist.min(dim=1)
    return idx, d


def mixture_metrics(points: Tensor, modes: Tensor, std: float, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """The PacGAN/VEEGAN mixture metrics of ``points`` (``(N, 2)``, data units).

    Args:
        points: Generated samples in the same units as ``modes``.
        modes: Mode centres ``(K, 2)``.
        std: Standard deviation of each mixture component, same units.
        threshold: High quality within ``threshold * std`` of the nearest mode (default 3).

    Returns:
        ``modes`` (int, higher is better, at most K), ``modes_total`` (K),
        ``hq_percent`` (0-100, higher is better), ``reverse_kl`` (nats, lower
        is better, 0 = uniform over all modes, log K = one mode),
        ``samples`` (N) and ``mode_counts`` (list of K high-quality counts).
        Non-finite samples count as low quality.
    """
    if points.ndim != 2 or points.shape[1] != modes.shape[1]:
        raise DataError(f"mixture metrics need points of shape (N, {modes.shape[1]}); got {tuple(points.shape)}")
    if points.shape[0] == 0:
        raise DataError("mixture metrics need at least one sample (got 0)")
    points = points.detach().cpu()
    finite = torch.isfinite(points).all(dim=1)
    idx, dist = assign_modes(torch.where(finite[:, None], points, torch.zeros_like(points)), modes.cpu())
    hq = finite & (dist < threshold * std)
    counts = torch.bincount(idx[hq], minlength=modes.shape[0])
    return {
        "modes": int((counts > 0).sum()),
        "modes_total": int(modes.shape[0]),
        "hq_percent": 100.0 * float(hq.double().mean()),
        "reverse_kl": kl_to_uniform(counts),
        "samples": int(points.shape[0]),
        "mode_counts": [int(c) for c in counts],
    }


def dataset_mixture_metrics(samples: Tensor, dataset: Any, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """:func:`mixture_metrics` for model-space ``samples`` of a :class:`~ganforge.data.mixtures.GaussianMixture`."""
    if not hasattr(dataset, "modes") or not hasattr(dataset, "std"):
        raise DataError(
            f"Data set '{getattr(dataset, 'name', dataset)}' is not a Gaussian mixture (it has no 'modes' and "
            "'std'); mixture metrics apply to grid25, ring8 and other GaussianMixture data sets."
        )
    points = dataset.denormalize(samples.detach().float().cpu())
    return mixture_metrics(points, dataset.modes, dataset.std, threshold)


def save_mixture_scatter(samples: Tensor, dataset: Any, path: str | os.PathLike) -> None:
    """Save model-space ``samples`` (red) over the mixture's mode centres (blue) as a PNG, in data units."""
    points = dataset.denormalize(samples.detach().float().cpu())
    extent = float(dataset.modes.abs().max()) * 1.3 + 3 * float(dataset.std)
    save_scatter(points, path, reference=dataset.modes, extent=extent)
