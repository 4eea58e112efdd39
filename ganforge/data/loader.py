"""Batch loaders: where real batches come from during training.

* :class:`DistributionBatches` draws fresh samples on the device (mixtures).
* :class:`TensorBatches` serves a finite data set held as one tensor, either
  resident on the training device (loaded once, shuffled and indexed there)
  or kept in host memory and copied batch by batch through pinned buffers ("stream").

uint8 images are stored as uint8 (a quarter of the memory of float32) and
mapped to [-1, 1] on the device as each batch is taken. Every loader can
save and restore its position exactly (``state_dict``), so a resumed run
sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError
from ganforge.interfaces import Dataset

PLACEMENTS = ("auto", "device", "stream")


def to_model_space(x: Tensor) -> Tensor:
    """Map uint8 images in [0, 255] to float32 in [-1, 1]; return float data unchanged (as float32)."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


def shard(x: Tensor | None, rank: int, world_size: int) -> Tensor | None:
    """Rank ``rank``'s contiguous slice of ``x`` along dim 0 (``x`` itself when ``world_size`` is 1)."""
    if x is None or world_size == 1:
        return x
    n = x.shape[0] // world_size
    return x[rank * n : (rank + 1) * n]


class DistributionBatches:
    """Fresh samples from a :class:`Dataset` distribution every batch (uses the global RNG of the device).

    Under data parallelism (``world_size > 1``) every rank draws the whole
    global batch of ``batch_size`` from its RNG, seeded alike on all ranks,
    and keeps its own slice: the ranks see different samples, and their union
    is exactly what a single process would draw.
    """

    placement = "device"

    def __init__(self, dataset: Dataset, batch_size: int, device: torch.device, rank: int = 0, world_size: int = 1):
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = device
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return 0  # unbounded

    def next(self) -> tuple[Tensor, Tensor | None]:
        """The next batch ``(x, labels)`` on the device (this rank's slice of the global batch)."""
        x, y = self.dataset.sample(self.batch_size, self.device)
        return shard(x, self.rank, self.world_size), shard(y, self.rank, self.world_size)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class PinnedStaging:
    """Two pinned host buffers that streamed batches are gathered into before going to the GPU.

    Gathering rows of a pinned tensor (``index_select``) makes a new, pageable
    tensor, and a ``non_blocking`` copy from pageable memory waits for the host.
    Gathering into a pinned buffer keeps the copy asynchronous. The two buffers
    alternate; one is refilled only once the copy out of it (two batches
    earlier) has finished, which an event recorded after that copy tells.
    """

    def __init__(self, source: Tensor, rows: int):
        self.buffers = [torch.empty((rows, *source.shape[1:]), dtype=source.dtype).pin_memory() for _ in range(2)]
        self.copied: list[torch.cuda.Event | None] = [None, None]
        self.slot = 0

    def gather(self, source: Tensor, idx: Tensor, device: torch.device) -> Tensor:
        """``source[idx]`` on ``device``, copied asynchronously from a pinned buffer."""
        i, self.slot = self.slot, 1 - self.slot
        if self.copied[i] is not None:
            self.copied[i].synchronize()
        torch.index_select(source, 0, idx, out=self.buffers[i])
        out = self.buffers[i].to(device, non_blocking=True)
        self.copied[i] = torch.cuda.Event()
        self.copied[i].record()
        return out


