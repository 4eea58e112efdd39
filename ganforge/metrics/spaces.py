"""The spaces samples live in, and the maps between them.

* **Data units**: what the data set describes (``dataset.modes`` and ``std``
  of a mixture, a plugin's points); ``dataset.denormalize`` maps the data
  set's model space to them.
* **The data set's model space**: what ``load()`` / ``sample()`` return
  (uint8 images mapped to [-1, 1] by :func:`to_model_space`).
  ganforge's domain classifier is trained in it.
* **Training space**: what the models saw during training. It equals the
  data set's model space unless a trick
  changed the real batches, as the ``normalize`` trick does when it rescales
  [0, 1] data to [-1, 1] (tricks do it at the ``real_batch`` event and undo
  it with ``undo_real_batch``). The generator's samples are in training space.

Evaluation compares real and generated samples in one space, so that a
rescaling during training can never set [0, 1] reals beside [-1, 1] fakes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def to_model_space(x: Tensor) -> Tensor:
    """Map uint8 images in [0, 255] to float32 in [-1, 1]; return float data unchanged (as float32)."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


def _mapping_tricks(trainer: Any) -> list[Any]:
    """The tricks that change real batches (``real_batch`` events), in the order the step applies them."""
    from ganforge.interfaces import Trick

    return [t for t in getattr(trainer, "tricks", []) if type(t).real_batch is not Trick.real_batch]


def as_trained(trainer: Any, x: Tensor) -> Tensor:
    """Real samples in the data set's model space, mapped as the training step maps every real batch."""
    for trick in _mapping_tricks(trainer):
        x = trick.real_batch(x)
    return x


def from_trained(trainer: Any, x: Tensor) -> Tensor:
    """The inverse of :func:`as_trained`: generated samples back in the data set's model space."""
    for trick in reversed(_mapping_tricks(trainer)):
        x = trick.undo_real_batch(x)
    return x


def describe_maps(trainer: Any) -> str:
    """A short text naming the real-batch maps in force (part of cache keys); ``""`` when none."""
    return ";".join(f"{t.name}{sorted(t.state_dict().items())}" for t in _mapping_tricks(trainer))


def to_data_units(trainer: Any, samples: Tensor) -> Tensor:
    """Generated samples (training space) in data units: undo the loader's maps, then ``dataset.denormalize``."""
    return trainer.dataset.denormalize(from_trained(trainer, samples.detach().float().cpu()))


def to_pixels(images: Tensor) -> Tensor:
    """Images in [-1, 1] as uint8 pixels in [0, 255] (as a PNG of them shows): ``round((x + 1) * 127.5)``."""
    return images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


__all__ = ["as_trained", "describe_maps", "from_trained", "to_data_units", "to_pixels"]
