"""The objective: :class:`LossContext`, :class:`Loss` and :class:`Regularizer`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from torch import Tensor

from ganforge.interfaces.base import _Named
from ganforge.options import build_options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces.dataset import Dataset
    from ganforge.interfaces.trick import TrickContext


@attrs.define
class LossContext:
    """What a loss, a regularizer or an extra-loss term sees of one update.

    One context is made for each network's update inside the training step.
    Its tensors lie on the training device; ``real``, ``fake`` and the logits
    are the ones the update's loss uses (so a term added to the loss shares
    their graph).

    Attributes:
        real: The real batch as the models see it, ``(B, *data_shape)``.
        real_labels: Its class labels ``(B,)`` or None.
        fake: The generated batch (attached to G's graph in G's update,
            detached in D's).
        fake_labels: Labels the fakes were generated for, or None.
        real_logits: D's logits on ``real`` (D's update; in G's update only
            when the loss sets :attr:`Loss.needs_real_logits_in_g`), else None.
        fake_logits: D's logits on ``fake``.
        real_targets, fake_targets: The targets of D's criterion for the real
            and the fake batch (1 and 0 unless a trick changed them). Fresh
            tensors each update: editing them in place changes nothing else.
        phase: ``"gen"`` or ``"disc"``: whose update this is.
        discriminate: ``discriminate(x, labels, real)`` runs D on a batch
            through the same input transforms the tricks apply to real
            (``real=True``) or fake batches (instance noise, DiffAugment, ...)
            and returns float logits ``(B,)``. In D's update it is the
            (DistributedDataParallel-wrapped, under DDP) D that trains, so
            gradients of a penalty reach D's parameters and are averaged
            across ranks like the loss's; in G's update it is D without the
            wrapper (its gradients are not taken).
        step: Training steps done before this one, a 0-d int64 tensor on the
            device (read it on the device, e.g. for a schedule; not ``.item()``).
        z: The latents that made ``fake`` (after the tricks' ``latent``
            transforms, so codes a trick put into them are there), or None
            where the fakes were not made in this update.
        condition: What G was conditioned on for ``fake`` (the data set's
            condition of the same rows as ``real``), or None.
        generate: ``generate(z, labels=None, condition=None)`` runs G (with
            gradient to G in G's update, without in D's): for terms that need
            more generator outputs than ``fake`` (a reconstruction, a cycle).
        loss: The run's :class:`Loss`, for terms that play a further
            adversarial pair (a second discriminator) with the same objective.
        data: The real batch from the data set, as the models see it: the
            same as ``real`` unless a trick's ``compared`` chose other sides
            for D (then ``real``/``fake`` are those sides, ``data`` the batch).
    """

    real: Tensor
    real_labels: Tensor | None
    fake: Tensor
    fake_labels: Tensor | None
    real_logits: Tensor | None = None
    fake_logits: Tensor | None = None
    real_targets: Tensor | None = None
    fake_targets: Tensor | None = None
    phase: str = "disc"
    discriminate: Callable[..., Tensor] | None = None
    step: Tensor | None = None
    z: Tensor | None = None
    condition: Tensor | None = None
    generate: Callable[..., Tensor] | None = None
    loss: Loss | None = None
    data: Tensor | None = None


#: The name extra-loss terms knew this context by before losses and regularizers used it.
StepBatch = LossContext


class Loss(_Named):
    """The adversarial objective, computed from logits.

    The simple form works on logits only: :meth:`criterion`, :meth:`d_loss`,
    :meth:`g_loss`. Target tensors hold the probability of "real" the
    discriminator should assign each sample (1 for real and 0 for fake unless
    a trick such as ``soft_labels`` changes them). A loss that needs more than
    logits (a gradient penalty, a relativistic objective) overrides
    :meth:`discriminator_loss` and/or :meth:`generator_loss`, which receive
    the whole :class:`LossContext`. Every method returns a scalar tensor.
    """

    #: False when the loss ignores the target tensors (hinge, Wasserstein): tricks
    #: that only change targets (soft_labels, noisy_labels, ...) are then refused.
    uses_targets: ClassVar[bool] = True
    #: True when :meth:`generator_loss` needs D's logits on the real batch (relativistic losses).
    needs_real_logits_in_g: ClassVar[bool] = False
    #: Tricks or regularizers this loss cannot work with: ``{name: reason}``. The run is refused
    #: before it starts, with the reason.
    conflicts: ClassVar[Mapping[str, str]] = {}
    #: False when :meth:`discriminator_loss` or :meth:`generator_loss` needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True

    def __init__(self, **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    def check_run(self, config: TrainConfig, dataset: Dataset) -> None:
        """Refuse a run this plugin cannot work in (raise :class:`~ganforge.errors.IncompatibleError` naming the
        clash and the fix), before the models are built; e.g. a penalty that needs image data."""

    def setup(self, ctx: TrickContext) -> None:
        """Prepare device state once the run is built (models, optimizers and data are on the device); e.g.
        a buffer on ``ctx.device`` or a network's feature size. Runs after the tricks' ``setup``; default: nothing."""

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover
        """The per-side discriminator criterion: how far ``logits`` are from ``targets``."""
        raise NotImplementedError

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        """The discriminator's loss on one real and one fake batch."""
        return self.criterion(real_logits, real_targets) + self.criterion(fake_logits, fake_targets)

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:  # pragma: no cover
        """The generator's loss, given the discriminator's logits on fresh fakes."""
        raise NotImplementedError

    def discriminator_loss(self, ctx: LossContext) -> Tensor:
        """D's loss for one update; by default :meth:`d_loss` on the context's logits and targets."""
        return self.d_loss(ctx.real_logits, ctx.fake_logits, ctx.real_targets, ctx.fake_targets)

    def generator_loss(self, ctx: LossContext) -> Tensor:
        """G's loss for one update; by default :meth:`g_loss` on the context's fake logits and targets."""
        return self.g_loss(ctx.fake_logits, ctx.real_targets, ctx.fake_targets)

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float] | None:
        """See the logged values every ``log_every`` steps; return extra values to log (e.g. a loss's own
        equilibrium term, read from its device state here, on the host), or None (the default)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors, numbers, strings and containers of them); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class Regularizer(_Named):
    """A penalty added to one network's loss, computed with the discriminator and the batches.

    Gradient penalties (R1 on reals, R2 on fakes, WGAN-GP on interpolates) and
    consistency terms (bCR) are regularizers; any of them composes with any
    :class:`Loss`. :meth:`penalty` returns the weighted term (a scalar) from
    the update's :class:`LossContext`; ``ctx.discriminate`` runs D through the
    tricks' input transforms, correctly under DDP.

    Lazy regularization (Karras et al. 2020): with :attr:`every` = k > 1 the
    penalty is not added to every update; instead, after every k-th step, D
    (or G) takes one extra optimizer step on ``k * penalty`` alone, computed on
    that step's first real batch and fresh fakes, so the penalty keeps its
    average weight at about 1/k of its cost.
    """

    #: Which network's loss the penalty joins: ``"disc"`` (default) or ``"gen"``.
    net: ClassVar[str] = "disc"
    #: False when :meth:`penalty` needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True
    #: False when the penalty cannot run under DDP; :attr:`ddp_note` says why.
    ddp_safe: ClassVar[bool] = True
    ddp_note: ClassVar[str] = ""
    #: Tricks, losses or regularizers this one cannot work with: ``{name: reason}`` (the run is refused).
    conflicts: ClassVar[Mapping[str, str]] = {}
    #: Steps between applications (1: added to every update; k > 1: lazy, see the class).
    every: int = 1

    def __init__(self, **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)
        self.every = int(getattr(self.options, "every", type(self).every))

    def check_run(self, config: TrainConfig, dataset: Dataset) -> None:
        """Refuse a run this plugin cannot work in (raise :class:`~ganforge.errors.IncompatibleError` naming the
        clash and the fix), before the models are built; e.g. a penalty that needs image data."""

    def setup(self, ctx: TrickContext) -> None:
        """Prepare device state once the run is built (models, optimizers and data are on the device); e.g.
        a buffer on ``ctx.device`` or a network's feature size. Runs after the tricks' ``setup``; default: nothing."""

    def penalty(self, ctx: LossContext) -> Tensor:  # pragma: no cover
        """The weighted penalty for the update ``ctx`` describes (a scalar tensor)."""
        raise NotImplementedError

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float] | None:
        """See the logged values every ``log_every`` steps; return extra values to log (e.g. a loss's own
        equilibrium term, read from its device state here, on the host), or None (the default)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors, numbers, strings and containers of them); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
