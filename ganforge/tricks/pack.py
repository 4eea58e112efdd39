"""PacGAN packing (Lin et al. 2018): the discriminator judges m samples at once.

Real and fake batches of B samples are each reshaped into B/m *packs*: m
consecutive samples concatenated along the first feature axis (the features
of 2-D points, the channels of images), so that the discriminator sees
``(B/m, m * d0, ...)`` and returns B/m logits. Every sample in a pack is of
the same kind (all real or all fake). A discriminator that sees several
samples together can tell a collapsed generator by the lack of diversity
inside a pack, which the paper shows penalises mode collapse.

How it fits the step: :meth:`Pack.adjust_spec` widens
``spec.disc_input_shape`` so the discriminator is built for packs;
:meth:`Pack.disc_input` packs every batch, in both networks' updates; the
step then makes one target per logit, so one per pack, and every loss works
unchanged. Unlike the PacGAN code, which draws m
full batches per update, one ganforge batch of B samples makes B/m packs:
multiply ``batch_size`` by m for the same number of discriminator decisions.

Batch sizes must be multiples of m. Packing is not combined with
conditional training (labels are per sample) nor with tricks that show D
mixed real/fake batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
from torch import Tensor

from ganforge.errors import ConfigError, IncompatibleError
from ganforge.interfaces import Loss, ModelSpec, Regularizer, Trick
from ganforge.options import integer, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig


class Pack(Trick):
    """PacGAN packing: the discriminator judges m samples concatenated (default m = 4).

    Options:
        m: Samples per pack, default 4 (PacGAN4). ``m = 1`` changes nothing.
    """

    name = "pack"
    description = "PacGAN: D judges packs of m samples concatenated (m=4)"

    @options
    class Options:
        m: int = option(4, validator=integer(1), help="Samples per pack (1 changes nothing).")

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        if spec.conditional:
            raise IncompatibleError(
                "Trick 'pack' cannot be used with conditional training: labels belong to single samples, "
                "not packs. Drop conditional=True (--conditional) or the trick."
            )
        first, *rest = spec.disc_input_shape
        return attrs.evolve(spec, disc_input_shape=(first * self.options.m, *rest))

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        batch, m = config.batch_size, self.options.m
        if batch % m:
            low = max(m, batch - batch % m)
            raise ConfigError(
                f"Trick 'pack' with m={m} needs batch_size to be a multiple of {m} (got {batch}); "
                f"use batch_size={low} or {low + m}."
            )
        mixing = [t.name for t in tricks if t.mixed_batches]
        if mixing:
            raise IncompatibleError(
                f"Trick 'pack' packs pure real and pure fake batches; {', '.join(repr(m) for m in mixing)} mixes "
                "real and fake samples in one batch, so it cannot be combined with it."
            )

    def pack(self, x: Tensor) -> Tensor:
        """Reshape ``(B, d0, ...)`` to ``(B/m, m * d0, ...)``; consecutive samples form a pack."""
        n, m = x.shape[0], self.options.m
        if n % m:
            raise ConfigError(f"Trick 'pack' with m={m} got a batch of {n} samples; use a multiple of {m}.")
        return x.reshape(n // m, m * x.shape[1], *x.shape[2:])

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        return self.pack(x)
