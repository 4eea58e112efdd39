"""Builtin adversarial losses, computed from logits (ganhacks #2).

Both use ``binary_cross_entropy_with_logits``, which evaluates
``log(sigmoid(x))`` as ``-softplus(-x)``: it stays finite for any logit,
where ``sigmoid`` followed by ``BCELoss`` saturates to ``log(0)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganforge.hookspecs import hookimpl
from ganforge.interfaces import Loss


class NonSaturatingLoss(Loss):
    """Non-saturating GAN loss: G maximises log D(G(z)) (the default; ganhacks #2)."""

    name = "bce"

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets)

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        # The fakes should be classified as real: -log D(G(z)).
        return self.criterion(fake_logits, real_targets)


class MinimaxLoss(Loss):
    """Original minimax GAN loss: G minimises log(1 - D(G(z))) (Goodfellow et al. 2014)."""

    name = "minimax"

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets)

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        # G plays against D's own objective on the fakes: minimise log(1 - D(G(z))),
        # i.e. maximise D's cross-entropy against the fake targets.
        return -self.criterion(fake_logits, fake_targets)


@hookimpl
def ganforge_register_losses():
    return [NonSaturatingLoss, MinimaxLoss]
