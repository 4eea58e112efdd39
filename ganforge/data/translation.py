"""Data sets for image-to-image GANs: each row holds the condition a generator translates and the sample it should give.

Every data set here stores a row as the condition and the sample stacked on
the channels, condition first: ``stored_shape = (2C, H, W)`` for samples and
conditions of ``C`` channels, and :meth:`split_condition` returns
``(x[:, C:], x[:, :C])`` (samples, conditions). Rows are uint8 in [0, 255]
(the loader maps them to [-1, 1]).

* ``mnist-edges2digits`` (paired, pix2pix): the outline of an MNIST digit -> the digit.
* ``mnist-digits2thick`` (unpaired, CycleGAN): MNIST digits -> thickened digits of *other* images.
* ``paired-folder``: the user's image pairs, in pix2pix's layouts (A|B side by side, or ``A/`` and ``B/``).
* ``unpaired-folder``: the user's two image domains, in CycleGAN's layout (``trainA/``, ``trainB/``).

``domain("condition")`` and ``domain("sample")`` give either side of a data
set as a data set of its own (its images, labelled where the data set knows
the side's classes), e.g. to train a domain classifier on the target domain
or to measure generated samples against real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.data.image_folder import _images_under, _is_image, fit_square, load_image, open_image
from ganforge.data.mnist import MNIST
from ganforge.errors import ConfigError, DataError, DataNotFoundError
from ganforge.interfaces import Dataset
from ganforge.options import boolean, choice, integer, option, optional, options

#: Which side of a row :meth:`TranslationDataset.domain` gives.
SIDES = ("condition", "sample")
DIRECTIONS = ("AtoB", "BtoA")


# -- morphology on uint8 images ---------------------------------------------------------------------


def _max_filter(images: Tensor, size: int, chunk: int = 8192) -> Tensor:
    """The maximum over each ``size x size`` neighbourhood (edges padded by nothing), ``(N, C, H, W)`` uint8."""
    out = []
    for part in images.split(chunk):
        out.append(F.max_pool2d(part.float(), size, stride=1, padding=size // 2).to(torch.uint8))
    return torch.cat(out) if out else images.clone()


def dilate(images: Tensor, size: int = 3) -> Tensor:
    """Grey-level dilation of uint8 images ``(N, C, H, W)`` by a ``size x size`` square: strokes thicken."""
    return _max_filter(images, size)


def erode(images: Tensor, size: int = 3) -> Tensor:
    """Grey-level erosion of uint8 images ``(N, C, H, W)`` by a ``size x size`` square: strokes thin."""
    return 255 - _max_filter(255 - images, size)


def outline(images: Tensor, threshold: int = 128) -> Tensor:
    """The outlines of uint8 images: 255 where the 3x3 morphological gradient (dilation minus erosion)
    reaches ``threshold``, else 0. For a digit this is a band about two pixels wide along both edges of
    every stroke; every outline pixel lies next to (within one pixel of) a stroke pixel."""
    gradient = dilate(images).int() - erode(images).int()
    return torch.where(gradient >= threshold, 255, 0).to(torch.uint8)


# -- the shared layout ------------------------------------------------------------------------------


class TranslationDataset(Dataset):
    """Base of the data sets of this module: rows of ``(condition, sample)`` stacked on the channels.

    Subclasses set :attr:`image_shape` (one image, condition or sample: they
    have the same shape) and implement :meth:`load` (or the per-item pair).
    """

    @property
    def image_shape(self) -> tuple[int, ...]:  # pragma: no cover
        """Shape of one condition and of one sample, ``(C, H, W)``."""
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def condition_shape(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def stored_shape(self) -> tuple[int, ...]:
        c, h, w = self.image_shape
        return (2 * c, h, w)

    def split_condition(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(samples, conditions)`` of stored rows ``(B, 2C, H, W)``: channels ``C:`` and ``:C`` (views, no copy)."""
        c = self.image_shape[0]
        return x[:, c:], x[:, :c]

    def load_side(self, which: str) -> tuple[Tensor, Tensor | None]:
        """The images of one side of every row, ``(N, C, H, W)``, and their labels (the rows' by default)."""
        rows, labels = self.load()
        c = self.image_shape[0]
        return (rows[:, :c] if which == "condition" else rows[:, c:]).contiguous(), labels

    def domain(self, which: str) -> Dataset:
        """One side of the rows as a data set of its own: ``"condition"`` or ``"sample"``."""
        if which not in SIDES:
            raise ConfigError(f"domain must be one of {SIDES} (got {which!r})")
        return TranslationSide(self, which)


