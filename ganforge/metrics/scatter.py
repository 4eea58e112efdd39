"""Scatter plots of 2-D samples over the data set's reference points, in data units.

The reference points come from the data set's declaration
(:class:`~ganforge.metrics.MetricSupport`): its ``reference`` sampler when
it has one, else its mode centres, else its own samples. Generated samples
are mapped to data units through the loader's maps and ``denormalize``
(:func:`~ganforge.metrics.spaces.to_data_units`), so they lie where the
real data does even when the ``normalize`` trick rescaled it for training.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import DataError, PluginError
from ganforge.io.viz import save_scatter
from ganforge.metrics.sampling import real_samples
from ganforge.metrics.spaces import to_data_units
from ganforge.metrics.support import MetricSupport, support_for

#: Reference points drawn for a scatter plot when the data set has a sampler.
REFERENCE_POINTS = 2048


def reference_points(dataset: Any, support: MetricSupport, n: int, seed: int = 0) -> Tensor:
    """``n`` real samples in data units, ``(n, D)``: the declared ``reference`` sampler's, else the data set's own.

    Raises:
        PluginError: when a declared sampler returns something else than ``(n, D)`` finite floats.
    """
    if support.reference is not None:
        points = support.reference(n, torch.Generator().manual_seed(seed))
        shape = tuple(dataset.sample_shape)
        if not isinstance(points, Tensor) or tuple(points.shape) != (n, *shape):
            got = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
            raise PluginError(f"Data set '{dataset.name}': its reference sampler returned {got} for n={n}; it must "
                              f"return a tensor of shape {(n, *shape)} in data units.")
        return points.detach().float().cpu()
    from ganforge.metrics.spaces import to_model_space

    return dataset.denormalize(to_model_space(real_samples(dataset, n, seed)))


def scatter_reference(dataset: Any, support: MetricSupport | None = None, seed: int = 0) -> tuple[Tensor, float | None]:
    """The reference points of a scatter plot (data units) and the view's half-width (None: fit the points)."""
    support = support or support_for(dataset)
    if support.reference is None and support.modes is not None:
        modes = support.modes.detach().float().cpu()
        return modes, float(modes.abs().max()) * 1.3 + 3 * float(support.mode_std)
    return reference_points(dataset, support, REFERENCE_POINTS, seed), None


def save_sample_scatter(trainer: Any, samples: Tensor, path: str | os.PathLike, seed: int = 0) -> None:
    """Save generated 2-D ``samples`` (training space; red) over the data set's reference points (blue) as a PNG."""
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise DataError(f"Scatter plots show 2-D samples; these have shape {tuple(samples.shape[1:])}.")
    reference, extent = scatter_reference(trainer.dataset, seed=seed)
    save_scatter(to_data_units(trainer, samples), path, reference=reference, extent=extent)


__all__ = ["REFERENCE_POINTS", "reference_points", "save_sample_scatter", "scatter_reference"]
