"""ganhacks #13 (first half): instance noise on the discriminator's inputs, annealed to zero."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.interfaces import Trick
from ganforge.options import integer, number, option, optional, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext


class InstanceNoise(Trick):
    """Gaussian noise on every discriminator input, real and fake, decaying linearly to 0 (ganhacks #13).

    Instance noise (ganhacks cites Arjovsky et al. and Huszár 2016; see also
    Sønderby et al. 2016 and Arjovsky & Bottou 2017) blurs the real and the fake
    distribution so that they overlap and D cannot separate them perfectly
    early in training. Before step ``t`` the standard deviation is set to
    ``sigma0 * max(0, 1 - t / anneal_steps)``: ``sigma0`` at step 0, zero from
    step ``anneal_steps`` on. Noise is added in model space (data in [-1, 1]).

    sigma lives in a device tensor that :meth:`before_step` overwrites in
    place, so the step reads it without a host synchronisation and can be
    captured in a CUDA graph.

    Options:
        sigma0: Initial standard deviation, default 0.1 (ganhacks gives no
            number; 0.1 is our choice, 5% of the [-1, 1] data range).
        anneal_steps: Steps over which sigma falls to 0; default None: the
            run's ``steps``. The value is fixed at setup and kept in
            checkpoints, so resuming with a larger ``steps`` keeps the schedule.
    """

    name = "instance_noise"
    description = "Gaussian noise on D's real and fake inputs, sigma 0.1 -> 0 linearly over the run"
    ganhacks = 13

    @options
    class Options:
        sigma0: float = option(0.1, validator=number(0.0), help="Standard deviation of the noise at step 0, in "
                                                                 "model units (data in [-1, 1]).")
        anneal_steps: int | None = option(None, validator=optional(integer(1)),
                                          help="Steps over which sigma falls linearly to 0 (None: the run's steps).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Steps over which sigma falls to 0: the option, or the run's ``steps`` once set up (kept in checkpoints).
        self.anneal_steps: int | None = self.options.anneal_steps
        #: The current standard deviation (0-d float tensor, on the Trainer's device after setup).
        self.sigma = torch.tensor(float(self.options.sigma0))

    def sigma_at(self, step: int) -> float:
        """The standard deviation used in step ``step`` (0-based)."""
        if self.anneal_steps is None:
            raise ConfigError("instance_noise: anneal_steps is unknown before setup(); pass anneal_steps=N.")
        return self.options.sigma0 * max(0.0, 1.0 - step / self.anneal_steps)

    def setup(self, ctx: TrickContext) -> None:
        if self.anneal_steps is None:
            self.anneal_steps = int(ctx.config.steps)
        self.sigma = torch.tensor(self.sigma_at(ctx.step), device=ctx.device)

    def before_step(self, ctx: TrickContext, step: int) -> None:
        self.sigma.fill_(self.sigma_at(step))

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        return x + torch.randn_like(x) * self.sigma.to(x.dtype)

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        return {"instance_noise_sigma": self.sigma_at(step - 1)}

    def state_dict(self) -> dict[str, Any]:
        return {"anneal_steps": self.anneal_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("anneal_steps") is not None:
            self.anneal_steps = int(state["anneal_steps"])
