"""Stacked MNIST (Metz et al. 2017; PacGAN): three MNIST digits as the channels of one image, 1,000 modes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.data.mnist import MNIST
from ganforge.errors import ConfigError
from ganforge.interfaces import Dataset


class StackedMNIST(Dataset):
    """3x28x28 images whose channels are three independently drawn MNIST digits; 1,000 classes.

    Sample ``i`` stacks digits ``d1, d2, d3`` (red, green, blue channel) and
    has label ``100*d1 + 10*d2 + d3``, so a generator covering every mode
    produces all 1,000 digit triples. Built from the MNIST split chosen with
    ``split`` (found as the ``mnist`` data set finds it), by drawing three
    image indices per sample with replacement from a generator seeded with
    ``seed``: the same options give the same data set on every machine.

    Options:
        size: Number of samples (default: as many as the MNIST split holds,
            60,000 for train and 10,000 for test).
        seed: Seed of the construction, default 0 (independent of the run's seed).
        download: Let MNIST download through torchvision when missing (default True).
    """

    name = "stacked-mnist"

    def __init__(
        self,
        root: str | None = None,
        split: str = "train",
        size: int | None = None,
        seed: int = 0,
        download: bool = True,
    ):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"'size' must be None or an integer >= 1 (got {size!r})")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"'seed' must be an integer >= 0 (got {seed!r})")
        self.mnist = MNIST(root=root, split=split, download=download)
        super().__init__(root=root, split=split)
        self.size = size
        self.seed = seed

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, 28, 28)

    @property
    def num_classes(self) -> int:
        return 1000

    def metric_support(self) -> Any:
        """The stacked-MNIST mode count: each channel classified by the MNIST domain classifier of the same split."""
        from ganforge.metrics import MetricSupport
        from ganforge.metrics.classifier import domain_classifier

        return MetricSupport(metrics=("stacked",), classifier=lambda: domain_classifier(self.mnist))

    def load(self) -> tuple[Tensor, Tensor]:
        digits, digit_labels = self.mnist.load()  # (N, 1, 28, 28) uint8, (N,) int64
        n = self.size or digits.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randint(0, digits.shape[0], (n, 3), generator=gen)
        images = digits[:, 0][idx]  # (n, 3, 28, 28)
        labels = digit_labels[idx] @ torch.tensor([100, 10, 1])
        return images, labels
