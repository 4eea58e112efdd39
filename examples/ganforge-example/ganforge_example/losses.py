"""Two more adversarial losses: hinge (Lim & Ye 2017; Miyato et al. 2018) and least squares (Mao et al. 2017)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

import ganforge


class HingeLoss(ganforge.Loss):
    """Hinge loss: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)).

    Targets in [0, 1] (1 real, 0 fake; a trick such as ``soft_labels`` moves
    them) become signs ``y = 2t - 1`` and the criterion is ``relu(1 - y x)``.
    """

    name = "example_hinge"  # ganforge has a builtin "hinge" (which ignores targets); names are unique per kind

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.relu(1 - (2 * targets - 1) * logits).mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return -fake_logits.mean()


class LeastSquaresLoss(ganforge.Loss):
    """Least-squares GAN loss: D regresses its output to the target (1 real, 0 fake), G pushes fakes to 1.

    Both players use ``(x - t)^2 / 2`` (the a=0, b=c=1 coding of Mao et al.).
    """

    name = "least_squares"

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        return 0.5 * (logits - targets).pow(2).mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return self.criterion(fake_logits, real_targets)
