"""WGAN's weight clipping (Arjovsky et al. 2017): the critic's parameters kept in [-c, c] after every update."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.interfaces import Trick
from ganforge.options import number, option, options


class ClipWeights(Trick):
    """Clamp every discriminator parameter to [-clip, clip] after each of its optimizer steps (Arjovsky et al. 2017).

    The Wasserstein loss (``wgan``) needs a Lipschitz critic; the original
    WGAN keeps it Lipschitz by clipping the critic's weights to a box after
    every critic update (the paper's c = 0.01, with 5 critic updates per
    generator update: add ``d_steps`` with k = 5). The clamp runs at the
    ``after_optimizer_step`` event, so it follows every discriminator update:
    each of ``d_steps``, the extra updates of ``loss_balancing`` and the lazy
    regularization updates. It changes the parameters in place on the device
    (capturable). Gulrajani et al. 2017 show clipping limits what the critic
    can represent; ``wgan_gp`` replaces it with a gradient penalty.

    Options:
        clip: The bound c on each parameter's absolute value, default 0.01 (the WGAN paper's value).
    """

    name = "clip_weights"
    description = "Clamp D's parameters to [-c, c] after every D update (WGAN weight clipping, c = 0.01)"

    @options
    class Options:
        clip: float = option(0.01, validator=number(0.0, low_open=True),
                             help="Bound c on the absolute value of every discriminator parameter (WGAN: 0.01).")

    def after_optimizer_step(self, net: str, module: nn.Module) -> None:
        if net != "disc":
            return
        clip = self.options.clip
        with torch.no_grad():
            for p in module.parameters():
                p.clamp_(-clip, clip)
