"""Builtin regularizers: penalties computed with the discriminator, added to its loss.

Each composes with any loss. A penalty runs D itself through
``ctx.discriminate`` (the tricks' input transforms included, DDP-aware) and is
computed in float32 with autocast off, so a gradient penalty neither
underflows in fp16 nor loses precision in bf16.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.hookspecs import hookimpl
from ganforge.interfaces import LossContext, Regularizer
from ganforge.options import integer, number, option, options


def input_gradient_norms(ctx: LossContext, x: Tensor, labels: Tensor | None, real: bool) -> Tensor:
    """``||d D(x) / dx||^2`` for each sample of ``x`` (``(B,)``), differentiable (``create_graph``), in float32.

    ``real`` picks which input transforms of the tricks D's input gets (the
    real or the fake ones), as in the loss; the gradient is taken with respect
    to ``x`` before those transforms.
    """
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        logits = ctx.discriminate(x, labels, real)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1)


def _gamma_and_every(paper: str) -> type:
    @options
    class Options:
        gamma: float = option(10.0, validator=number(0.0, low_open=True),
                              help=f"Weight: the penalty is gamma / 2 times the mean squared gradient norm ({paper}).")
        every: int = option(1, validator=integer(1),
                            help="Apply every k steps, k times as strong (lazy regularization; StyleGAN2 uses 16).")

    return Options


class R1(Regularizer):
    """R1 gradient penalty on real data: gamma / 2 * E[||grad D(x)||^2] (Mescheder et al. 2018).

    Penalising D's gradient on the real data keeps D from growing steep where
    the data lies, which Mescheder et al. show makes GAN training converge
    locally. StyleGAN2 (Karras et al. 2020) applies it lazily, every 16 steps
    (``every=16``).
    """

    name = "r1"
    Options = _gamma_and_every("Mescheder et al. 2018 use 10 on CelebA-HQ/LSUN")

    def penalty(self, ctx: LossContext) -> Tensor:
        return self.options.gamma / 2 * input_gradient_norms(ctx, ctx.real, ctx.real_labels, real=True).mean()


class R2(Regularizer):
    """R2 gradient penalty on generated data: gamma / 2 * E[||grad D(G(z))||^2] (Mescheder et al. 2018)."""

    name = "r2"
    Options = _gamma_and_every("Mescheder et al. 2018")

    def penalty(self, ctx: LossContext) -> Tensor:
        return self.options.gamma / 2 * input_gradient_norms(ctx, ctx.fake, ctx.fake_labels, real=False).mean()


@hookimpl
def ganforge_register_regularizers():
    return [R1, R2]
