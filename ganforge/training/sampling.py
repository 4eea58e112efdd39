"""Sampling from a run's generator: the one path behind sample grids, evaluation, interpolation and the commands.

:func:`sampling_generator` picks the generator to draw from (the weight
average when the run keeps one, unless ``ema=False``), puts it in eval mode,
lets the tricks prepare it (``sampling_weights``, ``on_sample``) and forks the
random state, so drawing samples never moves the training run's RNG (exact
resume depends on it). :meth:`ganforge.Trainer.sample`,
:func:`ganforge.interpolate.interpolate` and :func:`ganforge.metrics.generate`
all draw through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.training.step import unwrap

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import Generator
    from ganforge.trainer import Trainer


def use_ema(trainer: Trainer, ema: bool | None) -> bool:
    """Whether sampling uses the weight average: ``ema`` if given (True needs one), else ``trainer.use_ema`` if
    set, else whenever the run keeps one.

    Raises:
        ConfigError: for ``ema=True`` on a run trained without ``ema_decay``.
    """
    if ema is None:
        ema = trainer.use_ema
    if ema and trainer.ema is None:
        raise ConfigError("This run keeps no generator average (it was trained without ema_decay); "
                          "drop ema=True (--ema on the command line) to sample from the generator itself.")
    return trainer.ema is not None if ema is None else bool(ema)


@contextlib.contextmanager
def sampling_generator(trainer: Trainer, ema: bool | None = None) -> Iterator[Generator]:
    """The generator to sample from, ready: eval mode, tricks' sampling hooks applied, RNG forked.

    Args:
        trainer: A built Trainer.
        ema: True for the weight average, False for the trained generator
            itself, None (default) for the average when the run keeps one.

    The generator's mode and any weights a trick swapped in are restored on
    exit, as is the random state.
    """
    averaged = use_ema(trainer, ema)
    gen = trainer.ema.model if averaged else unwrap(trainer.gen)
    was_training = gen.training
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    gen.eval()
    try:
        with torch.random.fork_rng(devices=devices), contextlib.ExitStack() as stack:
            if not averaged:  # ganforge's own average is a separate copy: nothing to swap into it
                for trick in trainer.tricks:
                    stack.enter_context(trick.sampling_weights(gen))
            for trick in trainer.tricks:
                trick.on_sample(gen)
            with torch.no_grad():
                yield gen
    finally:
        gen.train(was_training)


def latents(trainer: Trainer, z: Tensor | None, n: int) -> Tensor:
    """``z`` moved to the device and transformed by the tricks' ``latent`` events, or ``n`` fresh latents."""
    if z is None:
        return trainer.step_fn.sample_latent(n)
    z = z.to(trainer.device, dtype=torch.float32)
    for trick in trainer.tricks:
        z = trick.latent(z)
    return z
