"""Two tricks written against ganforge's trick events.

* :class:`ClipWeights` -- WGAN's weight clipping after every critic update: an
  option, an in-step event, a device counter logged and checkpointed.
* :class:`WeightAverage` -- an EMA-style average of the generator's weights
  kept by a trick: updated in-step after every generator update, swapped into
  the generator around every sampling, checkpointed. (ganforge has its own
  generator EMA, ``ema_decay``; this shows how a third party writes one.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

import ganforge
from ganforge.options import number, option, options


class ClipWeights(ganforge.Trick):
    """Clamp every discriminator parameter to [-clip, clip] after each of its updates (Arjovsky et al. 2017).

    Acts at ``after_optimizer_step``, which follows every optimizer step of a
    network (so every critic update under ``d_steps``), with in-place device
    operations: the step stays capturable. Logs ``clipped_updates``, the
    number of critic updates it clipped, counted on the device and kept in
    checkpoints.

    Options:
        clip: Bound on the absolute value of each weight, default 0.01 (the WGAN paper's value).
    """

    name = "example_clip_weights"  # ganforge's builtin "clip_weights" does the same; names are unique per kind
    progress_keys = ("clipped_updates",)

    @options
    class Options:
        clip: float = option(0.01, validator=number(0.0, low_open=True),
                             help="Bound on the absolute value of each discriminator weight.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.clipped = torch.zeros((), dtype=torch.int64)

    def setup(self, ctx: Any) -> None:
        self.clipped = self.clipped.to(ctx.device)

    def after_optimizer_step(self, net: str, module: nn.Module) -> None:
        if net != "disc":
            return
        with torch.no_grad():
            for p in module.parameters():
                p.clamp_(-self.options.clip, self.options.clip)
        self.clipped.add_(1)  # a device counter: no Python state changes inside the step

    def on_log(self, ctx: Any, step: int, values: dict[str, float]) -> dict[str, float]:
        return {"clipped_updates": int(self.clipped)}  # read on the host once per log

    def state_dict(self) -> dict[str, Any]:
        return {"clipped": self.clipped.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "clipped" in state:
            self.clipped.copy_(state["clipped"])


class WeightAverage(ganforge.Trick):
    """Sample from an exponential moving average of the generator's weights (an EMA kept by a trick).

    After every generator update (``after_optimizer_step``) each averaged
    tensor moves toward the trained one, ``avg += (1 - decay) * (w - avg)``,
    on the device. ``sampling_weights`` swaps the averages into the generator
    for every sampling (sample grids, evaluation, ``ganforge sample``) and
    restores the trained weights afterwards, so training never sees them.

    Options:
        decay: The average's decay per generator update, default 0.999.
    """

    name = "example_average"

    @options
    class Options:
        decay: float = option(0.999, validator=number(0.0, 1.0, high_open=True),
                              help="Decay of the average per generator update.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.average: list[torch.Tensor] = []
        self._params: list[torch.Tensor] = []

    def setup(self, ctx: Any) -> None:
        self._params = [p for p in ctx.gen.parameters()]
        self.average = [p.detach().clone() for p in self._params]

    def after_optimizer_step(self, net: str, module: nn.Module) -> None:
        if net == "gen":
            with torch.no_grad():
                torch._foreach_lerp_(self.average, self._params, 1.0 - self.options.decay)

    @contextlib.contextmanager
    def sampling_weights(self, gen: nn.Module) -> Iterator[None]:
        params = list(gen.parameters())
        trained = [p.detach().clone() for p in params]
        with torch.no_grad():
            torch._foreach_copy_(params, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, trained)

    def state_dict(self) -> dict[str, Any]:
        return {"average": [a.detach().cpu().clone() for a in self.average]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for avg, saved in zip(self.average, state.get("average", [])):
            avg.copy_(saved)
