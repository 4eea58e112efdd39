"""A trick with an option, device state and a checkpointed counter: WGAN's weight clipping."""

from __future__ import annotations

from typing import Any

import torch

import ganforge


class ClipWeights(ganforge.Trick):
    """Clamp every discriminator parameter to [-clip, clip] after each step (Arjovsky et al. 2017).

    Runs at the host-side ``after_step`` event (in-place device operations,
    no synchronisation). Logs ``clipped_steps``, the number of steps it acted
    on, which it keeps in checkpoints.

    Options:
        clip: Bound on the absolute value of each weight, default 0.01 (the WGAN paper's value).
    """

    name = "example_clip_weights"  # ganforge's builtin "clip_weights" clips after every D update
    progress_keys = ("clipped_steps",)

    def __init__(self, clip: float = 0.01):
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
            raise ganforge.ConfigError(f"'clip' must be a number > 0 (got {clip!r})")
        self.clip = float(clip)
        self.clipped_steps = 0

    def setup(self, trainer: Any) -> None:
        self.params = list(trainer.disc.parameters())

    def after_step(self, trainer: Any, step: int) -> None:
        with torch.no_grad():
            for p in self.params:
                p.clamp_(-self.clip, self.clip)
        self.clipped_steps += 1

    def on_log(self, trainer: Any, step: int, values: dict[str, float]) -> dict[str, float]:
        return {"clipped_steps": self.clipped_steps}

    def state_dict(self) -> dict[str, Any]:
        return {"clipped_steps": self.clipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clipped_steps = int(state.get("clipped_steps", 0))
