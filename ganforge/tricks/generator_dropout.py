"""ganhacks #17: dropout in the generator, at training and at sampling time."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.tricks.layer_noise import check_number, insert_after_hidden_activations


class AlwaysOnDropout(nn.Module):
    """Dropout that stays active in eval mode while ``always`` is True.

    Args:
        p: Probability of zeroing an element; kept elements are scaled by ``1 / (1 - p)``.
        always: Drop in eval mode too (default True); False behaves like ``nn.Dropout``.
    """

    def __init__(self, p: float, always: bool = True):
        super().__init__()
        self.p = float(p)
        self.always = bool(always)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.always or self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, always={self.always}"


class GeneratorDropout(Trick):
    """Dropout (p = 0.5) on the generator's hidden layers, kept on at sampling time (ganhacks #17).

    ganhacks #17 (after Isola et al. 2017, pix2pix, where dropout is G's
    only source of noise) applies 50% dropout to several layers of G at both
    training and test time. :meth:`modify_models` follows each hidden
    activation of G (the output activation excluded) with an
    :class:`AlwaysOnDropout`, which drops in eval mode too. Sampling puts G in
    eval mode and then calls :meth:`on_sample`, which (re)applies the
    ``at_sampling`` setting to every inserted module.

    Options:
        p: Dropout probability, default 0.5 (ganhacks' number).
        layers: Apply after the first ``layers`` hidden activations only,
            counted from the latent side; default None: all of them (ganhacks
            says "several layers" without a number).
        at_sampling: Keep dropout on when sampling (eval mode), default True
            (ganhacks); False makes it ordinary training-only dropout.
    """

    name = "generator_dropout"
    description = "Dropout p=0.5 after G's hidden layers, also active when sampling"
    ganhacks = 17

    def __init__(self, p: float = 0.5, layers: int | None = None, at_sampling: bool = True):
        self.p = check_number("p", p, 0.0, 1.0)
        if self.p == 1.0:
            raise ConfigError("'p' must be below 1 (got 1.0): p = 1 drops every activation.")
        if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 1):
            raise ConfigError(f"'layers' must be None (all hidden layers) or an integer >= 1 (got {layers!r})")
        if not isinstance(at_sampling, bool):
            raise ConfigError(f"'at_sampling' must be true or false (got {at_sampling!r})")
        self.layers = layers
        self.at_sampling = at_sampling
        self.inserted: list[AlwaysOnDropout] = []

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        self.inserted = insert_after_hidden_activations(
            gen, lambda: AlwaysOnDropout(self.p, always=self.at_sampling), self.name, first=self.layers
        )
        return gen, disc

    def on_sample(self, gen: Generator) -> None:
        """Switch the dropout modules to ``at_sampling`` (G is in eval mode here)."""
        for module in self.inserted:
            module.always = self.at_sampling
