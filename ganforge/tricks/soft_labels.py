"""ganhacks #6: soft labels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.interfaces import Trick


def check_range(option: str, value: Sequence[float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` pair with low <= high."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option!r} must be a pair (low, high) of numbers (got {value!r})") from None
    if low > high:
        raise ConfigError(f"{option!r} must have low <= high (got {value!r})")
    return low, high


class SoftLabels(Trick):
    """Replace the discriminator's 1/0 targets with random soft targets (ganhacks #6).

    Each real sample's target is drawn from U(0.7, 1.2) and each fake
    sample's from U(0.0, 0.3), fresh every step, on the device (Salimans et
    al. 2016 smooth the labels; ganhacks gives these ranges).

    Options:
        real_range: ``(low, high)`` of the real targets, default ``(0.7, 1.2)``.
        fake_range: ``(low, high)`` of the fake targets, default ``(0.0, 0.3)``.
    """

    name = "soft_labels"
    description = "Random soft D targets: real ~ U(0.7, 1.2), fake ~ U(0.0, 0.3)"
    ganhacks = 6

    def __init__(self, real_range: Sequence[float] = (0.7, 1.2), fake_range: Sequence[float] = (0.0, 0.3)):
        self.real_range = check_range("real_range", real_range)
        self.fake_range = check_range("fake_range", fake_range)

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        (rl, rh), (fl, fh) = self.real_range, self.fake_range
        real = torch.rand_like(real_targets).mul_(rh - rl).add_(rl)
        fake = torch.rand_like(fake_targets).mul_(fh - fl).add_(fl)
        return real, fake
