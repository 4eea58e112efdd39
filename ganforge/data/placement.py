"""Choosing where a run's real batches come from: sampled on the device, resident, streamed, or read from files.

:func:`make_batches` picks the loader (:mod:`ganforge.data.loader` for data
held in memory, :mod:`ganforge.data.files` for data read sample by sample);
both give the same batches for the same seed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.data.files import ItemBatches, too_big_for_host
from ganforge.data.loader import DistributionBatches, TensorBatches
from ganforge.errors import ConfigError, DataError
from ganforge.interfaces import Dataset

#: The values of ``TrainConfig.data_placement``.
PLACEMENTS = ("auto", "device", "stream", "files")


def fits_on_device(data: Tensor, device: torch.device, fraction: float = 0.25) -> bool:
    """True when ``data`` takes at most ``fraction`` of the device's free memory (always on CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return data.numel() * data.element_size() <= fraction * free


def describe_placement(batches: Any) -> str:
    """Where a loader's batches come from, for the run's first log line."""
    placement = getattr(batches, "placement", "device")
    if placement == "files":
        workers = batches.workers
        return f"read from its files by {workers} DataLoader worker{'s' if workers != 1 else ''}" if workers \
            else "read from its files in this process"
    if placement == "stream":
        return "in host memory, copied per batch"
    return f"resident on {batches.device}"


def make_batches(dataset: Dataset, batch_size: int, device: torch.device, placement: str = "auto", seed: int = 0,
                 rank: int = 0, world_size: int = 1, workers: int | None = None):
    """The loader for ``dataset``: on-device sampling, resident tensors, streaming, or reading files.

    ``placement="auto"``: a per-item data set (an image folder) whose decoded
    samples would take more than half the available host memory is read from
    its files by DataLoader workers (``"files"``); any other finite data set is
    loaded once and kept on the device when it takes at most a quarter of the
    free device memory (``"device"``), else on the host (``"stream"``). All
    placements give the same batches for the same seed. ``batch_size`` is the
    global batch; with ``world_size > 1`` each call of ``next()`` returns rank
    ``rank``'s slice of it. ``workers`` is for ``"files"`` only.
    """
    if placement not in PLACEMENTS:
        raise ConfigError(f"'data_placement' must be one of {PLACEMENTS} (got {placement!r})")
    if dataset.is_distribution:
        return DistributionBatches(dataset, batch_size, device, rank, world_size)
    if placement == "files" and not dataset.per_item:
        raise ConfigError(f"data_placement='files' reads samples one at a time, which data set '{dataset.name}' "
                          "cannot (it loads all at once); use 'auto', 'device' or 'stream'.")
    if placement == "files" or (placement == "auto" and dataset.per_item):
        if placement == "files" or too_big_for_host(dataset):
            return ItemBatches(dataset, batch_size, device, seed=seed, rank=rank, world_size=world_size,
                               workers=workers)
    data, labels = dataset.load()
    if tuple(data.shape[1:]) != tuple(dataset.stored_shape):
        what = "samples" if dataset.condition_shape is None else "stored rows (sample and condition)"
        raise DataError(
            f"Data set '{dataset.name}' declares {what} of shape {tuple(dataset.stored_shape)} but loaded "
            f"{tuple(data.shape[1:])}."
        )
    if placement == "auto":
        placement = "device" if fits_on_device(data, device) else "stream"
    return TensorBatches(data, labels, batch_size, device, placement=placement, seed=seed, rank=rank,
                         world_size=world_size)
