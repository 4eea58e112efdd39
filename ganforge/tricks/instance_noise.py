"""ganhacks #13 (first half): instance noise on the discriminator's inputs, annealed to zero."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.interfaces import Trick
from ganforge.tricks.layer_noise import check_number


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

    def __init__(self, sigma0: float = 0.1, anneal_steps: int | None = None):
        self.sigma0 = check_number("sigma0", sigma0, 0.0)
        if anneal_steps is not None and (
            isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int) or anneal_steps < 1
        ):
            raise ConfigError(
                f"'anneal_steps' must be None (the run's steps) or an integer >= 1 (got {anneal_steps!r})"
            )
        self.anneal_steps = anneal_steps
        #: The current standard deviation (0-d float tensor, on the Trainer's device after setup).
        self.sigma = torch.tensor(self.sigma0)

    def sigma_at(self, step: int) -> float:
        """The standard deviation used in step ``step`` (0-based)."""
        if self.anneal_steps is None:
            raise ConfigError("instance_noise: anneal_steps is unknown before setup(); pass anneal_steps=N.")
        return self.sigma0 * max(0.0, 1.0 - step / self.anneal_steps)

    def setup(self, trainer: Any) -> None:
        if self.anneal_steps is None:
            self.anneal_steps = int(trainer.config.steps)
        self.sigma = torch.tensor(self.sigma_at(trainer.step), device=trainer.device)

    def before_step(self, trainer: Any, step: int) -> None:
        self.sigma.fill_(self.sigma_at(step))

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        return x + torch.randn_like(x) * self.sigma.to(x.dtype)

    def on_log(self, trainer: Any, step: int, values: dict[str, float]) -> dict[str, float]:
        return {"instance_noise_sigma": self.sigma_at(step - 1)}

    def state_dict(self) -> dict[str, Any]:
        return {"anneal_steps": self.anneal_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("anneal_steps") is not None:
            self.anneal_steps = int(state["anneal_steps"])
