"""ganhacks #13 (second half): Gaussian noise after every hidden layer of the generator."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import number, option, options
from ganforge.tricks._layers import insert_after_hidden_activations


class GaussianNoise(nn.Module):
    """Adds ``N(0, std^2)`` noise to its input in training mode; identity in eval mode.

    Args:
        std: Standard deviation of the noise, in the units of the layer's output.
    """

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + torch.randn_like(x) * self.std

    def extra_repr(self) -> str:
        return f"std={self.std}"


class LayerNoise(Trick):
    """Add Gaussian noise to the output of every hidden layer of the generator (ganhacks #13).

    ganhacks #13 cites Zhao et al. 2016 (EBGAN) for noise on every layer of
    G. In :meth:`modify_models` each hidden activation module of G (see
    :func:`ganforge.tricks._layers.hidden_activations`; the output activation is left alone) is
    followed by a :class:`GaussianNoise` module. The noise is drawn fresh on
    every forward pass in training mode and is off in eval mode, so sampling
    (which puts G in eval mode) is noise-free.

    Options:
        std: Standard deviation of the noise, default 0.1 (ganhacks gives no
            number; 0.1 is our choice, small next to LeakyReLU outputs of
            order 1).
    """

    name = "layer_noise"
    description = "Gaussian noise (std 0.1) after every hidden layer of G, in training"
    ganhacks = 13

    @options
    class Options:
        std: float = option(0.1, validator=number(0.0), help="Standard deviation of the noise after each hidden "
                                                              "layer of G, in the units of the layer's output.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: The inserted noise modules, in call order (after :meth:`modify_models`).
        self.inserted: list[GaussianNoise] = []

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        std = self.options.std
        self.inserted = insert_after_hidden_activations(gen, lambda: GaussianNoise(std), self.name)
        return gen, disc
