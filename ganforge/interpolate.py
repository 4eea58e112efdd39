"""Latent-space interpolation: spherical (slerp) and linear (lerp), ganhacks #3.

White 2016 ("Sampling Generative Networks") points out that the straight
line between two Gaussian latents passes close to the origin, where latents
almost never lie in high dimension, and recommends following the great
circle instead. :func:`slerp` does that; with the ``spherical_z`` trick
every latent has norm sqrt(d) and so does every point of the path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.interfaces import Generator

METHODS = ("slerp", "lerp")


def _weights(t: Tensor | float, like: Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, *([1] * like.ndim)) if t.ndim else t.reshape(*([1] * like.ndim))


def lerp(z0: Tensor, z1: Tensor, t: Tensor | float) -> Tensor:
    """Straight-line interpolation ``(1 - t) z0 + t z1``.

    Args:
        z0, z1: Endpoints of the same shape (any shape, usually ``(d,)`` or ``(B, d)``).
        t: A number or a 1-D tensor of ``T`` weights in [0, 1]; with a tensor
            the result has a leading dimension ``T``.
    """
    w = _weights(t, z0)
    return (1 - w) * z0 + w * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor | float, eps: float = 1e-7) -> Tensor:
    """Great-circle interpolation between ``z0`` and ``z1`` along their last dimension.

    ``slerp = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1`` with ``w``
    the angle between the endpoints. When they have equal norms every point
    keeps that norm; otherwise the norm varies smoothly between the two.
    Nearly parallel endpoints (``sin w < eps``) fall back to :func:`lerp`.

    Args:
        z0, z1: Endpoints of the same shape ``(..., d)``.
        t: A number or a 1-D tensor of ``T`` weights in [0, 1]; with a tensor
            the result has a leading dimension ``T``.
    """
    if z0.shape != z1.shape:
        raise ConfigError(f"slerp endpoints must have the same shape (got {tuple(z0.shape)} and {tuple(z1.shape)})")
    w = _weights(t, z0)
    n0 = z0.norm(dim=-1, keepdim=True)
    n1 = z1.norm(dim=-1, keepdim=True)
    cos = ((z0 * z1).sum(-1, keepdim=True) / (n0 * n1).clamp_min(eps)).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    safe = sin.abs() > eps
    sin_safe = torch.where(safe, sin, torch.ones_like(sin))
    spherical = (torch.sin((1 - w) * omega) * z0 + torch.sin(w * omega) * z1) / sin_safe
    return torch.where(safe, spherical, lerp(z0, z1, t))


@torch.no_grad()
def interpolate(gen_or_trainer: Any, z0: Tensor, z1: Tensor, steps: int = 8, method: str = "slerp",
                labels: Tensor | None = None, ema: bool | None = None, condition: Tensor | None = None) -> Tensor:
    """Generate the samples along the path from latent ``z0`` to latent ``z1``.

    Args:
        gen_or_trainer: A :class:`~ganforge.interfaces.Generator` or a
            :class:`~ganforge.trainer.Trainer` (its sampler is used: the
            generator's weight average when the run keeps one, the tricks'
            ``latent`` transforms, e.g. ``spherical_z``, with the path computed
            between the transformed endpoints).
        z0, z1: Latent vectors of shape ``(latent_dim,)``.
        steps: Number of points, ends included (>= 2), default 8.
        method: ``"slerp"`` (default, great circle) or ``"lerp"`` (straight line).
        labels: For a conditional generator, one class index (0-d or ``(1,)``)
            used for every point; required there.
        ema: With a Trainer: True/False for the weight average or the trained
            generator; None (default) uses the average when there is one.
        condition: For a generator that translates a condition (image-to-image),
            the one ``(*condition_shape)`` used for every point; default with a
            Trainer: its first held-out condition.

    Returns:
        CPU tensor ``(steps, *data_shape)`` of samples in model space, made
        in eval mode without gradients.
    """
    if method not in METHODS:
        raise ConfigError(f"'method' must be one of {METHODS} (got {method!r})")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"'steps' must be an integer >= 2 (got {steps!r})")
    from ganforge.trainer import (
        Trainer,  # here: the Trainer module imports much of ganforge
    )
    from ganforge.training.sampling import latents, sampling_generator

    if isinstance(gen_or_trainer, Trainer):
        trainer = gen_or_trainer.setup()
        context = sampling_generator(trainer, ema)
        spec = trainer.spec
    elif isinstance(gen_or_trainer, Generator):
        trainer, context, spec = None, _plain_sampling(gen_or_trainer), gen_or_trainer.spec
    else:
        raise ConfigError(f"interpolate() needs a Generator or a Trainer (got {type(gen_or_trainer).__name__})")
    if z0.ndim != 1 or z0.shape != z1.shape or z0.shape[0] != spec.latent_dim:
        raise ConfigError(
            f"z0 and z1 must both have shape ({spec.latent_dim},) (got {tuple(z0.shape)} and {tuple(z1.shape)})"
        )
    if spec.conditional and labels is None:
        what = (f"an attribute row of {spec.num_attributes} values 0/1" if spec.num_attributes is not None
                else "<class index>")
        raise ConfigError(f"This generator is conditional: pass labels={what} to interpolate().")
    with context as gen:
        param = next(gen.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        ends = torch.stack([z0, z1]).to(device=device, dtype=torch.float32)
        if trainer is not None:
            ends = latents(trainer, ends, 2)
        t = torch.linspace(0.0, 1.0, steps, device=device)
        path = (slerp if method == "slerp" else lerp)(ends[0], ends[1], t)
        if spec.num_classes is not None:
            labels = torch.as_tensor(labels, device=device).reshape(-1)[:1].expand(steps).long()
        elif spec.num_attributes is not None:
            row = torch.as_tensor(labels, device=device, dtype=torch.float32).reshape(-1)
            if row.shape[0] != spec.num_attributes:
                raise ConfigError(f"labels must be one attribute row of {spec.num_attributes} values for this "
                                  f"generator (got {row.shape[0]})")
            labels = row.expand(steps, -1)
        else:
            labels = None
        if getattr(gen, "takes_condition", False):  # an image-to-image generator: one condition along the path
            if condition is None:
                if trainer is None:
                    raise ConfigError("This generator translates a condition: pass condition=<(C, H, W) tensor> "
                                      "to interpolate().")
                condition = trainer.held_out_conditions(1)[0]
            condition = torch.as_tensor(condition, device=device, dtype=torch.float32)
            return gen(path, labels, condition=condition.expand(steps, *condition.shape)).float().cpu()
        return gen(path, labels).float().cpu()


@contextlib.contextmanager
def _plain_sampling(gen: Generator) -> Iterator[Generator]:
    """A bare generator in eval mode under a forked RNG (no Trainer: no tricks, no average)."""
    param = next(gen.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = gen.training
    gen.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            yield gen
    finally:
        gen.train(was_training)
