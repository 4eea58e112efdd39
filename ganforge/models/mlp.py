"""The classic fully connected GAN (Goodfellow et al. 2014).

The layer sizes follow the widely used PyTorch-GAN ``gan.py``: the generator
maps a 100-d latent through 128, 256, 512 and 1024 units (batch norm on all
but the first block, LeakyReLU 0.2) to the flattened sample with a tanh; the
discriminator maps the flattened sample through 512 and 256 units
(LeakyReLU 0.2) to one logit. Both work for any sample shape: MNIST images,
colour images or 2-D points.

That ``gan.py`` calls ``nn.BatchNorm1d(n, 0.8)``, and the second positional
argument of ``BatchNorm1d`` is ``eps``, not ``momentum``: it normalises with
eps = 0.8, far from the intended 1e-5. ganforge defaults to eps = 1e-5 and
momentum = 0.1 (PyTorch's defaults); ``bn_eps=0.8`` reproduces the original.

``spectral_norm=True`` divides every Linear weight by its largest singular
value (:func:`~ganforge.models.layers.apply_spectral_norm`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.conditioning import label_count, label_encoder
from ganforge.models.layers import ACTIVATIONS, NORMS, apply_spectral_norm, layer_widths, make_activation, make_norm
from ganforge.options import boolean, choice, integer, number, option, optional, options, to_tuple

_EMBED_HELP = "Size of the label embedding for conditional training (default: the number of classes or attributes)."
_SPECTRAL_HELP = "Spectrally normalise every Linear layer (Miyato et al. 2018)."


def _label_embedding(spec: ModelSpec, embed_dim: int | None) -> tuple[nn.Module | None, int]:
    """The label embedding of a conditional model (None when unconditional) and its width: an ``nn.Embedding``
    of the classes, or a linear map of attribute rows (several labels per sample)."""
    if not spec.conditional:
        return None, 0
    embed_dim = int(embed_dim or label_count(spec))
    return label_encoder(spec, embed_dim), embed_dim


def _hidden_blocks(in_features: int, widths: tuple[int, ...], norm: str, activation: str, skip_norm_first: bool,
                   **norm_kwargs: float) -> list[nn.Module]:
    """Linear -> [norm] -> activation per width; the first block's norm is left out when ``skip_norm_first``."""
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers.append(nn.Linear(in_features, width))
        norm_layer = None if (i == 0 and skip_norm_first) else make_norm(norm, width, dims=1, **norm_kwargs)
        if norm_layer is not None:
            layers.append(norm_layer)
        layers.append(make_activation(activation))
        in_features = width
    return layers


class MLPGenerator(Generator):
    """Fully connected generator: latent -> 128 -> 256 -> 512 -> 1024 -> sample, tanh output."""

    name = "mlp"
    description = "Classic fully connected generator (Goodfellow et al. 2014; PyTorch-GAN gan.py layout)"
    takes_attributes = True

    @options
    class Options:
        hidden: tuple[int, ...] = option((128, 256, 512, 1024), converter=to_tuple, validator=layer_widths,
                                         help="Hidden layer widths, from the latent side.")
        norm: str = option("batch", validator=choice(*NORMS),
                           help="Normalisation of every hidden block but the first ('instance': per sample).")
        bn_eps: float = option(1e-5, validator=number(0.0, low_open=True),
                               help="Batch-norm epsilon (0.8 reproduces PyTorch-GAN's gan.py).")
        bn_momentum: float = option(0.1, validator=number(0.0, 1.0), help="Batch-norm momentum.")
        activation: str = option("leaky_relu", validator=choice(*ACTIVATIONS),
                                 help="Hidden activation ('leaky_relu': slope 0.2).")
        embed_dim: int | None = option(None, validator=optional(integer(1)), help=_EMBED_HELP)
        spectral_norm: bool = option(False, validator=boolean(), help=_SPECTRAL_HELP)

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        self.out_features = math.prod(spec.data_shape)
        self.label_embedding, label_width = _label_embedding(spec, o.embed_dim)
        layers = _hidden_blocks(spec.latent_dim + label_width, o.hidden, o.norm, o.activation, skip_norm_first=True,
                                eps=o.bn_eps, momentum=o.bn_momentum)
        layers += [nn.Linear(o.hidden[-1], self.out_features), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.spec.data_shape)


class MLPDiscriminator(Discriminator):
    """Fully connected discriminator: sample -> 512 -> 256 -> logit, LeakyReLU 0.2."""

    name = "mlp"
    description = "Classic fully connected discriminator (Goodfellow et al. 2014; PyTorch-GAN gan.py layout)"
    takes_attributes = True

    @options
    class Options:
        hidden: tuple[int, ...] = option((512, 256), converter=to_tuple, validator=layer_widths,
                                         help="Hidden layer widths, from the input side.")
        norm: str = option("none", validator=choice(*NORMS),
                           help="Normalisation of every hidden block ('none', as in the original).")
        activation: str = option("leaky_relu", validator=choice(*ACTIVATIONS),
                                 help="Hidden activation ('leaky_relu': slope 0.2).")
        embed_dim: int | None = option(None, validator=optional(integer(1)), help=_EMBED_HELP)
        spectral_norm: bool = option(False, validator=boolean(), help=_SPECTRAL_HELP + " Includes the head.")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        self.label_embedding, label_width = _label_embedding(spec, o.embed_dim)
        layers = _hidden_blocks(math.prod(spec.disc_input_shape) + label_width, o.hidden, o.norm, o.activation,
                                skip_norm_first=False)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(o.hidden[-1], 1)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = x.reshape(x.shape[0], -1)
        if self.label_embedding is not None:
            h = torch.cat([h, self.label_embedding(labels)], dim=1)
        return self.body(h)
