"""The abstract interfaces every plugin implements.

Five kinds of plugin make a GAN run, plus one kind that feeds it:

* :class:`Generator` maps latent vectors (and optional class labels) to
  samples shaped like the data.
* :class:`Discriminator` maps samples to one real/fake logit each.
* :class:`Loss` turns logits (and, when it needs more, a :class:`LossContext`)
  into the two players' objectives.
* :class:`Regularizer` adds a penalty that needs the discriminator and the
  batches (gradient penalties, consistency terms) to one network's loss.
* :class:`Trick` changes the training at named events (see the class).
* :class:`Dataset` provides real samples.

Options: a plugin declares its options as an ``Options`` attrs class (see
:mod:`ganforge.options`); the interface's constructor checks them and keeps
them as ``self.options``.

Devices and dtypes: models are built on the CPU in float32; the Trainer moves
them to its device and, with mixed precision, runs them under autocast.
Every tensor a plugin receives during a step already lies on the Trainer's
device; a plugin must create its own tensors there too (``x.new_*``,
``torch.*_like`` or ``device=x.device``), never on the host, so that the step
needs no host synchronisation and can be captured in a CUDA graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from ganforge.options import build_options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import OptimConfig, TrainConfig
    from ganforge.context import TrickContext


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


@attrs.frozen
class ModelSpec:
    """What a model must fit, derived from the data and the configuration.

    Attributes:
        data_shape: Shape of one sample without the batch dimension, e.g.
            ``(1, 28, 28)`` for MNIST or ``(2,)`` for 2-D points. The generator
            produces this shape.
        latent_dim: Size of the latent vector ``z`` the generator receives.
        num_classes: Number of classes when training is conditional, else ``None``.
        disc_input_shape: Shape of one discriminator input. Equal to
            ``data_shape`` unless a trick changes it (PacGAN's packing).
    """

    data_shape: tuple[int, ...] = attrs.field(converter=_shape)
    latent_dim: int = 100
    num_classes: int | None = None
    disc_input_shape: tuple[int, ...] = attrs.field(converter=_shape)

    @disc_input_shape.default
    def _default_disc_shape(self) -> tuple[int, ...]:
        return self.data_shape

    @property
    def conditional(self) -> bool:
        """True when generator and discriminator receive class labels."""
        return self.num_classes is not None


class _Named:
    """Registry metadata shared by every plugin class."""

    #: The name users select the plugin by (``gen="mlp"``). Required.
    name: ClassVar[str] = ""
    #: A one-line description; defaults to the first line of the docstring.
    description: ClassVar[str] = ""
    #: The plugin's options: an attrs class made with :func:`ganforge.options.options` (None: options are the
    #: constructor's keyword arguments, the form plugins used before ``Options`` existed).
    Options: ClassVar[type | None] = None
    #: The built options (an instance of ``Options``); None for a plugin without ``Options``.
    options: Any = None
    #: The plugin kind this interface is the base of (``"trick"``), read by :mod:`ganforge.options` for messages.
    _ganforge_kind: ClassVar[str] = "plugin"
    #: Constructor arguments that are settings of the run, not options (a data set's ``root`` and ``split``).
    _ganforge_run_args: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def summary(cls) -> str:
        """The one-line description shown by ``ganforge plugins``."""
        own_doc = (cls.__dict__.get("__doc__") or "").strip()
        if cls.__dict__.get("description"):
            return cls.__dict__["description"]
        if own_doc:  # a subclass's own docstring beats an inherited description
            return own_doc.splitlines()[0].strip()
        return cls.description


class Generator(_Named, nn.Module):
    """Maps a batch of latent vectors to a batch of samples.

    Subclasses take the :class:`ModelSpec` as the first constructor argument
    and their options as keyword arguments, and implement :meth:`forward`.
    """

    #: True when the output is bounded to [-1, 1] (a final tanh), as
    #: ganhacks #1 recommends. The ``normalize`` trick warns when it is not.
    output_bounded: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, **options: Any):
        super().__init__()
        self.spec = spec
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    @property
    def latent_dim(self) -> int:
        """Size of the latent vector this generator expects."""
        return self.spec.latent_dim

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:  # pragma: no cover
        """Generate samples.

        Args:
            z: Latent batch of shape ``(B, latent_dim)``, float, on the model's device.
            labels: Class indices of shape ``(B,)`` (int64) when conditional, else ``None``.

        Returns:
            Samples of shape ``(B, *spec.data_shape)``, in [-1, 1] when
            :attr:`output_bounded`.
        """
        raise NotImplementedError


class Discriminator(_Named, nn.Module):
    """Maps a batch of samples to one real/fake logit each.

    Subclasses implement :meth:`features` and set ``self.head``, a module
    mapping the features to one logit per sample. Keeping the last layer
    separate lets tricks insert layers before it (minibatch discrimination)
    or add heads beside it (auxiliary classifier). A conditional
    discriminator that uses the labels other than by input layers (e.g. a
    projection discriminator) overrides :meth:`forward` as well.
    """

    head: nn.Module

    def __init__(self, spec: ModelSpec, **options: Any):
        super().__init__()
        self.spec = spec
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:  # pragma: no cover
        """Return features of shape ``(B, F)`` for the batch ``x`` of shape ``(B, *spec.disc_input_shape)``."""
        raise NotImplementedError

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Return raw logits (no sigmoid) of shape ``(B,)``."""
        return self.head(self.features(x, labels)).squeeze(-1)


@attrs.define
class LossContext:
    """What a loss, a regularizer or an extra-loss term sees of one update.

    One context is made for each network's update inside the training step.
    Its tensors lie on the training device; ``real``, ``fake`` and the logits
    are the ones the update's loss uses (so a term added to the loss shares
    their graph).

    Attributes:
        real: The real batch as the models see it, ``(B, *data_shape)``.
        real_labels: Its class labels ``(B,)`` or None.
        fake: The generated batch (attached to G's graph in G's update,
            detached in D's).
        fake_labels: Labels the fakes were generated for, or None.
        real_logits: D's logits on ``real`` (D's update; in G's update only
            when the loss sets :attr:`Loss.needs_real_logits_in_g`), else None.
        fake_logits: D's logits on ``fake``.
        real_targets, fake_targets: The targets of D's criterion for the real
            and the fake batch (1 and 0 unless a trick changed them). Fresh
            tensors each update: editing them in place changes nothing else.
        phase: ``"gen"`` or ``"disc"``: whose update this is.
        discriminate: ``discriminate(x, labels, real)`` runs D on a batch
            through the same input transforms the tricks apply to real
            (``real=True``) or fake batches (instance noise, DiffAugment, ...)
            and returns float logits ``(B,)``. In D's update it is the
            (DistributedDataParallel-wrapped, under DDP) D that trains, so
            gradients of a penalty reach D's parameters and are averaged
            across ranks like the loss's; in G's update it is D without the
            wrapper (its gradients are not taken).
        step: Training steps done before this one, a 0-d int64 tensor on the
            device (read it on the device, e.g. for a schedule; not ``.item()``).
    """

    real: Tensor
    real_labels: Tensor | None
    fake: Tensor
    fake_labels: Tensor | None
    real_logits: Tensor | None = None
    fake_logits: Tensor | None = None
    real_targets: Tensor | None = None
    fake_targets: Tensor | None = None
    phase: str = "disc"
    discriminate: Callable[..., Tensor] | None = None
    step: Tensor | None = None


#: The name extra-loss terms knew this context by before losses and regularizers used it.
StepBatch = LossContext


class Loss(_Named):
    """The adversarial objective, computed from logits.

    The simple form works on logits only: :meth:`criterion`, :meth:`d_loss`,
    :meth:`g_loss`. Target tensors hold the probability of "real" the
    discriminator should assign each sample (1 for real and 0 for fake unless
    a trick such as ``soft_labels`` changes them). A loss that needs more than
    logits (a gradient penalty, a relativistic objective) overrides
    :meth:`discriminator_loss` and/or :meth:`generator_loss`, which receive
    the whole :class:`LossContext`. Every method returns a scalar tensor.
    """

    #: False when the loss ignores the target tensors (hinge, Wasserstein): tricks
    #: that only change targets (soft_labels, noisy_labels, ...) are then refused.
    uses_targets: ClassVar[bool] = True
    #: True when :meth:`generator_loss` needs D's logits on the real batch (relativistic losses).
    needs_real_logits_in_g: ClassVar[bool] = False
    #: Tricks or regularizers this loss cannot work with: ``{name: reason}``. The run is refused
    #: before it starts, with the reason.
    conflicts: ClassVar[Mapping[str, str]] = {}
    #: False when :meth:`discriminator_loss` or :meth:`generator_loss` needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True

    def __init__(self, **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    def check_run(self, config: TrainConfig, dataset: Dataset) -> None:
        """Refuse a run this plugin cannot work in (raise :class:`~ganforge.errors.IncompatibleError` naming the
        clash and the fix), before the models are built; e.g. a penalty that needs image data."""

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover
        """The per-side discriminator criterion: how far ``logits`` are from ``targets``."""
        raise NotImplementedError

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        """The discriminator's loss on one real and one fake batch."""
        return self.criterion(real_logits, real_targets) + self.criterion(fake_logits, fake_targets)

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:  # pragma: no cover
        """The generator's loss, given the discriminator's logits on fresh fakes."""
        raise NotImplementedError

    def discriminator_loss(self, ctx: LossContext) -> Tensor:
        """D's loss for one update; by default :meth:`d_loss` on the context's logits and targets."""
        return self.d_loss(ctx.real_logits, ctx.fake_logits, ctx.real_targets, ctx.fake_targets)

    def generator_loss(self, ctx: LossContext) -> Tensor:
        """G's loss for one update; by default :meth:`g_loss` on the context's fake logits and targets."""
        return self.g_loss(ctx.fake_logits, ctx.real_targets, ctx.fake_targets)

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors, numbers, strings and containers of them); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class Regularizer(_Named):
    """A penalty added to one network's loss, computed with the discriminator and the batches.

    Gradient penalties (R1 on reals, R2 on fakes, WGAN-GP on interpolates) and
    consistency terms (bCR) are regularizers; any of them composes with any
    :class:`Loss`. :meth:`penalty` returns the weighted term (a scalar) from
    the update's :class:`LossContext`; ``ctx.discriminate`` runs D through the
    tricks' input transforms, correctly under DDP.

    Lazy regularization (Karras et al. 2020): with :attr:`every` = k > 1 the
    penalty is not added to every update; instead, after every k-th step, D
    (or G) takes one extra optimizer step on ``k * penalty`` alone, computed on
    that step's first real batch and fresh fakes, so the penalty keeps its
    average weight at about 1/k of its cost.
    """

    #: Which network's loss the penalty joins: ``"disc"`` (default) or ``"gen"``.
    net: ClassVar[str] = "disc"
    #: False when :meth:`penalty` needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True
    #: False when the penalty cannot run under DDP; :attr:`ddp_note` says why.
    ddp_safe: ClassVar[bool] = True
    ddp_note: ClassVar[str] = ""
    #: Tricks, losses or regularizers this one cannot work with: ``{name: reason}`` (the run is refused).
    conflicts: ClassVar[Mapping[str, str]] = {}
    #: Steps between applications (1: added to every update; k > 1: lazy, see the class).
    every: int = 1

    def __init__(self, **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)
        self.every = int(getattr(self.options, "every", type(self).every))

    def check_run(self, config: TrainConfig, dataset: Dataset) -> None:
        """Refuse a run this plugin cannot work in (raise :class:`~ganforge.errors.IncompatibleError` naming the
        clash and the fix), before the models are built; e.g. a penalty that needs image data."""

    def penalty(self, ctx: LossContext) -> Tensor:  # pragma: no cover
        """The weighted penalty for the update ``ctx`` describes (a scalar tensor)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors, numbers, strings and containers of them); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class Trick(_Named):
    """A change to GAN training that can be switched on per run.

    A trick overrides only the events it needs; the Trainer calls an event
    only for tricks that override it, in the order the user listed the
    tricks. Events marked *in-step* run inside the training step, which may
    be captured in a CUDA graph: they must use device tensors only (no
    ``.item()``, no Python randomness, no host-side branching on tensor
    values, no Python state changed per step). A trick that cannot obey this
    sets ``capturable = False`` and the Trainer runs the eager step instead.
    Host-side events receive a :class:`~ganforge.context.TrickContext`: the
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
    #: True when the trick needs class labels from the data set.
    requires_labels: ClassVar[bool] = False
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


class Dataset(_Named):
    """A source of real samples.

    Two flavours exist. A *finite* data set (``is_distribution = False``)
    returns all its samples at once from :meth:`load`; the Trainer keeps them
    resident on its device when they fit, or streams them. A *distribution*
    (``is_distribution = True``, e.g. the 2-D Gaussian mixtures) draws fresh
    samples on the device with :meth:`sample`.

    A finite data set too large to hold in memory can also offer its samples
    one at a time (``per_item = True``, :meth:`num_items`, :meth:`load_item`);
    the Trainer then reads them from storage in DataLoader worker processes
    (``data_placement="files"``, chosen automatically when the decoded data
    would take more than half of the free host memory).

    Subclasses accept ``root`` and ``split`` keyword arguments (they may
    ignore them) plus their own options (an ``Options`` class, as for every
    plugin; the base constructor builds ``self.options``).
    """

    is_distribution: ClassVar[bool] = False
    #: True when :meth:`num_items` and :meth:`load_item` read single samples (finite data sets only).
    per_item: ClassVar[bool] = False

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)
        self.root = root
        self.split = split

    @property
    def sample_shape(self) -> tuple[int, ...]:  # pragma: no cover
        """Shape of one sample without the batch dimension."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int | None:
        """Number of label classes, or None for unlabelled data."""
        return None

    def load(self) -> tuple[Tensor, Tensor | None]:
        """Finite data sets: return ``(samples, labels)``.

        ``samples`` is ``(N, *sample_shape)``, either uint8 in [0, 255]
        (images; the loader maps them to [-1, 1] on the device) or float
        already in model space. ``labels`` is int64 ``(N,)`` or None. A
        per-item data set need not implement it: by default its items are read
        one by one with :meth:`load_item` and stacked (used when the whole data
        set fits in memory).
        """
        if not self.per_item:  # pragma: no cover  (the contract check refuses such a class at registration)
            raise NotImplementedError
        items = [self.load_item(i) for i in range(self.num_items())]
        samples = torch.stack([torch.as_tensor(x) for x, _ in items])
        labels = None if any(y is None for _, y in items) else torch.tensor([int(y) for _, y in items])
        return samples, labels

    def num_items(self) -> int:  # pragma: no cover
        """Per-item data sets: the number of samples, without reading them."""
        raise NotImplementedError

    def load_item(self, index: int) -> tuple[Tensor, int | None]:  # pragma: no cover
        """Per-item data sets: sample ``index`` (shaped and typed like one row of :meth:`load`) and its label.

        Called in DataLoader worker processes, so it must not rely on state
        that only the main process has.
        """
        raise NotImplementedError

    def sample(self, n: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor | None]:  # pragma: no cover
        """Distributions: draw ``n`` samples (float, model space) and labels on ``device``."""
        raise NotImplementedError

    def denormalize(self, x: Tensor) -> Tensor:
        """Map model-space samples back to data units (identity unless the data set rescales)."""
        return x

    def metric_support(self) -> Any:
        """Declare how generators trained on this data set are measured (``ganforge eval``).

        Return a :class:`ganforge.metrics.MetricSupport` naming the metric
        families that fit and supplying what they need, or None (the default)
        to let ganforge infer them from the samples' shape: images
        ``(C, H, W)`` get ``"image"`` (FID, KID, precision/recall,
        density/coverage), plus ``"classes"`` when labelled; vectors ``(D,)``
        get ``"points"`` (the same distances on the data's own coordinates).
        The builtin data sets declare theirs through this method too. Import
        ``MetricSupport`` inside the method: ``ganforge.metrics`` imports the
        data package. It is called when metrics are listed or computed, so it
        must be cheap: a classifier is supplied as a function that builds it.

        Example::

            def metric_support(self):
                from ganforge.metrics import MetricSupport

                return MetricSupport(metrics=("mixture", "points"), modes=self.centres, mode_std=0.05,
                                     reference=self.reference_points)

        Returns:
            A ``MetricSupport``, or None to infer one.
        """
        return None


#: The plugin kinds, by the name users and the registry use for them.
PLUGIN_KINDS: dict[str, type] = {
    "generator": Generator,
    "discriminator": Discriminator,
    "loss": Loss,
    "regularizer": Regularizer,
    "trick": Trick,
    "dataset": Dataset,
}
for _kind, _base in PLUGIN_KINDS.items():
    _base._ganforge_kind = _kind
    _base.__init__._ganforge_interface_init = True  # "**options" of the interface itself: the plugin takes none
Dataset._ganforge_run_args = ("root", "split")
del _kind, _base