class TensorBatches:
    """Shuffled mini-batches of a finite data set, without replacement, dropping the last partial batch.

    Args:
        data: ``(N, ...)`` uint8 or float tensor.
        labels: ``(N,)`` int64 tensor or None.
        batch_size: Samples per batch.
        device: The training device; batches are returned there.
        placement: ``"device"`` keeps the data on ``device``; ``"stream"`` keeps it
            on the host and copies each batch (through pinned buffers when
            ``device`` is CUDA, see :class:`PinnedStaging`).
        seed: Seeds the shuffling generator (independent of model initialisation).
        rank, world_size: Data parallelism: ``batch_size`` is the global batch;
            every rank holds the same shuffle order (same ``seed``) and returns
            its own contiguous slice of ``batch_size // world_size`` samples of
            each global batch. The position (and so the checkpointed state)
            is the same on every rank and for every world size.
    """

    def __init__(
        self,
        data: Tensor,
        labels: Tensor | None,
        batch_size: int,
        device: torch.device,
        placement: str = "device",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        n = data.shape[0]
        if batch_size > n:
            raise DataError(
                f"batch_size {batch_size} is larger than the data set ({n} samples); "
                f"choose batch_size <= {n}."
            )
        self.batch_size = batch_size
        self.device = device
        self.placement = placement
        self.rank, self.world_size = rank, world_size
        store = device if placement == "device" else torch.device("cpu")
        self.data = data.to(store)
        self.labels = labels.to(store) if labels is not None else None
        self.staging: list[PinnedStaging] | None = None
        if placement == "stream" and device.type == "cuda":
            rows = batch_size // world_size
            self.staging = [PinnedStaging(self.data, rows)]
            if self.labels is not None:
                self.staging.append(PinnedStaging(self.labels, rows))
        # The shuffle is drawn on the CPU whatever the placement: a CUDA generator would give a
        # different order for the same seed, and its state would not load into a CPU one on resume.
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = self._shuffle()

    def __len__(self) -> int:
        """Full batches per epoch."""
        return self.data.shape[0] // self.batch_size

    def _shuffle(self) -> Tensor:
        """A new epoch's order, next to the data (one small copy per epoch when the data is on the GPU)."""
        return torch.randperm(self.data.shape[0], generator=self.generator).to(self.data.device)

    def next(self) -> tuple[Tensor, Tensor | None]:
        """The next batch ``(x in [-1, 1] or model space, labels)`` on the device."""
        if self.position + self.batch_size > self.data.shape[0]:
            self.order = self._shuffle()
            self.position = 0
            self.epoch += 1
        idx = shard(self.order[self.position : self.position + self.batch_size], self.rank, self.world_size)
        self.position += self.batch_size
        if self.staging is not None:  # streaming to a GPU: through pinned buffers, asynchronously
            x = self.staging[0].gather(self.data, idx, self.device)
            y = self.staging[1].gather(self.labels, idx, self.device) if self.labels is not None else None
        else:
            x = self.data.index_select(0, idx)
            y = self.labels.index_select(0, idx) if self.labels is not None else None
            x = x.to(self.device)  # no copy unless streaming
            y = y.to(self.device) if y is not None else None
        return to_model_space(x), y

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "order": self.order.cpu(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.order = state["order"].to(self.data.device)
        self.generator.set_state(state["generator"])


def fits_on_device(data: Tensor, device: torch.device, fraction: float = 0.25) -> bool:
    """True when ``data`` takes at most ``fraction`` of the device's free memory (always on CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return data.numel() * data.element_size() <= fraction * free


def make_batches(dataset: Dataset, batch_size: int, device: torch.device, placement: str = "auto", seed: int = 0,
                 rank: int = 0, world_size: int = 1):
    """The loader for ``dataset``: on-device sampling, resident tensors, or streaming.

    ``placement="auto"`` keeps a finite data set on the device when it takes at
    most a quarter of the free device memory, and streams it otherwise.
    ``batch_size`` is the global batch; with ``world_size > 1`` each call of
    ``next()`` returns rank ``rank``'s slice of it (see the loaders).
    """
    if placement not in PLACEMENTS:
        raise ConfigError(f"'data_placement' must be one of {PLACEMENTS} (got {placement!r})")
    if dataset.is_distribution:
        return DistributionBatches(dataset, batch_size, device, rank, world_size)
    data, labels = dataset.load()
    if tuple(data.shape[1:]) != tuple(dataset.sample_shape):
        raise DataError(
            f"Data set '{dataset.name}' declares samples of shape {tuple(dataset.sample_shape)} but loaded "
            f"{tuple(data.shape[1:])}."
        )
    if placement == "auto":
        placement = "device" if fits_on_device(data, device) else "stream"
    return TensorBatches(data, labels, batch_size, device, placement=placement, seed=seed, rank=rank,
                         world_size=world_size)