class TranslationSide(Dataset):
    """The conditions or the samples of a :class:`TranslationDataset`, as a finite data set (not registered)."""

    def __init__(self, parent: TranslationDataset, which: str):
        super().__init__(root=parent.root, split=parent.split)
        self.parent, self.which = parent, which
        self.name = f"{parent.name}-{which}s"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.parent.image_shape

    @property
    def num_classes(self) -> int | None:
        return self.parent.num_classes

    def metric_support(self) -> Any:
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes") if self.num_classes else ("image",))

    def load(self) -> tuple[Tensor, Tensor | None]:
        return self.parent.load_side(self.which)


# -- built from MNIST -------------------------------------------------------------------------------


class _FromMNIST(TranslationDataset):
    """A translation data set built offline from an MNIST split (found as the ``mnist`` data set finds it)."""

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self.mnist = MNIST(root=root, split=split, download=self.options.download)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (1, 28, 28)

    @property
    def num_classes(self) -> int:
        return 10


class MNISTEdges2Digits(_FromMNIST):
    """Paired MNIST translation (pix2pix): a digit's outline -> the digit; labels are the digit classes.

    Row ``i`` of a split is MNIST image ``i`` of that split: channel 0 its
    outline (255 where the 3x3 morphological gradient -- dilation minus
    erosion -- of the image reaches ``threshold``, else 0), channel 1 the
    digit itself. ``stored_shape = (2, 28, 28)``, ``sample_shape =
    condition_shape = (1, 28, 28)``; 60,000 rows in ``train``, 10,000 in ``test``.

    Options:
        threshold: Gradient level (1 to 255) at which a pixel is outline, default 128.
        download: Let MNIST download through torchvision when missing (default True).
    """

    name = "mnist-edges2digits"

    @options
    class Options:
        threshold: int = option(128, validator=integer(1, 255),
                                help="Gradient level (dilation minus erosion, 0-255) at which a pixel is outline.")
        download: bool = option(True, validator=boolean(), help="Let MNIST download through torchvision when missing.")

    def metric_support(self) -> Any:
        """Image metrics and classes, with the MNIST domain classifier of the same split (the samples are MNIST's)."""
        from ganforge.metrics.features import domain_classifier
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes"), classifier=lambda: domain_classifier(self.mnist))

    def load(self) -> tuple[Tensor, Tensor]:
        digits, labels = self.mnist.load()  # (N, 1, 28, 28) uint8, (N,) int64
        return torch.cat([outline(digits, self.options.threshold), digits], dim=1), labels


