"""Fashion-MNIST (Xiao, Rasul and Vollgraf 2017) from IDX files, found locally or downloaded through torchvision."""

from __future__ import annotations

from pathlib import Path

from ganforge.data.mnist import IDXImageDataset


class FashionMNIST(IDXImageDataset):
    """Fashion-MNIST clothing images, 1x28x28, 10 classes (Zalando; Xiao et al. 2017).

    The files have MNIST's names (``train-images-idx3-ubyte(.gz)`` ...), so
    they are looked for only in folders named after the data set under the
    data root: ``fashion-mnist/``, ``fashionmnist/``, ``FashionMNIST/`` and
    ``FashionMNIST/raw/`` (where torchvision downloads them). The data root
    itself is searched last, and only when it was given explicitly
    (``data_root=`` / ``--data-root``): a default root full of MNIST files
    must not pass for Fashion-MNIST.

    Options:
        download: Try torchvision's downloader when the files are missing
            (default True). Offline, loading raises
            :class:`~ganforge.errors.DataNotFoundError` naming the folders searched.
    """

    name = "fashion-mnist"
    folder = "FashionMNIST"  # torchvision's folder name
    torchvision_class = "FashionMNIST"

    def search_dirs(self) -> list[Path]:
        root = self.data_root
        dirs = [root / "fashion-mnist", root / "fashionmnist", root / self.folder, root / self.folder / "raw"]
        return dirs + [root] if self.root is not None else dirs
