"""Batch loaders: where real batches come from during training.

* :class:`DistributionBatches` draws fresh samples on the device (mixtures).
* :class:`TensorBatches` serves a finite data set held as one tensor, either
  resident on the training device (loaded once, shuffled and indexed there)
  or kept in host memory and copied batch by batch through pinned buffers ("stream").
* :class:`~ganforge.data.files.ItemBatches` (in :mod:`ganforge.data.files`)
  reads a finite data set too large for memory sample by sample from its
  files, in DataLoader worker processes ("files").

uint8 images are stored as uint8 (a quarter of the memory of float32) and
mapped to [-1, 1] on the device as each batch is taken. Every loader can
save and restore its position exactly (``state_dict``), so a resumed run
sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganforge.errors import CheckpointError, DataError
from ganforge.interfaces import Dataset
from ganforge.metrics.spaces import (
    to_model_space,  # the data set's model space (kept importable here)
)


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
        """Nothing: the samples come from the global RNG, which checkpoints save."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def close(self) -> None:
        """Nothing to release."""


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


class ShuffledOrder:
    """Which samples of a finite data set come next: a new random order each epoch, and the position in it.

    The order is drawn by a CPU generator seeded with ``seed`` whatever the
    device (a CUDA generator would give another order for the same seed, and
    its state would not load into a CPU one on resume), then kept on
    ``device``. Each global batch is ``batch_size`` consecutive entries; the
    last partial batch of an epoch is dropped. Under data parallelism every
    rank holds the same order and takes its own contiguous slice
    (:func:`shard`), so the position (and the checkpointed state) is the same
    on every rank and for every world size.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 device: torch.device | None = None):
        if batch_size > n:
            raise DataError(f"batch_size {batch_size} is larger than the data set ({n} samples); "
                            f"choose batch_size <= {n}.")
        self.n, self.batch_size = n, batch_size
        self.rank, self.world_size = rank, world_size
        self.device = device or torch.device("cpu")
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = self._shuffle()

    def _shuffle(self) -> Tensor:
        return torch.randperm(self.n, generator=self.generator).to(self.device)

    def start_epoch_if_done(self) -> None:
        """Begin the next epoch (a new order, position 0) when no full batch is left in this one."""
        if self.position + self.batch_size > self.n:
            self.order = self._shuffle()
            self.position = 0
            self.epoch += 1

    def batch_at(self, position: int) -> Tensor:
        """This rank's indices of the global batch starting at ``position`` of the current order."""
        return shard(self.order[position : position + self.batch_size], self.rank, self.world_size)

    def take(self) -> Tensor:
        """This rank's indices of the next global batch; the position moves past it."""
        self.start_epoch_if_done()
        idx = self.batch_at(self.position)
        self.position += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        """``epoch``, ``position``, this epoch's ``order`` and the shuffle ``generator``'s state."""
        return {"epoch": self.epoch, "position": self.position, "order": self.order.cpu(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`; the data set must have as many samples as when it was saved."""
        if len(state["order"]) != self.n:
            raise DataError(f"The data set has {self.n} samples but the checkpoint's shuffle order covers "
                            f"{len(state['order'])}: the data changed since it was saved. Resume with the same data "
                            "(data_root, split, folder contents), or start a new run.")
        try:
            self.generator.set_state(state["generator"])
        except RuntimeError as exc:
            raise CheckpointError(f"The checkpoint's shuffle generator state does not load into a CPU generator "
                                  f"({exc}); it was written by an older ganforge that shuffled on the GPU. "
                                  "Start a new run.") from None
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.order = state["order"].to(self.device)


class TensorBatches:
    """Shuffled mini-batches of a finite data set held as one tensor (order: :class:`ShuffledOrder`).

    Args:
        data: ``(N, ...)`` uint8 or float tensor.
        labels: ``(N,)`` int64 tensor or None.
        batch_size: Samples per global batch.
        device: The training device; batches are returned there.
        placement: ``"device"`` keeps the data on ``device``; ``"stream"`` keeps it
            on the host and copies each batch (through pinned buffers when
            ``device`` is CUDA, see :class:`PinnedStaging`).
        seed: Seeds the shuffle (independent of model initialisation).
        rank, world_size: Data parallelism: each rank gets its slice of every global batch.
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
        self.batch_size = batch_size
        self.device = device
        self.placement = placement
        store = device if placement == "device" else torch.device("cpu")
        self.data = data.to(store)
        self.labels = labels.to(store) if labels is not None else None
        self.staging: list[PinnedStaging] | None = None
        if placement == "stream" and device.type == "cuda":
            rows = batch_size // world_size
            self.staging = [PinnedStaging(self.data, rows)]
            if self.labels is not None:
                self.staging.append(PinnedStaging(self.labels, rows))
        self.index = ShuffledOrder(data.shape[0], batch_size, seed, rank, world_size, device=store)

    def __len__(self) -> int:
        """Full batches per epoch."""
        return self.data.shape[0] // self.batch_size

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.index.epoch

    @property
    def position(self) -> int:
        """Samples of this epoch's order already served (``index.position``)."""
        return self.index.position

    @property
    def order(self) -> Tensor:
        """This epoch's order (``index.order``)."""
        return self.index.order

    def next(self) -> tuple[Tensor, Tensor | None]:
        """The next batch ``(x in [-1, 1] or model space, labels)`` on the device."""
        idx = self.index.take()
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
        """The position in the data (:meth:`ShuffledOrder.state_dict`)."""
        return self.index.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position."""
        self.index.load_state_dict(state)

    def close(self) -> None:
        """Nothing to release."""
