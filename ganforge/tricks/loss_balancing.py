"""ganhacks #11: balancing the losses by extra discriminator updates -- the anti-pattern, made measurable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganforge.errors import IncompatibleError
from ganforge.interfaces import Loss, LossContext, Regularizer, Trick
from ganforge.options import integer, number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces import TrickContext


class LossBalancing(Trick):
    """``while lossD > A: train D``, bounded: the loss-balancing schedule ganhacks #11 warns against.

    ganhacks #11 advises against balancing G and D through loss statistics
    (a schedule of G versus D updates is hard to find) and, for those who try
    anyway, gives ``while lossD > A: train D`` as an example. This trick implements exactly that so that its
    effect can be measured against a plain run, not because it is advised.

    After each training step (event ``after_step``, on the host) it compares
    ``lossD`` with ``threshold`` and, while it is larger, runs one more
    discriminator update (:meth:`~ganforge.interfaces.TrickContext.update_discriminator`: a fresh real
    batch and fresh fakes), at most ``max_extra`` times per step. ``lossD`` is
    the chosen Loss's ``d_loss`` with plain 1/0 targets on the logits of D's
    latest update (the step's last D update, then each extra one), before
    that update was applied; target tricks (soft labels) and extra loss terms
    are left out, so the comparison means the same with every trick.
    Reading it is a host synchronisation per step, so the step is not
    CUDA-graphed (``capturable = False``).

    Logged every interval: ``extra_d_updates`` (extra updates in the interval).

    Options:
        threshold: ``A``, default ``2 ln 2 ~= 1.386`` (ganhacks gives no
            number; this is the non-saturating/BCE loss of a D that outputs
            1/2 everywhere, i.e. no better than chance).
        max_extra: Most extra D updates per step, default 5 (our choice).
    """

    name = "loss_balancing"
    description = "Anti-pattern (ganhacks #11): extra D updates while D's loss > A, at most max_extra per step"
    ganhacks = 11
    capturable = False
    ddp_safe = False
    ddp_note = ("it decides from each rank's own loss whether to run extra D updates, so ranks would run "
                "different numbers of synchronised updates and wait on each other forever")

    @options
    class Options:
        threshold: float = option(2 * math.log(2), validator=number(0.0),
                                  help="A: extra D updates while D's loss exceeds it (2 ln 2: BCE at chance).")
        max_extra: int = option(5, validator=integer(0), help="Most extra D updates per step.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Extra D updates in the whole run (kept in checkpoints).
        self.total = 0
        #: Extra D updates since the last log.
        self.since_log = 0
        #: lossD of D's latest update (0-d device tensor), None before the first.
        self.last_loss: Tensor | None = None
        self._loss = None

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        if type(loss).d_loss is Loss.d_loss and type(loss).criterion is Loss.criterion:
            raise IncompatibleError(
                f"Trick 'loss_balancing' compares the loss's d_loss() with its threshold, but loss '{loss.name}' "
                "defines only discriminator_loss(ctx) (the context form). Drop the trick, or use a loss with "
                "criterion() or d_loss() (bce, minimax)."
            )

    def setup(self, ctx: TrickContext) -> None:
        self._loss = ctx.loss

    def extra_loss(self, net: str, batch: LossContext) -> Tensor | None:
        """Record lossD of this discriminator update; adds nothing to the loss."""
        if net == "disc" and batch.real_logits is not None and self._loss is not None:
            with torch.no_grad():
                real, fake = batch.real_logits.detach(), batch.fake_logits.detach()
                self.last_loss = self._loss.d_loss(real, fake, torch.ones_like(real), torch.zeros_like(fake))
        return None

    def after_step(self, ctx: TrickContext, step: int) -> None:
        extra, limit, threshold = 0, self.options.max_extra, self.options.threshold
        while extra < limit and self.last_loss is not None and float(self.last_loss) > threshold:
            ctx.update_discriminator()  # its extra_loss event refreshes last_loss
            extra += 1
        self.total += extra
        self.since_log += extra

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        out = {"extra_d_updates": float(self.since_log)}
        self.since_log = 0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "since_log": self.since_log}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = int(state.get("total", 0))
        self.since_log = int(state.get("since_log", 0))
