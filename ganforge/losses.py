"""Builtin adversarial losses.

``bce`` and ``minimax`` are the two objectives of Goodfellow et al. 2014
(ganhacks #2); ``hinge``, ``wgan``, ``wgan_gp``, ``lsgan`` and ``ragan`` are the
objectives most GANs have been trained with since; ``rpgan`` is the relativistic pairing loss of
R3GAN (Huang et al. 2024). Each is a
:class:`~ganforge.interfaces.Loss`: the logit-only ones implement
``d_loss``/``g_loss``; ``wgan_gp`` (a gradient penalty on interpolates) and
``ragan`` and ``rpgan`` (G's objective needs D's logits on real data) use the
:class:`~ganforge.interfaces.LossContext` form.

The cross-entropy losses use ``binary_cross_entropy_with_logits``, which
evaluates ``log(sigmoid(x))`` as ``-softplus(-x)``: it stays finite for any
logit, where ``sigmoid`` followed by ``BCELoss`` saturates to ``log(0)``.

Losses that ignore the targets (``hinge``, ``wgan``, ``wgan_gp``) set
``uses_targets = False``; a run that combines one with a trick that only
changes targets (``soft_labels``, ``noisy_labels``, ...) is refused before
it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.hookspecs import hookimpl
from ganforge.interfaces import Loss, LossContext
from ganforge.options import boolean, number, option, options
from ganforge.regularizers import input_gradients


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


class HingeLoss(Loss):
    """Hinge loss: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))].

    The geometric GAN of Lim & Ye 2017, used by SNGAN (Miyato et al. 2018),
    BigGAN and most image GANs since. D stops pushing a sample once its logit
    is past the margin (above 1 for real, below -1 for fake), so it spends its
    capacity on the samples it still confuses. G's objective is linear in D's
    logit, as in WGAN. The targets are not used (``uses_targets = False``).
    """

    name = "hinge"
    uses_targets = False

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return -fake_logits.mean()


class WassersteinLoss(Loss):
    """Wasserstein loss: the critic minimises E[D(G(z))] - E[D(x)], G minimises -E[D(G(z))] (Arjovsky et al. 2017).

    D is a critic: its output is a score, not a probability, and the
    difference of its means estimates the Wasserstein-1 distance only while D
    is 1-Lipschitz. Keep it so with the ``clip_weights`` trick (the paper's
    weight clipping, c = 0.01, with ``d_steps`` k = 5 and RMSProp at 5e-5) or
    use ``wgan_gp`` instead; without either the critic's outputs grow without
    bound. The targets are not used (``uses_targets = False``).
    """

    name = "wgan"
    uses_targets = False

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return -fake_logits.mean()


class WassersteinGPLoss(WassersteinLoss):
    """WGAN-GP: the Wasserstein loss plus lambda * E[(||grad D(x_hat)|| - 1)^2] on interpolates (Gulrajani et al. 2017).

    ``x_hat = e * x + (1 - e) * G(z)`` with one ``e ~ U(0, 1)`` per sample,
    pairing the i-th real with the i-th fake image. The penalty keeps the
    critic's gradient norm near 1 between the two distributions, the
    Lipschitz constraint the Wasserstein loss needs, without clipping
    weights. It is computed in float32 with autocast off (as the ``r1``
    regularizer does), through ``ctx.discriminate`` so the tricks' input
    transforms apply, with the real batch's transforms and labels. With
    ``one_sided`` the penalty is ``max(0, ||g|| - 1)^2``: only gradients
    steeper than 1 are penalised (the paper, section 4, discusses this
    one-sided form and prefers the two-sided one). G's loss is WGAN's. The paper pairs it with 5 critic updates
    per G update (``d_steps`` k = 5), Adam (lr 1e-4, betas (0, 0.9)) and no
    batch normalisation in the critic.

    Options:
        lambda_gp: Weight of the gradient penalty, default 10 (the paper's value).
        one_sided: Penalise only gradient norms above 1, default false.
    """

    name = "wgan_gp"

    @options
    class Options:
        lambda_gp: float = option(10.0, validator=number(0.0),
                                  help="Weight lambda of the gradient penalty (Gulrajani et al. 2017 use 10).")
        one_sided: bool = option(False, validator=boolean(),
                                 help="Penalise max(0, ||grad|| - 1)^2, only norms above 1 (default: two-sided).")

    def interpolates(self, real: Tensor, fake: Tensor) -> Tensor:
        """Random points on the segments between paired real and fake samples (one U(0, 1) weight per sample)."""
        n = min(real.shape[0], fake.shape[0])
        real, fake = real[:n].detach().float(), fake[:n].detach().float()
        e = torch.rand(n, *([1] * (real.dim() - 1)), device=real.device)
        return e * real + (1 - e) * fake

    def gradient_penalty(self, ctx: LossContext) -> Tensor:
        """``E[(||grad D(x_hat)|| - 1)^2]`` (or its one-sided form), unweighted, float32."""
        x_hat = self.interpolates(ctx.real, ctx.fake)
        labels = None if ctx.real_labels is None else ctx.real_labels[: x_hat.shape[0]]
        norms = input_gradients(ctx, x_hat, labels, real=True).norm(dim=1)
        excess = norms - 1
        if self.options.one_sided:
            excess = F.relu(excess)
        return excess.pow(2).mean()

    def discriminator_loss(self, ctx: LossContext) -> Tensor:
        loss = self.d_loss(ctx.real_logits, ctx.fake_logits, ctx.real_targets, ctx.fake_targets)
        if self.options.lambda_gp > 0:
            loss = loss + self.options.lambda_gp * self.gradient_penalty(ctx)
        return loss


class LeastSquaresLoss(Loss):
    """Least-squares GAN (Mao et al. 2017): D regresses real to b and fake to a, G pushes fakes to c.

    D minimises ``1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]`` and G
    minimises ``1/2 E[(D(G(z)) - c)^2]`` (the paper's eq. 2). The default
    a = 0, b = c = 1 is the 0-1 coding of the paper's eq. 9, which its
    experiments use; eq. 8's a = -1, b = 1, c = 0 (b - c = 1 and b - a = 2,
    which makes the objective the Pearson chi-squared divergence) is
    ``a=-1, c=0``; the paper reports the two perform alike. The 0-1 coding
    also makes D's targets ganforge's own (1 real, 0 fake), so label tricks
    act as with ``bce``: a target t regresses D to ``a + t * (b - a)``.

    Options:
        a: D's regression target for generated samples, default 0.
        b: D's regression target for real samples, default 1.
        c: The value G wants D to give its samples, default 1.
    """

    name = "lsgan"

    @options
    class Options:
        a: float = option(0.0, validator=number(), help="D's target for generated samples (eq. 9: 0; eq. 8: -1).")
        b: float = option(1.0, validator=number(), help="D's target for real samples (eq. 8 and 9: 1).")
        c: float = option(1.0, validator=number(), help="The value G wants D to give its samples (eq. 9: 1; eq. 8: 0).")

        def __attrs_post_init__(self) -> None:
            if self.a == self.b:
                raise ConfigError(f"'a' and 'b' must differ (both {self.a!r}): D could not tell real from fake")

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        a, b = self.options.a, self.options.b
        return 0.5 * (logits - (a + targets * (b - a))).pow(2).mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return 0.5 * (fake_logits - self.options.c).pow(2).mean()


class RelativisticAverageLoss(Loss):
    """Relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018): is real data more real than fake on average?

    With ``C`` D's raw logit and ``s`` the sigmoid, D minimises
    ``-E_x[log s(C(x) - E C(G(z)))] - E_z[log(1 - s(C(G(z)) - E C(x)))]`` and
    G minimises the same with real and fake swapped:
    ``-E_z[log s(C(G(z)) - E C(x))] - E_x[log(1 - s(C(x) - E C(G(z))))]``.
    G's objective needs D's logits on the real batch
    (``needs_real_logits_in_g``; no gradient reaches G through them, but it
    does through their fake counterpart). Both sides are cross-entropies of
    the relative logits against D's targets, so label tricks act on D's
    update; in G's update the targets are plain 1 and 0.
    """

    name = "ragan"
    needs_real_logits_in_g = True
    conflicts: ClassVar[Mapping[str, str]] = {
        "flip_labels": "ragan's generator objective is already relativistic and non-saturating; "
                       "flip_labels would replace it with the non-relativistic one",
    }

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets)

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return (self.criterion(real_logits - fake_logits.mean(), real_targets)
                + self.criterion(fake_logits - real_logits.mean(), fake_targets))

    def relativistic_g_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """G's loss from D's logits on the real and the fake batch (targets 1 for the fakes, 0 for the reals)."""
        fake_rel = fake_logits - real_logits.mean()
        real_rel = real_logits - fake_logits.mean()
        return (self.criterion(fake_rel, torch.ones_like(fake_rel))
                + self.criterion(real_rel, torch.zeros_like(real_rel)))

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        raise TypeError("ragan's generator loss needs D's logits on real data: call generator_loss(ctx) or "
                        "relativistic_g_loss(real_logits, fake_logits)")

    def generator_loss(self, ctx: LossContext) -> Tensor:
        return self.relativistic_g_loss(ctx.real_logits, ctx.fake_logits)


class RelativisticPairingLoss(Loss):
    """Relativistic pairing GAN (RpGAN; Jolicoeur-Martineau 2018, the loss of R3GAN, Huang et al. 2024).

    Each real sample is paired with the fake of the same batch position, and
    D's objective is how much more real the real one looks than its partner:
    with ``C`` D's raw logit, D minimises ``E[softplus(C(G(z)) - C(x))]`` and G
    minimises ``E[softplus(C(x) - C(G(z)))]``. R3GAN trains it with both R1
    (on reals) and R2 (on fakes) -- ``regularizers=["r1", "r2"]`` -- and
    shows that, so regularised, it converges locally where the
    non-saturating loss can drop modes. The pairing needs the real and the
    fake batch to have one shape (the Trainer draws them so; spatial outputs
    are paired position by position). G's objective needs D's logits on the
    real batch (``needs_real_logits_in_g``). Targets are not used.
    """

    name = "rpgan"
    uses_targets = False
    needs_real_logits_in_g = True
    conflicts: ClassVar[Mapping[str, str]] = {
        "flip_labels": "rpgan's generator objective is already relativistic and non-saturating; "
                       "flip_labels would replace it with the non-relativistic one",
    }

    @staticmethod
    def _pair(real_logits: Tensor, fake_logits: Tensor) -> None:
        if real_logits.shape != fake_logits.shape:
            raise ConfigError(f"rpgan pairs each real logit with a fake one, but D gave {tuple(real_logits.shape)} "
                              f"for the real batch and {tuple(fake_logits.shape)} for the fakes; draw as many "
                              "fakes as reals (a trick that changes one batch's size cannot run with rpgan).")

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        self._pair(real_logits, fake_logits)
        return F.softplus(fake_logits - real_logits).mean()

    def relativistic_g_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """G's loss from D's logits on the real and the fake batch, paired by position."""
        self._pair(real_logits, fake_logits)
        return F.softplus(real_logits - fake_logits).mean()

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        raise TypeError("rpgan's generator loss needs D's logits on real data: call generator_loss(ctx) or "
                        "relativistic_g_loss(real_logits, fake_logits)")

    def generator_loss(self, ctx: LossContext) -> Tensor:
        return self.relativistic_g_loss(ctx.real_logits, ctx.fake_logits)


@hookimpl
def ganforge_register_losses():
    return [NonSaturatingLoss, MinimaxLoss, HingeLoss, WassersteinLoss, WassersteinGPLoss, LeastSquaresLoss,
            RelativisticAverageLoss, RelativisticPairingLoss]
