"""Building optimizers from :class:`~ganforge.config.OptimConfig`."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ganforge.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimConfig, device: torch.device,
                    capturable: bool = False) -> torch.optim.Optimizer:
    """An optimizer for ``params`` per ``config``.

    Adam and AdamW use the fused implementation where the device supports it
    (one kernel for all parameters instead of several per tensor); with
    ``capturable=True`` they keep their step counters on the device so the
    update can be captured in a CUDA graph.
    """
    params = [p for p in params if p.requires_grad]
    if config.name in ("adam", "adamw"):
        cls = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
        kwargs = dict(lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
        if device.type in ("cuda", "cpu"):
            kwargs["fused"] = True
            if capturable:
                kwargs["capturable"] = True
        try:
            return cls(params, **kwargs)
        except (RuntimeError, TypeError):  # older torch without fused support here
            kwargs.pop("fused", None)
            return cls(params, **kwargs)
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
