"""ganhacks #6: soft labels."""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.interfaces import Trick
from ganforge.options import option, options, pair, to_tuple


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

    @options
    class Options:
        real_range: tuple[float, float] = option((0.7, 1.2), converter=to_tuple, validator=pair(),
                                                 help="(low, high) of the uniform distribution of the real targets.")
        fake_range: tuple[float, float] = option((0.0, 0.3), converter=to_tuple, validator=pair(),
                                                 help="(low, high) of the uniform distribution of the fake targets.")

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        (rl, rh), (fl, fh) = self.options.real_range, self.options.fake_range
        real = torch.rand_like(real_targets).mul_(rh - rl).add_(rl)
        fake = torch.rand_like(fake_targets).mul_(fh - fl).add_(fl)
        return real, fake
