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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.layers import make_activation, make_norm


def _widths(option: str, value: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(int(v) for v in value)
    if not widths or any(w <= 0 for w in widths):
        raise ConfigError(f"{option!r} must be a non-empty list of positive layer widths (got {value!r})")
    return widths


def _label_embedding(spec: ModelSpec, embed_dim: int | None) -> tuple[nn.Embedding | None, int]:
    """The label embedding of a conditional model (None when unconditional) and its width."""
    if not spec.conditional:
        return None, 0
    embed_dim = int(embed_dim or spec.num_classes)
    return nn.Embedding(spec.num_classes, embed_dim), embed_dim


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
    """Fully connected generator: latent -> 128 -> 256 -> 512 -> 1024 -> sample, tanh output.

    Options:
        hidden: Hidden layer widths. Default ``(128, 256, 512, 1024)``.
        norm: ``"batch"`` (default), ``"instance"`` (per-sample) or ``"none"``;
            applied to every hidden block but the first.
        bn_eps: Batch-norm epsilon, default 1e-5 (0.8 reproduces PyTorch-GAN).
        bn_momentum: Batch-norm momentum, default 0.1.
        activation: Hidden activation, default ``"leaky_relu"`` (slope 0.2).
        embed_dim: Size of the label embedding for conditional training
            (default: the number of classes).
    """

    name = "mlp"
    description = "Classic fully connected generator (Goodfellow et al. 2014; PyTorch-GAN gan.py layout)"

    def __init__(
        self,
        spec: ModelSpec,
        hidden: Sequence[int] = (128, 256, 512, 1024),
        norm: str = "batch",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        activation: str = "leaky_relu",
        embed_dim: int | None = None,
    ):
        super().__init__(spec)
        widths = _widths("hidden", hidden)
        self.out_features = math.prod(spec.data_shape)
        self.label_embedding, label_width = _label_embedding(spec, embed_dim)
        layers = _hidden_blocks(spec.latent_dim + label_width, widths, norm, activation, skip_norm_first=True,
                                eps=bn_eps, momentum=bn_momentum)
        layers += [nn.Linear(widths[-1], self.out_features), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.spec.data_shape)


class MLPDiscriminator(Discriminator):
    """Fully connected discriminator: sample -> 512 -> 256 -> logit, LeakyReLU 0.2.

    Options:
        hidden: Hidden layer widths. Default ``(512, 256)``.
        norm: ``"none"`` (default, as in the original), ``"batch"`` or ``"instance"``.
        activation: Hidden activation, default ``"leaky_relu"`` (slope 0.2).
        embed_dim: Size of the label embedding for conditional training
            (default: the number of classes).
    """

    name = "mlp"
    description = "Classic fully connected discriminator (Goodfellow et al. 2014; PyTorch-GAN gan.py layout)"

    def __init__(
        self,
        spec: ModelSpec,
        hidden: Sequence[int] = (512, 256),
        norm: str = "none",
        activation: str = "leaky_relu",
        embed_dim: int | None = None,
    ):
        super().__init__(spec)
        widths = _widths("hidden", hidden)
        self.label_embedding, label_width = _label_embedding(spec, embed_dim)
        layers = _hidden_blocks(math.prod(spec.disc_input_shape) + label_width, widths, norm, activation,
                                skip_norm_first=False)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 1)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = x.reshape(x.shape[0], -1)
        if self.label_embedding is not None:
            h = torch.cat([h, self.label_embedding(labels)], dim=1)
        return self.body(h)
