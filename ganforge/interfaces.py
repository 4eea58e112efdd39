"""The abstract interfaces every plugin implements.

Four kinds of plugin make a GAN run, plus one kind that feeds it:

* :class:`Generator` maps latent vectors (and optional class labels) to
  samples shaped like the data.
* :class:`Discriminator` maps samples to one real/fake logit each.
* :class:`Loss` turns logits into the two players' objectives.
* :class:`Trick` changes the training at named events (see the class).
* :class:`Dataset` provides real samples.

Devices and dtypes: models are built on the CPU in float32; the Trainer moves
them to its device and, with mixed precision, runs them under autocast.
Every tensor a plugin receives during a step already lies on the Trainer's
device; a plugin must create its own tensors there too (``x.new_*``,
``torch.*_like`` or ``device=x.device``), never on the host, so that the step
needs no host synchronisation and can be captured in a CUDA graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import OptimConfig
    from ganforge.trainer import Trainer


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
    and their options as keyword arguments with defaults, and implement
    :meth:`forward`.
    """

    #: True when the output is bounded to [-1, 1] (a final tanh), as
    #: ganhacks #1 recommends. The ``normalize`` trick warns when it is not.
    output_bounded: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec

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
    or add heads beside it (auxiliary classifier).
    """

    head: nn.Module

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:  # pragma: no cover
        """Return features of shape ``(B, F)`` for the batch ``x`` of shape ``(B, *spec.disc_input_shape)``."""
        raise NotImplementedError

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Return raw logits (no sigmoid) of shape ``(B,)``."""
        return self.head(self.features(x, labels)).squeeze(-1)


