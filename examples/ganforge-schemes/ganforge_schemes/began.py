"""BEGAN (Berthelot et al. 2017) as three ganforge plugins.

* :class:`AutoencoderDiscriminator` (``began_ae``): D is an autoencoder; its
  "logit" for a sample is the sample's reconstruction error
  ``mean(|AE(x) - x|)``, one number per sample (``(B,)``) like any logit.
* :class:`BEGANLoss` (``began``): D minimises ``L(x) - k * L(G(z))``, G
  minimises ``L(G(z))``, where L is the mean reconstruction error. The
  equilibrium term ``k`` is device state: after every D update
  ``k <- clamp(k + lambda_k * (gamma * L(x) - L(G(z))), 0, 1)``, computed
  with ``torch.clamp`` on the device (no ``.item()``, no Python float that
  changes per step: the step stays capturable). ``k`` and the convergence
  measure ``M = L(x) + |gamma * L(x) - L(G(z))|`` are checkpointed by
  :meth:`~BEGANLoss.state_dict`, so a resumed run continues exactly.
* :class:`BEGANLog` (``began_log``): a trick that logs ``k`` and ``M`` with
  every log record. A loss has no ``on_log`` event; a trick's ``on_log``
  reads the run's loss from its context, on the host, once per log.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

import ganforge
from ganforge.options import integer, number, option, options


class AutoencoderDiscriminator(ganforge.Discriminator):
    """BEGAN's discriminator: a fully connected autoencoder; its output is each sample's mean L1 reconstruction error.

    Works on any sample shape (points or images, flattened). The output is
    ``(B,)`` and never negative: it is meant for the ``began`` loss, which
    reads it as L(x).

    Options:
        hidden: Width of the encoder's and decoder's hidden layers, default 128.
        code: Size of the bottleneck, default 16.
    """

    name = "began_ae"

    @options
    class Options:
        hidden: int = option(128, validator=integer(1), help="Width of the hidden layers.")
        code: int = option(16, validator=integer(1), help="Size of the autoencoder's bottleneck.")

    def __init__(self, spec: ganforge.ModelSpec, **options: Any):
        super().__init__(spec, **options)
        size, hidden = math.prod(spec.disc_input_shape), self.options.hidden
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ELU(),
                                     nn.Linear(hidden, self.options.code))
        self.decoder = nn.Sequential(nn.Linear(self.options.code, hidden), nn.ELU(), nn.Linear(hidden, size))

    def reconstruct(self, x: Tensor) -> Tensor:
        """The autoencoder's output for ``x``, in ``x``'s shape."""
        return self.decoder(self.encoder(x)).view_as(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return (self.reconstruct(x) - x).abs().flatten(1).mean(1)


class BEGANLoss(ganforge.Loss):
    """BEGAN's loss: D minimises L(x) - k L(G(z)), G minimises L(G(z)); k keeps gamma L(x) = L(G(z)) (device state).

    L is the discriminator's output, a reconstruction error (``began_ae``).
    ``k`` starts at ``k0`` and moves by ``lambda_k * (gamma * L(x) - L(G(z)))``
    after every D update, clamped to [0, 1]. Under DDP the two means are
    averaged across ranks first, so every rank keeps the same ``k``.

    Options:
        gamma: The diversity ratio gamma = E[L(G(z))] / E[L(x)] the equilibrium aims at, default 0.5.
        lambda_k: The step size of k, default 0.001.
        k0: k's starting value, default 0.
    """

    name = "began"
    uses_targets = False  # the objective reads no targets: label tricks are refused with it

    @options
    class Options:
        gamma: float = option(0.5, validator=number(0.0, 1.0, low_open=True),
                              help="Diversity ratio E[L(G(z))] / E[L(x)] the equilibrium aims at.")
        lambda_k: float = option(0.001, validator=number(0.0), help="Step size of the equilibrium term k.")
        k0: float = option(0.0, validator=number(0.0, 1.0), help="Starting value of k.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: The equilibrium term and the last convergence measure, 0-d tensors on the training device.
        self.k = torch.tensor(float(self.options.k0))
        self.convergence = torch.zeros(())

    def setup(self, ctx: ganforge.TrickContext) -> None:
        # Loss.setup runs once the run is built: the device is known. load_state_dict (on resume) runs after it.
        self.k = self.k.to(ctx.device)
        self.convergence = self.convergence.to(ctx.device)

    def discriminator_loss(self, ctx: ganforge.LossContext) -> Tensor:
        real_error, fake_error = ctx.real_logits.mean(), ctx.fake_logits.mean()
        k = self.k.clone()  # the value this update uses; the in-place update below must not touch autograd's copy
        with torch.no_grad():
            means = torch.stack([real_error, fake_error]).float()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(means)
                means = means / torch.distributed.get_world_size()
            balance = self.options.gamma * means[0] - means[1]
            self.k.copy_(torch.clamp(self.k + self.options.lambda_k * balance, 0.0, 1.0))
            self.convergence.copy_(means[0] + balance.abs())
        return real_error - k * fake_error

    def generator_loss(self, ctx: ganforge.LossContext) -> Tensor:
        return ctx.fake_logits.mean()

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k.detach().cpu().clone(), "convergence": self.convergence.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "k" in state:
            self.k.copy_(state["k"])
            self.convergence.copy_(state["convergence"])


class BEGANLog(ganforge.Trick):
    """Log BEGAN's equilibrium term k and its convergence measure M = L(x) + |gamma L(x) - L(G(z))| (loss 'began')."""

    name = "began_log"
    progress_keys = ("k", "convergence")

    def check_run(self, config: Any, tricks: Any, loss: ganforge.Loss, regularizers: Any) -> None:
        if not isinstance(loss, BEGANLoss):
            raise ganforge.IncompatibleError(
                f"The trick 'began_log' logs the 'began' loss's k and convergence measure, but the run's loss is "
                f"{config.loss!r}. Use --loss began, or drop began_log.")

    def on_log(self, ctx: ganforge.TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        # Host side, once per log: reading the device tensors here is the one synchronisation.
        return {"k": float(ctx.loss.k), "convergence": float(ctx.loss.convergence)}
