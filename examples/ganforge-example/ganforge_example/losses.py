"""Three more adversarial losses: hinge (Lim & Ye 2017; Miyato et al. 2018), least squares (Mao et al. 2017), and a
hinge loss with a gradient penalty on the real data, which needs the discriminator itself (the context form)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import ganforge
from ganforge.options import number, option, options


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


class HingeGradientPenalty(HingeLoss):
    """Hinge loss plus gamma / 2 * E[||grad D(x)||^2] on the real data: a loss that needs D, not only logits.

    It overrides :meth:`discriminator_loss`, which receives the whole
    :class:`ganforge.LossContext`; ``ctx.discriminate`` runs D on a batch
    through the tricks' input transforms (and, in D's update, through the
    DistributedDataParallel wrapper, so the penalty's gradients are averaged
    across processes like the loss's). G's loss is the hinge loss's.

    Options:
        gamma: Weight of the penalty, default 1.
    """

    name = "example_hinge_gp"
    uses_targets = False  # the penalised form below ignores targets: label tricks are refused with it

    @options
    class Options:
        gamma: float = option(1.0, validator=number(0.0), help="Weight of the gradient penalty on the real data.")

    def discriminator_loss(self, ctx: ganforge.LossContext) -> Tensor:
        hinge = F.relu(1 - ctx.real_logits).mean() + F.relu(1 + ctx.fake_logits).mean()
        x = ctx.real.detach().requires_grad_(True)
        logits = ctx.discriminate(x, ctx.real_labels, True)
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)  # create_graph: D learns from it
        return hinge + self.options.gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
