"""ganhacks #17: dropout in the generator, at training and at sampling time."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import boolean, integer, number, option, optional, options
from ganforge.tricks._layers import insert_after_hidden_activations


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
    eval mode and then calls :meth:`on_sample` with the generator it samples
    from (the trained G, or the weight-averaged copy of ``ema_decay``, which
    holds dropout modules of its own), which (re)applies the ``at_sampling``
    setting to every dropout module of that generator.

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

    @options
    class Options:
        p: float = option(0.5, validator=number(0.0, 1.0, high_open=True),
                          help="Dropout probability, in [0, 1) (p = 1 would drop every activation).")
        layers: int | None = option(None, validator=optional(integer(1)),
                                    help="Only after the first this many hidden activations (None: all of them).")
        at_sampling: bool = option(True, validator=boolean(), help="Keep dropout on when sampling (eval mode).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: The dropout modules inserted into the trained G, in call order (after :meth:`modify_models`).
        self.inserted: list[AlwaysOnDropout] = []

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        p, at_sampling = self.options.p, self.options.at_sampling
        self.inserted = insert_after_hidden_activations(
            gen, lambda: AlwaysOnDropout(p, always=at_sampling), self.name, first=self.options.layers
        )
        return gen, disc

    def on_sample(self, gen: Generator) -> None:
        """Set every dropout module of ``gen``, the generator being sampled (in eval mode), to ``at_sampling``."""
        for module in gen.modules():
            if isinstance(module, AlwaysOnDropout):
                module.always = self.options.at_sampling
