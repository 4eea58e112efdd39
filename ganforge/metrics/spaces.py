"""The spaces samples live in, and the maps between them.

* **Data units**: what the data set describes (``dataset.modes`` and ``std``
  of a mixture, a plugin's points); ``dataset.denormalize`` maps the data
  set's model space to them.
* **The data set's model space**: what ``load()`` / ``sample()`` return
  (uint8 images mapped to [-1, 1] by :func:`~ganforge.data.loader.to_model_space`).
  ganforge's domain classifier is trained in it.
* **Training space**: what the models saw during training. It equals the
  data set's model space unless a wrapper around the Trainer's batch loader
  changed the real batches, as the ``normalize`` trick does when it rescales
  [0, 1] data to [-1, 1]. Such a wrapper exposes ``map_real(x)`` and
  ``unmap_real(x)`` and keeps the loader it wraps as ``inner``. The
  generator's samples are in training space.

Evaluation compares real and generated samples in one space, so that a
rescaling during training can never set [0, 1] reals beside [-1, 1] fakes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def _wrappers(trainer: Any) -> list[Any]:
    """The loader wrappers that change real batches, outermost first."""
    found = []
    loader = getattr(trainer, "batches", None)
    while loader is not None:
        if callable(getattr(type(loader), "map_real", None)) and callable(getattr(type(loader), "unmap_real", None)):
            found.append(loader)
        loader = vars(loader).get("inner") if hasattr(loader, "__dict__") else None
    return found


def as_trained(trainer: Any, x: Tensor) -> Tensor:
    """Real samples in the data set's model space, mapped as the Trainer's loader maps every real batch."""
    for wrapper in reversed(_wrappers(trainer)):  # the innermost wrapper acts first
        x = wrapper.map_real(x)
    return x


def from_trained(trainer: Any, x: Tensor) -> Tensor:
    """The inverse of :func:`as_trained`: generated samples back in the data set's model space."""
    for wrapper in _wrappers(trainer):
        x = wrapper.unmap_real(x)
    return x


def describe_maps(trainer: Any) -> str:
    """A short text naming the real-batch maps in force (part of cache keys); ``""`` when none."""
    return ";".join(f"{type(w).__name__}{sorted((k, v) for k, v in vars(w).items() if isinstance(v, float))}"
                    for w in _wrappers(trainer))


def to_data_units(trainer: Any, samples: Tensor) -> Tensor:
    """Generated samples (training space) in data units: undo the loader's maps, then ``dataset.denormalize``."""
    return trainer.dataset.denormalize(from_trained(trainer, samples.detach().float().cpu()))


def to_pixels(images: Tensor) -> Tensor:
    """Images in [-1, 1] as uint8 pixels in [0, 255] (as a PNG of them shows): ``round((x + 1) * 127.5)``."""
    return images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


__all__ = ["as_trained", "describe_maps", "from_trained", "to_data_units", "to_pixels"]
