"""A residual MLP generator and discriminator for any data shape (points or small images)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import ganforge


class Residual(nn.Module):
    """``x + Linear(act(Linear(x)))``: a block that keeps the width."""

    def __init__(self, width: int, slope: float):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(slope), nn.Linear(width, width))
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.body(x))


def _check(width: int, blocks: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ganforge.ConfigError(f"'width' must be an integer >= 1 (got {width!r})")
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
        raise ganforge.ConfigError(f"'blocks' must be an integer >= 0 (got {blocks!r})")


class ResMLPGenerator(ganforge.Generator):
    """Residual MLP generator: z [+ label embedding] -> width -> residual blocks -> tanh.

    Options:
        width: Hidden width, default 128.
        blocks: Number of residual blocks, default 2.
    """

    name = "resmlp"

    def __init__(self, spec: ganforge.ModelSpec, width: int = 128, blocks: int = 2):
        super().__init__(spec)
        _check(width, blocks)
        classes = spec.num_classes or 0
        self.embed = nn.Embedding(classes, classes) if classes else None
        self.net = nn.Sequential(
            nn.Linear(spec.latent_dim + classes, width), nn.LeakyReLU(0.2),
            *[Residual(width, 0.2) for _ in range(blocks)],
            nn.Linear(width, math.prod(spec.data_shape)), nn.Tanh(),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.spec.data_shape)


class ResMLPDiscriminator(ganforge.Discriminator):
    """Residual MLP discriminator: flatten [+ label embedding] -> width -> residual blocks; linear head.

    Options:
        width: Hidden width, default 128.
        blocks: Number of residual blocks, default 2.
    """

    name = "resmlp"

    def __init__(self, spec: ganforge.ModelSpec, width: int = 128, blocks: int = 2):
        super().__init__(spec)
        _check(width, blocks)
        classes = spec.num_classes or 0
        self.embed = nn.Embedding(classes, classes) if classes else None
        self.body = nn.Sequential(
            nn.Linear(math.prod(spec.disc_input_shape) + classes, width), nn.LeakyReLU(0.2),
            *[Residual(width, 0.2) for _ in range(blocks)],
        )
        self.head = nn.Linear(width, 1)  # separate, so tricks can add layers before it

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = x.flatten(1)
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels)], dim=1)
        return self.body(x)
