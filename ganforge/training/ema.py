"""Generator EMA: an exponential moving average of G's weights, updated inside the step.

Averaging the generator's weights over the last few thousand updates gives
samples of markedly higher quality than the last weights themselves
(Yazıcı et al. 2019; used by ProGAN, StyleGAN, BigGAN). After every generator
update, each averaged parameter moves toward the trained one::

    ema = beta * ema + (1 - beta) * weight

and the buffers (BatchNorm statistics) are copied. ``beta`` is 0 until
``start`` updates are done (the average copies G), then rises linearly over
``warmup`` updates to ``decay``. All of it is device arithmetic on a device
counter, so the update can be captured in a CUDA graph and needs no host
synchronisation; the counter is checkpointed with the weights, so a resumed
run continues the average exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn


class GeneratorEMA:
    """The averaged copy of a generator, and its in-step update.

    Args:
        gen: The generator being trained (its own module, not a wrapper).
        decay: The decay ``beta`` once warmed up, in (0, 1).
        start: Generator updates before averaging starts (the copy follows G until then).
        warmup: Updates after ``start`` over which ``beta`` rises linearly from 0 to ``decay``.
    """

    def __init__(self, gen: nn.Module, decay: float, start: int = 0, warmup: int = 0):
        self.decay, self.start, self.warmup = float(decay), int(start), int(warmup)
        #: The averaged generator: same class and structure as ``gen``, in eval mode, no gradients.
        self.model = copy.deepcopy(gen).eval().requires_grad_(False)
        self._source = gen
        self._pairs = [(e, p) for e, p in zip(self.model.parameters(), gen.parameters())]
        self._ema_params = [e for e, _ in self._pairs]
        self._gen_params = [p for _, p in self._pairs]
        self._ema_buffers = list(self.model.buffers())
        self._gen_buffers = list(gen.buffers())
        device = next(iter(self._gen_params), torch.empty(0)).device
        #: Generator updates seen so far (a device tensor, so the update stays capturable).
        self.updates = torch.zeros((), dtype=torch.float32, device=device)

    def beta(self) -> Tensor:
        """The decay for the next update, as a 0-d device tensor (the update count is read on the device)."""
        seen = self.updates + 1 - self.start
        if self.warmup > 0:
            ramp = (seen / self.warmup).clamp(0.0, 1.0)
        else:
            ramp = (seen > 0).float()
        return ramp * self.decay

    @torch.no_grad()
    def update(self) -> None:
        """Move the average toward the generator's current weights; copy its buffers (device work only)."""
        beta = self.beta()
        if self._ema_params:
            # ema <- ema + (1 - beta) * (weight - ema), i.e. beta * ema + (1 - beta) * weight
            torch._foreach_lerp_(self._ema_params, self._gen_params, 1.0 - beta)
        if self._ema_buffers:
            torch._foreach_copy_(self._ema_buffers, self._gen_buffers)
        self.updates.add_(1)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and the update counter."""
        return {"model": self.model.state_dict(), "updates": self.updates.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (in place: a captured step keeps using the same tensors)."""
        self.model.load_state_dict(state["model"])
        self.updates.copy_(state["updates"])

    def reset_to(self, gen: nn.Module) -> None:
        """Make the average equal to ``gen``'s weights with no updates seen (a checkpoint without an average)."""
        with torch.no_grad():
            self.model.load_state_dict(gen.state_dict())
        self.updates.zero_()
