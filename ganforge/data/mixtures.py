"""The 2-D Gaussian mixtures of the mode-collapse literature (VEEGAN, PacGAN)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ganforge.interfaces import Dataset
from ganforge.options import number, option, optional, options


class GaussianMixture(Dataset):
    """Base for 2-D mixtures of equal-weight isotropic Gaussians, sampled fresh on the device.

    Samples are returned in model space, divided by ``scale`` so that they lie
    in [-1, 1] like normalised images (ganhacks #1), where a tanh generator
    can reach them; :meth:`denormalize` maps them back to data units, in
    which ``modes`` and ``std`` are given. ``scale=1`` trains in data units,
    as the PacGAN and VEEGAN experiments do (their generators have a linear
    output).
    """

    is_distribution = True
    default_std: float = 0.05
    #: Data units per model-space unit, unless the ``scale`` option says otherwise.
    default_scale: float = 1.0

    @options
    class Options:
        std: float | None = option(None, validator=optional(number(0.0, low_open=True)),
                                   help="Standard deviation of each Gaussian, in data units (default: the data set's).")
        scale: float | None = option(None, validator=optional(number(0.0, low_open=True)),
                                     help="Data units per model-space unit (default: the data set's; 1: data units).")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.std = float(self.default_std if self.options.std is None else self.options.std)
        #: Data units per model-space unit.
        self.scale = float(self.default_scale if self.options.scale is None else self.options.scale)
        self.modes = self.centres()
        self._device_modes: dict[str, Tensor] = {}

    def centres(self) -> Tensor:  # pragma: no cover
        """The mode centres, ``(K, 2)`` float32."""
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int:
        """Each mode is a class, so conditional training can ask for a mode."""
        return self.modes.shape[0]

    def sample(self, n: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        device = torch.device(device)
        modes = self._device_modes.get(str(device))
        if modes is None:
            modes = self._device_modes[str(device)] = self.modes.to(device)
        labels = torch.randint(0, modes.shape[0], (n,), device=device)
        points = torch.randn(n, 2, device=device).mul_(self.std).add_(modes[labels])
        return points.div_(self.scale), labels

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.scale

    def metric_support(self) -> Any:
        """The mixture metrics (PacGAN/VEEGAN), measured against ``modes`` and ``std`` in data units."""
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("mixture",), modes=self.modes, mode_std=self.std)


class Grid25(GaussianMixture):
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN/PacGAN)."""

    name = "grid25"
    default_std = 0.05
    default_scale = 5.0  # modes at +-0.8 in model space

    def centres(self) -> Tensor:
        ticks = torch.arange(-4.0, 5.0, 2.0)
        return torch.cartesian_prod(ticks, ticks)


class Ring8(GaussianMixture):
    """8 Gaussians evenly spaced on the unit circle, std 0.01 (VEEGAN/PacGAN)."""

    name = "ring8"
    default_std = 0.01
    default_scale = 1.25  # modes at radius 0.8 in model space

    def centres(self) -> Tensor:
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angles.cos(), angles.sin()], dim=1).float()
