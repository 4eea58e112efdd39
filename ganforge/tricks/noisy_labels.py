"""ganhacks #6: noisy labels for the discriminator."""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.interfaces import Trick
from ganforge.options import number, option, options


class NoisyLabels(Trick):
    """Flip each discriminator target (real <-> fake) with probability p (ganhacks #6).

    ganhacks #6: "make the labels the noisy for the discriminator:
    occasionally flip the labels when training the discriminator". Each
    target ``t`` of both batches independently becomes ``1 - t`` with
    probability ``p``, drawn on the device every step (a real target of 1
    becomes 0, a fake target of 0 becomes 1; after ``one_sided_label_smoothing``
    a real 0.9 becomes 0.1). Listed after a trick that sets targets, it
    flips that trick's targets.

    Options:
        p: Flip probability per target, default 0.05. ganhacks gives no
            number; 0.05 is our choice (one target in twenty). Must lie in
            [0, 0.5]: above 0.5 most labels would flip.
    """

    name = "noisy_labels"
    description = "Flip each D target real<->fake with probability p=0.05"
    ganhacks = 6

    @options
    class Options:
        p: float = option(0.05, validator=number(0.0, 0.5),
                          help="Probability of flipping each target, in [0, 0.5] (above 0.5 most labels flip).")

    def flip(self, targets: Tensor) -> Tensor:
        """``targets`` with each entry replaced by ``1 - t`` with probability ``p``."""
        flipped = torch.rand_like(targets) < self.options.p
        return torch.where(flipped, 1.0 - targets, targets)

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        return self.flip(real_targets), self.flip(fake_targets)
