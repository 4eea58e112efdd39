"""Small building blocks shared by the builtin models."""

from __future__ import annotations

from torch import nn

from ganforge.errors import ConfigError

ACTIVATIONS = ("leaky_relu", "relu", "elu", "gelu", "silu", "tanh")
NORMS = ("batch", "instance", "none")


def check_choice(option: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{option!r} must be one of {allowed} (got {value!r})")


def make_activation(name: str, slope: float = 0.2) -> nn.Module:
    """An activation module by name; ``slope`` is LeakyReLU's negative slope."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    return {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


def make_norm(kind: str, features: int, dims: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module | None:
    """A normalisation layer for ``dims``-D features (1: vectors, 2: images), or None for ``"none"``.

    ``"instance"`` on vectors normalises each sample over its features
    (``LayerNorm``): the per-sample analogue of instance norm, which keeps a
    sample's output independent of the rest of the batch.
    """
    check_choice("norm", kind, NORMS)
    if kind == "none":
        return None
    if kind == "batch":
        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        return cls(features, eps=eps, momentum=momentum)
    if dims == 1:
        return nn.LayerNorm(features, eps=eps)
    return nn.InstanceNorm2d(features, eps=eps, affine=True)
