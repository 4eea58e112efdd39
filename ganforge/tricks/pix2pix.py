"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN and an L1 term."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import Tensor

from ganforge.errors import IncompatibleError
from ganforge.interfaces import ModelSpec, Trick
from ganforge.options import number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces import Discriminator, Generator, Loss, LossContext, Regularizer


def image_condition(spec: ModelSpec, trick: str, example: str) -> tuple[int, int]:
    """``(condition channels, sample channels)`` of a run translating images of one size, or an IncompatibleError."""
    if spec.condition_shape is None:
        raise IncompatibleError(
            f"Trick '{trick}' translates the data set's condition, and this data set offers none: use a data set "
            f"with a condition ({example}).")
    cond, data = tuple(spec.condition_shape), tuple(spec.data_shape)
    if len(cond) != 3 or len(data) != 3 or cond[1:] != data[1:]:
        raise IncompatibleError(
            f"Trick '{trick}' translates images into images of the same size; this data set's conditions have shape "
            f"{cond} and its samples {data}. Use a data set whose conditions and samples are images of one size "
            f"({example}).")
    return cond[0], data[0]


class Pix2Pix(Trick):
    """pix2pix (Isola et al. 2017): D judges (condition, sample) pairs; G also pays an L1 distance to the target.

    The run's generator translates the data set's condition (``gen="unet"``,
    a paired data set such as ``mnist-edges2digits`` or ``paired-folder``).
    The discriminator (e.g. ``disc="patchgan"``, unconditional) is built for
    inputs of ``C_cond + C`` channels (:meth:`adjust_spec`) and judges pairs:
    :meth:`compared` puts the condition before the sample, real pairs
    ``(c, x)`` against fake pairs ``(c, G(c))`` -- the row order the paired
    data sets store. The loss, the regularizers (R1 on the real pairs, ...),
    target tricks and ``disc_input`` transforms all work on the pairs.

    G's loss gets ``l1_weight * mean |G(c) - x|`` (:meth:`extra_loss`; the
    paper's lambda = 100) on the generated sample beside its target.

    The paper's noise is the generator's dropout (``unet``'s ``dropout``), not
    a latent: train with ``latent_dim=0`` (the ``pix2pix-mnist`` preset does).
    With a latent, a ``unet`` broadcasts its channels over the image, which the
    network learns to ignore (as Isola et al. observed of z).

    Options:
        l1_weight: lambda of the L1 term, default 100 (Isola et al.); 0 gives the cGAN alone.
    """

    name = "pix2pix"
    requires_condition = True
    description = "pix2pix (Isola et al. 2017): D judges (condition, sample) pairs, G adds lambda * L1 to the target"
    #: Replayed fakes belong to other conditions (the pairs would lie); pack stacks samples where pix2pix stacks the
    #: condition; cyclegan is the other translation scheme.
    conflicts = ("experience_replay", "pack", "cyclegan")

    @options
    class Options:
        l1_weight: float = option(100.0, validator=number(0.0),
                                  help="Weight of the L1 distance between G(c) and the target (Isola et al.: 100).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Channels of the condition (known once the spec is adjusted).
        self.condition_channels: int | None = None

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        if config.conditional:
            raise IncompatibleError("Trick 'pix2pix' cannot train conditionally: its fakes would get random class "
                                    "labels beside the real pairs' own. Drop conditional=True (--conditional).")

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        cond, data = image_condition(spec, self.name, "--data mnist-edges2digits or paired-folder")
        self.condition_channels = cond
        _, h, w = spec.data_shape
        return attrs.evolve(spec, disc_input_shape=(cond + data, h, w))

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if not getattr(gen, "takes_condition", False):
            raise IncompatibleError(
                f"Trick 'pix2pix' needs a generator that translates the condition; '{gen.name}' draws from latents "
                "alone. Use gen='unet' (--gen unet).")
        if getattr(disc, "takes_condition", False):
            raise IncompatibleError(
                f"Trick 'pix2pix' shows the discriminator (condition, sample) pairs itself; '{disc.name}' takes the "
                "condition on its own as well. Use an unconditional discriminator such as disc='patchgan'.")
        return gen, disc

    def compared(self, phase: str, real: Tensor, fake: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        condition = ctx.condition.to(real.dtype)
        return torch.cat([condition, real], dim=1), torch.cat([condition.to(fake.dtype), fake], dim=1)

    def extra_loss(self, net: str, ctx: LossContext) -> Tensor | None:
        if net != "gen" or self.options.l1_weight == 0:
            return None
        made = ctx.fake[:, self.condition_channels:]  # the fake side is the pair (condition, G(c))
        return self.options.l1_weight * (made.float() - ctx.data.float()).abs().mean()
