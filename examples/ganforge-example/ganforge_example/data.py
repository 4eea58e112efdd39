"""A 2-D data set sampled on the fly: points along a spiral."""

from __future__ import annotations

import math

import torch
from torch import Tensor

import ganforge


class Spiral(ganforge.Dataset):
    """Points on an Archimedean spiral r = theta (``turns`` turns) plus Gaussian noise, in [-1, 1]^2.

    A distribution (``is_distribution = True``): :meth:`sample` draws fresh
    points on the requested device, so no files are needed. Model space is
    data units divided by the spiral's outer radius; :meth:`denormalize`
    maps back.

    Options:
        turns: Number of turns, default 2.
        noise: Standard deviation of the noise in data units, default 0.1.
    """

    name = "spiral"
    is_distribution = True

    def __init__(self, root: str | None = None, split: str = "train", turns: float = 2.0, noise: float = 0.1):
        super().__init__(root=root, split=split)
        if not turns > 0 or not noise >= 0:
            raise ganforge.ConfigError(f"'turns' must be > 0 and 'noise' >= 0 (got {turns!r}, {noise!r})")
        self.turns, self.noise = float(turns), float(noise)
        self.radius = 2 * math.pi * self.turns + 3 * self.noise

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (2,)

    def sample(self, n: int, device: torch.device | str = "cpu") -> tuple[Tensor, None]:
        theta = torch.rand(n, device=device).sqrt_().mul_(2 * math.pi * self.turns)  # about even density along the curve
        points = torch.stack([theta * theta.cos(), theta * theta.sin()], dim=1)
        points += self.noise * torch.randn_like(points)
        return points / self.radius, None

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.radius
