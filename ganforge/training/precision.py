"""A run's arithmetic in one object: :class:`Precision` (autocast, loss scaling, backward, optimizer step, state).

``precision="fp32"`` runs as written; ``"bf16"`` runs the models under autocast in bfloat16; ``"fp16"``
runs them in float16 with a ``torch.amp.GradScaler`` (float16 gradients underflow without loss
scaling). Everything the step does differently for these three lives here, so the step reads the
same whatever the precision, and the Trainer saves and restores the scaler through this object.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import IncompatibleError

#: The precisions a run may ask for.
PRECISIONS = ("fp32", "bf16", "fp16")


class Precision:
    """Autocast, gradient scaling, backward and the optimizer step for one run.

    Args:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: The training device (autocast and the scaler are made for its type).

    Raises:
        IncompatibleError: for fp16 on a device without a PyTorch gradient scaler (only CUDA and the CPU have one).
    """

    def __init__(self, name: str = "fp32", device: torch.device | str = "cpu"):
        if name not in PRECISIONS:
            raise IncompatibleError(f"precision must be one of {', '.join(PRECISIONS)} (got {name!r})")
        self.name = name
        self.device = torch.device(device)
        if name == "fp16" and self.device.type not in ("cuda", "cpu"):
            raise IncompatibleError(f"precision='fp16' needs a gradient scaler, which PyTorch offers on CUDA and the "
                                    f"CPU, not on {self.device.type}; use precision='bf16' or 'fp32' there.")
        #: The ``torch.amp.GradScaler`` of an fp16 run, else None.
        self.scaler: Any = torch.amp.GradScaler(self.device.type) if name == "fp16" else None
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        if self.device.type not in ("cuda", "cpu", "mps"):
            self._dtype = None

    @staticmethod
    def why_not_capturable(name: str) -> str | None:
        """Why a step in this precision cannot be captured in a CUDA graph, or None."""
        return "fp16 needs a GradScaler, which synchronises" if name == "fp16" else None

    def autocast(self) -> AbstractContextManager[Any]:
        """The context the models run in: autocast to bf16/fp16, or nothing for fp32."""
        if self._dtype is None:
            return nullcontext()
        # No cast cache: a cached cast made during CUDA-graph capture would go stale on replay.
        return torch.autocast(self.device.type, dtype=self._dtype, cache_enabled=False)

    def scale(self, loss: Tensor) -> Tensor:
        """``loss`` as its gradients are taken (multiplied by the scaler's scale in fp16)."""
        return self.scaler.scale(loss) if self.scaler is not None else loss

    def backward(self, loss: Tensor, params: list[Tensor], partial: bool = False, retain_graph: bool = False) -> None:
        """Gradients of ``loss`` into ``params`` only.

        ``partial``: ``loss`` may not reach every parameter (a penalty alone misses a last layer's bias): those
        keep no gradient and the optimizer leaves them alone. (``backward(inputs=...)`` would do the same
        eagerly, but traced it demands a gradient for each input.)
        """
        scaled = self.scale(loss)
        if partial:
            for p, g in zip(params, torch.autograd.grad(scaled, params, allow_unused=True, retain_graph=retain_graph)):
                p.grad = g
        else:
            scaled.backward(inputs=params, retain_graph=retain_graph)

    def unscale(self, opt: torch.optim.Optimizer) -> None:
        """Bring ``opt``'s gradients back to their true size before they are clipped (fp16 only)."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer, optimizer_step: Callable[[torch.optim.Optimizer], None]) -> None:
        """Step ``opt`` (``optimizer_step(opt)``, or the scaler's step, which skips non-finite gradients)."""
        if self.scaler is None:
            optimizer_step(opt)
            return
        # update() after every optimizer step, not once per training step: with d_steps > 1 (or extra D
        # updates) an optimizer steps again before the next update(), and unscale_() (for grad_clip) may
        # only run once per optimizer between updates.
        self.scaler.step(opt)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's state (checkpoints keep it as ``scaler``), or None without one."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` (nothing to do without a scaler or a saved state)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
