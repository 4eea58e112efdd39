"""An adversarial autoencoder (Makhzani et al. 2016) as one ganforge trick.

The scheme, in ganforge's pieces:

* G is the decoder (any ganforge generator: ``mlp``, ``dcgan``, ...), from a
  code of ``latent_dim`` numbers to a sample.
* The encoder E is a network the trick declares (:meth:`AdversarialAutoencoder.networks`),
  *joined* to G: its parameters sit in G's optimizer and learn in G's update.
* D judges codes, not data: :meth:`~AdversarialAutoencoder.adjust_spec` makes
  its input ``(latent_dim,)``, and :meth:`~AdversarialAutoencoder.compared`
  hands it codes drawn from the prior (the "real" side) against E's codes of
  the real batch (the "fake" side). The run's loss (``bce`` by default, any
  builtin works), target tricks and regularizers then play this game through
  ganforge's own adversarial path: in G's update E learns to make codes D
  takes for prior draws.
* The reconstruction ``||G(E(x)) - x||^2`` is the encoder's
  :meth:`~AdversarialAutoencoder.network_loss`, added to G's update: it trains
  E and G together.

Everything in the step is device work (no ``.item()``, no Python state that
changes per step), so the step stays capturable.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import Tensor, nn

import ganforge
from ganforge.interfaces import Network
from ganforge.options import choice, integer, number, option, options


class Encoder(nn.Module):
    """A fully connected encoder from a sample of any shape to a code: Linear-LeakyReLU blocks, a linear output."""

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(data_shape), hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, latent_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class AdversarialAutoencoder(ganforge.Trick):
    """AAE (Makhzani et al. 2016): an encoder joined to G (the decoder); D tells prior codes from encoded data.

    D's input becomes a code of ``latent_dim`` numbers, so the discriminator
    must take vectors (``mlp``, the default). The adversarial loss is the
    run's; the encoder's reconstruction term ``weight * mean((G(E(x)) - x)^2)``
    joins G's update. Sampling is G on prior codes, as for any ganforge run.

    Options:
        hidden: Width of the encoder's two hidden layers, default 256.
        reconstruction: Weight of the reconstruction term, default 1.
        prior: The codes' prior: ``"gaussian"`` (N(0, 1), ganforge's latents) or
            ``"uniform"`` (U(-1, 1)); sampling draws G's latents from N(0, 1) either way.
    """

    name = "aae"

    @options
    class Options:
        hidden: int = option(256, validator=integer(1), help="Width of the encoder's hidden layers.")
        reconstruction: float = option(1.0, validator=number(0.0),
                                       help="Weight of the reconstruction term mean((G(E(x)) - x)^2).")
        prior: str = option("gaussian", validator=choice("gaussian", "uniform"),
                            help="Prior of the codes D sees as real.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.encoder: Encoder | None = None

    def adjust_spec(self, spec: ganforge.ModelSpec) -> ganforge.ModelSpec:
        # D judges codes: its input is one code of latent_dim numbers.
        return attrs.evolve(spec, disc_input_shape=(spec.latent_dim,))

    def networks(self, spec: ganforge.ModelSpec) -> dict[str, Network]:
        # spec.data_shape is the data's shape (adjust_spec changed only D's input).
        self.encoder = Encoder(spec.data_shape, spec.latent_dim, self.options.hidden)
        return {"encoder": Network(self.encoder, phase="gen", optimizer="joined")}

    def _prior(self, like: Tensor) -> Tensor:
        if self.options.prior == "uniform":
            return torch.rand_like(like) * 2 - 1
        return torch.randn_like(like)

    def compared(self, phase: str, real: Tensor, fake: Tensor, ctx: ganforge.LossContext) -> tuple[Tensor, Tensor]:
        # ctx.data is the real batch; real and fake are what D would otherwise compare.
        if phase == "gen":
            codes = self.encoder(ctx.data)  # with gradient: G's update trains E to fool D
        else:
            with torch.no_grad():
                codes = self.encoder(ctx.data)
        return self._prior(codes), codes

    def network_loss(self, name: str, ctx: ganforge.LossContext) -> Tensor | None:
        # In G's update ctx.fake is the fake side compare() chose: E(x), with gradient to E.
        recon = ctx.generate(ctx.fake, ctx.real_labels, ctx.condition)
        return self.options.reconstruction * (recon - ctx.data).pow(2).mean()
