"""ganhacks #11: balancing the losses by extra discriminator updates -- the anti-pattern, made measurable."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.interfaces import StepBatch, Trick
from ganforge.tricks.layer_noise import check_number


class LossBalancing(Trick):
    """``while lossD > A: train D``, bounded: the loss-balancing schedule ganhacks #11 warns against.

    ganhacks #11 advises against balancing G and D through loss statistics
    (a schedule of G versus D updates is hard to find) and, for those who try
    anyway, gives ``while lossD > A: train D`` as an example. This trick implements exactly that so that its
    effect can be measured against a plain run, not because it is advised.

    After each training step (event ``after_step``, on the host) it compares
    ``lossD`` with ``threshold`` and, while it is larger, runs one more
    discriminator update (:meth:`Trainer.update_discriminator`: a fresh real
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

    def __init__(self, threshold: float = 2 * math.log(2), max_extra: int = 5):
        self.threshold = check_number("threshold", threshold, 0.0)
        if isinstance(max_extra, bool) or not isinstance(max_extra, int) or max_extra < 0:
            raise ConfigError(f"'max_extra' must be an integer >= 0 (got {max_extra!r})")
        self.max_extra = max_extra
        #: Extra D updates in the whole run (kept in checkpoints).
        self.total = 0
        #: Extra D updates since the last log.
        self.since_log = 0
        #: lossD of D's latest update (0-d device tensor), None before the first.
        self.last_loss: Tensor | None = None
        self._loss = None

    def setup(self, trainer: Any) -> None:
        self._loss = trainer.loss

    def extra_loss(self, net: str, batch: StepBatch) -> Tensor | None:
        """Record lossD of this discriminator update; adds nothing to the loss."""
        if net == "disc" and batch.real_logits is not None and self._loss is not None:
            with torch.no_grad():
                real, fake = batch.real_logits.detach(), batch.fake_logits.detach()
                self.last_loss = self._loss.d_loss(real, fake, torch.ones_like(real), torch.zeros_like(fake))
        return None

    def after_step(self, trainer: Any, step: int) -> None:
        extra = 0
        while extra < self.max_extra and self.last_loss is not None and float(self.last_loss) > self.threshold:
            trainer.update_discriminator()  # its extra_loss event refreshes last_loss
            extra += 1
        self.total += extra
        self.since_log += extra

    def on_log(self, trainer: Any, step: int, values: dict[str, float]) -> dict[str, float]:
        out = {"extra_d_updates": float(self.since_log)}
        self.since_log = 0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "since_log": self.since_log}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = int(state.get("total", 0))
        self.since_log = int(state.get("since_log", 0))
