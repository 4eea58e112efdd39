"""Learning-rate schedules computed on the device from the step count.

A schedule (``OptimConfig.schedule``, ``warmup``) makes each of the
optimizer's learning rates a 0-d tensor on the training device that the
training step overwrites at its start from a device step counter. PyTorch's
optimizers read a tensor learning rate on the device (fused and capturable
Adam included), so a CUDA-graphed step replays with the current rate, the
host never synchronises for it, and a resumed run (whose counter is set from
the checkpoint's step) continues the schedule exactly.

The factor that multiplies the configured ``lr`` at step ``t`` (0-based) of a
run of ``T`` steps, with ``w`` warm-up steps and ``f = final_lr / lr``:

* warm-up, ``t < w``: ``(t + 1) / w``;
* then ``p = (t - w) / max(1, T - w - 1)`` runs from 0 to 1, and
  ``"constant"``: 1; ``"linear"``: ``1 - (1 - f) p``;
  ``"cosine"``: ``f + (1 - f) (1 + cos(pi p)) / 2``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganforge.config import OptimConfig


def lr_factor(config: OptimConfig, step: Tensor, total: int) -> Tensor:
    """The factor on ``config.lr`` at 0-based ``step`` (a tensor) of a ``total``-step run, as a tensor like ``step``."""
    t = step.float()
    final = config.final_lr / config.lr
    w = config.warmup
    p = ((t - w) / max(1, total - w - 1)).clamp(0.0, 1.0)
    if config.schedule == "linear":
        factor = 1 - (1 - final) * p
    elif config.schedule == "cosine":
        factor = final + (1 - final) * (1 + torch.cos(math.pi * p)) / 2
    else:
        factor = torch.ones_like(t)
    if w > 0:
        factor = torch.where(t < w, (t + 1) / w, factor)
    return factor


class LRSchedule:
    """Sets one optimizer's learning rates on the device at each step.

    Args:
        optimizer: Its param groups' ``lr`` become 0-d tensors on ``device``
            (shared with this object, which writes them in place).
        config: The network's :class:`~ganforge.config.OptimConfig` (``lr``, ``schedule``, ``final_lr``, ``warmup``).
        total: Steps in the run (the decay ends at the last one).
        device: The training device.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: OptimConfig, total: int, device: torch.device):
        self.config, self.total = config, int(total)
        self.lrs: list[Tensor] = []
        self.bases: list[float] = []
        for group in optimizer.param_groups:
            base = float(group["lr"])
            tensor = torch.tensor(base, dtype=torch.float32, device=device)
            group["lr"] = tensor
            self.lrs.append(tensor)
            self.bases.append(base)
        self.optimizer = optimizer

    def apply(self, step: Tensor) -> None:
        """Write the learning rates for 0-based ``step`` (a device tensor) into the optimizer (device work only)."""
        factor = lr_factor(self.config, step, self.total)
        for lr, base in zip(self.lrs, self.bases):
            lr.copy_(factor * base)

    def reattach(self) -> None:
        """Put the shared lr tensors back into the param groups (after ``load_state_dict`` replaced them)."""
        for group, lr in zip(self.optimizer.param_groups, self.lrs):
            group["lr"] = lr

    def current(self) -> list[float]:
        """The learning rates now, on the host (a synchronisation: for logging only)."""
        return [float(lr) for lr in self.lrs]
