"""The two networks: :class:`Generator` and :class:`Discriminator`."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from ganforge.interfaces.base import ModelSpec, _Named
from ganforge.options import build_options


class Generator(_Named, nn.Module):
    """Maps a batch of latent vectors to a batch of samples.

    Subclasses take the :class:`ModelSpec` as the first constructor argument
    and their options as keyword arguments, and implement :meth:`forward`.
    """

    #: True when the output is bounded to [-1, 1] (a final tanh), as
    #: ganhacks #1 recommends. The ``normalize`` trick warns when it is not.
    output_bounded: ClassVar[bool] = True
    #: True when :meth:`forward` takes the data set's condition (``condition=``): a generator of an
    #: image-to-image GAN. The run is refused unless the data set offers one (``Dataset.condition_shape``).
    takes_condition: ClassVar[bool] = False
    #: True when a conditional model takes attribute rows (float ``(B, spec.num_attributes)``) as its labels, not
    #: only class indices: the data set has several labels per sample (``Dataset.num_attributes``). A run on such
    #: data is refused for a model that leaves it False.
    takes_attributes: ClassVar[bool] = False

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

        A generator that sets :attr:`takes_condition` has the signature
        ``forward(z, labels=None, condition=None)`` and is called with
        ``condition=`` (``(B, *Dataset.condition_shape)``) every time.

        Args:
            z: Latent batch of shape ``(B, latent_dim)``, float, on the model's device
                (``latent_dim`` may be 0 for a generator whose randomness is its dropout, as pix2pix's).
            labels: Class indices of shape ``(B,)`` (int64) when conditional, else ``None``; for a data set
                with attributes (``spec.num_attributes``), float rows ``(B, num_attributes)`` of 0 and 1.

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
    #: True when :meth:`forward` (and :meth:`features`) take the data set's condition (``condition=``): a
    #: discriminator that judges a sample together with what it was made from (pix2pix's). Every call
    #: passes it: the update's condition for its real and fake batches.
    takes_condition: ClassVar[bool] = False
    #: As :attr:`Generator.takes_attributes`: the labels may be float attribute rows ``(B, spec.num_attributes)``.
    takes_attributes: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, **options: Any):
        super().__init__()
        self.spec = spec
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:  # pragma: no cover
        """Return features of shape ``(B, F)`` for the batch ``x`` of shape ``(B, *spec.disc_input_shape)``."""
        raise NotImplementedError

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Return raw logits (no sigmoid): ``(B,)``, or several per sample (``(B, h, w)`` for a PatchGAN,
        ``(B, k)`` for several heads); losses and target tricks then treat every logit as one judgement."""
        return self.head(self.features(x, labels)).squeeze(-1)
