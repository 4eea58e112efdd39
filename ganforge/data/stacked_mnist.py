"""Stacked MNIST (Metz et al. 2017; PacGAN): three MNIST digits as the channels of one image, 1,000 modes."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.data.mnist import MNIST
from ganforge.interfaces import Dataset
from ganforge.options import boolean, integer, option, optional, options


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

    @options
    class Options:
        size: int | None = option(None, validator=optional(integer(1)),
                                  help="Number of samples (default: as many as the MNIST split holds).")
        seed: int = option(0, validator=integer(0), help="Seed of the construction (independent of the run's seed).")
        download: bool = option(True, validator=boolean(), help="Let MNIST download through torchvision when missing.")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.mnist = MNIST(root=root, split=split, download=self.options.download)
        self.size = self.options.size
        self.seed = self.options.seed

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, 28, 28)

    @property
    def num_classes(self) -> int:
        return 1000

    def metric_support(self) -> Any:
        """The stacked-MNIST mode count: each channel classified by the MNIST domain classifier of the same split."""
        from ganforge.metrics.support import MetricSupport
        from ganforge.metrics.features import domain_classifier

        return MetricSupport(metrics=("stacked",), classifier=lambda: domain_classifier(self.mnist))

    def load(self) -> tuple[Tensor, Tensor]:
        digits, digit_labels = self.mnist.load()  # (N, 1, 28, 28) uint8, (N,) int64
        n = self.size or digits.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randint(0, digits.shape[0], (n, 3), generator=gen)
        images = digits[:, 0][idx]  # (n, 3, 28, 28)
        labels = digit_labels[idx] @ torch.tensor([100, 10, 1])
        return images, labels
