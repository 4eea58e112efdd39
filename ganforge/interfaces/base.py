"""What every plugin class shares: :class:`ModelSpec` and the registry metadata of :class:`_Named`."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs


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
        condition_shape: Shape of what the generator is conditioned on per
            sample (``Dataset.condition_shape``: a source image, the other
            domain's sample), or None.
        data_classes: The data set's class count whatever ``conditional`` is
            (None for unlabelled data): for tricks that use real labels with an
            unconditional generator (a semi-supervised discriminator).
        num_attributes: For conditional training on a data set with several
            labels per sample (``Dataset.num_attributes``: a face's attributes),
            how many; the labels are then float ``(B, num_attributes)`` rows of
            0 and 1 and ``num_classes`` is None. Only models that set
            ``takes_attributes`` are built for it.
    """

    data_shape: tuple[int, ...] = attrs.field(converter=_shape)
    latent_dim: int = 100
    num_classes: int | None = None
    disc_input_shape: tuple[int, ...] = attrs.field(converter=_shape)
    condition_shape: tuple[int, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(_shape),
                                                          kw_only=True)
    data_classes: int | None = attrs.field(default=None, kw_only=True)
    num_attributes: int | None = attrs.field(default=None, kw_only=True)

    @disc_input_shape.default
    def _default_disc_shape(self) -> tuple[int, ...]:
        return self.data_shape

    @property
    def conditional(self) -> bool:
        """True when generator and discriminator receive labels (class indices or attribute rows)."""
        return self.num_classes is not None or self.num_attributes is not None

    def probe_labels(self, n: int, device: Any = "cpu") -> Any:
        """Labels for ``n`` probe samples (a check, a picture), or None when unconditional: class ``i mod
        num_classes`` for sample ``i``, or attribute rows that run through the binary patterns of the attributes."""
        import torch

        if self.num_classes is not None:
            return torch.arange(n, device=device) % self.num_classes
        if self.num_attributes is not None:
            bits = torch.arange(self.num_attributes, device=device)
            return ((torch.arange(n, device=device)[:, None] >> bits) & 1).float()
        return None


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
