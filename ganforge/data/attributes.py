"""Several labels per sample: MNIST digits with four attributes, two from the class and two from the stroke.

``mnist-attributes`` is the builtin example of a data set with attributes (``Dataset.num_attributes``): each
digit carries a row of four 0/1 labels instead of one class index, as a face in CelebA carries forty. Two
attributes follow from the digit's class and two from how it was written, so a generator conditioned on them must
learn both kinds:

* ``even`` -- the digit is 0, 2, 4, 6 or 8;
* ``above_four`` -- the digit is 5 to 9;
* ``thick`` -- the digit has more ink (the sum of its pixels) than the median digit of its class in the split;
* ``slanted_right`` -- the digit leans further right than the median digit of its class (the slope of its
  strokes' principal axis, :func:`slant`).

The per-class medians make ``thick`` and ``slanted_right`` hold for half of every class, so they say nothing
about the class. The images are MNIST's (found as the ``mnist`` data set finds them); measurements use MNIST's
domain classifier of the same split.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.data.mnist import MNIST
from ganforge.interfaces import Dataset
from ganforge.options import boolean, option, options

#: The attributes, in the order of the label columns.
ATTRIBUTES = ("even", "above_four", "thick", "slanted_right")


def ink(images: Tensor) -> Tensor:
    """Ink of each image ``(N, 1, H, W)`` uint8: the sum of its pixels in [0, 1], ``(N,)``."""
    return images.flatten(1).float().sum(1) / 255


def slant(images: Tensor) -> Tensor:
    """How far each digit leans right, ``(N,)``: ``-cov(x, y) / var(y)`` of its pixels weighted by intensity,
    with ``y`` pointing down the image (so a stroke whose top is further right than its bottom gives a positive
    value)."""
    w = images.flatten(1).float()
    h, wd = images.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(wd, dtype=torch.float32),
                            indexing="ij")
    xs, ys = xs.flatten(), ys.flatten()
    total = w.sum(1).clamp_min(1e-6)
    mx, my = (w * xs).sum(1) / total, (w * ys).sum(1) / total
    dx, dy = xs[None] - mx[:, None], ys[None] - my[:, None]
    return -(w * dx * dy).sum(1) / (w * dy * dy).sum(1).clamp_min(1e-6)


def above_class_median(values: Tensor, labels: Tensor, num_classes: int = 10) -> Tensor:
    """1 where a value is above the median of its class, else 0, ``(N,)`` uint8."""
    out = torch.zeros_like(labels, dtype=torch.uint8)
    for c in range(num_classes):
        rows = labels == c
        if rows.any():
            out[rows] = (values[rows] > values[rows].median()).to(torch.uint8)
    return out


def mnist_attributes(images: Tensor, labels: Tensor) -> Tensor:
    """The four attribute rows ``(N, 4)`` uint8 of MNIST ``images`` ``(N, 1, 28, 28)`` uint8 with their classes."""
    return torch.stack([(labels % 2 == 0).to(torch.uint8), (labels >= 5).to(torch.uint8),
                        above_class_median(ink(images), labels), above_class_median(slant(images), labels)], dim=1)


class MNISTAttributes(Dataset):
    """MNIST digits with four attributes per digit (even, above_four, thick, slanted_right) instead of a class.

    ``load()`` returns the images ``(N, 1, 28, 28)`` uint8 and attribute rows ``(N, 4)`` uint8 of 0/1
    (:data:`ATTRIBUTES`, computed by :func:`mnist_attributes` over the whole split). Train conditionally
    (``conditional=True``) with models that take attributes (``mlp``, ``dcgan``): the fakes' rows are drawn from
    the data's rows.

    Options:
        download: Let MNIST download through torchvision when missing (default True).
    """

    name = "mnist-attributes"

    @options
    class Options:
        download: bool = option(True, validator=boolean(),
                                help="Try torchvision's downloader when the MNIST files are missing.")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.mnist = MNIST(root=root, split=split, download=self.options.download)
        self._cache: tuple[Tensor, Tensor] | None = None

    @property
    def inner(self) -> MNIST:
        """The MNIST split these digits are: its domain classifier measures generated digits."""
        return self.mnist

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (1, 28, 28)

    @property
    def num_attributes(self) -> int:
        return len(ATTRIBUTES)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return ATTRIBUTES

    def metric_support(self) -> Any:
        """Image metrics with MNIST's domain classifier (the class coverage needs class labels: not declared)."""
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image",))

    def load(self) -> tuple[Tensor, Tensor]:
        if self._cache is None:
            images, labels = self.mnist.load()
            self._cache = images, mnist_attributes(images, labels)
        return self._cache
