"""Reading a finite data set sample by sample from its files, for data too large for memory.

``data_placement="files"`` (or ``"auto"`` when the decoded data would not fit)
serves batches of a per-item data set (:attr:`Dataset.per_item
<ganforge.interfaces.Dataset.per_item>`, e.g. ``image-folder``) through a
PyTorch DataLoader whose worker processes decode the samples ahead of the
training step. The order is the same :class:`~ganforge.data.loader.ShuffledOrder`
the resident loaders use, so every placement serves the same batches.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any

import torch
import torch.utils.data
from torch import Tensor

from ganforge.data.loader import ShuffledOrder, to_model_space
from ganforge.errors import DataError
from ganforge.interfaces import Dataset


def local_processes() -> int:
    """Training processes on this machine (torchrun's ``LOCAL_WORLD_SIZE``; 1 without a launcher)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def default_workers() -> int:
    """DataLoader workers per training process when ``data_workers`` is not set.

    The usable CPU cores shared among this machine's training processes, at
    least 1 and at most 8.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores // local_processes()))


def available_host_memory() -> int | None:
    """Bytes of host memory available for new data (Linux's MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def first_item(dataset: Dataset) -> Tensor:
    """``dataset``'s row 0, checked against its declared ``stored_shape`` (``sample_shape`` unless a condition
    is stored beside each sample)."""
    sample, _ = dataset.load_item(0)
    if tuple(sample.shape) != tuple(dataset.stored_shape):
        what = "samples" if dataset.condition_shape is None else "stored rows (sample and condition)"
        raise DataError(f"Data set '{dataset.name}' declares {what} of shape {tuple(dataset.stored_shape)} but "
                        f"load_item(0) returned {tuple(sample.shape)}.")
    return sample


def too_big_for_host(dataset: Dataset, fraction: float = 0.5) -> bool:
    """True when ``dataset``, loaded whole, would take more than ``fraction`` of the available host memory.

    Every training process on the machine would hold its own copy, so the
    share is divided among them (``LOCAL_WORLD_SIZE``). False when the
    available memory is unknown.
    """
    free = available_host_memory()
    if free is None:
        return False
    sample = first_item(dataset)
    size = dataset.num_items() * sample.numel() * sample.element_size()
    return size > fraction * free / local_processes()


class _Items(torch.utils.data.Dataset):
    """A ganforge per-item data set seen by a DataLoader."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return self.dataset.num_items()

    def __getitem__(self, index: int) -> tuple[Tensor, int | None]:
        return self.dataset.load_item(index)


def _collate(items: list[tuple[Tensor, int | None]]) -> tuple[Tensor, Tensor | None]:
    images = torch.stack([x for x, _ in items])
    labels = None if items[0][1] is None else torch.tensor([y for _, y in items], dtype=torch.int64)
    return images, labels


def worker_error(exc: BaseException) -> BaseException | None:
    """``exc`` without the worker's traceback that a DataLoader puts into the message; None when there is none.

    A DataLoader re-raises an exception of a worker process as the same type
    with the message "Caught X in DataLoader worker process N. Original
    Traceback ...": the user should see the original one-line message
    (e.g. ``Cannot read image PATH: ...``), the traceback only with ``--debug``.
    """
    text = str(exc)
    if "in DataLoader worker process" not in text or "Original Traceback" not in text:
        return None
    worker = re.search(r"DataLoader worker process (\d+)", text)
    last = text.rstrip().splitlines()[-1]
    found = re.match(rf"^(?:[\w.]+\.)?{re.escape(type(exc).__name__)}: (.*)$", last)
    if found is None:
        return None
    try:
        return type(exc)(f"{found.group(1)} (read by DataLoader worker {worker.group(1) if worker else '?'})")
    except Exception:  # noqa: BLE001 - an exception type that takes other arguments: leave it as it was
        return None


def _ignore_ctrl_c(worker_id: int) -> None:
    """Workers leave Ctrl-C to the training process, which stops cleanly and then stops them.

    Ctrl-C reaches every process of the terminal's process group; under the
    spawn and forkserver start methods the workers would die of it while the
    training process still wants the batches of the step it is finishing.
    (SIGTERM is left alone: it is how the workers are stopped at exit.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ItemBatches:
    """Shuffled mini-batches read sample by sample by DataLoader worker processes (``"files"``).

    Each epoch, a DataLoader is given the index lists of the rest of the
    epoch (this rank's slices of the global batches); ``workers`` processes
    decode samples ahead of the training step, into pinned memory when
    training on CUDA. The position counts the batches handed to training, not
    those decoded ahead, so a checkpoint resumes exactly.

    Args:
        dataset: A data set with ``per_item = True``.
        batch_size, device, seed, rank, world_size: As for
            :class:`~ganforge.data.loader.TensorBatches`.
        workers: DataLoader worker processes (None: :func:`default_workers`;
            0: read in this process).
    """

    placement = "files"

    def __init__(self, dataset: Dataset, batch_size: int, device: torch.device, seed: int = 0, rank: int = 0,
                 world_size: int = 1, workers: int | None = None):
        first_item(dataset)
        self.dataset = dataset
        self.batch_size = batch_size
        self.device = device
        self.workers = default_workers() if workers is None else workers
        self.index = ShuffledOrder(dataset.num_items(), batch_size, seed, rank, world_size)
        self._batches: Any = None  # the DataLoader iterator over the rest of the epoch

    def __len__(self) -> int:
        """Full batches per epoch."""
        return self.index.n // self.batch_size

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.index.epoch

    def _start(self) -> None:
        self.index.start_epoch_if_done()
        step = self.batch_size
        rest = [self.index.batch_at(p).tolist() for p in range(self.index.position, self.index.n - step + 1, step)]
        # The DataLoader draws its workers' base seed from `generator`; without one it would draw from
        # the global RNG and change the training's random numbers (latents, tricks) at every epoch.
        loader = torch.utils.data.DataLoader(
            _Items(self.dataset), batch_sampler=rest, num_workers=self.workers, collate_fn=_collate,
            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(self.index.epoch),
            worker_init_fn=_ignore_ctrl_c if self.workers else None,
        )
        self._batches = iter(loader)

    def next(self) -> tuple[Tensor, Tensor | None]:
        """The next batch ``(x in [-1, 1] or model space, labels)`` on the device."""
        if self._batches is None or self.index.position + self.batch_size > self.index.n:
            self._start()
        try:
            x, y = next(self._batches)
        except BaseException as exc:
            self.close()  # a failed read leaves the iterator out of step with the position: start afresh
            clean = worker_error(exc)
            if clean is None:
                raise
            raise clean from exc
        self.index.position += self.batch_size
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True) if y is not None else None
        return to_model_space(x), y

    def state_dict(self) -> dict[str, Any]:
        """The position in the data (as :meth:`ShuffledOrder.state_dict <ganforge.data.loader.ShuffledOrder.state_dict>`)."""
        return self.index.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; batches decoded ahead for the old position are dropped."""
        self.index.load_state_dict(state)
        self.close()

    def close(self) -> None:
        """Stop the worker processes (they restart on the next :meth:`next`)."""
        self._batches = None
