"""MNIST from IDX files, found locally or downloaded through torchvision."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.data.idx import read_idx
from ganforge.errors import ConfigError, DataError, DataNotFoundError
from ganforge.interfaces import Dataset
from ganforge.options import boolean, option, options

DATA_ENV = "GANFORGE_DATA"

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def resolve_data_root(root: str | os.PathLike | None) -> Path:
    """The data root: ``root`` if given, else ``$GANFORGE_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


def idx_search_dirs(root: Path, folder: str) -> list[Path]:
    """Folders an IDX data set named ``folder`` may live in under ``root``."""
    return [root, root / folder.lower(), root / folder, root / folder / "raw"]


def find_idx_file(dirs: list[Path], stem: str) -> Path | None:
    """The first ``stem`` or ``stem.gz`` found in ``dirs``."""
    for d in dirs:
        for candidate in (d / stem, d / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _paths_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.is_dir() else set()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def removed_if_failed(root: Path, *names: str) -> Iterator[list[bool]]:
    """Undo what a download into ``root`` created when it fails: the named files and folders, and ``root`` itself.

    The body sets ``ok[0] = True`` on success; otherwise each of ``root/name``
    is removed if the download made it, or, if it was there before, what the
    download added below it; then ``root`` and the folders leading to it, when
    the download made them and they are empty. Files that were there before are
    never touched, and nothing else under ``root`` is listed.
    """
    made = [p for p in (root, *root.parents) if not p.exists()]  # the folders the download would create
    before = {root / name: (_paths_under(root / name) if (root / name).exists() else None) for name in names}
    ok = [False]
    try:
        yield ok
    finally:
        if not ok[0]:
            for target, old in before.items():
                if old is None:  # the download made it (a folder, or an archive beside one)
                    _remove(target)
                    continue
                for p in sorted(_paths_under(target) - old, key=lambda p: len(p.parts), reverse=True):
                    _remove(p)
            for p in made:  # innermost first; only empty folders go
                try:
                    p.rmdir()
                except FileNotFoundError:
                    continue  # the download never made this one (it failed before writing anything)
                except OSError:
                    break


class IDXImageDataset(Dataset):
    """Base for MNIST-style data sets stored as IDX image and label files."""

    folder = "MNIST"  # torchvision's folder name
    torchvision_class = "MNIST"
    files = _FILES

    @options
    class Options:
        download: bool = option(True, validator=boolean(),
                                help="Try torchvision's downloader when the files are missing (offline: an error "
                                     "naming the folders searched).")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        if split not in self.files:
            raise ConfigError(f"'split' must be one of {tuple(self.files)} (got {split!r})")
        super().__init__(root=root, split=split, **options)
        self.download = self.options.download
        self.data_root = resolve_data_root(root)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (1, 28, 28)

    @property
    def num_classes(self) -> int:
        return 10

    def metric_support(self) -> Any:
        """Image metrics and class coverage (the domain classifier trained on this split)."""
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes"))

    def search_dirs(self) -> list[Path]:
        """Folders searched for the IDX files, in order (subclasses may narrow them)."""
        return idx_search_dirs(self.data_root, self.folder)

    def _find(self) -> tuple[Path, Path] | None:
        dirs = self.search_dirs()
        images, labels = (find_idx_file(dirs, stem) for stem in self.files[self.split])
        return (images, labels) if images and labels else None

    def _download(self) -> str | None:
        """Try torchvision's downloader; return the failure reason, or None on success."""
        import torchvision.datasets

        with removed_if_failed(self.data_root, self.folder) as ok:  # no empty MNIST/raw left behind
            try:
                getattr(torchvision.datasets, self.torchvision_class)(
                    str(self.data_root), train=self.split == "train", download=True
                )
            except Exception as exc:  # offline, proxy, disk full: report, do not dump
                reason = " ".join(str(exc).split())  # one line, however many mirrors it tried
                return f"{type(exc).__name__}: {reason[:300]}"
            ok[0] = True
        return None

    def _not_found(self, reason: str | None) -> DataNotFoundError:
        dirs = self.search_dirs()
        stems = self.files[self.split]
        other = [s for s in self.files if s != self.split]
        msg = (
            f"{self.name} {self.split} split not found. Looked for {stems[0]}(.gz) and {stems[1]}(.gz) in: "
            + ", ".join(str(d) for d in dirs)
            + "."
        )
        if reason:
            msg += f" Downloading through torchvision failed ({reason})."
        for split in other:
            if all(find_idx_file(dirs, s) for s in self.files[split]):
                msg += f" The {split} split is there: pass split='{split}' (--split {split})."
        msg += (
            f" Pass the folder holding the files with data_root=DIR (--data-root DIR) or the {DATA_ENV} "
            "environment variable, or start offline with --data grid25."
        )
        return DataNotFoundError(msg)

    def load(self) -> tuple[Tensor, Tensor]:
        found = self._find()
        if found is None:
            reason = self._download() if self.download else "download=False"
            found = self._find()
            if found is None:
                raise self._not_found(reason)
        return self._check(*found)

    def _check(self, image_file: Path, label_file: Path) -> tuple[Tensor, Tensor]:
        """The images ``(N, 1, H, W)`` uint8 and labels ``(N,)`` int64 of two IDX files, checked to be this data set.

        Both must be unsigned bytes (IDX type 0x08), the images ``(N, H, W)`` with this data set's ``H, W``,
        the labels ``(N,)`` with values below :attr:`num_classes`; otherwise a DataError names the file.
        """
        images = read_idx(image_file, element_type=0x08, what=f"{self.name} images")
        labels = read_idx(label_file, element_type=0x08, what=f"{self.name} labels")
        side = tuple(self.sample_shape[1:])
        if images.ndim != 3 or images.shape[1:] != side:
            raise DataError(f"{image_file} holds images of shape {images.shape}; {self.name} needs (N, {side[0]}, "
                            f"{side[1]}). Replace it with the original file (or download it again).")
        if labels.ndim != 1:
            raise DataError(f"{label_file} holds labels of shape {labels.shape}; {self.name} needs (N,). Replace it "
                            "with the original file (or download it again).")
        if images.shape[0] != labels.shape[0]:
            raise DataNotFoundError(
                f"{image_file} and {label_file} do not form an image/label pair: shapes "
                f"{tuple(images.shape)} and {tuple(labels.shape)}"
            )
        if labels.size and int(labels.max()) >= self.num_classes:
            raise DataError(f"{label_file} holds label {int(labels.max())}; {self.name} has classes 0 to "
                            f"{self.num_classes - 1}. Replace it with the original file (or download it again).")
        return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype("int64"))


class MNIST(IDXImageDataset):
    """MNIST handwritten digits, 1x28x28, 10 classes (LeCun et al.)."""

    name = "mnist"
