"""Resizing image data sets once, at load time (``image_size=`` / ``--image-size``)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import DataError
from ganforge.interfaces import Dataset


def resize_images(images: Tensor, size: int, chunk: int = 2048) -> Tensor:
    """Resize ``(N, C, H, W)`` images to ``size x size`` (bilinear, antialiased), keeping the dtype.

    uint8 input is resized in float and rounded back to uint8; work is done
    in chunks of ``chunk`` images to bound memory.
    """
    if images.ndim != 4:
        raise DataError(f"image_size applies to image data (N, C, H, W); this data has shape {tuple(images.shape)}")
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for part in images.split(chunk):
        resized = F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(resized.round_().clamp_(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else resized)
    return torch.cat(out)


class ResizedDataset(Dataset):
    """Wraps a finite image data set so that its samples are ``size x size``."""

    def __init__(self, inner: Dataset, size: int):
        if inner.is_distribution or len(inner.sample_shape) != 3:
            raise DataError(
                f"image_size={size} needs an image data set; '{inner.name}' has samples of shape "
                f"{tuple(inner.sample_shape)}. Drop image_size (--image-size)."
            )
        if inner.condition_shape is not None:
            raise DataError(
                f"image_size={size} cannot resize '{inner.name}': its rows hold a sample and the generator's "
                f"condition together. Drop image_size (--image-size) and give the data set images of the size wanted."
            )
        self.inner = inner
        self.size = size
        self.name = inner.name
        self.root, self.split = inner.root, inner.split

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.inner.sample_shape[0], self.size, self.size)

    @property
    def num_classes(self) -> int | None:
        return self.inner.num_classes

    @property
    def num_attributes(self) -> int | None:
        return self.inner.num_attributes

    @property
    def attribute_names(self) -> tuple[str, ...] | None:
        return self.inner.attribute_names

    @property
    def per_item(self) -> bool:  # type: ignore[override]
        return self.inner.per_item

    def num_items(self) -> int:
        return self.inner.num_items()

    def load_item(self, index: int) -> tuple[Tensor, int | None]:
        image, label = self.inner.load_item(index)
        return resize_images(image[None], self.size)[0], label

    def load(self) -> tuple[Tensor, Tensor | None]:
        data, labels = self.inner.load()
        return resize_images(data, self.size), labels

    def denormalize(self, x: Tensor) -> Tensor:
        return self.inner.denormalize(x)

    def metric_support(self) -> Any:
        """The wrapped data set's declaration (None: inferred for the resized samples)."""
        return self.inner.metric_support()
