"""Choosing the device and the precision context."""

from __future__ import annotations

import torch

from ganforge.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; other names are checked against the machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"'device' must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {name!r})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"'device' is {name!r} but CUDA is not available here; use device='auto' or 'cpu'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"'device' is {name!r} but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}."
            )
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"'device' is {name!r} but MPS is not available here; use device='auto' or 'cpu'.")
    return device
