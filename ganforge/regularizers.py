"""Builtin regularizers: penalties computed with the discriminator, added to its loss.

Each composes with any loss. A penalty runs D itself through
``ctx.discriminate`` (the tricks' input transforms included, DDP-aware) and is
computed in float32 with autocast off, so a gradient penalty neither
underflows in fp16 nor loses precision in bf16.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.augment import POLICIES, augment, check_images
from ganforge.hookspecs import hookimpl
from ganforge.interfaces import LossContext, Regularizer
from ganforge.options import choice, integer, number, option, options, sequence_of, to_tuple


def input_gradients(ctx: LossContext, x: Tensor, labels: Tensor | None, real: bool) -> Tensor:
    """D's gradient with respect to its input ``x``, one row per logit: ``(n_logits, features)``, in float32.

    Differentiable (``create_graph``), so a penalty on it trains D. D runs in
    float32 with autocast off. ``real`` picks which input transforms of the
    tricks D's input gets (the real or the fake ones), as in the loss; the
    gradient is taken with respect to ``x`` before those transforms. Each row
    gathers the gradient of one logit: one sample's, or one pack's when a trick
    such as ``pack`` makes D judge several samples together (the rows of ``x``
    a logit depends on are consecutive).
    """
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        logits = ctx.discriminate(x, labels, real)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.reshape(logits.shape[0], -1)


def input_gradient_norms(ctx: LossContext, x: Tensor, labels: Tensor | None, real: bool) -> Tensor:
    """``||d D(x) / dx||^2`` for each logit D gives on ``x`` (``(n_logits,)``); see :func:`input_gradients`."""
    return input_gradients(ctx, x, labels, real).pow(2).sum(1)


def _gamma_and_every(paper: str) -> type:
    @options
    class Options:
        gamma: float = option(10.0, validator=number(0.0, low_open=True), schedulable=True,
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

    Options:
        gamma: Weight: the penalty is gamma / 2 times the mean squared gradient norm, default 10.
        every: Apply every k steps, k times as strong (lazy regularization), default 1.
    """

    name = "r1"
    Options = _gamma_and_every("Mescheder et al. 2018 use 10 on CelebA-HQ/LSUN")

    def penalty(self, ctx: LossContext) -> Tensor:
        return self.options.gamma / 2 * input_gradient_norms(ctx, ctx.real, ctx.real_labels, real=True).mean()


class R2(Regularizer):
    """R2 gradient penalty on generated data: gamma / 2 * E[||grad D(G(z))||^2] (Mescheder et al. 2018).

    Options:
        gamma: Weight: the penalty is gamma / 2 times the mean squared gradient norm, default 10.
        every: Apply every k steps, k times as strong (lazy regularization), default 1.
    """

    name = "r2"
    Options = _gamma_and_every("Mescheder et al. 2018")

    def penalty(self, ctx: LossContext) -> Tensor:
        return self.options.gamma / 2 * input_gradient_norms(ctx, ctx.fake, ctx.fake_labels, real=False).mean()


class BalancedConsistency(Regularizer):
    """Balanced consistency regularization (bCR, Zhao et al. 2020): D should judge x and an augmented x alike.

    The penalty is ``lambda_real * E[(D(x) - D(T(x)))^2] + lambda_fake *
    E[(D(G(z)) - D(T(G(z))))^2]``, with ``T`` a random augmentation drawn
    afresh for each sample ("Improved Consistency Regularization for GANs",
    Zhao, Singh, Lee, Zhang, Odena and Zhang 2020). CR-GAN (Zhang et al. 2020)
    regularised the real images only; augmenting the fakes as well keeps the
    generator from learning to produce the augmentation's artefacts. The
    penalty trains D only; G's loss is unchanged.

    ``D(x)`` and ``D(G(z))`` are the logits the loss already computed (in a
    lazy update, ``every`` > 1, D is run on the batches afresh); ``D(T(.))``
    runs D through ``ctx.discriminate``, so the tricks' input transforms apply
    to both sides alike. ``T`` defaults to a horizontal flip of half the
    images and a translation by up to 1/8 of the image (4 pixels at 32x32;
    ganforge fills the uncovered border with zeros), after the paper's flips
    and shifts by a few pixels. The augmentations are those of :mod:`ganforge.augment`, drawn on
    the device (capturable). Needs image data ``(C, H, W)``.

    Options:
        lambda_real: Weight of the real images' term, default 10 (the paper's value).
        lambda_fake: Weight of the generated images' term, default 10 (the paper's value).
        augment: The augmentation ``T``, a list of policies from flip, translation, color and cutout.
        translation_ratio: Largest shift of ``translation``, as a fraction of the image size, default 1/8.
        every: Apply every k steps, k times as strong (lazy regularization), default 1.
    """

    name = "bcr"
    description = "Balanced consistency regularization: D(x) = D(T(x)) on real and fake images (Zhao et al. 2020)"

    @options
    class Options:
        lambda_real: float = option(10.0, validator=number(0.0),
                                    help="Weight of the real images' consistency term (Zhao et al. 2020 use 10).")
        lambda_fake: float = option(10.0, validator=number(0.0),
                                    help="Weight of the generated images' consistency term (Zhao et al. 2020 use 10).")
        augment: tuple[str, ...] = option(
            ("flip", "translation"), converter=to_tuple,
            validator=sequence_of(choice(*POLICIES), "policies (" + ", ".join(POLICIES) + ")"),
            help="The augmentation T, applied in this order: policies from " + ", ".join(POLICIES) + ".")
        translation_ratio: float = option(0.125, validator=number(0.0, 0.5, low_open=True),
                                          help="Largest shift of 'translation', as a fraction of the image size.")
        every: int = option(1, validator=integer(1),
                            help="Apply every k steps, k times as strong (lazy regularization).")

    def transform(self, x: Tensor) -> Tensor:
        """The augmentation ``T`` applied to a batch of images (fresh random parameters per sample)."""
        return augment(x, self.options.augment, translation_ratio=self.options.translation_ratio)

    def _term(self, ctx: LossContext, x: Tensor, labels: Tensor | None, logits: Tensor | None, real: bool) -> Tensor:
        if logits is None:  # a lazy update: no logits were computed for it
            logits = ctx.discriminate(x, labels, real)
        return (logits.float() - ctx.discriminate(self.transform(x), labels, real)).pow(2).mean()

    def check_run(self, config: Any, dataset: Any) -> None:
        check_images(tuple(dataset.sample_shape), "Regularizer 'bcr'")

    def penalty(self, ctx: LossContext) -> Tensor:
        check_images(ctx.real.shape[1:], "Regularizer 'bcr'")
        o = self.options
        total = ctx.real.new_zeros((), dtype=torch.float32)
        if o.lambda_real > 0:
            total = total + o.lambda_real * self._term(ctx, ctx.real, ctx.real_labels, ctx.real_logits, real=True)
        if o.lambda_fake > 0:
            total = total + o.lambda_fake * self._term(ctx, ctx.fake.detach(), ctx.fake_labels, ctx.fake_logits,
                                                       real=False)
        return total


@hookimpl
def ganforge_register_regularizers():
    return [R1, R2, BalancedConsistency]