class MNISTDigits2Thick(_FromMNIST):
    """Unpaired MNIST translation (CycleGAN): digits (domain A) -> thickened digits (domain B) of other images.

    The split's images are shuffled with a generator seeded with ``seed`` and
    cut into two disjoint halves: row ``i`` holds image ``i`` of the first
    half as it is (channel 0, the condition: domain A) and image ``i`` of the
    second half dilated by a ``thickness x thickness`` square (channel 1, the
    sample: domain B). No image is in both domains, so a row's two digits are
    different images (mostly of different classes): the pairs carry no
    correspondence. The label of a row is the class of its A digit, so the
    class preservation of A -> B translations can be measured; the B digits'
    own classes are the labels of ``domain("sample")``. 30,000 rows in
    ``train``, 5,000 in ``test``; the same options give the same rows on every machine.

    Options:
        thickness: Side of the dilation's square, odd, 3 (default) to 7.
        seed: Seed of the shuffle, default 0 (independent of the run's seed).
        download: Let MNIST download through torchvision when missing (default True).
    """

    name = "mnist-digits2thick"

    @options
    class Options:
        thickness: int = option(3, validator=choice(3, 5, 7), help="Side of the dilation's square (3, 5 or 7).")
        seed: int = option(0, validator=integer(0), help="Seed of the shuffle into two domains (not the run's seed).")
        download: bool = option(True, validator=boolean(), help="Let MNIST download through torchvision when missing.")

    def metric_support(self) -> Any:
        """Image metrics and classes, with a domain classifier trained on the thickened digits (domain B)."""
        from ganforge.metrics.features import domain_classifier
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image", "classes"),
                             classifier=lambda: domain_classifier(self.domain("sample")))

    def _halves(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(A images, A labels, B images, B labels)``."""
        digits, labels = self.mnist.load()
        half = digits.shape[0] // 2
        order = torch.randperm(digits.shape[0], generator=torch.Generator().manual_seed(self.options.seed))
        a, b = order[:half], order[half:2 * half]
        return digits[a], labels[a], dilate(digits[b], self.options.thickness), labels[b]

    def load(self) -> tuple[Tensor, Tensor]:
        a, a_labels, b, _ = self._halves()
        return torch.cat([a, b], dim=1), a_labels

    def load_side(self, which: str) -> tuple[Tensor, Tensor]:
        a, a_labels, b, b_labels = self._halves()
        return (a, a_labels) if which == "condition" else (b, b_labels)


# -- the user's images ------------------------------------------------------------------------------


def load_side_by_side(path: Path, size: int, channels: int,
                      max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of an A|B image (split at ``width // 2``), each as ``load_image`` gives it: ``(A, B)``."""
    img = open_image(path, channels, max_pixels)
    w, h = img.size
    if w < 2:
        raise DataError(f"Image {path} is {w}x{h}: too narrow to hold A and B side by side. Remove it, or use the "
                        "A/ and B/ folder layout.")
    left, right = img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))
    return fit_square(left, size, channels), fit_square(right, size, channels)


def _folder(root: str | None, name: str) -> Path:
    """The data set's root folder, or a DataNotFoundError saying what to pass."""
    if root is None:
        raise DataNotFoundError(f"The {name} data set needs the folder of images: pass data_root=DIR "
                                "(--data-root DIR).")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file, not a folder"
        raise DataNotFoundError(f"{name} data_root {folder} {what}; pass the folder holding the images "
                                "(--data-root DIR).")
    return folder


def _by_stem(folder: Path) -> dict[str, Path]:
    """The images below ``folder`` keyed by their path relative to it without the extension."""
    return {str(p.relative_to(folder).with_suffix("")): p for p in _images_under(folder)}


class _FolderPairs(TranslationDataset):
    """Base of the folder data sets: per-item rows of two images read through the image-folder pipeline."""

    per_item = True

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        super().__init__(root=root, split=split, **options)
        self._pairs: list[tuple[Any, Any]] | None = None

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (self.options.channels, self.options.image_size, self.options.image_size)

    def metric_support(self) -> Any:
        from ganforge.metrics.support import MetricSupport

        return MetricSupport(metrics=("image",))

    def _scan(self) -> list[tuple[Any, Any]]:  # pragma: no cover
        raise NotImplementedError

    def pairs(self) -> list[tuple[Any, Any]]:
        """What each row is read from, ``(A, B)`` per row, listed once."""
        if self._pairs is None:
            self._pairs = self._scan()
        return self._pairs

    def num_items(self) -> int:
        return len(self.pairs())

    def _read(self, item: Any) -> tuple[np.ndarray, np.ndarray]:
        o = self.options
        a, b = item
        return (load_image(a, o.image_size, o.channels, o.max_image_pixels),
                load_image(b, o.image_size, o.channels, o.max_image_pixels))

    def load_item(self, index: int) -> tuple[Tensor, None]:
        a, b = self._read(self.pairs()[index])
        condition, sample = (a, b) if self.options.direction == "AtoB" else (b, a)
        return torch.from_numpy(np.concatenate([condition, sample], axis=0)), None


