"""The trick interface, :class:`Trick`, and what its host-side events see of a run, :class:`TrickContext`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from ganforge.interfaces.base import ModelSpec, _Named
from ganforge.options import build_options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import OptimConfig, TrainConfig
    from ganforge.interfaces.dataset import Dataset
    from ganforge.interfaces.models import Discriminator, Generator
    from ganforge.interfaces.networks import Network
    from ganforge.interfaces.objective import Loss, LossContext, Regularizer
    from ganforge.trainer import Trainer


class Trick(_Named):
    """A change to GAN training that can be switched on per run.

    A trick overrides only the events it needs; the Trainer calls an event
    only for tricks that override it, in the order the user listed the
    tricks. Events marked *in-step* run inside the training step, which may
    be captured in a CUDA graph: they must use device tensors only (no
    ``.item()``, no Python randomness, no host-side branching on tensor
    values, no Python state changed per step). A trick that cannot obey this
    sets ``capturable = False`` and the Trainer runs the eager step instead.
    Host-side events receive a :class:`TrickContext`: the
    models, optimizers, device, configuration, step and logged records, and
    ``update_discriminator()`` / ``request_stop()``.

    Setup events, in the order they happen:

    0. :meth:`check_run` -- before anything is built: refuse a run the trick cannot work in.
    1. :meth:`adjust_spec` -- before the models are built.
    2. :meth:`modify_models` -- after they are built, before optimizers.
    3. :meth:`adjust_optimizer` -- before each optimizer is built.
    4. :meth:`setup` -- everything is built and on the device.
    5. :meth:`on_load` -- after a checkpoint was loaded (resumed runs only).

    Per step: :meth:`d_steps_at` and :meth:`before_step` (host), then the
    in-step events :meth:`real_batch`, :meth:`latent`, :meth:`disc_input`,
    :meth:`fakes_for_disc`, :meth:`targets`, :meth:`generator_loss`,
    :meth:`extra_loss`, :meth:`observe`, :meth:`after_backward`,
    :meth:`after_optimizer_step` (after each optimizer step of each network,
    extra D updates included); then :meth:`after_step` (host). Every
    ``log_every`` steps :meth:`on_log` sees the logged values. Sampling calls
    :meth:`latent`, :meth:`sampling_weights` and :meth:`on_sample`.
    :meth:`state_dict` and :meth:`load_state_dict` put the trick's state into
    checkpoints.
    """

    #: The soumith/ganhacks item this trick implements, if any.
    ganhacks: ClassVar[int | None] = None
    #: False when an in-step event needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True
    #: Names of tricks (or losses, regularizers) this one cannot be combined with.
    conflicts: ClassVar[tuple[str, ...]] = ()
    #: True when the trick needs class labels from the data set and a conditional run (``conditional=True``).
    requires_labels: ClassVar[bool] = False
    #: True when the trick needs the real batches' labels (``LossContext.real_labels``) but not a conditional
    #: generator (a semi-supervised discriminator): a labelled data set, any ``conditional``.
    requires_real_labels: ClassVar[bool] = False
    #: True when the trick needs a data set that offers a condition (an image-to-image scheme: pix2pix,
    #: CycleGAN); it refuses other data in ``check_run``.
    requires_condition: ClassVar[bool] = False
    #: False when the trick cannot run under DistributedDataParallel; :attr:`ddp_note` says why.
    ddp_safe: ClassVar[bool] = True
    ddp_note: ClassVar[str] = ""
    #: Discriminator updates per generator update this trick asks for (None: no opinion).
    d_steps: int | None = None
    #: Keys of the values :meth:`on_log` returns that the progress line shows too.
    progress_keys: ClassVar[tuple[str, ...]] = ()
    #: True to show the discriminator real and fake samples in one mixed batch
    #: instead of two pure batches (ganhacks #4 contrasts the two).
    mixed_batches: ClassVar[bool] = False

    def __init__(self, **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    # -- setup ---------------------------------------------------------------

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        """Refuse a run this trick cannot work in: raise :class:`~ganforge.errors.IncompatibleError` (or
        :class:`~ganforge.errors.ConfigError`) naming the clash and the fix. Runs before anything is built."""

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        """Return the spec the models are built from (default: unchanged)."""
        return spec

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        """Return the (possibly rewritten) models; runs before optimizers exist."""
        return gen, disc

    def networks(self, spec: ModelSpec) -> Mapping[str, Network]:
        """Declare further networks this trick trains (see :class:`~ganforge.interfaces.Network`).

        Called once, after :meth:`modify_models` and before the optimizers are
        built, with the spec the models were built from. Return ``{name:
        Network(module, ...)}``; keep the modules (e.g. as attributes) and use
        them in the in-step events. Names are the trick's own: the run lists
        them as ``trick.name``. Default: none.
        """
        return {}

    def network_loss(self, name: str, ctx: LossContext) -> Tensor | None:
        """The loss of network ``name`` (declared by :meth:`networks`) for the update ``ctx`` describes.

        Called in the update of the network's ``phase``. For a ``"joined"``
        network the term is added to that update's loss (G's or D's); for an
        ``"own"`` network it is the network's whole loss and steps its own
        optimizer. Return None to add nothing this update. In-step: device work only.
        """
        return None

    def adjust_optimizer(self, net: str, config: OptimConfig) -> OptimConfig:
        """Return the optimizer settings for ``net`` (``"gen"`` or ``"disc"``)."""
        return config

    def setup(self, ctx: TrickContext) -> None:
        """Allocate device state; models, optimizers and data are ready.

        On a resumed run the checkpoint is loaded after this (``ctx.resuming``
        is True); :meth:`on_load` follows.
        """

    def on_load(self, ctx: TrickContext, step: int) -> None:
        """A checkpoint was loaded: the run continues after ``step`` steps (trick state restored already)."""

    # -- in-step (device only) -----------------------------------------------

    def real_batch(self, x: Tensor) -> Tensor:
        """Transform each real batch before anything sees it (D, losses, regularizers), e.g. a rescaling.

        Evaluation applies it to the real samples it compares with (so both
        sides are in the space the models trained in); a trick that changes
        the data's scale also implements :meth:`undo_real_batch`.
        """
        return x

    def undo_real_batch(self, x: Tensor) -> Tensor:
        """The inverse of :meth:`real_batch`, for generated samples shown or measured in data units (host or device)."""
        return x

    def latent(self, z: Tensor) -> Tensor:
        """Transform a freshly drawn Gaussian latent batch ``(B, latent_dim)``."""
        return z

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        """Transform a batch before the discriminator sees it (real or fake, in both networks' updates)."""
        return x

    def compared(self, phase: str, real: Tensor, fake: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor] | None:
        """Choose what D compares in this update: ``(real_side, fake_side)``, or None (the default: the real
        batch against G's fakes).

        A game other than data against G(z) plays through ganforge's own adversarial path this way: an
        adversarial autoencoder returns prior codes against an encoder's codes of the real batch
        (``adjust_spec`` sets ``disc_input_shape`` to the codes' shape). In G's update (``phase="gen"``)
        the fake side may carry gradient to G and to networks joined to G; in D's it is detached. ``ctx``
        holds the update's ``real``, ``fake``, ``z`` and ``condition`` (no logits yet). The loss,
        regularizers, target tricks and ``disc_input`` transforms then work on the chosen sides (the
        context's ``real``/``fake`` become them). The first trick returning a pair wins. In-step.
        """
        return None

    def fakes_for_disc(self, fake: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Choose the (detached) fakes the discriminator trains on."""
        return fake, labels

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        """Return the discriminator's targets for the real and the fake batch (fresh tensors every update)."""
        return real_targets, fake_targets

    def generator_loss(self, loss: Loss, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor | None:
        """Replace the generator's objective; the first trick returning a tensor wins."""
        return None

    def extra_loss(self, net: str, batch: LossContext) -> Tensor | None:
        """Return a term to add to ``net``'s loss (``"gen"`` or ``"disc"``), or None."""
        return None

    def observe(self, ctx: LossContext) -> None:
        """See an update's context after its loss is computed (e.g. D's logits on reals); change nothing."""

    def after_backward(self, net: str, module: nn.Module) -> None:
        """Called after ``net``'s backward pass, before its optimizer step."""

    def after_optimizer_step(self, net: str, module: nn.Module) -> None:
        """Called after every optimizer step of ``net`` (``"gen"`` or ``"disc"``; each D update counts).

        ``module`` is the network itself (not a DDP or compile wrapper). Weight
        clipping and weight averaging act here.
        """

    # -- host side -------------------------------------------------------------

    def d_steps_at(self, step: int) -> int | None:
        """Discriminator updates for step ``step`` (0-based; None: no opinion). Default: :attr:`d_steps`.

        Called before every step, so a schedule may change it during the run
        (a CUDA-graphed step keeps one graph per distinct value).
        """
        return self.d_steps

    def before_step(self, ctx: TrickContext, step: int) -> None:
        """Update schedules before step ``step`` (0-based), outside any graph."""

    def after_step(self, ctx: TrickContext, step: int) -> None:
        """React after step ``step``; may call ``ctx.update_discriminator()``."""

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float] | None:
        """See the logged values; return extra values to log, or None."""
        return None

    def sampling_weights(self, gen: Generator) -> contextlib.AbstractContextManager[Any]:
        """A context manager around every sampling: swap other weights into ``gen``, restore them on exit.

        Sample grids, evaluation, ``ganforge sample``/``interpolate``/``eval``
        enter it (when they sample from the raw G; ganforge's own EMA keeps a
        separate copy, so a run with ``ema_decay`` set warns at its start that
        such a trick is bypassed). The default changes nothing.
        """
        return contextlib.nullcontext()

    def on_sample(self, gen: Generator) -> None:
        """Prepare the generator for sampling (it is in eval mode already)."""

    # -- checkpointing ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Return the trick's state: tensors, numbers, strings and containers of them."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


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
            f"which will stop working. Use the context's documented attributes (ganforge.TrickContext).",
            DeprecationWarning, stacklevel=2,
        )
        return value
