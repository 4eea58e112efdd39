"""What host-side trick events see of a run: :class:`TrickContext`."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces import Dataset, Discriminator, Generator, Loss, ModelSpec, Regularizer
    from ganforge.trainer import Trainer


class TrickContext:
    """The run as a trick's host-side events see it (``setup``, ``before_step``, ``after_step``, ``on_log``, ``on_load``).

    A narrow, documented view of the :class:`~ganforge.trainer.Trainer`: the
    models, their optimizers, the loss, the device, the configuration, the
    step count and the training log, plus the two actions a trick may take.
    Evaluation records are not among :attr:`records`.

    Tricks written for earlier releases received the Trainer itself; other
    attributes of the Trainer still resolve here, with a
    ``DeprecationWarning`` naming the attribute.
    """

    def __init__(self, trainer: Trainer):
        self._trainer = trainer

    # -- what the run is made of -------------------------------------------------

    @property
    def gen(self) -> Generator:
        """The generator (the model itself, not a DDP or compile wrapper)."""
        return self._trainer.gen

    @property
    def disc(self) -> Discriminator:
        """The discriminator (the model itself, not a DDP or compile wrapper)."""
        return self._trainer.disc

    @property
    def opt_g(self) -> torch.optim.Optimizer:
        """The generator's optimizer."""
        return self._trainer.opt_g

    @property
    def opt_d(self) -> torch.optim.Optimizer:
        """The discriminator's optimizer."""
        return self._trainer.opt_d

    @property
    def loss(self) -> Loss:
        """The loss plugin."""
        return self._trainer.loss

    @property
    def regularizers(self) -> list[Regularizer]:
        """The regularizer plugins, in the configured order."""
        return list(self._trainer.regularizers)

    @property
    def ema(self) -> Generator | None:
        """The generator with averaged weights (``ema_decay``), or None."""
        return None if self._trainer.ema is None else self._trainer.ema.model

    @property
    def grad_scaler(self) -> Any:
        """The ``torch.amp.GradScaler`` of an fp16 run (gradients are scaled by it), else None."""
        return self._trainer.scaler

    @property
    def device(self) -> torch.device:
        """The training device."""
        return self._trainer.device

    @property
    def config(self) -> TrainConfig:
        """The run's configuration (frozen)."""
        return self._trainer.config

    @property
    def spec(self) -> ModelSpec:
        """What the models were built for."""
        return self._trainer.spec

    @property
    def dataset(self) -> Dataset:
        """The data set plugin."""
        return self._trainer.dataset

    @property
    def batches(self) -> Any:
        """The real-batch loader (``next()`` moves the run's data order: save and restore its ``state_dict`` around a peek)."""
        return self._trainer.batches

    @property
    def world_size(self) -> int:
        """Processes training together (1 without DDP)."""
        return self._trainer.dist.world_size

    @property
    def rank(self) -> int:
        """This process's rank (0 without DDP)."""
        return self._trainer.dist.rank

    # -- where the run is ----------------------------------------------------------

    @property
    def step(self) -> int:
        """Training steps done so far."""
        return self._trainer.step

    @property
    def resuming(self) -> bool:
        """True during ``setup`` of a run that will load a checkpoint next (``on_load`` follows)."""
        return self._trainer._resume_state is not None

    @property
    def records(self) -> list[dict[str, Any]]:
        """The training log records so far (one per ``log_every`` steps), oldest first; no evaluation records."""
        return [r for r in self._trainer.history.records if "g_loss" in r]

    @property
    def g_losses(self) -> list[float]:
        """G's loss at every step logged so far."""
        return self._trainer.history.g_loss

    @property
    def d_losses(self) -> list[float]:
        """D's loss (mean over its updates) at every step logged so far."""
        return self._trainer.history.d_loss

    # -- what a trick may do -----------------------------------------------------------

    def update_discriminator(self) -> Tensor:
        """Run one extra discriminator update on a fresh real and fake batch; return its loss (device)."""
        return self._trainer.update_discriminator()

    def request_stop(self, reason: str) -> None:
        """Stop after the current step, saving a checkpoint; ``reason`` is printed."""
        self._trainer.request_stop(reason)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._trainer, name)  # AttributeError names the attribute when it does not exist
        warnings.warn(
            f"Trick events receive a TrickContext since ganforge 0.2; 'ctx.{name}' reached into the Trainer, "
            f"which will stop working. Use the context's documented attributes (ganforge.context.TrickContext).",
            DeprecationWarning, stacklevel=2,
        )
        return value