_SIZE_HELP = "Side of the square images produced (shorter side scaled, centre cropped)."
_CHANNELS_HELP = "3 (RGB) or 1 (greyscale); images are converted."
_PIXELS_HELP = ("Largest image read, in pixels (width x height); larger ones are refused. Default: Pillow's "
                "PIL.Image.MAX_IMAGE_PIXELS; 0: no limit.")


class PairedFolder(_FolderPairs):
    """The user's image pairs in pix2pix's layouts: A|B side by side in one file, or ``A/`` and ``B/`` folders.

    Layouts (``layout="auto"`` picks ``folders`` when ``data_root`` has both
    an ``A`` and a ``B`` folder, else ``side_by_side``):

    * ``side_by_side``: every image file directly in ``data_root/<split>/``
      (e.g. ``train/``, ``test/``), or in ``data_root`` when that folder does not
      exist, holds A in its left half and B in its right half (split at
      ``width // 2``, as pix2pix's ``combine_A_and_B.py`` writes them).
    * ``folders``: ``data_root/A/`` and ``data_root/B/`` (or ``A/<split>/`` and
      ``B/<split>/`` when they exist) hold the same file names, at any depth
      (extensions may differ); ``A/x.png`` pairs with ``B/x.png``.

    Each image (each half) is read as ``image-folder`` reads its images: the
    shorter side scaled to ``image_size``, the centre square cropped, converted
    to ``channels``. ``direction="AtoB"`` (default) translates A into B (A is
    the condition, B the sample); ``"BtoA"`` the other way. Rows are
    ``(condition, sample)`` stacked, ``(2 * channels, image_size, image_size)``
    uint8, without labels, read one at a time (``data_placement="files"``
    works, as for ``image-folder``).
    """

    name = "paired-folder"

    @options
    class Options:
        image_size: int = option(64, validator=integer(4), help=_SIZE_HELP)
        channels: int = option(3, validator=choice(1, 3), help=_CHANNELS_HELP)
        direction: str = option("AtoB", validator=choice(*DIRECTIONS),
                                help="'AtoB': A is the condition and B the sample; 'BtoA': the other way.")
        layout: str = option("auto", validator=choice("auto", "side_by_side", "folders"),
                             help="'side_by_side' (A|B in one file), 'folders' (A/ and B/ with the same names), or "
                                  "'auto': folders when data_root holds A/ and B/.")
        max_image_pixels: int | None = option(None, validator=optional(integer(0)), help=_PIXELS_HELP)

    def _scan(self) -> list[tuple[Any, Any]]:
        folder = _folder(self.root, self.name)
        has = {side: (folder / side).is_dir() for side in "AB"}
        layout = self.options.layout
        if layout == "auto":
            layout = "folders" if any(has.values()) else "side_by_side"
        if layout == "folders":
            return self._scan_folders(folder, has)
        return self._scan_side_by_side(folder)

    def _scan_folders(self, folder: Path, has: dict[str, bool]) -> list[tuple[Path, Path]]:
        missing = [side for side, there in has.items() if not there]
        if missing:
            raise DataNotFoundError(f"{folder / missing[0]} does not exist: the paired-folder 'folders' layout needs "
                                    f"{folder / 'A'} and {folder / 'B'} holding the same file names (or put A|B "
                                    "images side by side in one folder: layout='side_by_side').")
        dirs = [folder / side / self.split if (folder / side / self.split).is_dir() else folder / side for side in "AB"]
        a, b = (_by_stem(d) for d in dirs)
        if not a:
            raise DataError(f"{dirs[0]} holds no images; put the A images in it, with the same names as in {dirs[1]}.")
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        if only_a or only_b:
            files, names, other = (a, only_a, dirs[1]) if only_a else (b, only_b, dirs[0])
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            raise DataError(f"{files[names[0]]} has no image of the same name in {other}{more}; paired-folder pairs "
                            "A/NAME with B/NAME: give both folders the same file names, or remove the unpaired ones.")
        return [(a[k], b[k]) for k in sorted(a)]

    def _scan_side_by_side(self, folder: Path) -> list[tuple[Path, None]]:
        where = folder / self.split if (folder / self.split).is_dir() else folder
        files = sorted(p for p in where.iterdir() if _is_image(p))
        if not files:
            raise DataError(f"{where} holds no images: paired-folder reads A|B images side by side from it (or from "
                            f"{folder}/<split>/), or A/ and B/ folders with the same file names in {folder}.")
        return [(p, None) for p in files]

    def _read(self, item: Any) -> tuple[np.ndarray, np.ndarray]:
        a, b = item
        if b is not None:
            return super()._read(item)
        o = self.options
        return load_side_by_side(a, o.image_size, o.channels, o.max_image_pixels)


