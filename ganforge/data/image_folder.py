"""Any folder of image files, optionally sorted into class subfolders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import DataError, DataNotFoundError
from ganforge.interfaces import Dataset
from ganforge.options import choice, integer, option, options

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted, skipping hidden files and folders."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).parts
        if not any(part.startswith(".") for part in rel) and _is_image(p):
            found.append(p)
    return sorted(found)


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode one image file to uint8 ``(channels, size, size)``.

    The shorter side is scaled to ``size`` (antialiased bilinear; smaller
    images are enlarged), then the centre ``size x size`` square is cropped.

    Raises:
        DataError: naming the file, when it cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"Cannot read image {path}: {exc}. Remove or replace the file.") from None
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


class ImageFolder(Dataset):
    """Images read from a folder (``data_root``), resized and centre-cropped to a square; class subfolders give labels.

    Layout: either image files directly in the folder (no labels), or one
    subfolder per class holding that class's images (at any depth); classes
    are the subfolder names in sorted order, numbered from 0. Hidden files and
    files whose names do not end in an image extension (``.png``, ``.jpg``,
    ``.jpeg``, ``.bmp``, ``.gif``, ``.webp``, ``.tif(f)``, ``.ppm``, ``.pgm``)
    are skipped. A folder holding both top-level images and class subfolders
    is refused. ``split`` is ignored: the folder is the data set.

    Options:
        image_size: Side of the square images produced, default 64 (the
            DCGAN size). Each image's shorter side is scaled to it, then the
            centre square is cropped.
        channels: 3 (default, RGB) or 1 (greyscale); images are converted.
    """

    name = "image-folder"

    @options
    class Options:
        image_size: int = option(64, validator=integer(4),
                                 help="Side of the square images produced (shorter side scaled, centre cropped).")
        channels: int = option(3, validator=choice(1, 3), help="3 (RGB) or 1 (greyscale); images are converted.")

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.image_size = self.options.image_size
        self.channels = self.options.channels
        self._files: list[Path] | None = None
        self._labels: list[int] | None = None
        self.classes: list[str] = []

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int | None:
        self._scan()
        return len(self.classes) if self.classes else None

    def metric_support(self) -> Any:
        """Image metrics, plus class coverage when the folder has class subfolders."""
        from ganforge.metrics import MetricSupport

        return MetricSupport(metrics=("image", "classes") if self.num_classes else ("image",))

    def _scan(self) -> None:
        """List the image files and their classes once; raise DataError for a bad folder."""
        if self._files is not None:
            return
        if self.root is None:
            raise DataNotFoundError(
                "The image-folder data set needs the folder of images: pass data_root=DIR (--data-root DIR)."
            )
        folder = Path(self.root).expanduser()
        if not folder.exists():
            raise DataNotFoundError(f"Image folder {folder} does not exist; pass an existing folder as data_root "
                                    "(--data-root DIR).")
        if not folder.is_dir():
            raise DataError(f"data_root {folder} is a file, not a folder of images; pass its folder instead.")
        top = sorted(p for p in folder.iterdir() if _is_image(p))
        subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        per_class = [(d.name, _images_under(d)) for d in subdirs]
        per_class = [(name, files) for name, files in per_class if files]
        if top and per_class:
            raise DataError(
                f"Image folder {folder} holds both images at its top level ({top[0].name}, ...) and class "
                f"subfolders ({', '.join(n for n, _ in per_class[:3])}, ...). Put every image in a class "
                "subfolder for labelled data, or move the subfolders out for unlabelled data."
            )
        if top:
            self._files, self._labels = top, None
        elif per_class:
            self.classes = [name for name, _ in per_class]
            self._files = [f for _, files in per_class for f in files]
            self._labels = [k for k, (_, files) in enumerate(per_class) for _ in files]
        else:
            raise DataError(
                f"Image folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)} files in it and "
                "its subfolders). Pass the folder that holds the images with data_root=DIR (--data-root DIR)."
            )

    per_item = True

    def num_items(self) -> int:
        self._scan()
        return len(self._files)

    def load_item(self, index: int) -> tuple[Tensor, int | None]:
        self._scan()
        label = self._labels[index] if self._labels is not None else None
        return torch.tensor(load_image(self._files[index], self.image_size, self.channels)), label

    def load(self) -> tuple[Tensor, Tensor | None]:
        self._scan()
        images = np.stack([load_image(p, self.image_size, self.channels) for p in self._files])
        labels = torch.tensor(self._labels, dtype=torch.int64) if self._labels is not None else None
        return torch.from_numpy(images), labels
