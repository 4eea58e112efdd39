"""CIFAR-10 from its python-pickle batches, found locally or downloaded through torchvision."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.data.mnist import DATA_ENV, removed_if_failed, resolve_data_root
from ganforge.errors import ConfigError, DataError, DataNotFoundError
from ganforge.interfaces import Dataset
from ganforge.options import boolean, option, options

#: The folder the CIFAR-10 archive unpacks to.
BATCH_FOLDER = "cifar-10-batches-py"
BATCH_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_DOWNLOAD_OFF = "download=False"
#: The only globals a CIFAR batch pickle needs (numpy arrays and bytes).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and strings only: a data file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):
            module = "numpy._core.multiarray"  # numpy >= 2 moved it
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file: uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)``.

    Raises:
        DataError: naming the file, when it is unreadable or not a CIFAR-10 batch.
    """
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"Cannot read CIFAR-10 batch {path}: {type(exc).__name__}: {exc}. "
                        "The file is corrupt or not a CIFAR-10 python batch; delete it and download again.") from None
    if isinstance(batch, dict):
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch: expected a dict with 'data' and 'labels'.")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise DataError(f"{path}: expected uint8 'data' of shape (N, 3072) and N labels; got {data.dtype} "
                        f"{data.shape} and {labels.shape[0]} labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels must lie in 0..9 (got {labels.min()}..{labels.max()}).")
    # Each row holds the red, green and blue 32x32 planes, row-major.
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(Dataset):
    """CIFAR-10 colour images, 3x32x32, 10 classes (Krizhevsky 2009).

    Looks for the python batches (``data_batch_1`` ... ``data_batch_5``,
    ``test_batch``) in ``<root>/cifar-10-batches-py``,
    ``<root>/cifar10/cifar-10-batches-py``, ``<root>/CIFAR10/cifar-10-batches-py``
    and ``<root>`` itself, where ``root`` is ``data_root``, else
    ``$GANFORGE_DATA``, else ``./data``.

    Options:
        download: Try torchvision's downloader (into ``<root>``) when the
            files are missing (default True). Offline, loading raises
            :class:`~ganforge.errors.DataNotFoundError` naming the folders searched.
    """

    name = "cifar10"

    @options
    class Options:
        download: bool = option(True, validator=boolean(),
                                help="Try torchvision's downloader when the files are missing (offline: an error "
                                     "naming the folders searched).")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        if split not in BATCH_FILES:
            raise ConfigError(f"'split' must be one of {tuple(BATCH_FILES)} (got {split!r})")
        super().__init__(root=root, split=split, **options)
        self.download = self.options.download
        self.data_root = resolve_data_root(root)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, 32, 32)

    @property
    def num_classes(self) -> int:
        return 10

    def metric_support(self) -> Any:
        """Image metrics (FID: usually ``feature="inception"``) and class coverage (the domain classifier)."""
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes"))

    def search_dirs(self) -> list[Path]:
        """Folders searched for the batch files, in order."""
        root = self.data_root
        return [root / BATCH_FOLDER, root / "cifar10" / BATCH_FOLDER, root / "CIFAR10" / BATCH_FOLDER, root]

    def _find(self, split: str) -> list[Path] | None:
        for d in self.search_dirs():
            paths = [d / name for name in BATCH_FILES[split]]
            if all(p.is_file() for p in paths):
                return paths
        return None

    def _download(self) -> str | None:
        """Try torchvision's downloader; return the failure reason, or None on success."""
        import torchvision.datasets

        source = torchvision.datasets.CIFAR10
        # torchvision extracts into its folder from an archive it leaves beside it: a failure removes both
        made = (getattr(source, "base_folder", BATCH_FOLDER), getattr(source, "filename", "cifar-10-python.tar.gz"))
        with removed_if_failed(self.data_root, *made) as ok:
            try:
                source(str(self.data_root), train=self.split == "train", download=True)
            except Exception as exc:  # offline, proxy, disk full: report, do not dump
                reason = " ".join(str(exc).split())
                return f"{type(exc).__name__}: {reason[:300]}"
            ok[0] = True
        return None

    def _not_found(self, reason: str | None) -> DataNotFoundError:
        files = ", ".join(BATCH_FILES[self.split])
        msg = (f"cifar10 {self.split} split not found. Looked for {files} in: "
               + ", ".join(str(d) for d in self.search_dirs()) + ".")
        if reason == _DOWNLOAD_OFF:
            msg += " Downloading is off (download=False)."
        elif reason:
            msg += f" Downloading through torchvision failed ({reason})."
        for split in BATCH_FILES:
            if split != self.split and self._find(split):
                msg += f" The {split} split is there: pass split='{split}' (--split {split})."
        msg += (f" Unpack cifar-10-python.tar.gz under a folder and pass it with data_root=DIR (--data-root DIR) "
                f"or the {DATA_ENV} environment variable, or start offline with --data grid25.")
        return DataNotFoundError(msg)

    def load(self) -> tuple[Tensor, Tensor]:
        paths = self._find(self.split)
        if paths is None:
            reason = self._download() if self.download else _DOWNLOAD_OFF
            paths = self._find(self.split)
            if paths is None:
                raise self._not_found(reason)
        parts = [read_batch(p) for p in paths]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        return images, labels
