"""The fully connected models of PacGAN's 2-D experiments (Lin et al. 2018, after VEEGAN).

* Generator: four hidden layers of 400 units, each Linear (no bias) ->
  BatchNorm -> ReLU, then a linear output layer. The output is unbounded,
  which suits the 2-D mixtures: their model space is data / scale, the
  modes lie within [-1, 1] but nothing needs squashing.
* Discriminator: three maxout layers of 200 units with 5 pieces each, then a
  linear logit. It reads ``spec.disc_input_shape``, so the ``pack`` trick's
  m concatenated samples work unchanged.

Weights start from N(0, 0.02^2) and biases from 0, as in the PacGAN code's
configuration for these experiments. ``spectral_norm=True`` divides every
Linear weight (the maxout layers' included) by its largest singular value.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.layers import apply_spectral_norm
from ganforge.options import boolean, integer, number, option, options

_INIT_HELP = "Standard deviation of the initial weights (normal, mean 0)."
_SPECTRAL_HELP = "Spectrally normalise every Linear layer (Miyato et al. 2018)."


def _init_normal(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Maxout(nn.Module):
    """Linear maxout: ``pieces`` affine maps of the input, element-wise maximum (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.out_features, self.pieces).amax(dim=-1)


class PacGANGenerator(Generator):
    """PacGAN 2-D generator: 4 x (Linear 400, BatchNorm, ReLU), linear output."""

    name = "pacgan"
    description = "PacGAN/VEEGAN 2-D generator: 4 x 400 BatchNorm-ReLU layers, linear output"
    output_bounded = False

    @options
    class Options:
        hidden: int = option(400, validator=integer(1), help="Units per hidden layer.")
        layers: int = option(4, validator=integer(1), help="Number of hidden layers.")
        init_std: float = option(0.02, validator=number(0.0, low_open=True), help=_INIT_HELP)
        spectral_norm: bool = option(False, validator=boolean(), help=_SPECTRAL_HELP)

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        hidden, layers = o.hidden, o.layers
        if spec.conditional:
            raise ConfigError("generator 'pacgan' is unconditional; drop conditional=True (--conditional).")
        blocks: list[nn.Module] = []
        width = spec.latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            width = hidden
        blocks.append(nn.Linear(width, math.prod(spec.data_shape)))
        self.net = nn.Sequential(*blocks)
        _init_normal(self, o.init_std)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(z).view(z.shape[0], *self.spec.data_shape)


class PacGANDiscriminator(Discriminator):
    """PacGAN 2-D discriminator: 3 maxout layers (200 units x 5 pieces), linear logit."""

    name = "pacgan"
    description = "PacGAN/VEEGAN 2-D discriminator: 3 maxout layers of 200 units x 5 pieces"

    @options
    class Options:
        hidden: int = option(200, validator=integer(1), help="Units per maxout layer.")
        layers: int = option(3, validator=integer(1), help="Number of maxout layers.")
        pieces: int = option(5, validator=integer(1), help="Maxout pieces per unit.")
        init_std: float = option(0.02, validator=number(0.0, low_open=True), help=_INIT_HELP)
        spectral_norm: bool = option(False, validator=boolean(), help=_SPECTRAL_HELP + " Includes the head.")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        hidden, layers, pieces = o.hidden, o.layers, o.pieces
        if spec.conditional:
            raise ConfigError("discriminator 'pacgan' is unconditional; drop conditional=True (--conditional).")
        width = math.prod(spec.disc_input_shape)
        body: list[nn.Module] = []
        for _ in range(layers):
            body.append(Maxout(width, hidden, pieces))
            width = hidden
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(width, 1)
        _init_normal(self, o.init_std)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(x.reshape(x.shape[0], -1))