class Loss(_Named):
    """The adversarial objective, computed from logits.

    Target tensors hold the probability of "real" the discriminator should
    assign each sample (1 for real and 0 for fake unless a trick such as
    ``soft_labels`` changes them); losses that are not label-based may ignore
    them. Every method returns a scalar tensor.
    """

    def __init__(self, **options: Any):
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    def criterion(self, logits: Tensor, targets: Tensor) -> Tensor:  # pragma: no cover
        """The per-side discriminator criterion: how far ``logits`` are from ``targets``."""
        raise NotImplementedError

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        """The discriminator's loss on one real and one fake batch."""
        return self.criterion(real_logits, real_targets) + self.criterion(fake_logits, fake_targets)

    def g_loss(self, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:  # pragma: no cover
        """The generator's loss, given the discriminator's logits on fresh fakes."""
        raise NotImplementedError


class Trick(_Named):
    """A change to GAN training that can be switched on per run.

    A trick overrides only the events it needs; the Trainer calls an event
    only for tricks that override it, in the order the user listed the
    tricks. Events marked *in-step* run inside the training step, which may
    be captured in a CUDA graph: they must use device tensors only (no
    ``.item()``, no Python randomness, no host-side branching on tensor
    values). A trick that cannot obey this sets ``capturable = False`` and
    the Trainer runs the eager step instead.

    Setup events, in the order they happen:

    1. :meth:`adjust_spec` -- before the models are built.
    2. :meth:`modify_models` -- after they are built, before optimizers.
    3. :meth:`adjust_optimizer` -- before each optimizer is built.
    4. :meth:`setup` -- everything is built and on the device.

    Per-step events: :meth:`before_step` (host), then in-step
    :meth:`latent`, :meth:`disc_input`, :meth:`fakes_for_disc`,
    :meth:`targets`, :meth:`generator_loss`, :meth:`extra_loss`,
    :meth:`after_backward`; then :meth:`after_step` (host). Every
    ``log_every`` steps :meth:`on_log` sees the logged values. Sampling calls
    :meth:`latent` and :meth:`on_sample`. :meth:`state_dict` and
    :meth:`load_state_dict` put the trick's state into checkpoints.
    """

    #: The soumith/ganhacks item this trick implements, if any.
    ganhacks: ClassVar[int | None] = None
    #: False when an in-step event needs the host (the step is then not graphed).
    capturable: ClassVar[bool] = True
    #: Names of tricks this one cannot be combined with.
    conflicts: ClassVar[tuple[str, ...]] = ()
    #: True when the trick needs class labels from the data set.
    requires_labels: ClassVar[bool] = False
    #: Discriminator updates per generator update this trick asks for (None: no opinion).
    d_steps: int | None = None
    #: Keys of the values :meth:`on_log` returns that the progress line shows too.
    progress_keys: ClassVar[tuple[str, ...]] = ()
    #: True to show the discriminator real and fake samples in one mixed batch
    #: instead of two pure batches (ganhacks #4 contrasts the two).
    mixed_batches: ClassVar[bool] = False

    def __init__(self, **options: Any):
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    # -- setup ---------------------------------------------------------------

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        """Return the spec the models are built from (default: unchanged)."""
        return spec

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        """Return the (possibly rewritten) models; runs before optimizers exist."""
        return gen, disc

    def adjust_optimizer(self, net: str, config: OptimConfig) -> OptimConfig:
        """Return the optimizer settings for ``net`` (``"gen"`` or ``"disc"``)."""
        return config

    def setup(self, trainer: Trainer) -> None:
        """Allocate device state; models, optimizers and data are ready."""

    # -- in-step (device only) -----------------------------------------------

    def latent(self, z: Tensor) -> Tensor:
        """Transform a freshly drawn Gaussian latent batch ``(B, latent_dim)``."""
        return z

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        """Transform a batch before the discriminator sees it (real or fake)."""
        return x

    def fakes_for_disc(self, fake: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Choose the (detached) fakes the discriminator trains on."""
        return fake, labels

    def targets(self, real_targets: Tensor, fake_targets: Tensor) -> tuple[Tensor, Tensor]:
        """Return the discriminator's targets for the real and the fake batch."""
        return real_targets, fake_targets

    def generator_loss(self, loss: Loss, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor | None:
        """Replace the generator's objective; the first trick returning a tensor wins."""
        return None

    def extra_loss(self, net: str, batch: StepBatch) -> Tensor | None:
        """Return a term to add to ``net``'s loss (``"gen"`` or ``"disc"``), or None."""
        return None

    def after_backward(self, net: str, module: nn.Module) -> None:
        """Called after ``net``'s backward pass, before its optimizer step."""

    # -- host side -------------------------------------------------------------

    def before_step(self, trainer: Trainer, step: int) -> None:
        """Update schedules before step ``step`` (0-based), outside any graph."""

    def after_step(self, trainer: Trainer, step: int) -> None:
        """React after step ``step``; may call ``trainer.update_discriminator()``."""

    def on_log(self, trainer: Trainer, step: int, values: dict[str, float]) -> dict[str, float] | None:
        """See the logged values; return extra values to log, or None."""
        return None

    def on_sample(self, gen: Generator) -> None:
        """Prepare the generator for sampling (it is in eval mode already)."""

    # -- checkpointing ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Return the trick's state: tensors, numbers, strings and containers of them."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


@attrs.define
class StepBatch:
    """The tensors of one training step, as extra-loss terms see them.

    Attributes:
        real: The real batch as the models see it (normalised), ``(B, *data_shape)``.
        real_labels: Its class labels ``(B,)`` or None.
        fake: The generated batch (attached to the generator's graph in the
            generator's phase, detached in the discriminator's).
        fake_labels: Labels the fakes were generated for, or None.
        real_logits: Discriminator logits on ``real`` (discriminator phase only).
        fake_logits: Discriminator logits on ``fake``.
    """

    real: Tensor
    real_labels: Tensor | None
    fake: Tensor
    fake_labels: Tensor | None
    real_logits: Tensor | None = None
    fake_logits: Tensor | None = None


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
    ignore them) plus their own options.
    """

    is_distribution: ClassVar[bool] = False
    #: True when :meth:`num_items` and :meth:`load_item` read single samples (finite data sets only).
    per_item: ClassVar[bool] = False

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")
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

    def load(self) -> tuple[Tensor, Tensor | None]:  # pragma: no cover
        """Finite data sets: return ``(samples, labels)``.

        ``samples`` is ``(N, *sample_shape)``, either uint8 in [0, 255]
        (images; the loader maps them to [-1, 1] on the device) or float
        already in model space. ``labels`` is int64 ``(N,)`` or None.
        """
        raise NotImplementedError

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
    "trick": Trick,
    "dataset": Dataset,
}
