"""Numerical health checks, run at each log interval (where the losses reach the host anyway)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ganforge.errors import TrainingDivergedError


def check_losses(values: Tensor, first_step: int, checkpoint_dir: Path) -> None:
    """Raise :class:`TrainingDivergedError` naming the first NaN/Inf loss in ``values``.

    Args:
        values: ``(n, 2)`` host tensor of generator and discriminator losses, one row per step.
        first_step: The (1-based) step number of the first row.
        checkpoint_dir: Where the last good checkpoint lies (named in the message).
    """
    bad = ~torch.isfinite(values)
    if not bad.any():
        return
    row, col = (int(i) for i in bad.nonzero()[0])
    which = ("generator", "discriminator")[col]
    raise TrainingDivergedError(
        f"The {which} loss became {values[row, col].item()} at step {first_step + row}. "
        f"The last checkpoint in {checkpoint_dir} is from before it. Try a lower learning rate, precision='fp32', "
        "gradient clipping (--grad-clip 1.0), or nan_policy='skip'."
    )


def check_parameters(models: dict[str, nn.Module], step: int, checkpoint_dir: Path) -> None:
    """Raise :class:`TrainingDivergedError` when any parameter of ``models`` (name -> module) is NaN/Inf."""
    for net, module in models.items():
        flags = [p.isfinite().all() for p in module.parameters()]
        if flags and not bool(torch.stack(flags).all()):
            raise TrainingDivergedError(
                f"A {net} parameter became NaN or infinite by step {step}. The last checkpoint in "
                f"{checkpoint_dir} is from before it. Try a lower learning rate, precision='fp32', or gradient "
                "clipping (grad_clip=1.0, --grad-clip 1.0)."
            )
