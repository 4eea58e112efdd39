"""ganhacks #6: one-sided label smoothing."""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.interfaces import Trick
from ganforge.options import number, option, options


class OneSidedLabelSmoothing(Trick):
    """Real targets 0.9 instead of 1, fake targets stay 0 (ganhacks #6).

    Salimans et al. 2016 ("Improved Techniques for Training GANs", section
    3.4) smooth only the real side: smoothing the fake targets too would
    reward the generator for staying where D's fake target is non-zero.
    The real targets become the constant ``real_target``; the fake ones are
    passed on unchanged. Alternative to ``soft_labels`` (random targets on
    both sides), so the two conflict.

    Options:
        real_target: The discriminator's target for real samples, default 0.9
            (the paper's value). Must lie in (0, 1].
    """

    name = "one_sided_label_smoothing"
    description = "Real D targets 0.9 (fakes stay 0), Salimans et al. 2016"
    ganhacks = 6
    conflicts = ("soft_labels",)

    @options
    class Options:
        real_target: float = option(0.9, validator=number(0.0, 1.0, low_open=True),
                                    help="The discriminator's target for real samples, in (0, 1].")

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        return torch.full_like(real_targets, float(self.options.real_target)), fake_targets