class UnpairedFolder(_FolderPairs):
    """The user's two image domains in CycleGAN's layout: ``trainA/`` and ``trainB/`` (``testA/``, ``testB/``).

    ``data_root/<split>A`` and ``data_root/<split>B`` hold the images of the
    two domains (any names, at any depth, any numbers). Row ``i`` pairs A image
    ``i`` (sorted by path) with B image ``perm(i)``, ``perm`` a permutation of
    the B images drawn from a generator seeded with ``seed``: the pairing is
    fixed (the same every epoch and on every machine) and carries no
    correspondence. ``length="max"`` (default, as CycleGAN's data loader)
    gives ``max(nA, nB)`` rows, the smaller domain's images repeating in
    turn, so every image of both domains appears in an epoch; ``"min"`` gives
    ``min(nA, nB)`` rows, a seeded choice of the larger domain's images.

    Images are read as ``image-folder`` reads them (``image_size``,
    ``channels``); ``direction="AtoB"`` (default) makes A the condition and B
    the sample. Rows are ``(condition, sample)`` stacked, ``(2 * channels,
    image_size, image_size)`` uint8, without labels, read one at a time.
    """

    name = "unpaired-folder"

    @options
    class Options:
        image_size: int = option(64, validator=integer(4), help=_SIZE_HELP)
        channels: int = option(3, validator=choice(1, 3), help=_CHANNELS_HELP)
        direction: str = option("AtoB", validator=choice(*DIRECTIONS),
                                help="'AtoB': A is the condition and B the sample; 'BtoA': the other way.")
        length: str = option("max", validator=choice("max", "min"),
                             help="Rows: 'max' (every image of both domains, the smaller domain repeating) or "
                                  "'min' (as many as the smaller domain).")
        seed: int = option(0, validator=integer(0), help="Seed of the A-B pairing (not the run's seed).")
        max_image_pixels: int | None = option(None, validator=optional(integer(0)), help=_PIXELS_HELP)

    def _scan(self) -> list[tuple[Path, Path]]:
        folder = _folder(self.root, self.name)
        dirs = [folder / f"{self.split}{side}" for side in "AB"]
        for d in dirs:
            if not d.is_dir():
                raise DataNotFoundError(f"{d} does not exist: unpaired-folder reads CycleGAN's layout, "
                                        f"{dirs[0].name}/ and {dirs[1].name}/ in {folder} (split={self.split!r}); "
                                        "create it or pass the folder that holds them as data_root.")
        a, b = (_images_under(d) for d in dirs)
        for d, files in zip(dirs, (a, b)):
            if not files:
                raise DataError(f"{d} holds no images; put the images of that domain in it.")
        gen = torch.Generator().manual_seed(self.options.seed)
        perm_b = torch.randperm(len(b), generator=gen)
        if self.options.length == "max":
            n = max(len(a), len(b))
            a_idx, b_idx = torch.arange(n) % len(a), perm_b[torch.arange(n) % len(b)]
        else:
            n = min(len(a), len(b))
            a_idx, b_idx = torch.randperm(len(a), generator=gen)[:n].sort().values, perm_b[:n]
        return [(a[i], b[j]) for i, j in zip(a_idx.tolist(), b_idx.tolist())]
