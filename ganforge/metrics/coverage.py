"""Class coverage of generated images and the stacked-MNIST mode count (PacGAN Table 2).

* Class coverage: classify each generated image with the domain classifier,
  histogram the predicted classes, and report how many classes occur and
  KL(p || uniform). A generator that draws every digit equally often scores
  ``classes = 10`` and ``class_kl`` near 0.
* Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): each sample has three
  channels, each an MNIST digit, so there are 10^3 = 1,000 modes. Classify
  every channel with the MNIST classifier; the mode of a sample is
  ``100 * d0 + 10 * d1 + d2``. Report the number of modes hit
  (``stacked_modes``, of 1,000) and KL(p || uniform over 1,000)
  (``stacked_kl``). PacGAN uses 26,000 samples.

KL uses the same convention as the mixture metrics: empty classes contribute
0, see :func:`ganforge.metrics.mixture.kl_to_uniform`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ganforge.errors import DataError
from ganforge.metrics.mixture import kl_to_uniform

#: Samples PacGAN draws for the stacked-MNIST evaluation.
STACKED_SAMPLES = 26_000


def class_coverage(predicted: Tensor, num_classes: int) -> dict[str, float]:
    """``classes`` (how many classes occur, higher is better) and ``class_kl`` (nats, lower is better)."""
    predicted = predicted.detach().cpu().long()
    counts = torch.bincount(predicted, minlength=num_classes)
    if counts.numel() != num_classes:
        raise DataError(f"predicted classes exceed {num_classes - 1}: max {int(predicted.max())}")
    return {"classes": int((counts > 0).sum()), "class_kl": kl_to_uniform(counts)}


def stacked_modes(images: Tensor, classify: Callable[[Tensor], Tensor], batch: int = 2000) -> dict[str, float]:
    """Stacked-MNIST modes and KL of ``images`` ``(N, 3, H, W)`` in [-1, 1].

    Args:
        images: Generated three-channel samples.
        classify: Maps ``(B, 1, H, W)`` images to predicted digits ``(B,)``.
        batch: Images classified at a time.

    Returns:
        ``stacked_modes`` (0-1000, higher is better) and ``stacked_kl`` (nats, lower is better).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"stacked-MNIST samples must be (N, 3, H, W); got {tuple(images.shape)}")
    digits = []
    for start in range(0, images.shape[0], batch):
        part = images[start : start + batch]
        per_channel = [classify(part[:, c : c + 1]).cpu().long() for c in range(3)]
        digits.append(per_channel[0] * 100 + per_channel[1] * 10 + per_channel[2])
    modes = torch.cat(digits)
    counts = torch.bincount(modes, minlength=1000)
    return {"stacked_modes": int((counts > 0).sum()), "stacked_kl": kl_to_uniform(counts)}
