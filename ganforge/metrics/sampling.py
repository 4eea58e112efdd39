"""Drawing the samples that metrics compare: generated ones from seeded latents, real ones as a seeded subset.

Generated samples come out in training space, real ones in the data set's
model space; :mod:`ganforge.metrics.spaces` maps between them. Every draw
is seeded and leaves the training random state alone, so an evaluation (and
``ganforge sample``) repeats exactly: the samples ``ganforge sample RUN -n N
--seed S --out x.npz`` writes are the ones ``ganforge eval RUN --n N --seed S``
measures.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError
from ganforge.metrics.spaces import to_data_units, to_pixels

#: Samples generated per call of the generator.
CHUNK = 1000


def generate_with_labels(trainer: Any, n: int, seed: int = 0, label: int | None = None,
                         chunk: int = CHUNK) -> tuple[Tensor, Tensor | None]:
    """``n`` generated samples (CPU, training space) and their class labels (None when unconditional).

    Args:
        trainer: A :class:`~ganforge.Trainer` (set up here if needed).
        n: Number of samples.
        seed: Seeds the latents and the labels; the training RNG is untouched.
        label: Conditional runs: generate only this class (default: classes at random).
        chunk: Samples per generator call.
    """
    trainer.setup()
    classes = trainer.spec.num_classes
    if label is not None:
        if classes is None:
            raise ConfigError(f"A class label needs a conditional run; {trainer.run_dir} was trained without labels.")
        if not 0 <= label < classes:
            raise ConfigError(f"The class must be from 0 to {classes - 1} for this run (got {label})")
    gen = torch.Generator().manual_seed(seed)
    out, out_labels = [], []
    # A generator that translates a condition translates the held-out conditions in order (cycled past their end).
    conditions = trainer.held_out_conditions(n) if getattr(trainer.gen, "takes_condition", False) else None
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = torch.randn(m, trainer.spec.latent_dim, generator=gen)
        labels = None
        if classes:
            labels = (torch.full((m,), label, dtype=torch.long) if label is not None
                      else torch.randint(0, classes, (m,), generator=gen))
            out_labels.append(labels)
        condition = None
        if conditions is not None:
            condition = conditions[torch.arange(start, start + m) % len(conditions)]
        out.append(trainer.sample(z=z, labels=labels, condition=condition))
    return torch.cat(out), (torch.cat(out_labels) if out_labels else None)


def generate(trainer: Any, n: int, seed: int = 0, chunk: int = CHUNK) -> Tensor:
    """``n`` samples (CPU, training space) from fixed latents seeded by ``seed``; the training RNG is untouched."""
    return generate_with_labels(trainer, n, seed, chunk=chunk)[0]


def real_samples(dataset: Any, n: int, seed: int = 0) -> Tensor:
    """``n`` real samples (or all, if fewer) as the data set stores them (uint8 images or model-space floats).

    Finite data sets give a subset chosen by a permutation seeded by
    ``seed``; data sets read per item (``per_item``) decode only those
    items; distributions draw ``n`` under a forked RNG seeded by ``seed``.
    A data set that stores a condition beside each sample gives the samples
    alone (what a generator is measured against).
    """
    x = _stored_rows(dataset, n, seed)
    if getattr(dataset, "condition_shape", None) is not None:
        x = dataset.split_condition(x)[0]
    return x


def _stored_rows(dataset: Any, n: int, seed: int) -> Tensor:
    if dataset.is_distribution:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x, _ = dataset.sample(n, "cpu")
        return x.detach().float().cpu()
    gen = torch.Generator().manual_seed(seed)
    if getattr(dataset, "per_item", False):
        idx = torch.randperm(dataset.num_items(), generator=gen)[:n]
        return torch.stack([torch.as_tensor(dataset.load_item(int(i))[0]) for i in idx])
    data, _ = dataset.load()
    idx = torch.randperm(data.shape[0], generator=gen)[:n]
    return data[idx]


def real_images(dataset: Any, n: int, seed: int = 0) -> Tensor:
    """``n`` real samples (or all, if fewer) of a data set, in its model space ([-1, 1] for images)."""
    from ganforge.metrics.spaces import to_model_space

    return to_model_space(real_samples(dataset, n, seed))


def samples_as_data(trainer: Any, samples: Tensor) -> Tensor:
    """Generated samples (training space) as data: images as uint8 pixels ``(N, C, H, W)``, others in data units.

    Images become the pixels a PNG of them shows (``round((x + 1) * 127.5)``);
    points and other vectors are mapped back through the loader's maps and
    ``dataset.denormalize`` (:func:`~ganforge.metrics.spaces.to_data_units`).
    """
    if samples.ndim == 4:
        return to_pixels(samples)
    return to_data_units(trainer, samples)


#: File endings :func:`save_samples_data` writes.
DATA_SUFFIXES = (".npz", ".pt")


def samples_data_bytes(suffix: str, samples: Tensor, labels: Tensor | None = None, **meta: Any) -> bytes:
    """The bytes of a samples file (``.npz`` or ``.pt``) as :func:`save_samples_data` writes it."""
    content: dict[str, Any] = {"samples": samples.detach().cpu()}
    if labels is not None:
        content["labels"] = labels.detach().cpu().long()
    buffer = io.BytesIO()
    if suffix.lower() == ".pt":
        torch.save({**content, **meta}, buffer)
    else:
        np.savez(buffer, **{k: v.numpy() for k, v in content.items()}, **{k: np.asarray(v) for k, v in meta.items()})
    return buffer.getvalue()


def save_samples_data(path: str | os.PathLike, samples: Tensor, labels: Tensor | None = None,
                      **meta: Any) -> Path:
    """Write samples (and labels) as ``.npz`` (numpy) or ``.pt`` (torch) for other tools.

    The file holds ``samples`` and, when given, ``labels`` (int64 ``(N,)``),
    plus ``meta`` (numbers and strings such as ``step``, ``data``, ``seed``).
    ``.npz`` is read with ``numpy.load(path)``, ``.pt`` with
    ``torch.load(path)`` (a dict of tensors and values). It is built in memory
    and written by a temporary file renamed over ``path``
    (:func:`ganforge.io.atomic.atomic_write_bytes`): a full disk leaves a previous
    file intact, and a link at ``path`` is replaced, not written through.
    """
    from ganforge.io.atomic import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise DataError(f"Samples as data are written as .npz or .pt; got {str(path)!r}.")
    return atomic_write_bytes(path, samples_data_bytes(path.suffix, samples, labels, **meta))


__all__ = [
    "DATA_SUFFIXES",
    "generate",
    "generate_with_labels",
    "real_images",
    "real_samples",
    "samples_as_data",
    "samples_data_bytes",
    "save_samples_data",
]
